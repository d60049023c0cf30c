"""The workbook (.xlsx) an analyst opens: one sheet per table, formatted for reading and filtering.

A sheet is a `Sheet` (name, frame, number formats by column); `workbook_sheets` lists the run's (Territories,
Assignments, Changes, Rejects, Target lists, Districts, Regions, Summary), and another sheet is one more `Sheet`
in that list. Each column gets a human header ("Potential index", "Distance (km)"), a number format and the
rounding that goes with it (`column_style`: 429.9999999999987 is stored as 430.0 and shown with one decimal;
whole numbers as integers; shares as percentages), a width that fits its header and values; every sheet has an
autofilter on its header row and frozen panes. Missing values are blank cells, never empty strings.

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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter

from terrplan.cells import escape_formula

FIXED_TIME = datetime.datetime(2000, 1, 1)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Style:
    """How a column is shown: its number format and the decimals its values are rounded to (None: as they are)."""

    number_format: str = "General"
    decimals: int | None = None
    integer: bool = False  # whole numbers written as integers


TEXT = Style("@")
INTEGER = Style("#,##0", 0, integer=True)
CODE = Style("0", 0, integer=True)  # ids, lines, ZIPs given as numbers: no thousands separator
ONE = Style("#,##0.0", 1)  # potential, workload hours, km
INDEX = Style("0.0", 1)
FTE = Style("0.00", 2)
DEGREES = Style("0.0000", 6)  # shown to ~10 m, kept to ~0.1 m
PERCENT = Style("0.0%", 4)
GAP = Style("0.00%", 6)
FINE = Style("#,##0.0##", 3)  # any other number: up to three decimals

# Headers people read; any other column becomes its words with the first capitalised ("moved_by" -> "Moved by").
HEADERS = {
    "account_id": "Account ID",
    "centre_account_id": "Centre account ID",
    "rep_id": "Rep ID",
    "rep_name": "Rep",
    "zip": "ZIP",
    "fte": "FTE",
    "lat": "Latitude",
    "lon": "Longitude",
    "centre_lat": "Centre latitude",
    "centre_lon": "Centre longitude",
    "home_lat": "Home latitude",
    "home_lon": "Home longitude",
    "workload_hours": "Workload (h)",
    "in_band": "In band",
    "from_territory": "From territory",
    "from_became": "From territory (now)",
    "to_territory": "To territory",
    "calls_per_year": "Calls per year",
    "npi": "NPI",
    "ccn": "CCN",
}
_WORDS = {"km": "(km)", "id": "ID", "fte": "FTE", "zip": "ZIP", "pct": "%"}


def header(column: str) -> str:
    """A column's header for people: 'potential_index' -> 'Potential index', 'mean_distance_km' -> 'Mean distance
    (km)'."""
    if column in HEADERS:
        return HEADERS[column]
    words = [_WORDS.get(word, word) for word in str(column).split("_") if word]
    text = " ".join(words) or str(column)
    return text[:1].upper() + text[1:]


def column_style(column: str, values: pd.Series) -> Style:
    """The format a column's name and values call for: shares as %, indices with one decimal, coordinates with
    four, distances, potential and hours with one, ids and lines without separators, whole numbers as integers."""
    name = str(column).lower()
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return Style()  # text (and TRUE/FALSE) as it is
    if name == "gap" or name.endswith("_gap"):
        return GAP
    if name in {"share", "utilisation", "utilization"} or name.endswith(("_share", "_pct")):
        return PERCENT
    if name.endswith("_index") or name == "index":
        return INDEX
    if name in {"lat", "lon"} or name.endswith(("_lat", "_lon")):
        return DEGREES
    if name.endswith("_id") or name in {"zip", "line", "npi", "ccn", "rank", "#"}:
        return CODE
    if name == "fte" or name.endswith("_fte"):
        return FTE
    if pd.api.types.is_integer_dtype(values) or _whole(values):
        return INTEGER
    if name.endswith(("_km", "_hours", "_h")) or name in {"potential", "workload", "volume", "objective"}:
        return ONE
    if name.startswith(("potential", "workload", "volume")):
        return ONE
    return FINE


def _whole(values: pd.Series) -> bool:
    """Every finite value a whole number (a count stored as float), and at least one value."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    numbers = numbers[np.isfinite(numbers)]
    return len(numbers) > 0 and bool((numbers == np.round(numbers)).all()) and bool((np.abs(numbers) < 2**53).all())


@dataclass(frozen=True)
class Sheet:
    """One worksheet: its name (at most 31 characters), its rows, and number formats by column that override
    `column_style` (a `Style`, or a format string shown as it is)."""

    name: str
    frame: pd.DataFrame
    formats: Mapping[str, Style | str] = field(default_factory=dict)

    def style(self, column: str) -> Style:
        given = self.formats.get(column)
        if isinstance(given, Style):
            return given
        if isinstance(given, str):
            return Style(given)
        return column_style(column, self.frame[column])


def workbook_sheets(
    assignments: pd.DataFrame,
    territories: pd.DataFrame,
    summary: dict,
    moves: pd.DataFrame | None = None,
    targets: pd.DataFrame | None = None,
    rejects: pd.DataFrame | None = None,
) -> list[Sheet]:
    """The run's sheets, in the order an analyst reads them: Territories, Assignments, Changes (the accounts that
    move against the current alignment, when one is given), Rejects (when the run read its inputs), Target lists
    (each territory's target accounts), Districts and Regions (when the run has more than one), Summary."""
    sheets = [Sheet("Territories", territories), Sheet("Assignments", assignments)]
    if moves is not None:
        sheets.append(Sheet("Changes", moves))
    if rejects is not None:
        sheets.append(Sheet("Rejects", rejects, {"value": TEXT, "line": CODE}))
    if targets is not None:
        sheets.append(Sheet("Target lists", targets))
    for level, parent in (("district", "region"), ("region", None)):
        if level in territories and territories[level].nunique(dropna=True) > 1:
            sheets.append(Sheet(f"{level.capitalize()}s", level_table(territories, level, parent)))
    sheets.append(Sheet("Summary", summary_frame(summary)))
    return sheets


def level_table(territories: pd.DataFrame, level: str, parent: str | None) -> pd.DataFrame:
    """One row per district (or region): its parent, how many territories and accounts, the potential and
    workload it holds and their index (100 = the mean of the level's groups)."""
    frame = territories.assign(_one=1)
    sums: dict[str, tuple[str, str]] = {}
    if parent is not None and parent in frame:
        sums[parent] = (parent, "first")
    if level == "region" and "district" in frame:
        sums["districts"] = ("district", "nunique")
    sums.update(territories=("_one", "sum"), accounts=("accounts", "sum"))
    for metric in ("potential", "workload_hours"):
        if metric in frame:
            sums[metric] = (metric, "sum")
    table = frame.groupby(level, sort=True).agg(**sums).reset_index()
    for metric, index in (("potential", "potential_index"), ("workload_hours", "workload_index")):
        if metric in table:
            mean = table[metric].mean()
            table[index] = table[metric] / mean * 100.0 if mean > 0 else np.nan
    return table


def target_lists(plans: Iterable) -> pd.DataFrame | None:
    """Every territory's target list (`report.plans.Plan.targets`) in one table: territory, rank, then the
    accounts' columns a rep calls on."""
    keep = ["account_id", "name", "type", "segment", "calls_per_year", "volume", "potential", "distance_km"]
    frames = []
    for plan in plans:
        targets = plan.targets
        columns = [c for c in keep if c in targets]
        frame = targets[columns].reset_index(drop=True)
        frame.insert(0, "rank", np.arange(1, len(frame) + 1))
        frame.insert(0, "territory", plan.territory)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else None


def workbook_bytes(sheets: Sequence[Sheet] | Mapping[str, pd.DataFrame], escape: bool = True) -> bytes:
    """The .xlsx file of `sheets` (a list of `Sheet`, or name -> frame with the formats `column_style` infers)."""
    if isinstance(sheets, Mapping):
        sheets = [Sheet(name, frame) for name, frame in sheets.items()]
    book = Workbook(write_only=True)  # streams rows: about a third faster on large account lists
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="E4E9F2")
    wrap = Alignment(wrap_text=True, vertical="top")
    for spec in sheets:
        frame = spec.frame
        sheet = book.create_sheet(spec.name[:31])
        styles = [spec.style(column) for column in frame.columns]
        columns = [_column_values(frame[column], style) for column, style in zip(frame.columns, styles, strict=True)]
        headers = [header(str(column)) for column in frame.columns]
        for i, (title, values, style) in enumerate(zip(headers, columns, styles, strict=True), start=1):
            sheet.column_dimensions[get_column_letter(i)].width = _width(title, values[:200], style)
        sheet.freeze_panes = "B2" if len(frame.columns) > 3 else "A2"
        last = get_column_letter(max(len(frame.columns), 1))
        sheet.auto_filter.ref = f"A1:{last}{len(frame) + 1}"
        top = []
        for title in headers:
            cell = WriteOnlyCell(sheet, value=_text(title, escape))
            cell.font, cell.fill, cell.alignment = bold, fill, wrap
            cell.data_type = "s"
            top.append(cell)
        sheet.append(top)
        templates = [_template(sheet, style) for style in styles]
        for row in zip(*columns, strict=True) if columns else ():
            sheet.append([_cell(sheet, v, t, escape) for v, t in zip(row, templates, strict=True)])
    book.properties.creator = "terrplan"
    book.properties.created = FIXED_TIME
    book.properties.modified = FIXED_TIME
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(book, archive).save()  # save_workbook() would stamp the current time
    return _fixed_zip(raw.getvalue())


def _column_values(values: pd.Series, style: Style) -> list:
    """Python values for a column: missing and empty text as None, numbers rounded to the style's decimals, whole
    numbers as int."""
    out = []
    for value in values.tolist():
        if _missing(value):
            out.append(None)  # a real blank: Excel's ISBLANK and filters see an empty cell, not ""
        elif isinstance(value, bool | np.bool_):
            out.append(bool(value))
        elif isinstance(value, int | float | np.integer | np.floating):
            number = float(value) if isinstance(value, float | np.floating) else int(value)
            if style.decimals is not None and isinstance(number, float):
                number = round(number, style.decimals) + 0.0  # + 0.0: no -0.0
            if style.integer and float(number).is_integer() and abs(number) < 2**53:
                number = int(number)
            out.append(number)
        else:
            out.append(value)
    return out


def _missing(value) -> bool:
    """None, pandas' NA/NaT, NaN or infinity, and empty text."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return (isinstance(value, float) and not math.isfinite(value)) or (isinstance(value, str) and value == "")


def _template(sheet, style: Style) -> WriteOnlyCell | None:
    """A cell carrying the column's number format, whose style each numeric cell copies (a style set once per
    column, not looked up per cell)."""
    if style.number_format in ("General", "@"):
        return None
    cell = WriteOnlyCell(sheet)
    cell.number_format = style.number_format
    return cell


def _cell(sheet, value, template: WriteOnlyCell | None, escape: bool):
    if value is None:
        return None
    if isinstance(value, str):
        return _text_cell(sheet, value, escape)
    if template is None or isinstance(value, bool):
        return value
    cell = WriteOnlyCell(sheet, value=value)
    cell._style = template._style  # the same style (number format) as the column's template
    return cell


def _width(title: str, values: list, style: Style) -> float:
    """Fits the header (with its filter button) and the values as shown, 8 to 50 characters."""
    shown = [len(_shown(v, style)) for v in values if v is not None]
    return float(min(max(8, len(title) + 4, max(shown, default=0) + 2), 50))


def _shown(value, style: Style) -> str:
    if isinstance(value, str):
        return max(value.split("\n"), key=len)
    if isinstance(value, bool):
        return "FALSE"
    if style.number_format.endswith("%"):
        return f"{value:.{max((style.decimals or 2) - 2, 0)}%}"
    if style.number_format == "0":
        return str(value)
    if style.decimals is not None and isinstance(value, float):
        return f"{value:,.{min(style.decimals, 4)}f}"
    return f"{value:,}"


def _text(text: str, escape: bool) -> str:
    text = workbook_text(text)
    return escape_formula(text) if escape else text


def _text_cell(sheet, text: str, escape: bool) -> str | WriteOnlyCell:
    """`text` as a text cell: openpyxl would make '=...' a formula and '#N/A' an error value, so those get a cell
    whose type is set to text; any other string openpyxl writes as text itself (a third faster than a cell each)."""
    text = _text(text, escape)
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
