"""Some of a solve's starts in a second process, while this one runs the others.

The starts are independent (solve/starts.py): each reads only the plan, its number and the clock's cap. On the
sample (3,000 accounts, 12 starts of 1.5-2 s) they are most of the run, and the second core is free while they run
(a large relaxation's bound process, launched with the solve, only builds its relaxation meanwhile, then waits for
the best start; the hospital universes at 120 s end 17-20 s sooner with this helper). The child, a fresh interpreter
(`terrplan.child.spawn`) that ends with its parent, is given the plan, its start numbers and the starts' and the
heuristic's time left; it writes back each start's solution and rounds. The caller merges every start's solution in
number order, so the result is the one the starts give run one after the other. Anything that goes wrong with the
child (no interpreter, a crash, no answer in time) gives None: the caller runs those starts itself.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import time
from dataclasses import dataclass

from terrplan.budget import TimeBudget
from terrplan.child import answer, spawn, stop
from terrplan.solve.interchange import SiteOrder
from terrplan.solve.starts import Solution, StartPlan, dense_cost

_GRACE_S = 2.0  # past the heuristic's deadline the child still gets this long to answer (a round and the pickling)

_CHILD = """\
from terrplan.solve.start_process import _main
_main(message())
"""

Started = tuple[int, Solution, int]  # a start's number, its solution and its rounds


@dataclass
class StartProcess:
    """A running child computing `plan.start(number, ...)` for each of `numbers` in turn."""

    child: subprocess.Popen[bytes]
    deadline: float  # time.monotonic() by which its answer is due (system-wide, so the child's clock too)
    numbers: tuple[int, ...]

    @classmethod
    def launch(
        cls, plan: StartPlan, numbers: tuple[int, ...], starts: TimeBudget, heuristic: TimeBudget, slowest: float
    ) -> StartProcess | None:
        """A child running the starts `numbers` of `plan`: a start begins only while `starts` lasts and the
        slowest round so far (from `slowest`) fits, its rounds only within `heuristic`; None where none starts."""
        sent = time.monotonic()
        payload = (plan, numbers, starts.remaining(), heuristic.remaining(), slowest, sent)
        child = spawn(_CHILD, payload, done=True)
        return None if child is None else cls(child, sent + heuristic.remaining() + _GRACE_S, numbers)

    def results(self) -> tuple[list[Started], float] | None:
        """The starts the child ran, in its order, and its slowest round; None where it failed or was late."""
        done, _ = answer(self.child, self.deadline - time.monotonic())
        return done if isinstance(done, tuple) else None

    def close(self) -> None:
        """Stop the child if it still runs (an interrupted solve, a late answer)."""
        stop(self.child)


def _main(payload: bytes) -> None:
    """The child's work: its starts one after the other, under the same caps as the caller's."""
    plan, numbers, starts_s, heuristic_s, slowest, sent = pickle.loads(payload)
    shift = time.perf_counter() - time.monotonic()  # the budgets' clock from the system-wide one
    starts, heuristic = TimeBudget(sent + starts_s + shift), TimeBudget(sent + heuristic_s + shift)
    cost = dense_cost(plan.problem)
    site_order = SiteOrder.of(cost) if cost is not None and not plan.problem.banded else None
    slowest_round = [slowest]
    done: list[Started] = []
    for number in numbers:
        if not starts.fits(slowest_round[0]):
            break
        found, rounds = plan.start(number, heuristic, slowest_round, cost, site_order)
        done.append((number, found, rounds))
    pickle.dump((done, slowest_round[0]), sys.stdout.buffer, protocol=5)
    sys.stdout.buffer.flush()
