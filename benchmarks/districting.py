"""State county districting: whole counties into K districts of equal population within ±0.5 %, each district one
connected piece on the rook county graph, through `terrplan optimize` as a user would run it.

Data (all in ../shared/data, see each folder's SOURCE.md): county population and internal points from the Census
2010 Gazetteer (`census-gazetteer/Gaz_counties_national_2010.txt`, POP10, INTPTLAT/INTPTLONG); adjacency from the
Census county adjacency file (`census-county-adjacency/county_adjacency.txt`), made rook by terrplan
(`contiguity.neighbours: rook`, corner-only pairs dropped with the shipped county outline pairs). Each county is one
account (id = FIPS, its county column the same), with one volume row: code POP, volume = its population, weight 1;
so potential = population, the band is potential ±0.5 % and the objective is population x great-circle distance from
each county's internal point to its district's centre county (a weighted p-median).

Each instance runs the CLI in a subprocess (`optimize ... --time-limit T --no-report`), then checks the written
assignments itself: bands with `terrplan.model.bands_hold`, contiguity with the rook graph and
`terrplan.contiguity.pieces`. Usage: python benchmarks/districting.py [--time-limit 60] [ST:K ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from terrplan.adjacency import read_graph
from terrplan.contiguity import is_contiguous, unit_neighbours
from terrplan.model import Problem, bands_hold

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
GAZETTEER = DATA / "census-gazetteer" / "Gaz_counties_national_2010.txt"
ADJACENCY = DATA / "census-county-adjacency" / "county_adjacency.txt"
TOLERANCE = 0.005
INSTANCES = ("IA:4", "AR:4", "KS:4", "OK:5", "AL:7", "NC:8", "SC:7", "GA:8")

CONFIG = """inputs:
  accounts:
    path: counties.csv
    columns: {{county: county}}
  volumes: {{path: population.csv}}
scoring: {{weights: {{POP: 1}}}}
territories:
  count: {k}
  balance: {{metric: potential, tolerance: {tolerance}}}
  objective_weight: potential
solver: {{seed: 1, time_limit: {time_limit}}}
output: {{dir: out, report: false}}
units: {{by: county}}
contiguity: {{graph: {graph}, neighbours: rook}}
"""


def counties(state: str) -> pd.DataFrame:
    """The state's counties: FIPS, name, 2010 population, internal point, in FIPS order."""
    table = pd.read_csv(GAZETTEER, sep="\t", dtype={"GEOID": str}, encoding="latin-1")
    table.columns = [column.strip() for column in table.columns]
    table = table.loc[table["USPS"] == state].sort_values("GEOID").reset_index(drop=True)
    return pd.DataFrame(
        {
            "account_id": table["GEOID"],
            "name": table["NAME"],
            "state": state,
            "county": table["GEOID"],
            "lat": table["INTPTLAT"],
            "lon": table["INTPTLONG"],
            "population": table["POP10"].astype(np.int64),
        }
    )


def write_case(folder: Path, state: str, k: int, time_limit: float) -> pd.DataFrame:
    """counties.csv, population.csv and config.yaml for one instance; the counties back."""
    table = counties(state)
    table.drop(columns="population").to_csv(folder / "counties.csv", index=False)
    volumes = pd.DataFrame({"account_id": table["account_id"], "code": "POP", "volume": table["population"]})
    volumes.to_csv(folder / "population.csv", index=False)
    config = CONFIG.format(k=k, tolerance=TOLERANCE, time_limit=time_limit, graph=ADJACENCY)
    (folder / "config.yaml").write_text(config, encoding="utf-8")
    return table


def check(table: pd.DataFrame, k: int, assignments: pd.DataFrame) -> tuple[bool, bool, float]:
    """Bands held (the library's band test), every district connected on the rook graph, largest deviation."""
    by_id = assignments.set_index("account_id")["territory"]
    labels = by_id.reindex(table["account_id"]).to_numpy()
    _, territory = np.unique(labels, return_inverse=True)
    population = table["population"].to_numpy(dtype=float)
    target = population.sum() / k
    problem = Problem(
        k, population, population[None, :], ("population",), target * (1 - TOLERANCE), target * (1 + TOLERANCE),
        coords=table[["lat", "lon"]].to_numpy(dtype=float),
    )  # fmt: skip
    graph = read_graph(ADJACENCY, "rook")
    neighbours = unit_neighbours(tuple(frozenset([fips]) for fips in table["county"]), graph)
    totals = np.bincount(territory, weights=population, minlength=k)
    deviation = float(np.abs(totals / target - 1).max())
    return bands_hold(problem, territory), bool(is_contiguous(territory, k, neighbours).all()), deviation


def run(state: str, k: int, time_limit: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        table = write_case(folder, state, k, time_limit)
        started = time.perf_counter()
        command = ["optimize", str(folder / "config.yaml"), "-o", str(folder / "out"), "-q"]
        proc = subprocess.run([sys.executable, "-m", "terrplan", *command], capture_output=True, cwd=ROOT)
        seconds = time.perf_counter() - started
        row = {"state": state, "k": k, "counties": len(table), "exit": proc.returncode, "seconds": seconds}
        summary_path = folder / "out" / "summary.json"
        if not summary_path.exists():
            return row | {"status": proc.stderr.decode().strip().splitlines()[0] if proc.stderr else "?"}
        summary = json.loads(summary_path.read_text())
        held, contiguous, deviation = check(table, k, pd.read_csv(folder / "out" / "assignments.csv", dtype=str))
        return row | {
            "status": summary["status"],
            "objective": summary["objective"],
            "bound": summary["lower_bound"],
            "gap": summary["gap"],
            "in_band": held,
            "contiguous": contiguous,
            "deviation": deviation,
        }


def table_line(row: dict) -> str:
    def number(key: str, form: str) -> str:
        return format(row[key], form) if row.get(key) is not None else "n/a"

    yes = {True: "yes", False: "no", None: "n/a"}
    return (
        f"| {row['state']} | {row['k']} | {row['counties']} | {row['exit']} | {row['status']} | "
        f"{number('objective', ',.0f')} | {number('bound', ',.0f')} | {number('gap', '.2%')} | "
        f"{yes[row.get('contiguous')]} | {yes[row.get('in_band')]} | {number('deviation', '.3%')} | "
        f"{row['seconds']:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instances", nargs="*", default=list(INSTANCES), help="ST:K, e.g. IA:4")
    parser.add_argument("--time-limit", type=float, default=60.0)
    args = parser.parse_args()
    print("| state | K | counties | exit | status | objective | bound | gap | contiguous | in band | max dev | s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for case in args.instances:
        state, k = case.split(":")
        print(table_line(run(state, int(k), args.time_limit)), flush=True)
    # the seconds are wall-clock on shared cores: the load says how contended they were
    print("load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()), file=sys.stderr)


if __name__ == "__main__":
    main()
