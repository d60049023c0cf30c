"""Bad data files caught before the solve (issue 11): one broken file per defect, each pinned to its message and
exit code; the same rows set aside in reject mode."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from conftest import TINY_ACCOUNTS, TINY_CONFIG, TINY_VOLUMES, invoke

from terrplan.config import VolumesInput
from terrplan.errors import InputError
from terrplan.read import read_accounts, read_volumes

OK = 0
BAD_INPUT = 3

REJECT = "  volumes: {path: volumes.csv}\n  on_bad_rows: reject"


def run(tiny, command: str = "optimize", *args: str):
    result = invoke(command, str(tiny.config), *args)
    assert "Traceback" not in result.stderr
    return result


def fails(tiny, *expected: str, command: str = "optimize") -> str:
    """Exit 3 with every expected text on stderr, and no output folder."""
    result = run(tiny, command, "-q")
    assert result.exit_code == BAD_INPUT, result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr
    assert not tiny.out.exists(), "a failed run must not write outputs"
    return result.stderr


def config(tiny, *replacements: tuple[str, str]) -> None:
    text = TINY_CONFIG
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    tiny.write("config.yaml", text)


def accounts(tiny, old: str, new: str) -> None:
    assert old in TINY_ACCOUNTS, old
    tiny.write("accounts.csv", TINY_ACCOUNTS.replace(old, new))


def volumes(tiny, old: str, new: str) -> None:
    assert old in TINY_VOLUMES, old
    tiny.write("volumes.csv", TINY_VOLUMES.replace(old, new))


# -- 1. control characters ----------------------------------------------------------------------------------------


def test_control_characters_in_text_are_kept_and_the_run_ends_well(tiny):
    # FileMaker and Mac Excel write \x0b for a line break inside a cell; NUL, form feed and ESC come from worse tools.
    accounts(tiny, "Duke Ortho,Hospital", "Duke\x0bOrtho\x00,Hosp\x0cital")
    volumes(tiny, "A2,27130", "A2,27130")
    tiny.write("accounts.csv", (tiny.dir / "accounts.csv").read_text().replace("Rex Surgery", "Rex \x1b[31mSurgery"))
    result = run(tiny, "optimize", "-q")
    assert result.exit_code == OK, result.stderr
    assignments = pd.read_csv(tiny.out / "assignments.csv", dtype=str, keep_default_na=False)
    names = dict(zip(assignments["account_id"], assignments["name"], strict=True))
    assert names["A1"] == "Duke\x0bOrtho\x00" and names["A2"] == "Rex \x1b[31mSurgery"  # the data, as given
    book = openpyxl.load_workbook(tiny.out / "workbook.xlsx")  # the workbook opens
    assert book.sheetnames[:2] == ["Territories", "Assignments"]


# -- 2. column names ----------------------------------------------------------------------------------------------


def test_standard_column_names_ignore_case_spaces_and_underscores(tiny):
    header = "account_id,name,type,zip,lat,lon,system,current_territory"
    tiny.write(
        "accounts.csv",
        TINY_ACCOUNTS.replace(header, "Account_ID,NAME,Type, ZIP ,LAT,Longitude,System,Current Territory"),
    )
    tiny.write("volumes.csv", TINY_VOLUMES.replace("account_id,code,volume", "ACCOUNT ID,Code,Volume"))
    result = run(tiny, "optimize", "-q")
    assert result.exit_code == OK, result.stderr
    out = pd.read_csv(tiny.out / "assignments.csv", dtype={"zip": str}).set_index("account_id")
    assert (out.loc["B1", "lat"], out.loc["B1", "lon"]) == (35.2039, -80.8391)  # LAT / Longitude were read
    assert out.loc["A1", "zip"] == "27710" and out.loc["A1", "current_territory"] == "T1"
    assert out["potential"].sum() == 600


def test_a_mapped_column_matches_ignoring_case_when_exactly_one_does(tiny):
    config(tiny, ("{path: accounts.csv}", "{path: accounts.csv, columns: {id: ACCOUNT_ID, zip: Zip}}"))
    assert run(tiny, "optimize", "-q").exit_code == OK


def test_two_columns_matching_one_name_ignoring_case_is_an_error(tiny):
    tiny.write("accounts.csv", TINY_ACCOUNTS.replace(",lat,", ",LAT,").replace(",lon,", ",Lat,"))
    fails(
        tiny,
        "accounts.csv: the header does not match the config",
        "accounts.csv:1: column 'lat': 'LAT' (column 5) and 'Lat' (column 6) both match 'lat' when case is ignored",
        "hint: name the one to use exactly in the config: inputs.accounts.columns.lat",
    )


def test_duplicate_column_names_name_both_positions(tiny):
    tiny.write("volumes.csv", TINY_VOLUMES.replace("account_id,code,volume,period", "account_id,code,volume,code"))
    fails(
        tiny,
        "volumes.csv: the header has duplicate column names",
        "volumes.csv:1: column 'code': duplicate column name (columns 2 and 4)",
        "hint: rename or remove one of them",
    )


# -- 3. numbers ---------------------------------------------------------------------------------------------------


def test_a_decimal_comma_in_a_volume_is_rejected_not_read_as_thousands(tiny):
    volumes(tiny, "A3,27447,40,", 'A3,27447,"15,5",')
    fails(
        tiny,
        "1 row(s) cannot be used",
        "volumes.csv:4: column 'volume': volume has a decimal comma (got '15,5')",
        "hint: use a dot as decimal separator (e.g. 15.5, not 15,5); thousands separators are read only in the "
        "form 1,234,567",
    )


def test_a_decimal_comma_in_a_latitude_is_rejected_with_the_same_hint(tiny):
    accounts(tiny, "35.2039,-80.8391", '"35,2039",-80.8391')
    fails(
        tiny,
        "accounts.csv:6: column 'lat': latitude must be a number in [-90, 90] (got '35,2039')",
        "hint: use a dot as decimal separator (e.g. 15.5, not 15,5)",
    )


def test_thousands_separators_are_read_only_in_the_clear_pattern(tmp_path):
    path = tmp_path / "volumes.csv"
    path.write_text('account_id,code,volume\nA1,1,"1,234"\nA2,1,"12,345,678.5"\nA3,1,"1,23"\nA4,1,"1234,5"\n')
    read = read_volumes(VolumesInput(), path, pd.Series(["A1", "A2", "A3", "A4"]))
    assert read.volumes["volume"].tolist() == [1234.0, 12345678.5]
    assert [(f.line, f.value, f.message) for f in read.findings] == [
        (4, "1,23", "volume has a decimal comma"),
        (5, "1234,5", "volume has a decimal comma"),
    ]


def test_a_huge_volume_is_rejected_before_it_reaches_the_solver(tiny):
    volumes(tiny, "A3,27447,40,", "A3,27447,1e300,")
    fails(
        tiny,
        "volumes.csv:4: column 'volume': volume above 1,000,000,000 in one row (got '1e300')",
        "hint: a volume counts procedures of one account and code: check the column and its unit",
    )


def test_minus_999_points_at_inputs_volumes_missing(tiny):
    volumes(tiny, "A3,27447,40,", "A3,27447,-999,")
    fails(
        tiny,
        "volumes.csv:4: column 'volume': negative volume (got '-999')",
        "hint: volumes count procedures and must be 0 or more; if -999 is a code for 'no data' (a suppressed cell), "
        'list it in inputs.volumes.missing, e.g. missing: ["-999"]',
    )
    config(
        tiny, ("{path: volumes.csv}", "{path: volumes.csv, missing: ['-999']}"), ("tolerance: 0.05", "tolerance: 0.2")
    )
    result = run(tiny, "optimize", "-q")
    assert result.exit_code == OK, result.stderr
    assert json.loads((tiny.out / "summary.json").read_text())["accounts"]["missing_volume_values"] == 1


# -- 4. duplicate volume rows -------------------------------------------------------------------------------------


def test_duplicate_volume_rows_are_an_error(tiny):
    tiny.write("volumes.csv", TINY_VOLUMES + "A1,27447,10,2025\nB1,27447,10,2025\nB1,27447,5,2024\n")
    fails(
        tiny,
        "2 row(s) cannot be used",
        "volumes.csv:10: column 'account_id': duplicate volume row: code 27447, period 2025 of this account is also "
        "on line 2 (got 'A1')",
        "volumes.csv:11: column 'account_id': duplicate volume row: code 27447, period 2025 of this account is also "
        "on line 6 (got 'B1')",
        "hint: give each account x code (x period) one row, or set inputs.volumes.duplicates: sum to add them up",
    )


def test_duplicate_volume_rows_add_up_with_duplicates_sum(tiny):
    tiny.write("volumes.csv", TINY_VOLUMES + "A1,27447,10,2025\nB1,27447,10,2025\n")
    config(tiny, ("{path: volumes.csv}", "{path: volumes.csv, duplicates: sum}"))
    result = run(tiny, "optimize", "-q")
    assert result.exit_code == OK, result.stderr
    assert pd.read_csv(tiny.out / "territories.csv")["potential"].tolist() == [310.0, 310.0]


# -- 5. zero total potential --------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["optimize", "validate"])
def test_zero_total_potential_stops_before_the_solve(tiny, command):
    config(tiny, ('weights: {"27447": 1, "27130": 1}', 'weights: {"27448": 1}'))
    fails(
        tiny,
        "error: total potential is 0, but territories.balance.metric and territories.objective_weight are potential",
        "config: key 'scoring.weights': every account scores 0: codes with most volume: 27447 (370, weight 0), "
        "27130 (230, weight 0)",
        "hint: give these codes a weight in scoring.weights (or set scoring.default_weight), or balance on accounts "
        "(territories.balance.metric and objective_weight: accounts)",
        command=command,
    )


def test_zero_potential_without_a_volumes_file(tiny):
    config(
        tiny, ("  volumes: {path: volumes.csv}\n", ""), ("balance: {metric: potential", "balance: {metric: accounts")
    )
    fails(
        tiny,
        "error: total potential is 0, but territories.objective_weight is potential",
        "config: key 'scoring.weights': no volume rows were read",
        "hint: set inputs.volumes to a file with volume per account and code, or balance on accounts",
    )
    config(
        tiny,
        ("  volumes: {path: volumes.csv}\n", ""),
        ("balance: {metric: potential", "balance: {metric: accounts"),
        ("solver:", "  objective_weight: accounts\nsolver:"),
    )
    assert run(tiny, "validate", "-q").exit_code == OK


# -- 6. lat/lon in range but far from the ZIP ---------------------------------------------------------------------


def test_lat_lon_far_from_the_zip_are_kept_and_warned_about(tiny):
    text = (
        TINY_ACCOUNTS.replace("A1,Duke Ortho,Hospital,27710,,", "A1,Duke Ortho,Hospital,27710,0,0")
        .replace("A2,Rex Surgery,ASC,27607,,", "A2,Rex Surgery,ASC,27607,-78.69,35.79")
        .replace("A3,Wake Joint,Practice,27610,,", "A3,Wake Joint,Practice,27610,-5,-5")
        .replace("A4,Cary Knee,Practice,27518,,", "A4,Cary Knee,Practice,27518,35.73,-78.78")  # 1 km: fine
    )
    tiny.write("accounts.csv", text)
    config(tiny, ("tolerance: 0.05", "tolerance: 0.6"))
    result = run(tiny, "optimize")
    assert result.exit_code == OK, result.stderr
    assert (
        "warning: 3 account(s) have lat/lon far from their ZIP, used as given (see location_warnings.csv); first: "
        f"{tiny.dir / 'accounts.csv'}:2: lat/lon is (0, 0), a placeholder for 'unknown': 9,008 km from the centre of ZIP 27710\n"
    ) in result.stderr
    warnings = pd.read_csv(tiny.out / "location_warnings.csv", dtype=str)
    assert list(warnings.columns) == ["file", "line", "column", "value", "reason", "hint", "distance_km"]
    assert warnings["line"].tolist() == ["2", "3", "4"]
    assert warnings["column"].tolist() == ["lat/lon"] * 3
    # (values starting with '-' carry a leading ' against formula injection: output.escape_formulas)
    assert warnings["value"].str.lstrip("'").tolist() == ["0, 0", "-78.69, 35.79", "-5, -5"]
    reasons = warnings["reason"].tolist()
    assert reasons[0].startswith("lat/lon is (0, 0), a placeholder for 'unknown': ")
    assert reasons[0].endswith(" km from the centre of ZIP 27710")
    assert reasons[1].startswith("lat and lon look swapped: ") and reasons[1].endswith(" km when swapped")
    assert reasons[2].startswith("lat/lon is ") and reasons[2].endswith(
        " km from the centre of ZIP 27610 (more than 100 km)"
    )
    assert warnings["hint"].iloc[0].startswith("the coordinates are used as given")
    assert 8000 < float(warnings["distance_km"].iloc[2]) < 9000
    # The user's coordinates stay: the warning does not move the account.
    out = pd.read_csv(tiny.out / "assignments.csv").set_index("account_id")
    assert (out.loc["A3", "lat"], out.loc["A3", "lon"]) == (-5.0, -5.0)


def test_zip_mismatch_check_off_and_header_only_file(tiny):
    tiny.write(
        "accounts.csv", TINY_ACCOUNTS.replace("A1,Duke Ortho,Hospital,27710,,", "A1,Duke Ortho,Hospital,27710,0,0")
    )
    config(
        tiny,
        ("{path: accounts.csv}", "{path: accounts.csv, zip_mismatch_km: null}"),
        ("tolerance: 0.05", "tolerance: 0.6"),
    )
    result = run(tiny, "optimize")
    assert result.exit_code == OK, result.stderr
    assert "location_warnings" not in result.stderr.replace("location_warnings.csv,", "")
    assert (tiny.out / "location_warnings.csv").read_text() == "file,line,column,value,reason,hint,distance_km\n"


# -- 7. rows that do not fit the header, and line numbers ---------------------------------------------------------


def test_one_extra_field_on_the_first_data_row_blames_only_that_line(tiny):
    accounts(tiny, "A1,Duke Ortho,Hospital,27710,,,Duke,T1", "A1,Duke Ortho,Hospital,27710,,,Duke,T1,oops")
    err = fails(
        tiny,
        "1 row(s) cannot be used",
        "accounts.csv:2: the row has 9 fields, the header has 8 (got 'oops')",
        'hint: a comma inside a value splits it: quote the value ("Smith, John") or remove the extra field',
    )
    assert "accounts.csv:3" not in err and "volumes.csv" not in err


def test_one_extra_field_in_reject_mode_sets_aside_only_that_row(tiny):
    volumes(tiny, "A2,27130,80,2025", "A2,27130,80,2025,x")
    config(tiny, ("  volumes: {path: volumes.csv}", REJECT), ("tolerance: 0.05", "tolerance: 0.6"))
    result = run(tiny, "optimize")
    assert result.exit_code == OK, result.stderr
    assert "warning: 1 row(s) set aside (see rejects.csv); first: " in result.stderr
    rejects = pd.read_csv(tiny.out / "rejects.csv", dtype=str)
    assert rejects["line"].tolist() == ["3"]
    assert rejects["reason"].tolist() == ["the row has 5 fields, the header has 4"]
    assert pd.read_csv(tiny.out / "territories.csv")["potential"].sum() == 520  # only A2's 80 is missing


def test_trailing_blank_fields_are_not_an_error(tiny):
    tiny.write("volumes.csv", TINY_VOLUMES.replace("\n", ",,\n").replace("period,,", "period"))
    assert run(tiny, "optimize", "-q").exit_code == OK


def test_line_numbers_count_a_quoted_field_with_an_embedded_newline(tiny):
    accounts(tiny, "A3,Wake Joint,", 'A3,"Wake\nJoint",')
    tiny.write(
        "accounts.csv",
        (tiny.dir / "accounts.csv").read_text().replace("Mercy Ortho,ASC,28207", "Mercy Ortho,ASC,00001"),
    )
    fails(
        tiny,
        "accounts.csv:8: column 'zip': cannot place the account: ZIP not in the offline ZIP table (got '00001')",
    )


def test_a_row_with_two_problems_counts_once(tiny):
    accounts(tiny, "35.2039,-80.8391", "135.2039,-280.8391")
    fails(
        tiny,
        "1 row(s) cannot be used",
        "accounts.csv:6: column 'lat': latitude must be a number in [-90, 90] (got '135.2039')",
        "accounts.csv:6: column 'lon': longitude must be a number in [-180, 180] (got '-280.8391')",
    )


def test_a_quote_that_never_closes_is_named(tiny):
    accounts(tiny, "B3,Matthews Hip,", 'B3,"Matthews Hip,')
    fails(
        tiny,
        "accounts.csv: not a readable CSV",
        "accounts.csv:8: a quoted field never closes",
        'hint: a value starting with a quote (") runs to the next quote; close it, or double quotes inside ("")',
    )


def test_one_file_for_accounts_and_volumes_reports_a_broken_row_once(tiny):
    tiny.write(
        "long.csv",
        "account_id,zip,code,volume\nA1,27710,27447,150\nA2,27607,27447,80,x\nB1,28203,27447,150\nB2,28207,27447,80\n",
    )
    config(
        tiny,
        ("{path: accounts.csv}", "{path: long.csv, one_row_per_account: false}"),
        ("{path: volumes.csv}", "{path: long.csv}"),
    )
    err = fails(tiny, "1 row(s) cannot be used", "long.csv:3: the row has 5 fields, the header has 4 (got 'x')")
    assert err.count("long.csv:3") == 1


def test_extra_fields_read_directly_give_findings_not_exceptions(tmp_path):
    from terrplan.config import AccountsInput

    path = tmp_path / "a.csv"
    path.write_text("account_id,zip\nA1,27710,extra\nA2,27607\n")
    read = read_accounts(AccountsInput(), path)
    assert read.accounts["account_id"].tolist() == ["A2"]
    assert [str(f) for f in read.findings] == [
        f"{path}:2: the row has 3 fields, the header has 2 (got 'extra')\n"
        '    hint: a comma inside a value splits it: quote the value ("Smith, John") or remove the extra field'
    ]
    assert read.rejected_ids == {"A1"}


# -- 8. reps ------------------------------------------------------------------------------------------------------


def test_two_reps_with_the_same_territory_name(tiny):
    tiny.write("reps.csv", "rep_id,name,home_zip,fte,territory\nR1,Ann,27601,1,EAST\nR2,Bob,28202,1,EAST\n")
    config(
        tiny,
        ("  volumes: {path: volumes.csv}", "  volumes: {path: volumes.csv}\n  reps: {path: reps.csv}"),
        ("  count: 2\n", "  centres: rep_homes\n"),
    )
    fails(
        tiny,
        "reps.csv: the rep roster has 1 problem(s)",
        "reps.csv:3: column 'territory': two reps with the same territory (lines 2 and 3) (got 'EAST')",
        "hint: each roster row is one territory: give it its own name, or leave it blank",
    )


def test_unreadable_reps_file_is_bad_input(tiny):
    tiny.write("reps.csv", "rep_id,name,home_zip\nR1,Ann,27601,1\n")
    config(tiny, ("  volumes: {path: volumes.csv}", "  volumes: {path: volumes.csv}\n  reps: {path: reps.csv}"))
    fails(tiny, "reps.csv: 1 row(s) have more fields than the header", "reps.csv:2: the row has 4 fields")


def test_read_accounts_raises_only_input_errors_on_a_broken_header(tmp_path: Path):
    from terrplan.config import AccountsInput

    path = tmp_path / "a.csv"
    path.write_text("account_id,account_id\nA1,A2\n")
    with pytest.raises(InputError, match="duplicate column names"):
        read_accounts(AccountsInput(), path)


def test_alignment_headers_match_ignoring_case(tmp_path):
    from terrplan.read import read_alignment

    path = tmp_path / "alignment.csv"
    path.write_text("Account_ID,Territory,Note\nA1, T1 ,x\n")
    assert read_alignment(path).frame.to_dict("records") == [{"account_id": "A1", "territory": "T1", "Note": "x"}]
    path.write_text("account_id,Territory,TERRITORY\nA1,T1,T2\n")
    with pytest.raises(InputError) as error:
        read_alignment(path)
    assert str(error.value) == (
        f"{path}: not an alignment file\n  {path}:1: column 'territory': 'Territory' (column 2) and 'TERRITORY' "
        "(column 3) both match 'territory' when case is ignored\n    hint: rename or remove one of them"
    )


def test_reject_mode_counts_rows_not_findings(tiny):
    accounts(tiny, "35.2039,-80.8391", "135.2039,-280.8391")  # B1: two problems, one row
    config(tiny, ("  volumes: {path: volumes.csv}", REJECT), ("tolerance: 0.05", "tolerance: 0.6"))
    result = run(tiny, "optimize")
    assert result.exit_code == OK, result.stderr
    assert "warning: 1 row(s) set aside (see rejects.csv); first: " in result.stderr
    assert len(pd.read_csv(tiny.out / "rejects.csv")) == 2
    assert json.loads((tiny.out / "summary.json").read_text())["accounts"]["rejected_rows"] == 1
