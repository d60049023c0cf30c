"""The shipped configs on raw CMS files in ../shared (skipped where ../shared is absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from conftest import requires_shared, run_cli


def optimize_config(name: str, out: Path, time_limit: int = 120) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """Run a shipped config through the real CLI (reports off: these tests are about reading the data);
    return summary, assignments and rejects. The limit is a safety cap: the iteration caps end these runs in 13-48 s
    alone, and a clock that cuts them (beside another test worker) may leave a band unmet."""
    args = ("optimize", f"configs/{name}.yaml", "-o", str(out), "-q", "--time-limit", str(time_limit), "--no-report")
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr.decode()
    summary = json.loads((out / "summary.json").read_text())
    read = {"dtype": str, "keep_default_na": False}
    return summary, pd.read_csv(out / "assignments.csv", **read), pd.read_csv(out / "rejects.csv", **read)


@requires_shared
def test_partb_mohs_raw_columns_load_and_balance(tmp_path):
    summary, assignments, rejects = optimize_config("cms-partb-mohs-2021", tmp_path)
    # 2,826 NPIs in the file: each is assigned once or set aside with a reason, none lost.
    assert assignments["account_id"].is_unique
    assert len(assignments) + len(rejects) == 2826
    assert (rejects["reason"].str.startswith("cannot place the account")).all()
    assert summary["balance"]["territories_in_band"] == 40


@requires_shared
def test_nc_inpatient_drg_with_given_lat_lon(tmp_path):
    _, assignments, _ = optimize_config("cms-inpatient-drg-nc-2012", tmp_path)
    territories = pd.read_csv(tmp_path / "territories.csv")
    assert len(assignments) == 87
    assert territories["in_band"].all()
    # DRG 469/470 potential only: hospitals without joint replacements carry none.
    assert territories["potential"].sum() > 0


@requires_shared
def test_asc_wide_volumes_with_cms_suppression(tmp_path):
    summary, assignments, rejects = optimize_config("cms-asc-facility-2024", tmp_path)
    # 5,518 facilities: each assigned once or set aside (blank or unknown ZIP), none lost.
    assert len(assignments) + len(rejects) == 5518
    assert summary["accounts"]["missing_volume_values"] > 0  # CMS's N/A cells, declared as no data
    assert (assignments["potential"].astype(float) > 0).sum() == 1731  # ASCs with ortho cases in 2023
    assert summary["balance"]["territories_in_band"] == 50


@requires_shared
def test_maine_clinicians_dirty_zips_and_blank_rows(tmp_path):
    summary, assignments, _ = optimize_config("cms-dac-clinicians-maine", tmp_path)
    assert summary["accounts"]["empty_rows_skipped"] == 2574
    assert summary["accounts"]["rejected_rows"] == 0  # every 8-digit ZIP+4 without its leading zero resolves
    assert assignments["zip"].str.fullmatch(r"\d{5}").all()
    # Maine ZIPs are 039xx-049xx, zero restored; the file itself lists two providers at Minnesota ZIPs (551xx).
    assert (~assignments["zip"].str.match(r"^0(39|4\d)\d{2}$")).sum() == 2
    assert summary["balance"]["territories_in_band"] == 6
