"""The workbook (.xlsx) for Excel users: Territories, Assignments, Summary, and Moves when there are moves.

openpyxl stamps the save time into docProps/core.xml and every zip entry; both are fixed here so the same
inputs give the same bytes. Text is always written as a text cell (never a formula or an error value), cleaned of
the control characters Excel does not allow (vertical tab becomes a line break, form feed a space, the others are
dropped), then formula-escaped (`cells.escape_formula`) unless `escape` is off (output.escape_formulas: false).
"""

from __future__ import annotations

import datetime
import io
import math
import zipfile

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter

from terrplan.cells import escape_formula

FIXED_TIME = datetime.datetime(2000, 1, 1)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def workbook_bytes(sheets: dict[str, pd.DataFrame], escape: bool = True) -> bytes:
    book = Workbook(write_only=True)  # streams rows: about a third faster on large account lists
    for title, frame in sheets.items():
        sheet = book.create_sheet(title)
        sheet.freeze_panes = "A2"
        for i, column in enumerate(frame.columns, start=1):
            longest = max([len(str(column)), *(len(str(v)) for v in frame[column].head(200))])
            sheet.column_dimensions[get_column_letter(i)].width = min(max(8, longest + 2), 50)
        sheet.append([_text_cell(sheet, str(c), escape) for c in frame.columns])
        for row in frame.itertuples(index=False):
            sheet.append([_cell(sheet, v, escape) for v in row])
    book.properties.creator = "terrplan"
    book.properties.created = FIXED_TIME
    book.properties.modified = FIXED_TIME
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(book, archive).save()  # save_workbook() would stamp the current time
    return _fixed_zip(raw.getvalue())


def _cell(sheet, value, escape: bool):
    if hasattr(value, "item"):
        value = value.item()
    if value is None or value is pd.NA or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if isinstance(value, str):
        return _text_cell(sheet, value, escape)
    return value


def _text_cell(sheet, text: str, escape: bool) -> str | WriteOnlyCell:
    """`text` as a text cell: openpyxl would make '=...' a formula and '#N/A' an error value, so those get a cell
    whose type is set to text; any other string openpyxl writes as text itself (a third faster than a cell each)."""
    text = workbook_text(text)
    if escape:
        text = escape_formula(text)
    if not text.startswith("=") and text not in ERROR_CODES:
        return text
    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"
    return cell


_LINE_BREAKS = str.maketrans({"\x0b": "\n", "\x0c": " "})


def workbook_text(text: str) -> str:
    """Text Excel accepts: vertical tab (FileMaker's and Mac Excel's in-cell line break) becomes a line break,
    form feed a space; NUL, ESC and the other control characters openpyxl rejects are dropped."""
    return ILLEGAL_CHARACTERS_RE.sub("", text.translate(_LINE_BREAKS))


def _fixed_zip(data: bytes) -> bytes:
    """The same archive with every entry dated 1980-01-01, in the original order."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            target.writestr(entry, source.read(info.filename))
    return out.getvalue()


def summary_frame(summary: dict) -> pd.DataFrame:
    """summary.json flattened to dotted keys (run time left out: it differs between identical runs)."""
    rows: list[tuple[str, object]] = []

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key in sorted(value):
                walk(f"{prefix}.{key}" if prefix else str(key), value[key])
        elif isinstance(value, list | tuple) and any(isinstance(v, dict | list | tuple) for v in value):
            for i, item in enumerate(value):
                walk(f"{prefix}[{i}]", item)
        elif isinstance(value, list | tuple):
            rows.append((prefix, ", ".join(str(v) for v in value)))
        else:
            rows.append((prefix, value))

    walk("", {k: v for k, v in summary.items() if k != "runtime_s"})
    return pd.DataFrame(rows, columns=["key", "value"])
