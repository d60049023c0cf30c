"""evaluate scores any alignment with optimize's metrics and checks it; compare puts two side by side."""

from __future__ import annotations

import io
import json

import pandas as pd
from conftest import invoke

CHECK_FAILED = 5


def test_evaluate_current_alignment_fails_the_band_check_and_still_writes_files(tiny):
    # The tiny case's current alignment puts B4 (30) with the A cluster: 330 / 270, outside ±5 %.
    result = invoke("evaluate", str(tiny.config), "-o", str(tiny.out))
    assert result.exit_code == CHECK_FAILED, result.stderr
    assert "error: 2 check(s) failed" in result.stderr
    assert "territories: T1 is outside the band: index 110.0" in result.stderr
    assert "territories: T2 is outside the band: index 90.0" in result.stderr
    summary = json.loads((tiny.out / "summary.json").read_text())
    assert summary["status"] == "evaluated" and summary["checks_failed"] == 2
    territories = pd.read_csv(tiny.out / "territories.csv")
    assert list(territories["territory"]) == ["T1", "T2"]
    assert list(territories["potential"]) == [330.0, 270.0]


def test_evaluate_the_optimized_alignment_passes_with_the_same_objective(tiny):
    assert invoke("optimize", str(tiny.config), "-q").exit_code == 0
    optimized = json.loads((tiny.out / "summary.json").read_text())
    result = invoke("evaluate", str(tiny.config), "--alignment", str(tiny.out / "assignments.csv"), "-o", "-", "-q")
    assert result.exit_code == 0, result.stderr
    table = pd.read_csv(io.StringIO(result.stdout))
    assert list(table["potential_index"]) == [100.0, 100.0]
    evaluated = invoke(
        "evaluate", str(tiny.config), "--alignment", str(tiny.out / "assignments.csv"), "-o", str(tiny.dir / "ev")
    )
    summary = json.loads((tiny.dir / "ev" / "summary.json").read_text())
    # Same metrics as optimize: re-scoring its alignment cannot be worse than what it reported.
    assert summary["objective"] <= optimized["objective"] + 1e-6
    assert evaluated.exit_code == 0


def test_evaluate_reports_unassigned_twice_assigned_and_unknown_accounts(tiny):
    tiny.write("alignment.csv", "account_id,territory\nA1,X\nA2,X\nA2,Y\nA3,X\nA4,X\nB1,Y\nB2,Y\nB3,Y\nZZ,Y\n")
    result = invoke("evaluate", str(tiny.config), "--alignment", str(tiny.dir / "alignment.csv"), "-q")
    assert result.exit_code == CHECK_FAILED
    assert "alignment.csv:4: column 'account_id': account assigned twice (first on line 3) (got 'A2')" in result.stderr
    assert (
        "alignment.csv:10: column 'account_id': alignment names an account that is not among the usable accounts (got 'ZZ')"
        in result.stderr
    )
    assert "account is not assigned to any territory (got 'B4')" in result.stderr


def test_compare_matches_renamed_territories_before_counting_moves(tiny):
    tiny.write("a.csv", "account_id,territory\nA1,N\nA2,N\nA3,N\nA4,N\nB1,S\nB2,S\nB3,S\nB4,N\n")
    tiny.write("b.csv", "account_id,territory\nA1,T02\nA2,T02\nA3,T02\nA4,T02\nB1,T01\nB2,T01\nB3,T01\nB4,T01\n")
    result = invoke("compare", str(tiny.dir / "a.csv"), str(tiny.dir / "b.csv"), "--json", "-q")
    assert result.exit_code == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["territory_match"] == {"T01": "S", "T02": "N"}
    assert figures["moved_accounts"] == 1  # only B4 really moves (N -> the southern territory)
    assert figures["moved_by_name"] == 8
    moves = invoke("compare", str(tiny.dir / "a.csv"), str(tiny.dir / "b.csv"), "-o", "-", "-q")
    assert moves.stdout.splitlines() == [
        "account_id,from_territory,to_territory,matched_to,potential,segment",
        "B4,N,T01,S,0.0000,",
    ]


def test_optimize_reports_disruption_against_the_current_alignment(tiny):
    assert invoke("optimize", str(tiny.config), "-q").exit_code == 0
    summary = json.loads((tiny.out / "summary.json").read_text())
    # Current: B4 (potential 30) sits with the A cluster; the optimum moves exactly that account.
    assert summary["disruption"]["moved_accounts"] == 1
    assert summary["disruption"]["moved_potential"] == 30.0
    assert summary["disruption"]["moved_potential_share"] == 0.05
    moves = pd.read_csv(tiny.out / "moves.csv")
    assert list(moves["account_id"]) == ["B4"] and list(moves["from_territory"]) == ["T1"]
    changes = pd.read_csv(tiny.out / "changes.csv").set_index("territory")
    assert changes.loc["T1", "accounts_lost"] == 1 and changes.loc["T2", "potential_gained"] == 30.0


def test_refresh_repairs_the_current_alignment_with_the_fewest_moves(tiny):
    # Current: T1 = A1-A4 + B4 = 330, T2 = B1-B3 = 270; band 285-315. Moving B4 (30) alone repairs both.
    result = invoke("optimize", str(tiny.config), "--current", "accounts", "--budget", "0.10", "-q")
    assert result.exit_code == 0, result.stderr
    summary = json.loads((tiny.out / "summary.json").read_text())
    assert summary["status"] == "refreshed"
    assert summary["refresh"]["moved_share"] == 0.05
    assert summary["refresh"]["needed_share_lower_bound"] == 0.025  # 15 above T1's maximum, of 600
    territories = pd.read_csv(tiny.out / "territories.csv")
    assert list(territories["territory"]) == ["T1", "T2"] and list(territories["potential"]) == [300.0, 300.0]
    assert pd.read_csv(tiny.out / "moves.csv")["account_id"].tolist() == ["B4"]


def test_refresh_from_a_file_is_the_same_as_from_the_accounts_column(tiny):
    tiny.write("current.csv", "account_id,territory\nA1,T1\nA2,T1\nA3,T1\nA4,T1\nB1,T2\nB2,T2\nB3,T2\nB4,T1\n")
    a = invoke("optimize", str(tiny.config), "--current", "accounts", "-o", "-", "-q")
    b = invoke("optimize", str(tiny.config), "--current", str(tiny.dir / "current.csv"), "-o", "-", "-q")
    assert a.exit_code == b.exit_code == 0
    assert a.stdout == b.stdout


def test_refresh_over_budget_says_what_budget_would_work(tiny):
    result = invoke("optimize", str(tiny.config), "--current", "accounts", "--budget", "0.01", "-q")
    assert result.exit_code == 4
    assert "the refresh cannot bring every territory inside its band within the budget (2 outside)" in result.stderr
    assert (
        "any repair must move at least 2.5% of potential (what lies beyond the bands); without a budget the refresh moves 5.0%"
        in (result.stderr)
    )
    assert "hint: raise the budget to at least 5.0% (--budget 0.05)" in result.stderr
    assert not tiny.out.exists()
