"""The Lagrangian bound in a second process, while this one runs the neighbourhood search.

On large instances both are long and clock-cut (`national` at 60 s: about 0.17 s a bound step, 0.14 s a search
step, each given a third of the run one after the other), and they are independent once the alignment they start
from is fixed: the bound needs only the problem, that alignment's objective (its step target) and its start
prices; the banded search never reads the bound. On two cores they overlap. Measured on `national` (25 s each,
from the same 60-s alignment): one after the other, the bound 162 steps and the search 183; in two threads
92 and 141 (numpy and OR-Tools hold the GIL too often); in two processes 129 and 155.

The child is a fresh interpreter (`python -P -c`, with this process's `sys.path`), not a fork, so no lock held by
another of this process's threads (a progress display's) can stall it, and no caller's main module is run again
(as multiprocessing's spawn does); it ends with its parent (`terrplan.child.TIED`). It reads its arguments from a
pickle on stdin and writes the `Bound` to stdout, and its value is the one `lagrangian` gives here for the same
number of steps (tested). Anything that goes wrong with it (no interpreter, a crash, no answer in time) gives None
and a reason (`failure`): the caller then bounds in-process and says so.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np

from terrplan.child import TIED, tied_args
from terrplan.model import Problem
from terrplan.solve.bound import Bound, lagrangian

_GRACE_S = 2.0  # past its own time limit the child still gets this long to answer (a step and the pickling)

# The child reads all of its input before the solver's imports (0.6 s), so the parent's write does not wait for them.
_CHILD = (
    TIED
    + """\
import pickle
signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C reaches the whole process group: the parent stops this child
sys.path[:] = pickle.load(sys.stdin.buffer)  # the parent's: the same terrplan, whether installed or a source tree
payload = [sys.stdin.buffer.read()]
from terrplan.solve.bound_process import _main
_main(payload)
"""
)


@dataclass
class BoundProcess:
    """A running child computing `lagrangian(problem, target, start, seconds, iterations)`."""

    child: subprocess.Popen[bytes]
    deadline: float  # time.monotonic() by which its answer is due (system-wide, so the child's clock too)
    target: float  # what it was given to aim at, and the prices it started from: a bound in its place starts there
    prices: np.ndarray
    failure: str = ""  # why `result` gave None

    @classmethod
    def start(
        cls, problem: Problem, target: float, start: np.ndarray, seconds: float, iterations: int
    ) -> BoundProcess | None:
        """The child started and sent its work, or None where no child can be started."""
        if not sys.executable:
            return None
        sent = time.monotonic()
        try:
            child = subprocess.Popen(
                [sys.executable, "-P", "-c", _CHILD, *tied_args()],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError:
            return None
        running = cls(child, sent + seconds + _GRACE_S, target, start)
        try:
            assert child.stdin is not None
            pickle.dump(list(sys.path), child.stdin)
            pickle.dump((problem, target, start, seconds, iterations, sent), child.stdin, protocol=5)
            child.stdin.close()
            child.stdin = None  # sent: `communicate` then only reads
        except OSError:  # the child died at once
            running.close()
            return None
        except BaseException:  # interrupted while sending: the child is not the caller's to stop yet
            running.close()
            raise
        return running

    def result(self, wait_s: float) -> Bound | None:
        """The child's bound, waiting for it at most `wait_s` seconds and not past its deadline; None (and
        `failure`) when it has none."""
        try:
            out, err = self.child.communicate(timeout=max(min(self.deadline - time.monotonic(), wait_s), 0.0))
        except subprocess.TimeoutExpired:
            self.failure = "the bound's process gave no answer in time"
            self.close()
            return None
        self.close()
        try:
            bound = pickle.loads(out) if self.child.returncode == 0 else None
        except (pickle.UnpicklingError, EOFError, ValueError):
            bound = None
        if not isinstance(bound, Bound):
            said = err.decode("utf-8", "replace").strip().splitlines()
            self.failure = f"the bound's process failed (exit {self.child.returncode}{': ' + said[-1] if said else ''})"
            return None
        return bound

    def close(self) -> None:
        """Stop the child if it still runs (an interrupted solve, a late answer)."""
        if self.child.poll() is None:
            self.child.kill()
            self.child.wait()
        for stream in (self.child.stdin, self.child.stdout, self.child.stderr):
            if stream is not None and not stream.closed:
                stream.close()


def _main(payload: list[bytes]) -> None:
    """The child's work; `payload` is emptied so the raw pickle is freed once read."""
    problem, target, start, seconds, iterations, sent = pickle.loads(payload.pop())
    left = seconds - max(time.monotonic() - sent, 0.0)  # the interpreter's start counts against the limit
    bound = lagrangian(problem, target, start, max(left, 0.0), iterations)
    pickle.dump(bound, sys.stdout.buffer, protocol=5)
    sys.stdout.buffer.flush()
