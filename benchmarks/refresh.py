"""The refresh (`optimize --current`) at national scale: `national`'s 33,120 ZCTAs and 500 territories.

    python benchmarks/refresh.py [--budget SHARE ...] [--drift SIGMA]

Last year's alignment is one location-allocation start on `national` (recursive bisection, three rounds:
deterministic, about 7 s, not timed). This year's populations are last year's times a lognormal drift drawn from a
fixed seed (log-sd `--drift`, default 0.1), so some territories leave their band. Each budget (a share of
potential; `none` for no budget) is then refreshed with `terrplan.refresh.refresh`, the function `optimize
--current` calls, and one line per budget gives the share moved, whether every band holds, the least share any
repair must move, a hash of the alignment and the seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import time

import instances
import numpy as np

from terrplan.budget import TimeBudget
from terrplan.refresh import refresh
from terrplan.solve.disruption import Budget
from terrplan.solve.starts import StartPlan

DRIFT_SEED = 7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", nargs="+", default=["none", "0.005", "0.003"])
    parser.add_argument("--drift", type=float, default=0.1)
    args = parser.parse_args()
    problem = instances.load("national").problem
    plan = StartPlan(problem, (0,), candidates=30, max_rounds=3)
    (_, last_year, centres), _ = plan.start(0, TimeBudget.of(1e9, time.perf_counter()), [0.0], None, None)
    drift = np.random.default_rng(DRIFT_SEED).lognormal(0.0, args.drift, problem.n_units)
    problem = dataclasses.replace(problem, metrics=problem.metrics * drift[None, :])
    for text in args.budget:
        budget = Budget() if text == "none" else Budget(share=float(text))
        began = time.perf_counter()
        done = refresh(problem, last_year, centres, budget)
        seconds = time.perf_counter() - began
        digest = hashlib.sha256(done.territory.tobytes()).hexdigest()[:12]
        print(
            f"budget {text}: moved {done.moved_share:.4%}, bands hold {done.bands_hold}, at least "
            f"{done.needed_share_bound:.4%} must move, alignment {digest}, {seconds:.1f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
