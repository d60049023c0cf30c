"""The sweep's parallel efficiency: a grid on 2 local workers against the same scenarios run one by one.

    .venv/bin/python benchmarks/sweep.py            # the sample's 3 x 3 x 3 grid (K 11-13, tolerance, move cost)
    .venv/bin/python benchmarks/sweep.py --quick    # K 11-12 x 2 tolerances: a smoke test of the script
    .venv/bin/python benchmarks/sweep.py --size     # terrplan size: each K a scenario, against one process

Runs `terrplan sweep` into a fresh folder with --workers 2 and times it (wall); then runs each scenario's config
(`configs/<id>.json`, the very file the sweep ran) with `terrplan optimize` one after the other and sums their wall
times; prints the ratio wall / (sum / 2), the target being at most 1.15; then reruns the sweep, which must run
nothing, and prints its wall time. Scenarios that fail (exit 3, 4, 6) count as the runs they are, in both.

The wall-time ratio needs two idle cores: on a machine whose cores other programs keep busy, the sweep's two
processes share them with everyone else and the ratio measures the load, not the sweep. So the script also prints
what does not depend on the load: the CPU time (user + system) of every process the sweep ran against that of the
single runs (the machinery's own cost), and the makespan of the sweep's schedule (grid order, each scenario to the
first free worker) replayed with the single runs' wall times, against sum / 2 (the cost of the last scenarios
running alone).

Measured 2026-11-30 on the committed code (a 2-core machine shared with other jobs, 25 of 27 scenarios exit 0, two
exit 6): sweep wall 626.2 s, single runs 776.7 s in all: ratio 1.613 at a 1-minute load average of 2.8-4.2 from other
programs (so not the sweep's figure); CPU 374.7 s in the sweep against 460.3 s for the single runs (0.81: the
machinery adds none); the sweep's schedule replayed with the single wall times 400.4 s = 1.031 x sum / 2; the rerun
4.0 s, running nothing. Again on e25f5e1 (27 of 27 exit 0, load 5.9-6.5): wall 744.2 s against 807.0 s, ratio 1.844;
CPU 433.7 s against 513.6 s (0.844); replayed schedule 1.027 x sum / 2; rerun 1.7 s. On an idle machine
(e74abf1, load 0.6-1.8): wall 309.1 s against 595.2 s, ratio 1.039; CPU 0.993; replayed 1.020; rerun 0.7 s.
docs/benchmarks.md has the tables, and `--size`'s.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
# rules.path=null: the sample's rules lock accounts to T12, which K = 11 does not have (every K = 11 would exit 3).
GRID = ["current=accounts", "rules.path=null", "k=11:13", "tolerance=0.05,0.075,0.1", "move-cost=10,30,100"]
QUICK = ["current=accounts", "k=11:12", "tolerance=0.05,0.1"]


def children_cpu() -> float:
    """CPU seconds of every finished child process, theirs included (the sweep waits for its scenario processes)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def terrplan(*args: str) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall and CPU seconds of one terrplan process (and its children), and what it did."""
    started, cpu = time.perf_counter(), children_cpu()
    done = subprocess.run([sys.executable, "-m", "terrplan", *args], capture_output=True, cwd=ROOT)
    return time.perf_counter() - started, children_cpu() - cpu, done


def makespan(durations: list[float], workers: int) -> float:
    """When the last scenario ends if each, in order, goes to the first free worker."""
    free = [0.0] * workers
    for seconds in durations:
        first = free.index(min(free))
        free[first] += seconds
    return max(free)


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def size_costs(config_path: str, ks: str, seconds: float) -> None:
    """`terrplan size` with each K a scenario (--workers 1 and 2, then a rerun) against the same K solved one after
    the other in this process (what size did before it ran its K as scenarios): wall and CPU, and whether the
    tables are the same bytes (they are when no K's solve is cut by the clock)."""
    from terrplan.budget import TimeBudget
    from terrplan.config import load_config
    from terrplan.pipeline import load_accounts
    from terrplan.sizing import size_row, size_table
    from terrplan.write import csv_text

    low, high = (int(part) for part in ks.split(":"))
    started, cpu = time.perf_counter(), self_cpu()
    config = load_config(config_path, {"solver.time_limit": seconds, "sizing.k_min": low, "sizing.k_max": high})
    accounts = load_accounts(config).accounts
    direct = csv_text(size_table([size_row(accounts, config, k, TimeBudget.of(seconds)) for k in range(low, high + 1)]))
    wall, used = time.perf_counter() - started, self_cpu() - cpu
    print(f"one process, K one after the other: wall {wall:.1f} s, CPU {used:.1f} s (the solver stack already loaded)")
    folder = Path(tempfile.mkdtemp(prefix="terrplan-size-bench-"))
    try:
        for workers, name in ((1, "one"), (2, "two"), (2, "two")):
            args = ("size", config_path, "--k-range", ks, "--time-limit", str(seconds), "--workers", str(workers),
                    "-d", str(folder / name), "-q")  # fmt: skip
            wall, used, done = terrplan(*args)
            same = "same bytes" if done.stdout.decode() == direct else "other bytes"
            print(f"terrplan size --workers {workers} -d {name}/: exit {done.returncode}, wall {wall:.1f} s, "
                  f"CPU {used:.1f} s, table: {same} as one process")  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "sample.yaml"))
    parser.add_argument("--quick", action="store_true", help="a 2 x 2 grid instead of 3 x 3 x 3")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--size", metavar="MIN:MAX", nargs="?", const="11:13",
                        help="measure terrplan size over these K instead (default 11:13)")  # fmt: skip
    parser.add_argument("--time-limit", type=float, default=180.0, help="with --size: solver seconds per K")
    args = parser.parse_args()
    if args.size:
        size_costs(args.config, args.size, args.time_limit)
        return
    grid = QUICK if args.quick else GRID
    folder = Path(tempfile.mkdtemp(prefix="terrplan-sweep-bench-"))
    try:
        flags = [arg for item in grid for arg in ("--grid", item)]
        command = ["sweep", args.config, *flags, "--workers", str(args.workers), "--dir", str(folder / "sweep"), "-q"]
        print("$ terrplan " + " ".join(command), flush=True)
        load = [os.getloadavg()[0]]
        wall, cpu, done = terrplan(*command)
        load.append(os.getloadavg()[0])
        if done.returncode != 0:
            sys.exit(done.stderr.decode())
        table = pd.read_parquet(folder / "sweep" / "results.parquet")
        singles = []
        for scenario in table["scenario"]:
            config = folder / "sweep" / "configs" / f"{scenario}.json"
            if not config.exists():  # a combination the config refuses: no run in either
                continue
            seconds, used, run = terrplan("optimize", str(config), "-o", str(folder / "single" / scenario), "-q")
            singles.append({"scenario": scenario, "wall_s": seconds, "cpu_s": used, "exit_code": run.returncode})
        load.append(os.getloadavg()[0])
        single = pd.DataFrame(singles).merge(table[["scenario", "k", "status", "exit_code", "runtime_s"]],
                                             on="scenario", suffixes=("_single", "_sweep"))  # fmt: skip
        again, _, rerun = terrplan(*command[:-1])  # without -q: its last line says how many scenarios ran
        total, ideal = float(single["wall_s"].sum()), float(single["wall_s"].sum()) / args.workers
        print(single.to_string(index=False))
        print(f"scenarios: {len(table)}, exit codes: {table['exit_code'].value_counts().to_dict()}")
        print(f"cores: {os.cpu_count()}; 1-minute load average: {load[0]:.1f} at the sweep's start, {load[1]:.1f} at "
              f"its end, {load[2]:.1f} after the single runs")  # fmt: skip
        print(f"sweep wall (--workers {args.workers}): {wall:.1f} s; single runs: {total:.1f} s in all")
        print(f"ratio wall / (sum / {args.workers}) = {wall / ideal:.3f} (target <= 1.15)")
        singles_cpu = float(single["cpu_s"].sum())
        print(f"CPU: sweep {cpu:.1f} s, single runs {singles_cpu:.1f} s: ratio {cpu / singles_cpu:.3f}")
        span = makespan(list(single["wall_s"]), args.workers)
        print(f"the sweep's schedule replayed with the single wall times: {span:.1f} s = {span / ideal:.3f} x sum / 2")
        print(f"rerun: {again:.1f} s, exit {rerun.returncode}: {rerun.stderr.decode().strip().splitlines()[-1]}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
