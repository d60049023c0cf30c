"""The Lagrangian bound in a second process, while this one runs the neighbourhood search.

On large instances both are long and clock-cut (`national` at 60 s: about 0.17 s a bound step, 0.14 s a search
step, each given a third of the run one after the other), and they are independent once the alignment they start
from is fixed: the bound needs only the problem, that alignment's objective (its step target) and its start
prices; the banded search never reads the bound. On two cores they overlap. Measured on `national` (25 s each,
from the same 60-s alignment): one after the other, the bound 162 steps and the search 183; in two threads
92 and 141 (numpy and OR-Tools hold the GIL too often); in two processes 129 and 155.

The child is a fresh interpreter (`terrplan.child.spawn`) that ends with its parent. It is launched with the solve
(`launch`: the problem, the time and the steps), builds its relaxation while the starts run (`national`: about 7 s
with the interpreter's start), then waits for the alignment to start from (`begin`: its objective and prices). Each
message on its stdin is a pickle after its length; it writes the `Bound` to stdout, and its value is the one
`lagrangian` gives here for the same number of steps (tested). Anything that goes wrong with it (no interpreter, a
crash, no answer in time) gives None and a reason (`failure`): the caller then bounds in-process and says so.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np

from terrplan.child import answer, send, spawn, stop
from terrplan.model import Problem
from terrplan.solve.bound import Bound, descend, relaxation

_GRACE_S = 2.0  # past its own time limit the child still gets this long to answer (a step and the pickling)

# The child reads the problem before the solver's imports (0.6 s), so the parent's write does not wait for them, and
# the start in a thread while it builds its relaxation, so the parent's `begin` does not wait for the build.
_CHILD = """\
import threading
payload, begun = [message()], []
reader = threading.Thread(target=lambda: begun.append(message()), daemon=True)
reader.start()
from terrplan.solve.bound_process import _main
_main(payload, begun, reader)
"""


@dataclass
class BoundProcess:
    """A running child computing `lagrangian(problem, target, start, seconds, iterations)`."""

    child: subprocess.Popen[bytes]
    deadline: float  # time.monotonic() by which its answer is due (system-wide, so the child's clock too)
    target: float  # what it was given to aim at, and the prices it started from: a bound in its place starts there
    prices: np.ndarray
    failure: str = ""  # why `result` gave None

    @classmethod
    def launch(cls, problem: Problem, seconds: float, iterations: int) -> BoundProcess | None:
        """A child that builds the relaxation of a bound of `iterations` steps ending `seconds` from now, then
        waits for `begin`; None where no child can be started."""
        sent = time.monotonic()
        child = spawn(_CHILD, (problem, seconds, iterations, sent))
        return None if child is None else cls(child, sent + seconds + _GRACE_S, np.nan, np.zeros(0))

    def begin(self, target: float, start: np.ndarray) -> None:
        """Start the steps from the prices `start`, aiming at `target`. A child that died meanwhile is told of by
        `result`."""
        self.target, self.prices = target, start
        try:
            assert self.child.stdin is not None
            send(self.child.stdin, (target, start))
            self.child.stdin.close()
        except OSError:
            pass
        self.child.stdin = None  # sent: `communicate` then only reads

    @classmethod
    def start(
        cls, problem: Problem, target: float, start: np.ndarray, seconds: float, iterations: int
    ) -> BoundProcess | None:
        """`launch`, then `begin` at once."""
        running = cls.launch(problem, seconds, iterations)
        if running is not None:
            running.begin(target, start)
        return running

    def result(self, wait_s: float) -> Bound | None:
        """The child's bound, waiting for it at most `wait_s` seconds and not past its deadline; None (and
        `failure`) when it has none."""
        bound, why = answer(self.child, min(self.deadline - time.monotonic(), wait_s))
        if not isinstance(bound, Bound):
            self.failure = f"the bound's process {why or f'failed (exit {self.child.returncode})'}"
            return None
        return bound

    def close(self) -> None:
        """Stop the child if it still runs (an interrupted solve, a late answer)."""
        stop(self.child)


def _main(payload: list[bytes], begun: list[bytes], reader: threading.Thread) -> None:
    """The child's work; `payload` is emptied so the raw pickle is freed once read. No `begin` (the parent closed
    the pipe): nothing to do."""
    problem, seconds, iterations, sent = pickle.loads(payload.pop())
    left = seconds - max(time.monotonic() - sent, 0.0)  # the interpreter's start counts against the limit
    relaxed = relaxation(problem, max(left, 0.0), iterations)
    reader.join()
    if not begun or not begun[0]:
        return
    target, start = pickle.loads(begun.pop())
    deadline = time.perf_counter() + (sent + seconds - time.monotonic())
    bound = descend(relaxed, target, start, deadline, iterations)
    pickle.dump(bound, sys.stdout.buffer, protocol=5)
    sys.stdout.buffer.flush()
