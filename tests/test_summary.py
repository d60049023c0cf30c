"""The run's one typed summary: frozen, summary.json rendered from it byte for byte, and the report's Changes are
the moves `compare` counted (moves.csv), not a second count."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import TINY_ACCOUNTS, TINY_CONFIG, TINY_VOLUMES, invoke
from openpyxl import load_workbook

from terrplan.summary import RunSummary, Solve


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """The tiny case optimized with its report; its accounts carry a current territory, so it has moves."""
    case = tmp_path_factory.mktemp("summary")
    (case / "accounts.csv").write_text(TINY_ACCOUNTS)
    (case / "volumes.csv").write_text(TINY_VOLUMES)
    (case / "config.yaml").write_text(TINY_CONFIG)
    result = invoke("optimize", str(case / "config.yaml"), "-o", str(case / "out"), "-q")
    assert result.exit_code == 0, result.output
    return case / "out"


def test_summary_json_round_trips_through_the_typed_object(tiny_run):
    text = (tiny_run / "summary.json").read_text(encoding="utf-8")
    summary = RunSummary.read(tiny_run)
    assert summary.to_json() == text  # every key of summary.json has its place in the object, and back
    data = json.loads(text)
    assert summary.as_dict() == data
    assert (summary.status, summary.objective, summary.lower_bound, summary.gap) == (
        data["status"],
        data["objective"],
        data["lower_bound"],
        data["gap"],
    )
    assert summary.solve.solver_rounds == data["solver_rounds"]
    assert summary.territories == data["territories"] == 2
    assert summary.inputs.used == data["accounts"]["used"] == 8
    assert [dict(f) for f in summary.inputs.files] == data["inputs"]
    assert dict(summary.bands.primary) == data["balance"]
    assert summary.units_by == data["config"]["units"]["by"]
    assert [s["name"] for s in summary.segments] == [s["name"] for s in data["config"]["segments"]]
    assert summary.disruption is not None
    assert summary.disruption.moved_accounts == data["disruption"]["moved_accounts"]
    assert dict(summary.disruption.territory_match) == data["disruption"]["territory_match"]


def test_the_summary_is_frozen_all_the_way_down(tiny_run):
    summary = RunSummary.read(tiny_run)
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.objective = 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.solve.status = "optimal"
    with pytest.raises(TypeError):
        summary.bands.primary["min_index"] = 100.0
    with pytest.raises(TypeError):
        summary.config["solver"]["seed"] = 1
    assert isinstance(summary.bands.each, tuple)
    changed = dataclasses.replace(summary, band_violations=("T01 is outside the band",))
    assert json.loads(changed.to_json())["band_violations"] == ["T01 is outside the band"]
    assert "band_violations" not in json.loads(summary.to_json())


def test_an_unknown_solver_figure_is_an_error_not_dropped():
    with pytest.raises(ValueError, match="unknown solver figure"):
        Solve.of({"status": "optimal", "lower_bund": 1.0})


def test_the_reports_changes_are_compares_moves(tiny_run):
    moves = pd.read_csv(tiny_run / "moves.csv", dtype={"account_id": str})
    assert len(moves) == RunSummary.read(tiny_run).disruption.moved_accounts > 0
    book = load_workbook(io.BytesIO((tiny_run / "workbook.xlsx").read_bytes()), read_only=True)
    rows = list(book["Changes"].values)
    ids = [str(row[0]) for row in rows[1:]]
    assert ids == list(moves["account_id"])  # the same accounts, in moves.csv's order
