"""DuckDB scans (terrplan.ingest) and multi-year volumes: real DuckDB, real CSV / gzip / Parquet files, the CLI."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, requires_shared, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from terrplan.config import AccountColumns, AccountsInput, Scoring, VolumeColumns, VolumesInput, load_config
from terrplan.errors import InputError
from terrplan.ingest import code_filter, codes_kept, use_duckdb
from terrplan.pipeline import load_accounts
from terrplan.read import VolumeSource, read_accounts, read_volumes, volume_sources
from terrplan.score import code_matches

SAMPLE = ROOT / "data" / "samples"


def _sample_case(tmp_path: Path, volumes: str, extra: str = "") -> Path:
    """The sample's accounts with the given volumes path (relative to tmp_path) and the sample's scoring."""
    shutil.copy(SAMPLE / "accounts.csv", tmp_path / "accounts.csv")
    config = tmp_path / "config.yaml"
    scoring = (ROOT / "configs" / "sample.yaml").read_text().split("scoring:", 1)[1].split("\nsegments:", 1)[0]
    config.write_text(
        f"inputs:\n  accounts: {{path: accounts.csv, columns: {{id: account_id}}}}\n"
        f"  volumes:\n    path: {volumes!r}\n{extra}scoring:{scoring}\nterritories: {{count: 12}}\n"
    )
    return config


def _scores(config: Path) -> pd.DataFrame:
    return load_accounts(load_config(config)).accounts.set_index("account_id")[["potential", "segment"]]


def test_parquet_and_gzip_give_the_csv_scores(tmp_path: Path):
    shutil.copy(SAMPLE / "volumes.csv", tmp_path)
    csv_scores = _scores(_sample_case(tmp_path, "volumes.csv"))
    frame = pd.read_csv(SAMPLE / "volumes.csv", dtype=str, keep_default_na=False)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "volumes.parquet")
    (tmp_path / "volumes.csv.gz").write_bytes(gzip.compress((SAMPLE / "volumes.csv").read_bytes()))
    for name, engine in (("volumes.parquet", "auto"), ("volumes.csv.gz", "duckdb"), ("volumes.csv.gz", "auto"),
                         ("volumes.csv", "duckdb")):  # fmt: skip
        scores = _scores(_sample_case(tmp_path, name, f"    engine: {engine}\n"))
        pd.testing.assert_frame_equal(scores, csv_scores, check_exact=False, rtol=1e-12)


def test_codes_are_filtered_and_summed_in_duckdb_so_only_kept_rows_reach_pandas(tmp_path: Path):
    rng = np.random.default_rng(0)
    n = 200_000
    codes = np.array([f"{c:05d}" for c in range(27000, 27100)])  # 100 codes, 5 of them kept below
    frame = pd.DataFrame({"account_id": np.char.add("A", rng.integers(0, 500, n).astype(str)),
                          "code": codes[rng.integers(0, 100, n)], "volume": rng.integers(0, 50, n).astype(str)})  # fmt: skip
    frame.loc[:2, "code"] = [" 27001 ", "27001.0", "2705x"]  # read as 27001, 27001 and 2705X: all kept
    path = tmp_path / "volumes.csv.gz"
    path.write_bytes(gzip.compress(frame.to_csv(index=False).encode(), compresslevel=1))
    scoring = Scoring(weights={"27001": 1.0, "2705*": 0.5, "27090-27091": 2.0, "27099": 0.0}, default_weight=0)
    clean = frame["code"].str.strip().str.removesuffix(".0").str.upper()
    kept = clean.map(lambda c: any(code_matches(p, c) for p in ("27001", "2705*", "27090-27091")))
    ids = pd.Series(np.char.add("A", np.arange(500).astype(str)))
    spec = VolumesInput(engine="duckdb", duplicates="sum")
    read = read_volumes(spec, path, ids, scoring=scoring)
    # only kept codes (27099 weighs 0: not read either), and rows alike added up in DuckDB (duplicates: sum)
    expected = frame.loc[kept].assign(code=clean[kept], volume=frame.loc[kept, "volume"].astype(float))
    expected = expected.groupby(["account_id", "code"])["volume"].sum()
    assert len(read.volumes) == len(expected) < int(kept.sum())
    got = read.volumes.set_index(["account_id", "code"])["volume"].sort_index()
    assert got.to_dict() == expected.to_dict()
    everything = read_volumes(VolumesInput(engine="pandas", duplicates="sum"), path, ids)
    assert len(everything.volumes) == n  # today's reader keeps every code


def test_a_bad_row_in_a_large_gzip_file_names_its_file_line_and_column(tmp_path: Path):
    n = 300_000
    lines = [f"A{i % 1000},27447,{i % 90}" for i in range(n)]
    lines[250_000] = "A7,27447,twelve"  # file line 250,002 (after the header)
    lines[260_000] = "A8,27447,3,surplus"  # an unquoted comma
    path = tmp_path / "big.csv.gz"
    path.write_bytes(gzip.compress(("account_id,code,volume\n" + "\n".join(lines) + "\n").encode(), compresslevel=1))
    ids = pd.Series([f"A{i}" for i in range(1000)])
    read = read_volumes(VolumesInput(engine="duckdb", duplicates="sum"), path, ids, scoring=Scoring({"27447": 1}))
    found = {(f.line, f.message, f.column, f.value) for f in read.findings}
    assert found == {
        (250_002, "volume is not a number", "volume", "twelve"),
        (260_002, "the row has more fields than the header", None, "A8,27447,3,surplus"),
    }
    assert all(f.file == str(path) for f in read.findings)
    assert len(read.volumes) == 1000  # one row per account (27447 only), every good row added up in DuckDB
    assert read.volumes["volume"].sum() == sum(i % 90 for i in range(n)) - 250_000 % 90 - 260_000 % 90


def test_the_cli_reports_a_bad_gzip_row_with_file_and_line_and_exit_3(tmp_path: Path):
    config = _sample_case(tmp_path, "volumes.csv.gz", "    engine: duckdb\n")
    text = (SAMPLE / "volumes.csv").read_text().replace("A00001,27130,3,2025", "A00001,27130,3x,2025")
    (tmp_path / "volumes.csv.gz").write_bytes(gzip.compress(text.encode()))
    result = run_cli("validate", str(config))
    assert result.returncode == 3, result.stderr
    err = result.stderr.decode()
    assert "volumes.csv.gz:2: column 'volume': volume is not a number (got '3x')" in err
    assert "Traceback" not in err


def _yearly_files(tmp_path: Path) -> dict[int, float]:
    """The sample's volumes as three yearly files, scaled per year; returns each year's total."""
    frame = pd.read_csv(SAMPLE / "volumes.csv", dtype=str, keep_default_na=False)
    totals = {}
    for year, scale in ((2019, 1), (2020, 2), (2021, 3)):
        part = frame.assign(volume=(frame["volume"].astype(int) * scale).astype(str))
        part.to_csv(tmp_path / f"vol_{year}.csv", index=False)
        totals[year] = float(part["volume"].astype(int).sum())
    return totals


def test_a_glob_of_yearly_files_gives_a_year_column_and_the_latest_year_scores(tmp_path: Path):
    totals = _yearly_files(tmp_path)
    shutil.copy(SAMPLE / "volumes.csv", tmp_path / "volumes.csv")
    one = load_accounts(load_config(_sample_case(tmp_path, "volumes.csv")))
    loaded = load_accounts(load_config(_sample_case(tmp_path, "vol_*.csv")))
    assert loaded.volumes["year"].dtype == np.int64
    assert loaded.volumes.groupby("year")["volume"].sum().to_dict() == totals
    # potential is the latest year's (3 x the sample's), segments as the single file's
    np.testing.assert_allclose(loaded.accounts["potential"], 3 * one.accounts["potential"])
    assert (loaded.accounts["segment"] == one.accounts["segment"]).all()
    assert "year" not in one.volumes.columns  # one file: as before, no year column
    chosen = load_accounts(load_config(_sample_case(tmp_path, "vol_*.csv", "    year: 2019\n")))
    np.testing.assert_allclose(chosen.accounts["potential"], one.accounts["potential"])
    assert len(loaded.inputs) == 4  # accounts + three volumes files, each fingerprinted


def test_the_cli_takes_a_volumes_glob(tmp_path: Path):
    _yearly_files(tmp_path)
    config = _sample_case(tmp_path, "missing.csv")
    result = run_cli("validate", str(config), "--volumes", str(tmp_path / "vol_*.csv"))
    assert result.returncode == 0, result.stderr
    with pytest.raises(InputError, match="no file matches"):
        volume_sources(VolumesInput(path=str(tmp_path / "nothing_*.csv")), Path)


def test_a_list_of_files_with_years_and_a_year_column(tmp_path: Path):
    totals = _yearly_files(tmp_path)
    listed = (
        _sample_case(tmp_path, "unused.csv")
        .read_text()
        .replace(
            "  volumes:\n    path: 'unused.csv'\n",
            "  volumes:\n    - {path: vol_2019.csv, year: 2019}\n    - {path: vol_2021.csv, year: 2021}\n",
        )
    )
    (tmp_path / "listed.yaml").write_text(listed)
    loaded = load_accounts(load_config(tmp_path / "listed.yaml"))
    assert sorted(loaded.volumes["year"].unique()) == [2019, 2021]
    stacked = pd.concat(
        [pd.read_csv(tmp_path / f"vol_{y}.csv", dtype=str).assign(yr=str(y)) for y in totals], ignore_index=True
    )
    stacked.loc[stacked.index[0], "yr"] = "20x1"  # one bad year: reported with its line and column
    stacked.to_csv(tmp_path / "stacked.csv", index=False)
    spec = VolumesInput(columns=VolumeColumns(year="yr"))
    ids = pd.read_csv(SAMPLE / "accounts.csv", dtype=str)["account_id"]
    read = read_volumes(spec, tmp_path / "stacked.csv", ids)
    assert [(f.line, f.column, f.value, f.message) for f in read.findings] == [
        (2, "yr", "20x1", "year is not a 4-digit year")
    ]
    assert read.volumes.groupby("year")["volume"].sum().to_dict() == {
        2019: totals[2019] - 3,
        2020: totals[2020],
        2021: totals[2021],
    }


def test_two_rows_of_one_year_are_duplicates_across_files(tmp_path: Path):
    (tmp_path / "a_2020.csv").write_text("account_id,code,volume\nA1,27447,5\n")
    (tmp_path / "b_2020.csv").write_text("account_id,code,volume\nA1,27447,7\n")
    (tmp_path / "c_2021.csv").write_text("account_id,code,volume\nA1,27447,9\n")
    sources = volume_sources(VolumesInput(path=str(tmp_path / "*_20*.csv")), Path)
    read = read_volumes(VolumesInput(), sources, pd.Series(["A1"]))
    assert [(Path(f.file).name, f.line, f.message) for f in read.findings] == [
        (
            "b_2020.csv",
            2,
            f"duplicate volume row: code 27447 of this account is also on line 2 of {tmp_path / 'a_2020.csv'}",
        )
    ]
    assert read.volumes[["year", "volume"]].values.tolist() == [[2020, 5.0], [2021, 9.0]]


@requires_shared
def test_long_accounts_file_first_rows_match_the_row_by_row_reader():
    path = ROOT.parent / "shared" / "data" / "cms-partb-mohs-2021" / "partb_mohs_2021.csv"
    columns = AccountColumns(id="Rndrng_NPI", name="Rndrng_Prvdr_Last_Org_Name", zip="Rndrng_Prvdr_Zip5")
    rows = [read_accounts(AccountsInput(columns=columns, one_row_per_account=False, engine=e), path)
            for e in ("pandas", "duckdb")]  # fmt: skip
    pd.testing.assert_frame_equal(rows[1].accounts, rows[0].accounts)
    assert [(f.line, f.message) for f in rows[1].findings] == [(f.line, f.message) for f in rows[0].findings]


def test_sql_values_stay_data(tmp_path: Path):
    """A quote in a column name, a code pattern or a path is data for DuckDB, never SQL."""
    folder = tmp_path / "it's; DROP"
    folder.mkdir()
    path = folder / "v.csv"
    path.write_text('"acc""t id",code,volume\nA1,O\'1,4\nA1,27447,5\n')
    spec = VolumesInput(columns=VolumeColumns(account='acc"t id'), engine="duckdb")
    read = read_volumes(spec, path, pd.Series(["A1"]), scoring=Scoring({"O'1": 1.0, "x') OR TRUE --": 1.0}))
    assert read.volumes[["code", "volume"]].values.tolist() == [["O'1", 4.0]]


def test_use_duckdb_is_the_one_decision(tmp_path: Path):
    small = tmp_path / "v.csv"
    small.write_text("a\n1\n")
    assert not use_duckdb(small, "auto", "utf-8")  # small CSV: today's reader
    assert use_duckdb(small, "duckdb", "utf-8")
    assert use_duckdb(tmp_path / "v.parquet", "pandas", "utf-8")  # Parquet: only DuckDB reads it
    assert not use_duckdb(Path("-"), "duckdb", "utf-8")  # stdin: row by row
    assert not use_duckdb(small, "auto", "cp1252")


@settings(max_examples=60, deadline=None)
@given(
    code=st.text(alphabet="0123456789ABJ.-* ", min_size=1, max_size=7),
    patterns=st.lists(st.text(alphabet="0123456789ABJ-*", min_size=1, max_size=7), min_size=1, max_size=3),
)
def test_the_sql_filter_keeps_every_code_a_rule_matches(code: str, patterns: list[str]):
    scoring = Scoring(weights=dict.fromkeys(patterns, 1.0))
    normalized = code.strip()
    normalized = normalized[:-2] if normalized.endswith(".0") and normalized[:-2].isdigit() else normalized.upper()
    assert codes_kept([normalized], scoring)[0] == any(code_matches(p, normalized) for p in patterns)


def test_no_rule_with_weight_reads_nothing_and_default_weight_reads_all():
    assert code_filter("c", Scoring(weights={"1": 0.0})) == ("FALSE", [])
    assert code_filter("c", Scoring(default_weight=1.0)) == (None, [])


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_wide_files_keep_their_code_columns(tmp_path: Path, engine: str):
    path = tmp_path / "wide.csv"
    path.write_text("id,knee,hip,other\nA1,3,N/A,9\nA2,1,2,9\n")
    spec = VolumesInput(columns=VolumeColumns(account="id"), wide={"knee": "27447", "hip": "27130", "other": "99999"},
                        missing=("N/A",), engine=engine)  # fmt: skip
    read = read_volumes(spec, path, pd.Series(["A1", "A2"]), scoring=Scoring({"27447": 1, "27130": 1}))
    got = read.volumes.groupby("code")["volume"].sum().to_dict()
    assert got == ({"27447": 4.0, "27130": 2.0} | ({"99999": 18.0} if engine == "pandas" else {}))
    assert read.missing == 1


def test_rows_of_gone_accounts_in_earlier_years_are_counted_not_reported(tmp_path: Path):
    (tmp_path / "v_2020.csv").write_text("account_id,code,volume\nA1,27447,5\nA9,27447,7\n")
    (tmp_path / "v_2021.csv").write_text("account_id,code,volume\nA1,27447,6\nA8,27447,1\n")
    sources = volume_sources(VolumesInput(path=str(tmp_path / "v_*.csv")), Path)
    read = read_volumes(VolumesInput(), sources, pd.Series(["A1"]))
    assert [(Path(f.file).name, f.line, f.value) for f in read.findings] == [("v_2021.csv", 3, "A8")]
    assert read.other_years_unknown == 1  # A9 in 2020: a provider gone since, not a defect
    assert read.volumes[["account_id", "year"]].values.tolist() == [["A1", 2020], ["A1", 2021]]


def test_parquet_accounts_read_as_the_csv(tmp_path: Path):
    csv_accounts = read_accounts(AccountsInput(), SAMPLE / "accounts.csv")
    frame = pd.read_csv(SAMPLE / "accounts.csv", dtype=str, keep_default_na=False)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "accounts.parquet")
    parquet = read_accounts(AccountsInput(), tmp_path / "accounts.parquet")
    pd.testing.assert_frame_equal(parquet.accounts, csv_accounts.accounts)
    named = tmp_path / "vol [2021].csv"  # an existing name with brackets is a file, not a pattern
    named.write_text("account_id,code,volume\n")
    assert volume_sources(VolumesInput(path=str(named)), Path) == [VolumeSource(named)]


@requires_shared
def test_the_cms_partb_config_scores_alike_scanned():
    """configs/cms-partb-mohs-2021.yaml (accounts and volumes in one raw CMS file, duplicates: sum) through DuckDB."""
    import dataclasses

    config = load_config(ROOT / "configs" / "cms-partb-mohs-2021.yaml")
    inputs = config.inputs
    scanned = dataclasses.replace(
        config,
        inputs=dataclasses.replace(
            inputs,
            accounts=dataclasses.replace(inputs.accounts, engine="duckdb"),
            volumes=dataclasses.replace(inputs.volumes, engine="duckdb"),
        ),
    )
    rows, scans = load_accounts(config), load_accounts(scanned)
    pd.testing.assert_frame_equal(scans.accounts.drop(columns="volume"), rows.accounts.drop(columns="volume"))
    assert [(f.line, f.message) for f in scans.findings] == [(f.line, f.message) for f in rows.findings]


def test_lines_stay_right_after_more_rejected_rows_than_are_listed(tmp_path: Path):
    rows = ["A1,27447,1,extra"] * 1500 + ["A1,27447,1"] * 10 + ["A1,27447,bad"]
    path = tmp_path / "v.csv"
    path.write_text("account_id,code,volume\n" + "\n".join(rows) + "\n")
    read = read_volumes(VolumesInput(engine="duckdb", duplicates="sum"), path, pd.Series(["A1"]))
    assert len(read.findings) == 1001  # the first 1,000 rejected rows, and the bad volume
    assert (read.findings[-1].line, read.findings[-1].value) == (1512, "bad")  # 1 header + 1,500 + 10 + 1


def test_a_scanned_file_needs_its_header_on_line_1(tmp_path: Path):
    path = tmp_path / "v.csv"
    path.write_text("\naccount_id,code,volume\nA1,27447,5\n")
    with pytest.raises(InputError, match="the header is not on line 1") as caught:
        read_volumes(VolumesInput(engine="duckdb"), path, pd.Series(["A1"]))
    assert caught.value.problems[0].line == 2
    assert len(read_volumes(VolumesInput(engine="pandas"), path, pd.Series(["A1"])).volumes) == 1  # row by row: fine
