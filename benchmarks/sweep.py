"""The sweep's parallel efficiency: a grid on 2 local workers against the same scenarios run one by one.

    .venv/bin/python benchmarks/sweep.py            # the sample's 3 x 3 x 3 grid (K 11-13, tolerance, move cost)
    .venv/bin/python benchmarks/sweep.py --quick    # K 11-12 x 2 tolerances: a smoke test of the script

Runs `terrplan sweep` into a fresh folder with --workers 2 and times it (wall); then runs each scenario's config
(`configs/<id>.json`, the very file the sweep ran) with `terrplan optimize` one after the other and sums their wall
times; prints the ratio wall / (sum / 2), the target being at most 1.15; then reruns the sweep, which must run
nothing, and prints its wall time. Scenarios that fail (exit 3, 4, 6) count as the runs they are, in both.
"""

from __future__ import annotations

import argparse
import os
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


def terrplan(*args: str) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "terrplan", *args], capture_output=True, cwd=ROOT)
    return time.perf_counter() - started, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "sample.yaml"))
    parser.add_argument("--quick", action="store_true", help="a 2 x 2 grid instead of 3 x 3 x 3")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    grid = QUICK if args.quick else GRID
    folder = Path(tempfile.mkdtemp(prefix="terrplan-sweep-bench-"))
    try:
        flags = [arg for item in grid for arg in ("--grid", item)]
        command = ["sweep", args.config, *flags, "--workers", str(args.workers), "--dir", str(folder / "sweep"), "-q"]
        print("$ terrplan " + " ".join(command), flush=True)
        wall, done = terrplan(*command)
        if done.returncode != 0:
            sys.exit(done.stderr.decode())
        table = pd.read_parquet(folder / "sweep" / "results.parquet")
        singles = []
        for scenario in table["scenario"]:
            config = folder / "sweep" / "configs" / f"{scenario}.json"
            if not config.exists():  # a combination the config refuses: no run in either
                continue
            seconds, run = terrplan("optimize", str(config), "-o", str(folder / "single" / scenario), "-q")
            singles.append({"scenario": scenario, "wall_s": seconds, "exit_code": run.returncode})
        single = pd.DataFrame(singles).merge(table[["scenario", "k", "status", "exit_code", "runtime_s"]],
                                             on="scenario", suffixes=("_single", "_sweep"))  # fmt: skip
        again, rerun = terrplan(*command[:-1])  # without -q: its last line says how many scenarios ran
        total = float(single["wall_s"].sum())
        print(single.to_string(index=False))
        print(f"scenarios: {len(table)}, exit codes: {table['exit_code'].value_counts().to_dict()}")
        print(f"cores: {os.cpu_count()}, load average before the singles: {os.getloadavg()[0]:.2f}")
        print(f"sweep wall (--workers {args.workers}): {wall:.1f} s; single runs: {total:.1f} s in all")
        print(f"ratio wall / (sum / {args.workers}) = {wall / (total / args.workers):.3f} (target <= 1.15)")
        print(f"rerun: {again:.1f} s, exit {rerun.returncode}: {rerun.stderr.decode().strip().splitlines()[-1]}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
