"""Run the optimizer on benchmark instances and print a table (or JSON lines).

    python benchmarks/run.py SUITE [--json] [--time-limit S] [--seed N] [--only NAME ...]
    python benchmarks/run.py SUITE --build-only      # only build the instances, timing that
    python benchmarks/run.py --one NAME [--json]     # one instance in this process (what SUITE runs use)
    python benchmarks/run.py scale [--only scale_300k]  # 100k/300k/1M accounts through the CLI (benchmarks/scale.py)
    python benchmarks/run.py ingest [--only claims_10m]  # 10M claims rows read keeping 5 codes (benchmarks/claims.py)

Each instance runs in a fresh subprocess (`--one NAME --json`), so its peak memory (ru_maxrss) is its own.
Building the problem is not timed as solve time; `time_s` is the wall time of `terrplan.solve.solve` alone.
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

import terrplan.solve
from terrplan import regions
from terrplan.model import Problem, Result, bands_hold, objective

try:  # python -m benchmarks.run, or imported from the repo root
    from benchmarks import instances
except ImportError:  # python benchmarks/run.py: the script's folder is on sys.path
    import instances  # type: ignore[no-redef]

DEFAULT_TIME_LIMIT_S = {
    "pmed": 10.0,
    "pmedcap": 10.0,
    "national": 60.0,
    "national_large": 180.0,
    "hospitals": 120.0,
    "capacitated": 60.0,
}
OBJECTIVE_RTOL = 1e-6
# A child that has not finished by max(CHILD_TIMEOUT_FLOOR_S, CHILD_TIMEOUT_FACTOR * time limit) is killed.
CHILD_TIMEOUT_FLOOR_S = 600.0
CHILD_TIMEOUT_FACTOR = 5.0

Row = dict[str, Any]

COLUMNS: list[tuple[str, str, int]] = [  # key, header, width
    ("instance", "instance", 14),
    ("n", "n", 7),
    ("k", "k", 5),
    ("objective", "objective", 14),
    ("reference", "reference", 12),
    ("gap_ref_pct", "gap_ref%", 9),
    ("lower_bound", "lower_bound", 14),
    ("gap_lb_pct", "gap_lb%", 8),
    ("time_s", "time_s", 8),
    ("peak_mb", "peak_mb", 8),
    ("bands_ok", "bands", 5),
    ("remote", "remote t+s", 30),
]
BUILD_COLUMNS: list[tuple[str, str, int]] = [
    ("instance", "instance", 14),
    ("n", "n", 7),
    ("k", "k", 5),
    ("reference", "reference", 12),
    ("build_s", "build_s", 8),
    ("peak_mb", "peak_mb", 8),
]


# -- one instance (child process) ------------------------------------------------------------------------------


def peak_mb() -> float:
    """Peak resident memory of this process so far plus its largest finished child's (the bound's process, which
    runs beside the search on large instances), in MB: an upper estimate of the two together."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss_to_mb(own + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


def maxrss_to_mb(maxrss: int) -> float:
    """ru_maxrss is in KiB on Linux, in bytes on macOS."""
    return maxrss / 1024.0**2 if sys.platform == "darwin" else maxrss / 1024.0


def gap_pct(value: float, reference: float | None, denominator: float | None) -> float | None:
    """100 * (value - reference) / denominator, or None without a reference."""
    if reference is None or denominator is None or not math.isfinite(reference):
        return None
    if denominator == 0:
        return 0.0 if value == reference else math.inf
    return 100.0 * (value - reference) / abs(denominator)


def check_result(problem: Problem, result: Result) -> tuple[float, list[str]]:
    """The objective recomputed from the alignment, and every way the result is malformed."""
    territory = np.asarray(result.alignment.territory)
    centres = np.asarray(result.alignment.centres)
    n, k = problem.n_units, problem.n_territories
    problems: list[str] = []
    if territory.shape != (n,):
        problems.append(f"territory has shape {territory.shape}, expected ({n},)")
    elif territory.size and (territory.min() < 0 or territory.max() >= k):
        bad = int(((territory < 0) | (territory >= k)).sum())
        problems.append(f"{bad} units are not assigned to a territory 0..{k - 1}")
    if centres.shape != (k,):
        problems.append(f"centres has shape {centres.shape}, expected ({k},)")
    elif centres.size and (centres.min() < 0 or centres.max() >= problem.n_sites):
        problems.append(f"a centre is outside the sites 0..{problem.n_sites - 1}")
    if problems:
        return math.nan, problems
    recomputed = objective(problem, result.alignment)
    if not math.isclose(recomputed, result.objective, rel_tol=OBJECTIVE_RTOL, abs_tol=OBJECTIVE_RTOL):
        problems.append(f"solver reports objective {result.objective!r}, recomputed {recomputed!r}")
    return recomputed, problems


def contradictions(value: float, lower_bound: float | None, reference: float | None, bands_ok: bool) -> list[str]:
    """What cannot be true of a valid bound and a proven optimum: a bound above a feasible objective or above the
    optimum, a feasible objective below the optimum."""
    if math.isnan(value):
        return []
    found = []
    if bands_ok and lower_bound is not None and lower_bound > value + _slack(value):
        found.append(f"lower bound {lower_bound!r} exceeds the feasible objective {value!r}")
    if reference is None:
        return found
    if lower_bound is not None and lower_bound > reference + _slack(reference):
        found.append(f"lower bound {lower_bound!r} exceeds the proven optimum {reference!r}")
    if bands_ok and value < reference - _slack(reference):
        found.append(f"a feasible objective {value!r} below the proven optimum {reference!r}")
    return found


def _slack(value: float) -> float:
    return OBJECTIVE_RTOL * max(abs(value), 1.0)


def solve_row(
    name: str, bench: instances.Benchmark, params: terrplan.solve.SolveParams, gap_km: float | None = None
) -> Row:
    problem, _ = regions.keep_whole(bench.problem, gap_km, seed=params.seed)
    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # keep stdout for our own JSON line
        result = terrplan.solve.solve(problem, params)
    elapsed = time.perf_counter() - start
    value, problems = check_result(problem, result)
    lower_bound = None if result.lower_bound is None else float(result.lower_bound)
    bands_ok = not math.isnan(value) and bands_hold(problem, result.alignment.territory)
    problems += contradictions(value, lower_bound, bench.reference, bands_ok)
    row: Row = {
        "instance": name,
        "n": problem.n_units,
        "k": problem.n_territories,
        "objective": value,
        "reference": bench.reference,
        "gap_ref_pct": gap_pct(value, bench.reference, bench.reference),
        "lower_bound": lower_bound,
        "gap_lb_pct": gap_pct(value, lower_bound, value),
        "time_s": elapsed,
        "peak_mb": None,  # set by run_one
        "bands_ok": bool(bands_ok),
        "remote": remote_outcome(bench.problem, result.alignment.territory) if not problems else None,
    }
    if problems:
        row["error"] = "INVALID RESULT: " + "; ".join(problems)
    return row


def remote_outcome(problem: Problem, territory: np.ndarray) -> str | None:
    """Per remote region at the default gap (kept whole or not): `name territories+shared`, e.g. `HI 3+1` is three
    territories, one of them shared with the mainland."""
    found = regions.find(problem, regions.DEFAULT_GAP_KM)
    if found is None or found.n_regions == 0:
        return None
    assert problem.coords is not None
    parts = []
    for region, (count, shared) in enumerate(regions.outcome(found, territory), start=1):
        members = found.members(region)
        parts.append(f"{_short_name(problem.coords[members])} {count}+{shared}")
    return " ".join(parts)


def _short_name(coords: np.ndarray) -> str:
    """A region by the mean of its units' lat/lon, in whole degrees."""
    lat, lon = coords[:, 0].mean(), coords[:, 1].mean()
    return f"({lat:.0f},{lon:.0f})"


def build_row(name: str) -> tuple[instances.Benchmark, float]:
    start = time.perf_counter()
    bench = instances.load(name)
    return bench, time.perf_counter() - start


def run_one(
    name: str,
    time_limit_s: float | None,
    seed: int,
    build_only: bool,
    gap_km: float | None = regions.DEFAULT_GAP_KM,
    effort: float = 1.0,
) -> Row:
    bench, build_s = build_row(name)
    if build_only:
        row: Row = {
            "instance": name,
            "n": bench.problem.n_units,
            "k": bench.problem.n_territories,
            "reference": bench.reference,
        }
    else:
        limit = time_limit_s if time_limit_s is not None else DEFAULT_TIME_LIMIT_S[instances.suite_of(name)]
        row = solve_row(name, bench, terrplan.solve.SolveParams(time_limit_s=limit, seed=seed, effort=effort), gap_km)
    row["peak_mb"] = peak_mb()  # includes the interpreter, the imports and the build
    row["build_s"] = build_s
    return row


def main_one(args: argparse.Namespace) -> int:
    try:
        row = run_one(args.one, args.time_limit, args.seed, args.build_only, args.remote_gap_km, args.effort)
    except Exception as exc:
        traceback.print_exc()
        row = {"instance": args.one, "error": f"{type(exc).__name__}: {exc}"}
    if "error" in row:
        print(f"!!! {row['instance']}: {row['error']}", file=sys.stderr)
    print(to_json(row) if args.json else format_table([row], _columns(args)), flush=True)
    return 1 if "error" in row else 0


# -- a suite (parent process) ------------------------------------------------------------------------------------


def child_command(name: str, args: argparse.Namespace) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", name, "--json", "--seed", str(args.seed)]
    if args.time_limit is not None:
        cmd += ["--time-limit", repr(args.time_limit)]
    if args.build_only:
        cmd.append("--build-only")
    cmd += ["--effort", repr(args.effort)]
    cmd += ["--remote-gap-km", "none" if args.remote_gap_km is None else repr(args.remote_gap_km)]
    return cmd


def child_timeout_s(name: str, args: argparse.Namespace) -> float:
    limit = args.time_limit if args.time_limit is not None else DEFAULT_TIME_LIMIT_S[instances.suite_of(name)]
    return max(CHILD_TIMEOUT_FLOOR_S, CHILD_TIMEOUT_FACTOR * limit)


def parse_child_output(name: str, stdout: str, returncode: int) -> Row:
    """The child's last JSON line; a row with an error when there is none or the child failed."""
    row: Row | None = None
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):
                row = json.loads(line)
                break
    if row is None:
        return {"instance": name, "error": f"child exited with code {returncode} and printed no result"}
    if returncode != 0 and "error" not in row:
        row["error"] = f"child exited with code {returncode}"
    return row


def run_child(name: str, args: argparse.Namespace) -> Row:
    """Run one instance in a fresh interpreter; its stderr goes straight to ours.

    The child is reaped with os.wait4, so its peak memory is known even when it crashes or is killed."""
    timeout = child_timeout_s(name, args)
    with tempfile.TemporaryFile(mode="w+") as out:
        proc = subprocess.Popen(child_command(name, args), stdout=out, text=True)
        returncode, maxrss, killed = _wait_child(proc, timeout)
        out.seek(0)
        row = parse_child_output(name, out.read(), returncode)
    if killed:
        row["error"] = f"killed after {timeout:.0f} s"
    if row.get("peak_mb") is None:
        row["peak_mb"] = maxrss_to_mb(maxrss)
    return row


def _wait_child(proc: subprocess.Popen[str], timeout_s: float) -> tuple[int, int, bool]:
    """(exit code, the child's ru_maxrss, whether it was killed at the timeout)."""
    deadline = time.monotonic() + timeout_s
    killed = False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline and not killed:
            proc.kill()
            killed = True
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    return proc.returncode, usage.ru_maxrss, killed


def select(suite: str, only: list[str] | None) -> list[str]:
    names = instances.instance_names(suite)
    if not only:
        return names
    unknown = [name for name in only if name not in names]
    if unknown:
        raise SystemExit(f"not in suite {suite!r}: {', '.join(unknown)}")
    return [name for name in names if name in only]


def main_suite(args: argparse.Namespace) -> int:
    names = select(args.suite, args.only)
    columns = _columns(args)
    if not args.json:
        print(format_header(columns), flush=True)
    rows: list[Row] = []
    for name in names:
        row = run_child(name, args)
        rows.append(row)
        print(to_json(row) if args.json else format_row(row, columns), flush=True)
    failed = [row for row in rows if "error" in row]
    if not args.json:
        print(summary(rows))
    for row in failed:
        print(f"!!! FAILED {row['instance']}: {row['error']}", file=sys.stderr)
    return 1 if failed else 0


# -- output ---------------------------------------------------------------------------------------------------------


def _columns(args: argparse.Namespace) -> list[tuple[str, str, int]]:
    return BUILD_COLUMNS if args.build_only else COLUMNS


def format_cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if key.endswith("_pct"):
            return f"{value:.3f}"
        if key in ("time_s", "build_s", "wall_s"):
            return f"{value:.2f}"
        if key == "peak_mb":
            return f"{value:.0f}"
        return f"{value:.0f}" if value == round(value) or abs(value) >= 1e5 else f"{value:.2f}"
    return str(value)


def _align(cells: list[str], columns: list[tuple[str, str, int]]) -> str:
    """First column left-aligned, the rest right-aligned, each to its width."""
    widths = [width for _, _, width in columns]
    padded = [cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(cells, widths, strict=True))]
    return "  ".join(padded)


def format_header(columns: list[tuple[str, str, int]]) -> str:
    return _align([header for _, header, _ in columns], columns)


def format_row(row: Row, columns: list[tuple[str, str, int]]) -> str:
    line = _align([format_cell(key, row.get(key)) for key, _, _ in columns], columns)
    return f"{line}  !!! {row['error']}" if "error" in row else line


def to_json(row: Row) -> str:
    """One JSON line; NaN and infinities (not valid JSON) become null."""
    clean = {key: None if isinstance(v, float) and not math.isfinite(v) else v for key, v in row.items()}
    return json.dumps(clean)


def format_table(rows: Iterable[Row], columns: list[tuple[str, str, int]]) -> str:
    return "\n".join([format_header(columns), *(format_row(row, columns) for row in rows)])


def _finite(values: Iterable[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]


def summary(rows: list[Row]) -> str:
    gaps = _finite(row.get("gap_ref_pct") for row in rows)
    times = _finite(row.get("time_s", row.get("build_s")) for row in rows)
    failed = sum("error" in row for row in rows)
    mean_gap = f"{sum(gaps) / len(gaps):.3f} % over {len(gaps)}" if gaps else "-"
    max_time = f"{max(times):.2f} s" if times else "-"
    return f"mean gap to reference: {mean_gap}; max time: {max_time}; failed: {failed} of {len(rows)}"


# -- command line -------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run terrplan's optimizer on benchmark instances.")
    parser.add_argument(
        "suite", nargs="?", choices=[*instances.suite_names(), "scale", "ingest"], help="which instances to run"
    )
    parser.add_argument("--one", metavar="NAME", help="run one instance in this process (no subprocess)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these instances of SUITE")
    parser.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    parser.add_argument(
        "--time-limit",
        type=float,
        metavar="S",
        help="solver time limit per instance (default: 10 s pmed/pmedcap, 60 s national, 180 s national_large, "
        "120 s hospitals)",
    )
    parser.add_argument("--seed", type=int, default=0, help="solver seed (default 0)")
    parser.add_argument(
        "--effort", type=float, default=1.0, help="solver effort: search sweeps and bound steps per unit (default 1)"
    )
    parser.add_argument(
        "--build-only", action="store_true", help="only build each instance and report the build time and memory"
    )
    parser.add_argument(
        "--remote-gap-km",
        type=_gap,
        default=regions.DEFAULT_GAP_KM,
        metavar="KM",
        help=f"keep remote regions whole at this gap (default {regions.DEFAULT_GAP_KM:g}; 'none': off, as before)",
    )
    args = parser.parse_args(argv)
    if (args.suite is None) == (args.one is None):
        parser.error("give either SUITE or --one NAME")
    return args


def _gap(text: str) -> float | None:
    return None if text.lower() in ("none", "null", "off") else float(text)


SCALE_COLUMNS: list[tuple[str, str, int]] = [
    ("instance", "instance", 11),
    ("n", "n", 8),
    ("k", "k", 4),
    ("time_limit_s", "limit_s", 7),
    ("wall_s", "wall_s", 7),
    ("peak_mb", "peak_mb", 8),
    ("status", "status", 9),
    ("objective", "objective", 14),
    ("lower_bound", "lower_bound", 14),
    ("gap_lb_pct", "gap_lb%", 8),
    ("in_band", "in_band", 8),
]


def main_scale(args: argparse.Namespace) -> int:
    """The `scale` suite (benchmarks/scale.py): each size through `terrplan optimize` in a subprocess."""
    import scale  # type: ignore[import-not-found]  # this script's folder is on sys.path

    names = [name for name in scale.SIZES if not args.only or name in args.only]
    if not args.json:
        print(format_header(SCALE_COLUMNS), flush=True)
    rows = []
    for name in names:
        row = scale.run(name, args.time_limit)
        rows.append(row)
        print(to_json(row) if args.json else format_row(row, SCALE_COLUMNS), flush=True)
    return 1 if any("error" in row for row in rows) else 0


INGEST_COLUMNS: list[tuple[str, str, int]] = [
    ("instance", "instance", 17),
    ("rows", "rows", 10),
    ("what", "what", 8),
    ("engine", "engine", 7),
    ("file_mb", "file_mb", 8),
    ("wall_s", "wall_s", 7),
    ("read_s", "read_s", 7),
    ("peak_mb", "peak_mb", 8),
    ("accounts", "accounts", 9),
    ("kept_rows", "kept_rows", 10),
    ("kept_volume", "kept_volume", 12),
]

#: The `ingest` suite: name -> (rows, what, engine). The pandas reader at 1M rows only: at 10M it would need
#: about 40 GB (3.9 GB at 1M, linear).
INGEST_RUNS = {
    "claims_10m": (10_000_000, "volumes", "duckdb"),
    "claims_10m_load": (10_000_000, "load", "duckdb"),
    "claims_1m": (1_000_000, "volumes", "duckdb"),
    "claims_1m_pandas": (1_000_000, "volumes", "pandas"),
}


def main_ingest(args: argparse.Namespace) -> int:
    """The `ingest` suite (benchmarks/claims.py): a CMS Part B-shaped claims file read keeping 5 codes, each run in
    a subprocess (its own peak RSS). `volumes`: read_volumes with the accounts' ids given; `load`: load_accounts,
    accounts and volumes from the one file, located and scored."""
    import claims  # type: ignore[import-not-found]  # this script's folder is on sys.path

    names = [name for name in INGEST_RUNS if not args.only or name in args.only]
    if not args.json:
        print(format_header(INGEST_COLUMNS), flush=True)
    rows = []
    for name in names:
        row = {"instance": name} | claims.ingest_row(*INGEST_RUNS[name], seed=args.seed)
        rows.append(row)
        print(to_json(row) if args.json else format_row(row, INGEST_COLUMNS), flush=True)
    return 1 if any("error" in row for row in rows) else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.suite == "scale":
        return main_scale(args)
    if args.suite == "ingest":
        return main_ingest(args)
    return main_one(args) if args.one else main_suite(args)


if __name__ == "__main__":
    sys.exit(main())
