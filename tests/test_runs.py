"""The runs layer (terrplan.runs) called directly, without click: each run returns a frozen result, and the files
written from it are the ones the command writes for the same inputs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from conftest import invoke

from terrplan.budget import TimeBudget
from terrplan.config import load_config
from terrplan.errors import EXIT_CHECK_FAILED, EXIT_OK, InfeasibleError
from terrplan.progress import Reporter
from terrplan.runs.evaluate import evaluate_alignment
from terrplan.runs.optimize import optimize
from terrplan.runs.size import size, size_k
from terrplan.write import csv_text, output_files

NO_REPORT = {"output.report": False}  # what --no-report sets


def _frozen(run) -> None:
    field = dataclasses.fields(run)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(run, field, None)


def _same_files(files: dict[str, str | bytes], folder: Path) -> None:
    """The files a run's result makes are the folder's files, byte for byte; summary.json apart from runtime_s."""
    assert sorted(files) == sorted(p.name for p in folder.iterdir())
    for name, content in files.items():
        written = (folder / name).read_text(encoding="utf-8")
        if name == "summary.json":
            ours, theirs = json.loads(content), json.loads(written)
            assert ours.pop("runtime_s") >= 0 and theirs.pop("runtime_s") >= 0
            assert ours == theirs
        else:
            assert content == written, name


def _run_args(config_path: Path, **overrides):
    """A config as the command loads it (with `overrides`), a quiet reporter, and the config's time budget."""
    config = load_config(config_path, overrides)
    return config, Reporter(quiet=True), TimeBudget.of(config.solver.time_limit)


def test_optimize_returns_a_frozen_result_whose_files_are_what_the_cli_writes(tiny):
    config, report, budget = _run_args(tiny.config, **NO_REPORT)
    run = optimize(config, None, report, budget)
    _frozen(run)
    assert run.exit_code == EXIT_OK and run.failure is None and run.refresh is None
    assert run.design is not None and run.summary.status == run.design.result.status
    assert sorted(run.metrics.assignments.groupby("territory")["account_id"].sum()) == ["A1A2A3A4", "B1B2B3B4"]
    assert {"district", "region"} <= set(run.metrics.territories.columns)  # the hierarchy's columns are in
    done = invoke("optimize", str(tiny.config), "-q", "--no-report")
    assert done.exit_code == 0, done.stderr
    _same_files(output_files(run.summary, run.metrics, run.loaded), tiny.out)


def test_refresh_returns_the_repair_and_the_cli_writes_it(tiny):
    config, report, budget = _run_args(tiny.config, **NO_REPORT, **{"disruption.move_cost_km": 0.0})
    run = optimize(config, "accounts", report, budget)
    _frozen(run)
    assert run.design is None and run.refresh is not None and run.exit_code == EXIT_OK
    assert run.summary.status == "refreshed"
    assert run.refresh.figures["moved_accounts"] == 1  # B4 (Concord, near Charlotte) joins T2
    assert set(run.tables) == {"departed.csv", "relocated.csv"}
    done = invoke("optimize", str(tiny.config), "--current", "accounts", "--move-cost", "0", "-q", "--no-report")
    assert done.exit_code == 0, done.stderr
    _same_files(output_files(run.summary, run.metrics, run.loaded, tables=run.tables), tiny.out)


def test_a_refresh_out_of_budget_raises_before_anything_is_written(tiny):
    overrides = {"disruption.move_cost_km": 0.0, "disruption.budget": 0.0}
    config, report, budget = _run_args(tiny.config, **overrides)
    with pytest.raises(InfeasibleError, match="within the budget"):
        optimize(config, "accounts", report, budget)


def test_evaluate_returns_the_failed_checks_and_the_cli_writes_the_same_files(tiny):
    config, report, budget = _run_args(tiny.config)
    run = evaluate_alignment(config, None, report, budget)  # the accounts' current territory: B4 sits in T1
    _frozen(run)
    assert run.labels == ("T1", "T2") and run.assigned == 8
    assert run.exit_code == EXIT_CHECK_FAILED and run.checks
    assert run.summary.status == "evaluated" and run.summary.territories == 2
    done = invoke("evaluate", str(tiny.config), "-q", "-o", str(tiny.out))
    assert done.exit_code == EXIT_CHECK_FAILED
    _same_files(output_files(run.summary, run.metrics, run.loaded), tiny.out)


def test_size_returns_the_table_the_cli_prints_and_one_k_its_row(tiny):
    config, report, _ = _run_args(tiny.config, **{"sizing.k_min": 2, "sizing.k_max": 2, "sizing.hours_per_fte": 400})
    folder = tiny.dir / "size"
    run = size(config, tiny.config, folder, 1, None, False, report)
    _frozen(run)
    assert list(run.ks) == [2] and list(run.table["k"]) == [2]
    assert run.need == pytest.approx(run.table["call_hours_per_rep"].iloc[0] * 2 / 400)
    # The command reuses the K solved above (the same scenario) and prints the same table.
    printed = invoke("size", str(tiny.config), "--k-range", "2:2", "--capacity", "400", "-d", str(folder), "-q")
    assert printed.exit_code == 0, printed.stderr
    assert printed.stdout == csv_text(run.table, config.output.escape_formulas)
    one = size_k(config, 2, report)
    _frozen(one)
    assert {key: one.row[key] for key in ("k", "call_hours_per_rep")} == {
        key: run.table[key].iloc[0] for key in ("k", "call_hours_per_rep")
    }
    assert [entry["path"] for entry in one.inputs] == [str(tiny.dir / "accounts.csv"), str(tiny.dir / "volumes.csv")]
