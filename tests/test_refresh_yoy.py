"""Refresh on last year's alignment as it is: departed, new and relocated accounts; one 'moved' figure everywhere."""

from __future__ import annotations

import hashlib
import json
import re

import pandas as pd
from conftest import TINY_CONFIG, invoke

# The tiny case's accounts (conftest): T1 = A1-A3 (270) near Raleigh, T2 = B1-B4 (300) near Charlotte, A4 (30,
# Cary) listed in T2 at a location in Atlanta, 558 km away. X1-X3 are gone this year.
LAST_YEAR = """account_id,territory,lat,lon,potential
A1,T1,,,150
A2,T1,,,80
A3,T1,,,40
A4,T2,33.7490,-84.3880,30
B1,T2,,,140
X1,T1,35.9,-78.9,12.5
B2,T2,,,90
X2,T2,,,7
B3,T2,,,40
B4,T2,,,30
X3,T1,,,
"""


def refresh(tiny, alignment: str, *extra: str):
    path = tiny.write("last_year.csv", alignment)
    result = invoke("optimize", str(tiny.config), "--current", str(path), "--no-report", *extra)
    summary = json.loads((tiny.out / "summary.json").read_text()) if result.exit_code == 0 else None
    return result, summary


def test_departed_accounts_are_reported_not_an_error(tiny):
    result, summary = refresh(tiny, LAST_YEAR)
    assert result.exit_code == 0, result.stderr
    assert summary["refresh"]["departed_accounts"] == 3
    assert summary["refresh"]["departed_potential"] == 19.5  # from the file's potential column (X3 has none)
    assert (tiny.out / "departed.csv").read_text().splitlines() == [
        "account_id,territory,potential",
        "X1,T1,12.5",
        "X2,T2,7",
        "X3,T1,",
    ]
    assert "departed accounts left out (departed.csv): 3" in result.stderr


def test_an_account_that_moved_500_km_is_reassigned_and_reported(tiny):
    result, summary = refresh(tiny, LAST_YEAR)
    assert result.exit_code == 0, result.stderr
    assignments = pd.read_csv(tiny.out / "assignments.csv", keep_default_na=False).set_index("account_id")
    # A4 is no longer T2's: it joins T1 (300 / 300) and that is not a move.
    assert assignments.loc["A4", "territory"] == "T1" and assignments.loc["A4", "current_territory"] == ""
    assert pd.read_csv(tiny.out / "relocated.csv").to_dict("records") == [
        {"account_id": "A4", "from_territory": "T2", "territory": "T1", "distance_km": 558.3, "rule": "location",
         "potential": 30.0}
    ]  # fmt: skip
    refreshed = summary["refresh"]
    assert (refreshed["relocated_accounts"], refreshed["relocated_potential"], refreshed["moved_accounts"]) == (
        1,
        30,
        0,
    )
    assert "relocated accounts placed afresh (relocated.csv): 1" in result.stderr


def test_without_the_relocation_rule_the_account_moves_as_a_refresh_move(tiny):
    tiny.write("config.yaml", TINY_CONFIG + "disruption: {relocated_km: null}\n")
    result, summary = refresh(tiny, LAST_YEAR)
    assert result.exit_code == 0, result.stderr
    assert summary["refresh"]["relocated_accounts"] == 0
    assert summary["refresh"]["moved_accounts"] == 1 and summary["refresh"]["moved_share"] == 0.05
    assert pd.read_csv(tiny.out / "moves.csv")["account_id"].tolist() == ["A4"]


def test_far_beyond_its_territory_without_a_location_in_the_file(tiny):
    """No location in the alignment: an account far beyond its territory's reach, with no fellow account near it,
    is relocated; the rest of the territory stays."""
    raleigh = [(35.78 + 0.01 * i, -78.64 - 0.01 * i) for i in range(8)]
    charlotte = [(35.22 + 0.01 * i, -80.84 + 0.01 * i) for i in range(8)]
    rows = [f"R{i},{lat},{lon},T1" for i, (lat, lon) in enumerate(raleigh)]
    rows += [f"C{i},{lat},{lon},T2" for i, (lat, lon) in enumerate(charlotte)]
    rows.append("Z1,35.60,-82.55,T1")  # Asheville: 360 km west of Raleigh, 170 km from Charlotte
    tiny.write("accounts.csv", "account_id,lat,lon,current_territory\n" + "\n".join(rows) + "\n")
    ids = [row.split(",")[0] for row in rows]
    tiny.write("volumes.csv", "account_id,code,volume,period\n" + "".join(f"{a},27447,10,2025\n" for a in ids))
    tiny.write("config.yaml", TINY_CONFIG.replace("tolerance: 0.05", "tolerance: 0.2"))
    result = invoke("optimize", str(tiny.config), "--current", "accounts", "--no-report")
    assert result.exit_code == 0, result.stderr
    relocated = pd.read_csv(tiny.out / "relocated.csv")
    assert relocated[["account_id", "from_territory", "territory", "rule"]].to_dict("records") == [
        {"account_id": "Z1", "from_territory": "T1", "territory": "T2", "rule": "reach"}
    ]
    summary = json.loads((tiny.out / "summary.json").read_text())
    assert summary["refresh"]["moved_accounts"] == 0 and summary["refresh"]["new_accounts"] == 0


def test_log_summary_and_moves_csv_give_one_moved_figure(tiny):
    # A2 is new (80, placed first with T1's cluster); B4 sits in T1: T1 = 250 + A2, T2 = 270.
    alignment = "account_id,territory\nA1,T1\nA3,T1\nA4,T1\nB1,T2\nB2,T2\nB3,T2\nB4,T1\nX9,T2\n"
    result, summary = refresh(tiny, alignment)
    assert result.exit_code == 0, result.stderr
    moves = pd.read_csv(tiny.out / "moves.csv")
    refreshed, disruption = summary["refresh"], summary["disruption"]
    assert moves["account_id"].tolist() == ["B4"]
    assert refreshed["new_accounts"] == 1 and refreshed["departed_accounts"] == 1
    assert refreshed["moved_accounts"] == disruption["moved_accounts"] == len(moves) == 1
    share = moves["potential"].sum() / 520  # of the potential of accounts with a current territory (600 - A2's 80)
    assert refreshed["moved_share"] == disruption["moved_potential_share"] == round(share, 6) == 0.057692
    line = re.search(r"refreshed: moved ([\d.]+)% of potential \((\d+) accounts", result.stderr)
    assert line is not None and (line[1], line[2]) == ("5.8", "1")


def test_summary_records_the_current_file_and_its_sha256(tiny):
    result, summary = refresh(tiny, LAST_YEAR)
    assert result.exit_code == 0, result.stderr
    path = tiny.dir / "last_year.csv"
    assert {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()} in summary["inputs"]


def test_an_account_named_twice_still_stops_the_refresh(tiny):
    result, _ = refresh(tiny, "account_id,territory\nA1,T1\nA1,T2\nB1,T2\n", "-q")
    assert result.exit_code == 3
    assert result.stderr.splitlines()[:2] == [
        "error: the current alignment cannot be used",
        f"  {tiny.dir / 'last_year.csv'}:3: column 'account_id': account assigned twice (first on line 2) (got 'A1')",
    ]


def test_last_runs_assignments_csv_is_an_alignment_with_locations(tiny):
    """A previous run's assignments.csv (zip, lat, lon columns) refreshes as it is; a ZIP alone also locates."""
    assert invoke("optimize", str(tiny.config), "-q", "--no-report", "-o", str(tiny.dir / "last")).exit_code == 0
    result = invoke("optimize", str(tiny.config), "--current", str(tiny.dir / "last" / "assignments.csv"), "-q")
    assert result.exit_code == 0, result.stderr
    summary = json.loads((tiny.out / "summary.json").read_text())["refresh"]
    assert [summary[key] for key in ("moved_accounts", "new_accounts", "relocated_accounts", "departed_accounts")] == [
        0,
        0,
        0,
        0,
    ]
    # A4 listed in T2 with an Atlanta ZIP and no lat/lon: relocated by its ZIP's centroid.
    alignment = LAST_YEAR.replace("lat,lon", "zip").replace("33.7490,-84.3880", "30303").replace("35.9,-78.9", "")
    result, summary = refresh(tiny, alignment.replace(",,,", ",,"), "-q")
    assert result.exit_code == 0, result.stderr
    assert pd.read_csv(tiny.out / "relocated.csv")[["account_id", "rule"]].to_dict("records") == [
        {"account_id": "A4", "rule": "location"}
    ]


def test_a_territory_whose_accounts_all_departed_is_named_in_a_warning_and_the_summary(tiny):
    # T3 held only X9, gone this year: the refresh cannot keep a territory with no account and says so.
    result, summary = refresh(tiny, LAST_YEAR + "X9,T3,35.2,-80.8,25\n", "-q")
    assert result.exit_code == 0, result.stderr
    assert summary["refresh"]["emptied_territories"] == ["T3"]
    assert summary["territories"] == 2
    assert result.stderr == (
        "warning: every account of T3 has departed: the refresh keeps 2 territories; to staff those reps, redesign "
        "(optimize without --current, or with --move-cost)\n"
    )
