"""The workbook an analyst opens: formats and rounding per column, human headers, autofilter, frozen panes, widths,
real blanks, the run's sheets, and the same bytes for the same inputs. Read back with openpyxl."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
from conftest import TINY_CONFIG, invoke
from openpyxl import load_workbook

from terrplan.report.workbook import Sheet, workbook_bytes, workbook_sheets

TERRITORIES = pd.DataFrame(
    {
        "territory": ["T01", "T02", "T03", "T04"],
        "accounts": [3, 2, 2, 1],
        "potential": [429.9999999999987, 300.26, 120.0, 150.0],
        "potential_index": [143.33333, 100.08, 40.0, 50.0],
        "mean_distance_km": [12.345, 0.0, np.nan, 7.0],
        "centre_lat": [35.123456789, 35.2, 35.3, 35.4],
        "in_band": [True, True, False, False],
        "rep_name": ["Ana", "", None, "Bo"],
        "fte": [1.0, 0.5, 1.0, 1.0],
        "district": ["D1", "D1", "D2", "D2"],
        "region": ["R1", "R1", "R1", "R1"],
    }
)


def _book(data: bytes):
    return load_workbook(io.BytesIO(data))


def _column(sheet, title: str) -> list:
    at = [cell.value for cell in sheet[1]].index(title) + 1
    return next(sheet.iter_cols(min_col=at, max_col=at))


def test_numbers_are_rounded_and_formatted_per_column_with_human_headers_and_real_blanks():
    shares = pd.DataFrame({"territory": ["T01"], "moved_potential_share": [0.123456789], "gap": [0.0371234]})
    data = workbook_bytes([Sheet("Territories", TERRITORIES), Sheet("Shares", shares), Sheet("Own", shares, {"gap": "0%"})])
    book = _book(data)
    sheet = book["Territories"]
    assert [cell.value for cell in sheet[1]] == [
        "Territory",
        "Accounts",
        "Potential",
        "Potential index",
        "Mean distance (km)",
        "Centre latitude",
        "In band",
        "Rep",
        "FTE",
        "District",
        "Region",
    ]
    potential = _column(sheet, "Potential")[1:]
    assert [c.value for c in potential] == [430.0, 300.3, 120.0, 150.0]  # stored rounded, not 429.9999999999987
    assert {c.number_format for c in potential} == {"#,##0.0"}
    accounts = _column(sheet, "Accounts")[1:]
    assert [c.value for c in accounts] == [3, 2, 2, 1] and all(isinstance(c.value, int) for c in accounts)
    assert {c.number_format for c in accounts} == {"#,##0"}
    assert [c.value for c in _column(sheet, "Potential index")[1:]] == [143.3, 100.1, 40.0, 50.0]
    assert {c.number_format for c in _column(sheet, "Potential index")[1:]} == {"0.0"}
    assert _column(sheet, "Centre latitude")[1].value == 35.123457
    assert _column(sheet, "Centre latitude")[1].number_format == "0.0000"
    assert [c.number_format for c in _column(sheet, "FTE")[1:3]] == ["0.00", "0.00"]
    # NaN and empty text are empty cells (None when read back), not "" or "nan"
    assert [c.value for c in _column(sheet, "Mean distance (km)")[1:]] == [12.3, 0.0, None, 7.0]
    assert [c.value for c in _column(sheet, "Rep")[1:]] == ["Ana", None, None, "Bo"]
    assert [c.value for c in _column(sheet, "In band")[1:]] == [True, True, False, False]
    shares_sheet = book["Shares"]
    assert [c.value for c in shares_sheet[1]] == ["Territory", "Moved potential share", "Gap"]
    assert (shares_sheet["B2"].value, shares_sheet["B2"].number_format) == (0.1235, "0.0%")
    assert (shares_sheet["C2"].value, shares_sheet["C2"].number_format) == (0.037123, "0.00%")
    assert book["Own"]["C2"].number_format == "0%"  # a sheet's own formats win


def test_every_sheet_has_an_autofilter_frozen_panes_and_fitting_widths():
    book = _book(workbook_bytes([Sheet("Territories", TERRITORIES), Sheet("Empty", TERRITORIES.head(0))]))
    sheet = book["Territories"]
    assert sheet.auto_filter.ref == "A1:K5"
    assert sheet.freeze_panes == "B2"  # the header row and the first column stay in view
    assert book["Empty"].auto_filter.ref == "A1:K1" and book["Empty"].max_row == 1
    widths = {cell.value: sheet.column_dimensions[cell.column_letter].width for cell in sheet[1]}
    assert widths["Mean distance (km)"] >= len("Mean distance (km)") + 2  # the header and its filter button fit
    assert widths["Potential"] < 20  # a number column is as wide as its numbers, not a fixed 20
    assert all(8 <= width <= 50 for width in widths.values())
    assert all(cell.font.bold for cell in sheet[1])


def test_the_run_sheets_districts_and_regions_only_when_there_are_several():
    assignments = pd.DataFrame({"account_id": ["a"], "territory": ["T01"], "potential": [1.0]})
    moves = pd.DataFrame({"account_id": ["a"], "from_territory": ["T02"], "to_territory": ["T01"]})
    rejects = pd.DataFrame({"file": ["v.csv"], "line": pd.array([3], dtype="Int64"), "value": ["-3"]})
    sheets = workbook_sheets(assignments, TERRITORIES, {"status": "feasible"}, moves, None, rejects)
    names = [sheet.name for sheet in sheets]
    assert names == ["Territories", "Assignments", "Changes", "Rejects", "Districts", "Summary"]  # one region only
    book = _book(workbook_bytes(sheets))
    districts = list(book["Districts"].values)
    assert districts[0] == (
        "District", "Region", "Territories", "Accounts", "Potential", "Potential index"
    )  # fmt: skip
    assert districts[1][:5] == ("D1", "R1", 2, 5, 730.3)  # 429.99... + 300.26, rounded once shown
    assert (districts[1][5], districts[2][5]) == (146.0, 54.0)  # 730.26 and 270 against their mean, 500.13
    assert book["Rejects"]["C2"].value == "'-3" and book["Rejects"]["B2"].value == 3  # text stays text
    plain = workbook_sheets(assignments, TERRITORIES.drop(columns=["district", "region"]), {}, None, None, None)
    assert [sheet.name for sheet in plain] == ["Territories", "Assignments", "Summary"]


def test_the_same_sheets_give_the_same_bytes_with_fixed_dates():
    first = workbook_bytes([Sheet("Territories", TERRITORIES)])
    second = workbook_bytes([Sheet("Territories", TERRITORIES.copy())])
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert b"2000-01-01T00:00:00Z" in archive.read("docProps/core.xml")


def test_an_optimize_run_writes_the_analyst_workbook_and_repeats_it_byte_for_byte(tiny):
    """A real run of the tiny case from its current alignment, with one bad volume row set aside: Changes,
    Rejects and Target lists are there, and a second run into another folder gives the same bytes."""
    tiny.write("config.yaml", TINY_CONFIG.replace("inputs:\n", "inputs:\n  on_bad_rows: reject\n"))
    tiny.write("volumes.csv", (tiny.dir / "volumes.csv").read_text() + "B4,27130,-3,2025\n")
    outputs = []
    for name in ("one", "two"):
        result = invoke("optimize", str(tiny.config), "--current", "accounts", "-q", "-o", str(tiny.dir / name))
        assert result.exit_code == 0, result.stderr
        outputs.append((tiny.dir / name / "workbook.xlsx").read_bytes())
    assert outputs[0] == outputs[1]
    book = _book(outputs[0])
    assert book.sheetnames == [
        "Territories", "Assignments", "Changes", "Rejects", "Target lists", "Plans", "Vacancy cover", "Summary"
    ]  # fmt: skip
    for sheet in book.worksheets:
        assert sheet.auto_filter.ref is not None and sheet.auto_filter.ref.startswith("A1:")
        assert sheet.freeze_panes in ("A2", "B2")
        assert all(isinstance(cell.value, str) and "_" not in cell.value for cell in sheet[1])
    assignments = book["Assignments"]
    assert _column(assignments, "Account ID")[1].value == "A1"
    assert {c.number_format for c in _column(assignments, "Potential")[1:]} <= {"#,##0.0", "#,##0"}
    assert all(c.value is None or c.value != "" for row in assignments.iter_rows() for c in row)
    rejects = list(book["Rejects"].values)
    assert rejects[0][:3] == ("File", "Line", "Column") and len(rejects) == 2 and rejects[1][1] == 10
    targets = list(book["Target lists"].values)
    assert targets[0][:3] == ("Territory", "Rank", "Account ID") and len(targets) == 1 + 8


def test_regions_count_their_districts():
    several = TERRITORIES.assign(region=["R1", "R1", "R2", "R2"], district=["D1", "D2", "D3", "D3"])
    sheets = {sheet.name: sheet.frame for sheet in workbook_sheets(several, several, {}, None, None, None)}
    regions = sheets["Regions"]
    assert list(regions.columns[:4]) == ["region", "districts", "territories", "accounts"]
    assert regions[["districts", "territories", "accounts"]].to_numpy().tolist() == [[2, 2, 5], [1, 2, 3]]
    assert list(sheets["Districts"]["region"]) == ["R1", "R1", "R2"]
