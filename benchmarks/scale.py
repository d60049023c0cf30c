"""Scale: 100k, 300k and 1M synthetic accounts nationwide, K = 500, through the command line.

    python benchmarks/run.py scale [--only scale_300k] [--time-limit S] [--json]
    python benchmarks/scale.py generate 300000          # only write the universe (cached), print its folder

Each universe is drawn from a seed: accounts on real ZIPs (drawn by population, each account within about 2 km of
its ZIP's centre), with 1 to 3 volume rows of a few CPT codes each. It is written once to a cache folder under the
system's temp folder (not committed) and reused. A run is `terrplan optimize CONFIG -k 500 --no-report
--time-limit T` in a subprocess; its wall time and peak RSS (the child's ru_maxrss, from os.wait4) are measured
here, and status, objective, bound and gap are read from its summary.json, the territories in band from its
territories.csv.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SIZES = {"scale_100k": 100_000, "scale_300k": 300_000, "scale_1m": 1_000_000}
TIME_LIMIT_S = {"scale_100k": 60.0, "scale_300k": 60.0, "scale_1m": 120.0}
K = 500
SEED = 13
CODES = np.array(["27447", "27130", "29881", "63030", "22551"])
WEIGHTS = {"27447": 1.0, "27130": 1.0, "29881": 0.3, "63030": 0.6, "22551": 0.8}
_JITTER_DEG = 0.015  # about 1.7 km of latitude


def cache_dir() -> Path:
    return Path(os.environ.get("TERRPLAN_SCALE_CACHE", Path(tempfile.gettempdir()) / "terrplan-scale"))


def universe(n: int, seed: int = SEED) -> Path:
    """The folder of the universe of `n` accounts (accounts.csv, volumes.csv, config.yaml), written when missing."""
    folder = cache_dir() / f"{n}-{seed}"
    if (folder / "config.yaml").exists():
        return folder
    return write_universe(folder, n, seed)


def write_universe(
    folder: Path, n: int, seed: int = SEED, k: int = K, time_limit_s: float = 60, extra: str = ""
) -> Path:
    """Write the universe of `n` accounts drawn from `seed` to `folder`: accounts.csv, volumes.csv and a config.yaml
    of `k` territories (with `extra` YAML appended), the config last, so a folder with a config is complete."""
    folder.mkdir(parents=True, exist_ok=True)
    accounts, volumes = _draw(n, seed)
    for name, frame in (("accounts.csv", accounts), ("volumes.csv", volumes)):
        part = folder / f".{name}.part"
        frame.to_csv(part, index=False)
        part.replace(folder / name)
    text = (
        "inputs:\n  accounts: {path: accounts.csv}\n  volumes: {path: volumes.csv}\n"
        "scoring:\n  weights: {" + ", ".join(f'"{c}": {w}' for c, w in WEIGHTS.items()) + "}\n"
        f"territories:\n  count: {k}\n  balance: {{metric: potential, tolerance: 0.05}}\n"
        "  objective_weight: potential\n"
        f"solver:\n  seed: 0\n  time_limit: {time_limit_s:g}\noutput:\n  dir: out\n" + extra
    )
    (folder / ".config.part").write_text(text)
    (folder / ".config.part").replace(folder / "config.yaml")
    return folder


def _draw(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    from terrplan.geo import zip_table

    rng = np.random.default_rng(seed)
    table = zip_table()
    table = table.loc[table["lat"].notna() & table["population"].notna() & (table["population"] > 0)]
    population = table["population"].to_numpy(dtype=float)
    at = rng.choice(len(table), size=n, p=population / population.sum())
    lat = table["lat"].to_numpy(dtype=float)[at] + rng.uniform(-_JITTER_DEG, _JITTER_DEG, n)
    lon = table["lon"].to_numpy(dtype=float)[at] + rng.uniform(-_JITTER_DEG, _JITTER_DEG, n)
    ids = np.char.add("S", np.char.zfill(np.arange(1, n + 1).astype(str), 7))
    accounts = pd.DataFrame(
        {
            "account_id": ids,
            "name": np.char.add("Practice ", np.arange(1, n + 1).astype(str)),
            "state": table["state"].to_numpy()[at],
            "zip": table.index.to_numpy()[at],
            "lat": np.round(lat, 6),
            "lon": np.round(lon, 6),
        }
    )
    rows = rng.integers(1, 4, size=n)
    account = np.repeat(np.arange(n), rows)
    # distinct codes per account: a shuffled prefix of the code list
    order = np.argsort(rng.random((n, len(CODES))), axis=1)
    slot = np.arange(len(account)) - np.repeat(np.cumsum(rows) - rows, rows)
    volumes = pd.DataFrame(
        {
            "account_id": ids[account],
            "code": CODES[order[account, slot]],
            "volume": np.maximum(np.rint(rng.lognormal(2.5, 1.0, len(account))), 1).astype(int),
            "period": 2025,
        }
    )
    return accounts, volumes


def run(name: str, time_limit_s: float | None = None) -> dict[str, Any]:
    """One universe through `terrplan optimize` in a subprocess: a row for benchmarks/run.py's table."""
    from run import _wait_child, maxrss_to_mb  # type: ignore[import-not-found]  # benchmarks/run.py (sys.path)

    n = SIZES[name]
    limit = time_limit_s if time_limit_s is not None else TIME_LIMIT_S[name]
    folder = universe(n)
    out = folder / f"out-{int(limit)}"
    command = [sys.executable, "-m", "terrplan", "optimize", str(folder / "config.yaml"), "-k", str(K),
               "--no-report", "--time-limit", repr(limit), "-o", str(out)]  # fmt: skip
    load = os.getloadavg()[0]  # the machine is shared: a wall time means little without the load it ran under
    start = time.perf_counter()
    with open(folder / f"out-{int(limit)}.log", "w+") as log:  # the run's stderr, kept beside its outputs
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, text=True)
        code, maxrss, killed = _wait_child(proc, max(600.0, 5 * limit))
        wall = time.perf_counter() - start
        log.seek(0)
        tail = log.read().strip().splitlines()[-3:]
    row: dict[str, Any] = {"instance": name, "n": n, "k": K, "time_limit_s": limit, "wall_s": round(wall, 2),
                           "peak_mb": round(maxrss_to_mb(maxrss)), "exit": code, "load": round(load, 2)}  # fmt: skip
    summary = out / "summary.json"
    if killed or not summary.exists() or summary.stat().st_mtime < time.time() - wall - 1:
        row["error"] = ("killed; " if killed else "") + f"exit {code}: " + " | ".join(tail)
        return row
    fields = json.loads(summary.read_text())
    territories = pd.read_csv(out / "territories.csv")
    row.update(
        status=fields.get("status"),
        objective=fields.get("objective"),
        lower_bound=fields.get("lower_bound"),
        gap_lb_pct=None if fields.get("gap") is None else 100 * fields["gap"],
        in_band=f"{int(territories['in_band'].astype(bool).sum())}/{len(territories)}",
    )
    bound, value = row["lower_bound"], row["objective"]
    if bound is not None and (bound < 0 or (value is not None and bound > value * (1 + 1e-9))):
        row["error"] = f"INVALID BOUND {bound} (objective {value})"
    if row["wall_s"] > limit * 1.05:
        row["over_limit"] = True
    return row


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "generate":
        print(universe(int(argv[1])))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
