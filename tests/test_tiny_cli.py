"""The tiny case end to end through the CLI: outputs, stdout piping, stdin input, validate."""

from __future__ import annotations

import io
import json

import pandas as pd
from conftest import invoke, run_cli


def test_optimize_writes_all_outputs_and_balances_the_tiny_case(tiny):
    result = invoke("optimize", str(tiny.config), "-q")
    assert result.exit_code == 0, result.stderr
    assignments = pd.read_csv(tiny.out / "assignments.csv", dtype={"zip": str})
    territories = pd.read_csv(tiny.out / "territories.csv")
    summary = json.loads((tiny.out / "summary.json").read_text())
    # Every account exactly once; the two clusters are the only balanced compact split (300 / 300).
    assert sorted(assignments["account_id"]) == ["A1", "A2", "A3", "A4", "B1", "B2", "B3", "B4"]
    groups = assignments.groupby("territory")["account_id"].apply(lambda s: "".join(sorted(s)))
    assert sorted(groups) == ["A1A2A3A4", "B1B2B3B4"]
    assert list(territories["potential"]) == [300.0, 300.0]
    assert list(territories["potential_index"]) == [100.0, 100.0]
    assert territories["in_band"].all()
    assert summary["status"] in ("optimal", "feasible")
    assert summary["lower_bound"] <= summary["objective"] + 1e-6
    assert summary["accounts"] == {"used": 8, "rejected_rows": 0, "empty_rows_skipped": 0, "missing_volume_values": 0}
    assert [i["path"].rsplit("/", 1)[-1] for i in summary["inputs"]] == ["accounts.csv", "volumes.csv"]
    assert all(len(i["sha256"]) == 64 for i in summary["inputs"])
    assert (tiny.out / "rejects.csv").read_text() == "file,line,column,value,reason,hint\n"


def test_dash_output_puts_only_the_assignments_csv_on_stdout(tiny):
    proc = run_cli("optimize", str(tiny.config), "-o", "-")
    assert proc.returncode == 0, proc.stderr.decode()
    frame = pd.read_csv(io.BytesIO(proc.stdout))
    assert list(frame.columns[:7]) == ["account_id", "name", "state", "zip", "lat", "lon", "territory"]
    assert len(frame) == 8
    assert b"solving" in proc.stderr  # progress went to stderr
    assert not tiny.out.exists()


def test_accounts_from_stdin_give_the_same_assignments_as_from_the_file(tiny):
    from_file = run_cli("optimize", str(tiny.config), "-o", "-", "-q")
    from_stdin = run_cli(
        "optimize", str(tiny.config), "--accounts", "-", "-o", "-", "-q", input=(tiny.dir / "accounts.csv").read_bytes()
    )
    assert from_file.returncode == from_stdin.returncode == 0, from_stdin.stderr.decode()
    assert from_file.stdout == from_stdin.stdout
    assert from_file.stderr == from_stdin.stderr == b""


def test_command_line_flags_override_the_config(tiny):
    result = invoke("optimize", str(tiny.config), "-q", "-k", "1", "--seed", "9", "--tolerance", "0.2")
    assert result.exit_code == 0, result.stderr
    summary = json.loads((tiny.out / "summary.json").read_text())
    assert summary["seed"] == 9
    assert summary["territories"] == 1
    assert summary["config"]["territories"]["balance"]["tolerance"] == 0.2


def test_validate_reports_ok_without_writing_anything(tiny):
    result = invoke("validate", str(tiny.config))
    assert result.exit_code == 0, result.stderr
    assert "ok: 8 accounts, 2 territories" in result.stderr
    assert not tiny.out.exists()


def test_help_shows_an_example_and_exit_codes():
    result = invoke("optimize", "--help")
    assert "Example: terrplan optimize configs/sample.yaml" in result.output
    assert "4 infeasible" in " ".join(result.output.split())


def test_log_json_turns_every_stderr_line_into_a_json_object(tiny):
    proc = run_cli("optimize", str(tiny.config), "--log-json", "-o", str(tiny.out))
    assert proc.returncode == 0
    records = [json.loads(line) for line in proc.stderr.decode().splitlines()]
    messages = [r["event"] for r in records if r["event"] not in ("stage", "progress")]  # see test_progress.py
    assert messages == ["read", "solving", "wrote", "solved"]
    assert records[-1]["status"] in ("optimal", "feasible") and records[-1]["level"] == "info"


def test_log_json_errors_carry_exit_code_and_findings(tiny):
    tiny.write("volumes.csv", "account_id,code,volume\nA1,27447,-3\n")
    proc = run_cli("optimize", str(tiny.config), "--log-json")
    assert proc.returncode == 3
    (record,) = [r for r in map(json.loads, proc.stderr.decode().splitlines()) if r["event"] != "stage"]
    assert record["level"] == "error" and record["exit_code"] == 3
    assert "negative volume" in record["findings"][0]
