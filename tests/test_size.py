"""`terrplan size` through the sweep's machinery: each K its own scenario process, resumable, the table the same as
solving each K directly.

The runs here are real: the CLI as a subprocess, each K as its own `terrplan size --scenario-k` process.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TINY_ACCOUNTS, TINY_CONFIG, TINY_VOLUMES, invoke, run_cli

from terrplan.budget import TimeBudget
from terrplan.config import load_config
from terrplan.pipeline import load_accounts
from terrplan.sizing import COLUMNS, recommended_k, size_row, size_table
from terrplan.write import csv_text

# 30 s per K: far more than the tiny case needs, so each K's solve ends on its own and the bytes repeat.
SIZE = ("--k-range", "1:3", "--capacity", "400", "--time-limit", "30")


@pytest.fixture(scope="module")
def sized(tmp_path_factory):
    """The tiny case sized over K 1-3 on 2 workers into a fresh folder."""
    root = tmp_path_factory.mktemp("sized")
    for name, text in (("accounts.csv", TINY_ACCOUNTS), ("volumes.csv", TINY_VOLUMES), ("config.yaml", TINY_CONFIG)):
        (root / name).write_text(text)
    done = run_cli("size", str(root / "config.yaml"), *SIZE, "--workers", "2", "-d", str(root / "size"))
    assert done.returncode == 0, done.stderr.decode()
    return root, done


def test_each_k_is_a_scenario_and_the_table_is_each_k_solved_directly(sized):
    root, done = sized
    config = load_config(root / "config.yaml", {"solver.time_limit": 30, "sizing.hours_per_fte": 400})
    accounts = load_accounts(config).accounts
    direct = size_table([size_row(accounts, config, k, TimeBudget.of(30)) for k in (1, 2, 3)])
    assert done.stdout.decode() == csv_text(direct)
    rows = [json.loads(p.read_text()) for p in (root / "size" / "rows").glob("*.json")]
    assert sorted(row["figures"]["k"] for row in rows) == [1, 2, 3]
    assert all(row["exit_code"] == 0 for row in rows)
    # each K's own folder holds its row and the inputs it read, hashed
    for row in rows:
        (folder,) = [p for p in (root / "size" / "scenarios").iterdir() if (p / "size.json").is_file()
                     and json.loads((p / "size.json").read_text())["row"]["k"] == row["figures"]["k"]]  # fmt: skip
        read = json.loads((folder / "size.json").read_text())["inputs"]
        assert {Path(item["path"]).name for item in read} == {"accounts.csv", "volumes.csv"}
    assert "recommended: " in done.stderr.decode()


def test_a_rerun_solves_nothing_and_prints_the_same_table(sized):
    root, done = sized
    logs = {p: p.stat().st_mtime_ns for p in (root / "size" / "logs").iterdir()}
    again = run_cli("size", str(root / "config.yaml"), *SIZE, "-d", str(root / "size"))
    assert again.returncode == 0, again.stderr.decode()
    assert again.stdout == done.stdout
    assert "[1/" not in again.stderr.decode()  # no K ran
    assert {p: p.stat().st_mtime_ns for p in (root / "size" / "logs").iterdir()} == logs


def test_accounts_from_stdin_are_kept_for_every_k(sized, tmp_path):
    root, done = sized
    piped = run_cli("size", str(root / "config.yaml"), *SIZE[:1], "2:2", *SIZE[2:], "--accounts", "-",
                    "-d", str(tmp_path / "size"), input=TINY_ACCOUNTS.encode())  # fmt: skip
    assert piped.returncode == 0, piped.stderr.decode()
    header, *lines = done.stdout.decode().splitlines()
    assert piped.stdout.decode().splitlines() == [header, lines[1]]  # K = 2's row, as from the file
    (kept,) = (tmp_path / "size" / "inputs").iterdir()
    assert kept.read_text() == TINY_ACCOUNTS


def test_a_bad_sweep_section_stops_size_before_any_work(sized, tmp_path):
    root, _ = sized
    config = tmp_path / "config.yaml"
    config.write_text(TINY_CONFIG.replace("accounts.csv", str(root / "accounts.csv"))
                      .replace("volumes.csv", str(root / "volumes.csv")) + "sweep: {workers: 0}\n")  # fmt: skip
    done = invoke("size", str(config), *SIZE, "-d", str(tmp_path / "size"))
    assert done.exit_code == 2, done.stderr
    assert f"{config}: key 'sweep.workers': expected a whole number, 1 or more (got '0')" in done.stderr
    assert not (tmp_path / "size").exists()


def test_a_table_of_infeasible_k_only_has_every_column_and_recommends_none():
    table = size_table([{"k": 3, "call_hours_per_rep": 10.0, "status": "infeasible"}])
    assert list(table.columns) == list(COLUMNS)
    assert recommended_k(table) is None


def test_a_k_range_above_the_accounts_is_a_clear_error_before_any_solve(tmp_path):
    for name, text in (("accounts.csv", TINY_ACCOUNTS), ("volumes.csv", TINY_VOLUMES), ("config.yaml", TINY_CONFIG)):
        (tmp_path / name).write_text(text)
    result = invoke("size", str(tmp_path / "config.yaml"), "--k-range", "50:60", "--dir", str(tmp_path / "sized"))
    assert result.exit_code == 3, result.stderr
    assert "key 'sizing.k_min': the smallest K is above the" in result.stderr
    assert "Traceback" not in result.stderr
