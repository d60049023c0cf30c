"""A priced redesign that the clock does not cut repeats byte for byte, summary.json's solver_rounds included.

The priced redesign (`--current accounts` with a move cost) once gave its first solve a quarter of the time, and a
solve stops starting new multi-start runs at a quarter of its own: the sample's rounds then changed from run to run
(40, then 52) on a run that ended at 23 s of its 180-s limit. Here a smaller cut of the sample (New Jersey and
Pennsylvania, 1,289 accounts, 6 territories, 24 starts: about 3 s of starts, a 6-s run) runs at a limit it ends far
below and at a limit about eight times that: nothing that the run writes may depend on which. With the quarter, 46 s left
the first solve's starts about 2.7 s, so some starts were cut; with three quarters they have about 8 s, which a CI
machine running the tests two at a time once still cut (33 rounds against 75): the lower limit is now 60 s (11 s;
the quarter would leave 3.75 s, about what the starts need).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml
from conftest import ROOT, run_cli

SAMPLES = ROOT / "data" / "samples"
STATES = ("NJ", "PA")

# The sample's scoring and segments (so potential and workload are the sample's), without its roster, rules and
# hierarchy; six territories, potential +-5 % and workload +-15 %, a 30-km move cost and a 25 % disruption budget.
OVERRIDES = {
    "inputs": {
        "accounts": {"path": "accounts.csv", "columns": {"id": "account_id", "territory": "current_territory"}},
        "volumes": {"path": "volumes.csv"},
    },
    "territories": {
        "count": 6,
        "balance": [{"metric": "potential", "tolerance": 0.05}, {"metric": "workload", "tolerance": 0.15}],
    },
    "disruption": {"move_cost_km": 30, "budget": 0.25},
    "solver": {"seed": 7, "time_limit": 180, "starts": 24},
}


def _case(folder: Path) -> Path:
    """The sample's New Jersey and Pennsylvania accounts (their current territories T03, T04, T09-T12) and volumes."""
    accounts = pd.read_csv(SAMPLES / "accounts.csv", dtype=str, keep_default_na=False)
    volumes = pd.read_csv(SAMPLES / "volumes.csv", dtype=str, keep_default_na=False)
    kept = accounts[accounts["state"].isin(STATES)]
    kept.to_csv(folder / "accounts.csv", index=False)
    volumes[volumes["account_id"].isin(kept["account_id"])].to_csv(folder / "volumes.csv", index=False)
    sample = yaml.safe_load((ROOT / "configs" / "sample.yaml").read_text(encoding="utf-8"))
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump({"scoring": sample["scoring"], "segments": sample["segments"], **OVERRIDES}))
    return config


def test_a_priced_redesign_the_clock_does_not_cut_gives_the_same_bytes_at_any_limit(tmp_path):
    config = _case(tmp_path)
    summaries = []
    for limit in ("60", "460"):
        out = tmp_path / f"out{limit}"
        args = ("optimize", str(config), "--current", "accounts", "--no-report", "-o", str(out), "-q")
        proc = run_cli(*args, "--time-limit", limit)
        assert proc.returncode == 0, proc.stderr.decode()
        summary = json.loads((out / "summary.json").read_text())
        assert summary["runtime_s"] < 0.5 * float(limit)  # the run ends on its own, far from its limit
        assert summary["pricing"]["move_cost_km"] == 30  # one solve: the first design keeps the budget
        summary.pop("runtime_s")
        summary["config"]["solver"].pop("time_limit")
        summaries.append(summary)
    first, second = (tmp_path / "out60", tmp_path / "out460")
    for name in ("assignments.csv", "territories.csv", "moves.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert summaries[0]["solver_rounds"] == summaries[1]["solver_rounds"]  # the defect's figure, named on failure
    assert summaries[0] == summaries[1]
