"""The Lagrangian bound in a second process, while this one runs the neighbourhood search.

On large instances both are long and clock-cut (`national` at 60 s: about 0.17 s a bound step, 0.14 s a search
step, each given a third of the run one after the other), and they are independent once the alignment they start
from is fixed: the bound needs only the problem, that alignment's objective (its step target) and its start
prices; the banded search never reads the bound. On two cores they overlap. Measured on `national` (25 s each,
from the same 60-s alignment): one after the other, the bound 162 steps and the search 183; in two threads
92 and 141 (numpy and OR-Tools hold the GIL too often); in two processes 129 and 155.

The child is a fresh interpreter (`python -c` calling `_main` here), not a fork, so no lock held by
another of this process's threads (a progress display's) can stall it, and no caller's main module is run again
(as multiprocessing's spawn does). It reads its arguments from a pickle on stdin and writes the `Bound` to stdout,
and its value is the one `lagrangian` gives here for the same number of steps (tested). Anything that goes wrong
with it (no interpreter, a crash, no answer by the deadline) gives None: the caller then bounds in-process.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from terrplan.model import Problem
from terrplan.solve.bound import Bound, lagrangian

_GRACE_S = 2.0  # past its own time limit the child still gets this long to answer (a step and the pickling)


def usable_cores() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@dataclass
class BoundProcess:
    """A running child computing `lagrangian(problem, target, start, seconds, iterations)`."""

    child: subprocess.Popen[bytes]
    deadline: float  # time.time() by which its answer is due

    @classmethod
    def start(
        cls, problem: Problem, target: float, start: np.ndarray, seconds: float, iterations: int
    ) -> BoundProcess | None:
        """The child started and sent its work, or None where no child can be started."""
        if not sys.executable:
            return None
        root = str(Path(__file__).resolve().parents[2])  # the directory holding this terrplan package
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        sent = time.time()
        try:
            child = subprocess.Popen(
                [sys.executable, "-c", _CHILD],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        except OSError:
            return None
        running = cls(child, sent + seconds + _GRACE_S)
        try:
            assert child.stdin is not None
            pickle.dump((problem, target, start, seconds, iterations, sent), child.stdin, protocol=5)
            child.stdin.close()
            child.stdin = None  # sent: `communicate` then only reads
        except OSError:  # the child died at once
            running.close()
            return None
        return running

    def result(self) -> Bound | None:
        """The child's bound (waiting for it, at most until its deadline), or None."""
        try:
            out, _ = self.child.communicate(timeout=max(self.deadline - time.time(), 0.0))
            if self.child.returncode != 0:
                return None
            bound = pickle.loads(out)
            return bound if isinstance(bound, Bound) else None
        except (subprocess.TimeoutExpired, pickle.UnpicklingError, EOFError, ValueError):
            return None
        finally:
            self.close()

    def close(self) -> None:
        """Stop the child if it still runs (an interrupted solve, a late answer)."""
        if self.child.poll() is None:
            self.child.kill()
            self.child.wait()
        for stream in (self.child.stdin, self.child.stdout):
            if stream is not None and not stream.closed:
                stream.close()


# The child reads its whole input before importing the solver (0.6 s), so the parent's write does not wait for that.
_CHILD = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); data = sys.stdin.buffer.read(); "
    "from terrplan.solve.bound_process import _main; _main(data)"
)


def _main(data: bytes) -> None:
    """The child: a Ctrl-C reaches the whole process group, so it ignores SIGINT (`_CHILD`); the parent stops it."""
    problem, target, start, seconds, iterations, sent = pickle.loads(data)
    left = seconds - max(time.time() - sent, 0.0)  # the interpreter's start counts against the limit
    bound = lagrangian(problem, target, start, max(left, 0.0), iterations)
    pickle.dump(bound, sys.stdout.buffer, protocol=5)
    sys.stdout.buffer.flush()
