"""One broken input per defect, each pinned to its message and exit code: no traceback, no output files."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import TINY_ACCOUNTS, TINY_CONFIG, TINY_VOLUMES, invoke, run_cli

BAD_INPUT = 3
INFEASIBLE = 4


def check_fails(tiny, exit_code: int, *expected: str) -> str:
    result = invoke("optimize", str(tiny.config), "-q")
    assert result.exit_code == exit_code, result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not tiny.out.exists(), "a failed run must not write outputs"
    return result.stderr


def test_missing_required_column(tiny):
    tiny.write("volumes.csv", TINY_VOLUMES.replace("volume", "cases", 1))
    check_fails(
        tiny,
        BAD_INPUT,
        "volumes.csv:1: missing required column 'volume'",
        "hint: map it in the config: inputs.volumes.columns.volume: ",
    )


def test_mapped_column_that_does_not_exist_suggests_the_closest(tiny):
    tiny.write(
        "config.yaml", TINY_CONFIG.replace("{path: accounts.csv}", "{path: accounts.csv, columns: {zip: Zip_Code}}")
    )
    check_fails(
        tiny,
        BAD_INPUT,
        "accounts.csv:1: column 'Zip_Code': column named in inputs.accounts.columns.zip is not in the header",
        "hint: did you mean 'zip'?",
    )


def test_empty_file(tiny):
    tiny.write("accounts.csv", "")
    check_fails(tiny, BAD_INPUT, "accounts.csv: the file is empty", "hint: expected a CSV with a header line")


def test_header_without_rows(tiny):
    tiny.write("accounts.csv", TINY_ACCOUNTS.splitlines()[0] + "\n")
    check_fails(tiny, BAD_INPUT, "accounts.csv: the file has a header but no rows")


def test_not_utf8_names_the_line_and_suggests_an_encoding(tiny):
    tiny.write("accounts.csv", TINY_ACCOUNTS.replace("Mercy Ortho", "Mercé Ortho").encode("cp1252"))
    check_fails(
        tiny,
        BAD_INPUT,
        "accounts.csv: not utf-8 text",
        "accounts.csv:7: byte",
        "cannot be decoded as utf-8",
        "set the input's `encoding` (e.g. cp1252)",
    )


def test_declared_encoding_reads_a_cp1252_file(tiny):
    tiny.write("accounts.csv", TINY_ACCOUNTS.replace("Mercy Ortho", "Mercé Ortho").encode("cp1252"))
    tiny.write("config.yaml", TINY_CONFIG.replace("{path: accounts.csv}", "{path: accounts.csv, encoding: cp1252}"))
    assert invoke("optimize", str(tiny.config), "-q").exit_code == 0


def test_a_bom_is_not_part_of_the_first_column_name(tiny):
    tiny.write("accounts.csv", b"\xef\xbb\xbf" + TINY_ACCOUNTS.encode())
    result = invoke("optimize", str(tiny.config), "-q")
    assert result.exit_code == 0, result.stderr
    assert (tiny.out / "assignments.csv").read_text().count("\n") == 9


def test_duplicate_account_ids_are_all_reported(tiny):
    tiny.write(
        "accounts.csv", TINY_ACCOUNTS + "A3,Wake Joint again,Practice,27610,,,,T1\nB2,Mercy again,ASC,28207,,,,T2\n"
    )
    err = check_fails(
        tiny,
        BAD_INPUT,
        "2 row(s) cannot be used",
        "accounts.csv:10: column 'account_id': duplicate account id (first seen on line 4) (got 'A3')",
        "accounts.csv:11: column 'account_id': duplicate account id (first seen on line 7) (got 'B2')",
    )
    assert "set inputs.on_bad_rows: reject" in err


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-5", "negative volume (got '-5')"),
        ("NaN", "volume is not a number (got 'NaN')"),
        ("lots", "volume is not a number (got 'lots')"),
        ("", "blank volume"),
    ],
)
def test_bad_volume_values(tiny, value, message):
    tiny.write("volumes.csv", TINY_VOLUMES.replace("A3,27447,40,2025", f"A3,27447,{value},2025"))
    check_fails(tiny, BAD_INPUT, f"volumes.csv:4: column 'volume': {message}")


def test_volumes_for_unknown_accounts(tiny):
    tiny.write("volumes.csv", TINY_VOLUMES + "Z9,27447,10,2025\n")
    check_fails(
        tiny,
        BAD_INPUT,
        "volumes.csv:10: column 'account_id': volume for an unknown account (got 'Z9')",
        "hint: the id is not in the accounts file",
    )


def test_unknown_zip(tiny):
    tiny.write("accounts.csv", TINY_ACCOUNTS.replace("Rex Surgery,ASC,27607", "Rex Surgery,ASC,00001"))
    check_fails(
        tiny,
        BAD_INPUT,
        "accounts.csv:3: column 'zip': cannot place the account: ZIP not in the offline ZIP table (got '00001')",
    )


def test_not_a_zip(tiny):
    tiny.write("accounts.csv", TINY_ACCOUNTS.replace("Rex Surgery,ASC,27607", "Rex Surgery,ASC,RALEIGH"))
    check_fails(
        tiny, BAD_INPUT, "accounts.csv:3: column 'zip': cannot place the account: not a ZIP code (got 'RALEIGH')"
    )


def test_latitude_out_of_range(tiny):
    tiny.write("accounts.csv", TINY_ACCOUNTS.replace("35.2039,-80.8391", "135.2039,-80.8391"))
    check_fails(
        tiny, BAD_INPUT, "accounts.csv:6: column 'lat': latitude must be a number in [-90, 90] (got '135.2039')"
    )


def test_longitude_out_of_range(tiny):
    tiny.write("accounts.csv", TINY_ACCOUNTS.replace("35.2039,-80.8391", "35.2039,-280.8391"))
    check_fails(
        tiny, BAD_INPUT, "accounts.csv:6: column 'lon': longitude must be a number in [-180, 180] (got '-280.8391')"
    )


def test_reject_mode_sets_bad_rows_aside_in_rejects_csv(tiny):
    tiny.write("accounts.csv", TINY_ACCOUNTS.replace("Rex Surgery,ASC,27607", "Rex Surgery,ASC,00001"))
    tiny.write(
        "config.yaml",
        TINY_CONFIG.replace(
            "  volumes: {path: volumes.csv}", "  volumes: {path: volumes.csv}\n  on_bad_rows: reject"
        ).replace("tolerance: 0.05", "tolerance: 0.6"),
    )
    result = invoke("optimize", str(tiny.config))
    assert result.exit_code == 0, result.stderr
    assert "warning: 1 row(s) set aside (see rejects.csv)" in result.stderr
    rejects = (tiny.out / "rejects.csv").read_text().splitlines()
    assert len(rejects) == 2 and rejects[1].endswith(
        ",3,zip,00001,cannot place the account: ZIP not in the offline ZIP table,check the ZIP or add lat/lon"
    )
    # The rejected account's volume row goes with it rather than being reported as an unknown account.
    assert "A2" not in (tiny.out / "assignments.csv").read_text()


def test_unknown_config_key_suggests_the_closest(tiny):
    tiny.write("config.yaml", TINY_CONFIG.replace("territories:\n  count: 2", "territories:\n  cuont: 2"))
    check_fails(tiny, BAD_INPUT, "key 'territories.cuont': unknown config key", "hint: did you mean 'count'?")


def test_more_territories_than_accounts(tiny):
    check_fails_k = invoke("optimize", str(tiny.config), "-q", "-k", "9")
    assert check_fails_k.exit_code == INFEASIBLE
    assert "9 territories but only 8 accounts" in check_fails_k.stderr
    assert "hint: use at most 8 territories" in check_fails_k.stderr


def test_band_no_assignment_can_meet_says_why_with_numbers(tiny):
    tiny.write("volumes.csv", TINY_VOLUMES.replace("A1,27447,150", "A1,27447,900"))
    check_fails(
        tiny,
        INFEASIBLE,
        "error: no alignment can meet the balance bands",
        "A1 alone holds potential 900 (66.7 % of the total), more than the largest territory maximum 708.75 (105 % of the mean)",
        "hint: widen the tolerance to at least 33.3 %, use at most 1 territories, or split the account",
    )


def test_bad_input_through_a_real_subprocess_has_no_traceback(tiny):
    tiny.write("volumes.csv", TINY_VOLUMES.replace("A3,27447,40", "A3,27447,-40"))
    proc = run_cli("optimize", str(tiny.config))
    assert proc.returncode == BAD_INPUT
    assert b"Traceback" not in proc.stderr
    assert proc.stdout == b""


def test_missing_config_file_is_bad_input(tmp_path):
    result = invoke("optimize", str(tmp_path / "nope.yaml"))
    assert result.exit_code == BAD_INPUT
    assert "config file not found" in result.stderr


def test_a_missing_current_alignment_names_the_file_and_where_its_path_is_from(tiny, tmp_path):
    missing = tmp_path / "nope.csv"
    result = invoke("optimize", str(tiny.config), "-q", "--current", str(missing))
    assert result.exit_code == BAD_INPUT
    assert f"{missing}: file not found" in result.stderr
    assert "to the working directory on the command line" in result.stderr


def test_rows_of_only_separators_are_skipped_and_counted(tiny):
    tiny.write("accounts.csv", TINY_ACCOUNTS.replace("B1,", ",,,,,,,\n,,,,,,,\nB1,"))
    result = invoke("optimize", str(tiny.config), "-q")
    assert result.exit_code == 0, result.stderr
    summary = json.loads((tiny.out / "summary.json").read_text())
    assert summary["accounts"]["empty_rows_skipped"] == 2
    assert summary["accounts"]["used"] == 8


def test_wide_volumes_with_declared_missing_values(tiny):
    tiny.write(
        "wide.csv",
        "account_id,Knee Cases,Hip Cases\nA1,150,N/A\nA2,N/A,80\nA3,40,\nA4,N/A,30\n"
        "B1,140,N/A\nB2,N/A,90\nB3,40,N/A\nB4,N/A,30\n",
    )
    wide = "  volumes: {path: wide.csv, wide: {Knee Cases: '27447', Hip Cases: '27130'}, missing: [N/A]}"
    tiny.write("config.yaml", TINY_CONFIG.replace("  volumes: {path: volumes.csv}", wide))
    result = invoke("optimize", str(tiny.config), "-q")
    # A3's blank hip cell is a defect (blank is not declared as 'no data'): reported with the wide column's name.
    assert result.exit_code == 3
    assert "wide.csv:4: column 'Hip Cases': blank volume" in result.stderr
    tiny.write("wide.csv", (tiny.dir / "wide.csv").read_text().replace("A3,40,", "A3,40,N/A"))
    result = invoke("optimize", str(tiny.config), "-q")
    assert result.exit_code == 0, result.stderr
    summary = json.loads((tiny.out / "summary.json").read_text())
    assert summary["accounts"]["missing_volume_values"] == 8
    assert pd.read_csv(tiny.out / "territories.csv")["potential"].tolist() == [300.0, 300.0]


def test_not_a_number_volume_hints_at_declaring_missing_values(tiny):
    tiny.write("volumes.csv", TINY_VOLUMES.replace("A3,27447,40", "A3,27447,N/A"))
    check_fails(tiny, BAD_INPUT, "volume is not a number (got 'N/A')", "list it in inputs.volumes.missing")
