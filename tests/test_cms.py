"""The shipped configs on raw CMS files in ../shared (skipped where ../shared is absent)."""

from __future__ import annotations

import json

import pandas as pd
from conftest import requires_shared, run_cli


@requires_shared
def test_partb_mohs_raw_columns_load_and_balance(tmp_path):
    proc = run_cli("optimize", "configs/cms-partb-mohs-2021.yaml", "-o", str(tmp_path), "-q", "--time-limit", "20")
    assert proc.returncode == 0, proc.stderr.decode()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assignments = pd.read_csv(tmp_path / "assignments.csv", dtype=str)
    rejects = pd.read_csv(tmp_path / "rejects.csv", dtype=str)
    # 2,826 NPIs in the file: each is assigned once or set aside with a reason, none lost.
    assert assignments["account_id"].is_unique
    assert len(assignments) + len(rejects) == 2826
    assert (rejects["reason"].str.startswith("cannot place the account")).all()
    assert summary["balance"]["territories_in_band"] == 40


@requires_shared
def test_nc_inpatient_drg_with_given_lat_lon(tmp_path):
    proc = run_cli("optimize", "configs/cms-inpatient-drg-nc-2012.yaml", "-o", str(tmp_path), "-q")
    assert proc.returncode == 0, proc.stderr.decode()
    assignments = pd.read_csv(tmp_path / "assignments.csv", dtype=str)
    territories = pd.read_csv(tmp_path / "territories.csv")
    assert len(assignments) == 87
    assert territories["in_band"].all()
    # DRG 469/470 potential only: hospitals without joint replacements carry none.
    assert territories["potential"].sum() > 0


@requires_shared
def test_asc_wide_volumes_with_cms_suppression(tmp_path):
    proc = run_cli("optimize", "configs/cms-asc-facility-2024.yaml", "-o", str(tmp_path), "-q", "--time-limit", "10")
    assert proc.returncode == 0, proc.stderr.decode()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assignments = pd.read_csv(tmp_path / "assignments.csv", dtype=str)
    rejects = pd.read_csv(tmp_path / "rejects.csv", dtype=str)
    # 5,518 facilities: each assigned once or set aside (blank or unknown ZIP), none lost.
    assert len(assignments) + len(rejects) == 5518
    assert summary["accounts"]["missing_volume_values"] > 0  # CMS's N/A cells, declared as no data
    assert (assignments["potential"].astype(float) > 0).sum() == 1731  # ASCs with ortho cases in 2023
    assert summary["balance"]["territories_in_band"] == 50


@requires_shared
def test_maine_clinicians_dirty_zips_and_blank_rows(tmp_path):
    proc = run_cli("optimize", "configs/cms-dac-clinicians-maine.yaml", "-o", str(tmp_path), "-q", "--time-limit", "10")
    assert proc.returncode == 0, proc.stderr.decode()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assignments = pd.read_csv(tmp_path / "assignments.csv", dtype=str)
    assert summary["accounts"]["empty_rows_skipped"] == 2574
    assert summary["accounts"]["rejected_rows"] == 0  # every 8-digit ZIP+4 without its leading zero resolves
    assert assignments["zip"].str.fullmatch(r"\d{5}").all()
    # Maine ZIPs are 039xx-049xx, zero restored; the file itself lists two providers at Minnesota ZIPs (551xx).
    assert (~assignments["zip"].str.match(r"^0(39|4\d)\d{2}$")).sum() == 2
    assert summary["balance"]["territories_in_band"] == 6
