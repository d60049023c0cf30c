"""CSV / stdin -> validated DataFrames.

Every row-level defect is collected as a `Finding` (file, line, column, value, hint) instead of stopping at the
first; the caller decides whether they stop the run or go to the rejects file. File-level defects (missing,
empty, not UTF-8, a mapped column absent) raise `InputError` at once.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import gzip
import io
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from terrplan.cells import unescape_formula
from terrplan.config import AccountsInput, RepsInput, Scoring, VolumesInput
from terrplan.errors import Finding, InputError, closest
from terrplan.geo import haversine_km, normalize_zip, zip_table
from terrplan.ingest import SumBy, codes_kept, read_header, scan, use_duckdb
from terrplan.plaincsv import read_plain

#: Standard column names, used when the config maps no column for a field.
STANDARD_NAMES: dict[str, tuple[str, ...]] = {
    "id": ("account_id", "rep_id", "id"),
    "name": ("name",),
    "type": ("type",),
    "specialty": ("specialty",),
    "address": ("address",),
    "city": ("city",),
    "state": ("state",),
    "zip": ("zip", "zip_code", "zipcode", "home_zip"),
    "lat": ("lat", "latitude"),
    "lon": ("lon", "lng", "longitude"),
    "system": ("system", "idn", "health_system"),
    "territory": ("current_territory", "territory"),
    "fte": ("fte",),
    "account": ("account_id",),
    "code": ("code",),
    "volume": ("volume",),
    "period": ("period",),
    "county": ("county_fips", "county", "fips"),
}

ACCOUNT_TEXT_FIELDS = ("name", "type", "specialty", "address", "city", "state", "system", "territory")


@dataclass(frozen=True)
class Table:
    """A CSV read as text, with the 1-based file line of each row (for messages).

    `bad` marks rows with a defect found while parsing (more fields than the header); `findings` says why. Readers
    that report bad rows themselves (accounts, volumes) take both; `read_table` raises for the others."""

    name: str
    frame: pd.DataFrame
    lines: np.ndarray
    empty_rows: int = 0  # rows with every field blank, left out
    bad: np.ndarray | None = None
    findings: tuple[Finding, ...] = ()
    scanned: bool = False  # by DuckDB (ingest.scan): only the asked columns, and for volumes only the kept codes
    stripped: bool = False  # no field has whitespace around it (plaincsv found so): `_stripped` has nothing to do


_PATH_HINT = "check the path (relative to the config file in a config, to the working directory on the command line)"


def read_table(path: Path, encoding: str = "utf-8", row_findings: bool = False) -> Table:
    """Read a CSV (or stdin for '-') as text columns, refusing empty and undecodable files with a clear message.

    Rows with more (non-blank) fields than the header are an error naming those lines, or, with `row_findings`,
    returned as `Table.findings` / `Table.bad` for the caller to report or set aside with its own row problems."""
    name = "<stdin>" if str(path) == "-" else str(path)
    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{name}: file not found", [Finding(name, "file not found", hint=_PATH_HINT)]) from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory, expected a CSV file") from None
    if name.lower().endswith(".gz"):  # a small gzip CSV: today's reader on its text (large ones: ingest.scan)
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise InputError(f"{name}: not readable as gzip", [Finding(name, f"cannot decompress: {exc}")]) from None
    text = _decode(data, name, encoding)
    if not text.strip():
        raise InputError(
            f"{name}: the file is empty",
            [Finding(name, "no header and no rows", hint="expected a CSV with a header line")],
        )
    plain = read_plain(text)
    if plain is not None:  # a machine-written file: the same fields and lines, tokenized in C
        header = _header(plain.header, name, plain.header_line)
        if plain.frame.empty:
            raise InputError(f"{name}: the file has a header but no rows", [Finding(name, "no data rows", line=2)])
        frame = plain.frame.set_axis(header, axis=1)
        bad = np.zeros(len(frame), dtype=bool)
        return Table(name, frame, plain.lines, plain.empty_rows, bad, (), stripped=plain.stripped)
    records, starts = _records(text, name)
    if not records:
        raise InputError(
            f"{name}: the file is empty",
            [Finding(name, "no header and no rows", hint="expected a CSV with a header line")],
        )
    header = _header(records[0], name, starts[0])
    width = len(header)
    rows: list[list[str]] = []
    lines: list[int] = []
    bad: list[bool] = []
    findings: list[Finding] = []
    empty_rows = 0
    for record, line in zip(records[1:], starts[1:], strict=True):
        if not "".join(record).strip():  # ",,,,": no data, left out but counted
            empty_rows += 1
            continue
        if len(record) == width:  # the common case, kept fast
            rows.append(record)
            lines.append(line)
            bad.append(False)
            continue
        extra = record[width:]
        wrong = bool("".join(extra).strip())
        if wrong:
            findings.append(
                Finding(
                    name,
                    f"the row has {len(record)} fields, the header has {width}",
                    line=line,
                    value=_shorten(",".join(extra)),
                    hint='a comma inside a value splits it: quote the value ("Smith, John") or remove the extra field',
                )
            )
        rows.append(record[:width] + [""] * (width - len(record)))
        lines.append(line)
        bad.append(wrong)
    if not rows:
        raise InputError(f"{name}: the file has a header but no rows", [Finding(name, "no data rows", line=2)])
    if findings and not row_findings:
        raise InputError(f"{name}: {len(findings)} row(s) have more fields than the header", findings)
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    return Table(name, frame, np.array(lines, dtype=np.int64), empty_rows, np.array(bad), tuple(findings))


def _records(text: str, name: str) -> tuple[list[list[str]], list[int]]:
    """The CSV's non-blank records and the physical line each starts on (a quoted field may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    records: list[list[str]] = []
    starts: list[int] = []
    end = 0
    try:
        for record in reader:
            if record:
                records.append(record)
                starts.append(end + 1)
            end = reader.line_num
    except csv.Error as exc:
        line = reader.line_num
        raise InputError(
            f"{name}: not a readable CSV",
            [Finding(name, f"not a readable CSV: {exc}", line=line, hint=_QUOTE_HINT)],
        ) from None
    if records and any("\n" in f or "\r" in f for f in records[-1]):  # an unclosed quote swallows the file's rest
        tail = "".join(io.StringIO(text, newline="").readlines()[starts[-1] - 1 :])
        try:
            list(csv.reader(io.StringIO(tail, newline=""), strict=True))
        except csv.Error as exc:
            if "unexpected end of data" not in str(exc):
                return records, starts
            raise InputError(
                f"{name}: not a readable CSV",
                [Finding(name, "a quoted field never closes", line=starts[-1], hint=_QUOTE_HINT)],
            ) from None
    return records, starts


_QUOTE_HINT = 'a value starting with a quote (") runs to the next quote; close it, or double quotes inside ("")'


def _stripped(table: Table, columns: object) -> pd.DataFrame:
    """The table's frame with `columns` stripped of surrounding whitespace, as every reader compares them; a file
    plaincsv found without such whitespace is returned as it is."""
    if table.stripped:
        return table.frame
    return table.frame.assign(**{column: table.frame[column].str.strip() for column in dict.fromkeys(columns)})


def per_value(values: pd.Series, work: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """`work` (element-wise over a Series) applied once per distinct value of `values`: a million ZIPs are 40,000
    distinct ones."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    done = work(pd.Series(uniques, dtype=values.dtype))
    return pd.Series(done.to_numpy()[codes], index=values.index, dtype=done.dtype)  # the dtype `work` gave


def _header(record: list[str], name: str, line: int) -> list[str]:
    """Column names, stripped; blank ones become 'column_<n>'; duplicates are an error naming both positions."""
    header = [field.strip().lstrip("\ufeff").strip() or f"column_{i + 1}" for i, field in enumerate(record)]
    seen: dict[str, int] = {}
    findings = []
    for i, column in enumerate(header):
        if column in seen:
            findings.append(
                Finding(
                    name,
                    f"duplicate column name (columns {seen[column] + 1} and {i + 1})",
                    line=line,
                    column=column,
                    hint="rename or remove one of them",
                )
            )
        else:
            seen[column] = i
    if findings:
        raise InputError(f"{name}: the header has duplicate column names", findings)
    return header


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _decode(data: bytes, name: str, encoding: str) -> str:
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"  # a BOM (Excel's "CSV UTF-8") is not data
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        bad = data[exc.start : exc.start + 4]
        raise InputError(
            f"{name}: not {encoding.removesuffix('-sig')} text",
            [
                Finding(
                    name,
                    f"byte {exc.start} cannot be decoded as {encoding.removesuffix('-sig')}",
                    line=line,
                    value=repr(bad),
                    hint="re-save the file as UTF-8, or set the input's `encoding` (e.g. cp1252) in the config",
                )
            ],
        ) from None
    except LookupError:
        raise InputError(f"{name}: unknown encoding {encoding!r} in the config") from None


def open_table(
    path: Path,
    encoding: str,
    engine: str,
    mapping: object,
    required: tuple[str, ...],
    section: str,
    extra: Callable[[list[str], dict[str, str]], list[str]] | None = None,
    scoring: Scoring | None = None,
    first_per: str | None = None,
    sum_by: Callable[[dict[str, str]], SumBy | None] | None = None,
) -> tuple[Table, dict[str, str]]:
    """A data file as a `Table` with its columns resolved: read row by row (read_table), or, where
    `ingest.use_duckdb` says so (Parquet, large files), scanned with DuckDB for just the mapped columns (plus
    `extra(header, cols)`), only the rows whose code (`cols['code']`) a `scoring` rule names, with `first_per`
    (a field) only each value's first row, and with `sum_by(cols)` rows alike added up. Both give the same column
    names and file lines."""
    if not use_duckdb(path, engine, encoding):
        table = read_table(path, encoding, row_findings=True)
        return table, resolve_columns(table, mapping, required, section)
    name = str(path)
    header = _header(read_header(path, encoding), name, 1)
    probe = Table(name, pd.DataFrame(columns=header, dtype=object), np.zeros(0, dtype=np.int64))
    cols = resolve_columns(probe, mapping, required, section)
    wanted = set(cols.values()) | set(extra(header, cols) if extra else ())
    found = scan(
        path,
        header,
        [c for c in header if c in wanted],
        encoding,
        code_column=cols.get("code") if scoring is not None else None,
        scoring=scoring,
        first_per=cols[first_per] if first_per else None,
        sum_by=sum_by(cols) if sum_by else None,
    )
    bad = np.zeros(len(found.frame), dtype=bool)
    return Table(name, found.frame, found.lines, found.empty_rows, bad, found.findings, scanned=True), cols


def resolve_columns(table: Table, mapping: object, required: tuple[str, ...], section: str) -> dict[str, str]:
    """field -> column in `table`, from explicit mapping or standard names; explicit names must exist.

    Names match exactly first, else ignoring case, spaces, '-' and '_' ('Account ID' is account_id) when exactly
    one column matches; two columns matching one name that way is an error naming both."""
    header = list(table.frame.columns)
    resolved: dict[str, str] = {}
    findings: list[Finding] = []
    for f in fields(mapping):  # type: ignore[arg-type]
        explicit = getattr(mapping, f.name)
        key = f"{section}.columns.{f.name}"
        if explicit is not None:
            before = len(findings)
            found = find_column(header, explicit, table.name, key, findings)
            if found is not None:
                resolved[f.name] = found
            elif len(findings) == before:  # absent, not ambiguous
                close = closest(explicit, header)
                hint = f"did you mean '{close}'?" if close else f"the file has: {', '.join(header[:15])}"
                findings.append(
                    Finding(
                        table.name,
                        f"column named in {section}.columns.{f.name} is not in the header",
                        line=1,
                        column=explicit,
                        hint=hint,
                    )
                )
            continue
        for candidate in STANDARD_NAMES.get(f.name, ()):
            found = find_column(header, candidate, table.name, key, findings)
            if found is not None:
                resolved[f.name] = found
                break
    for name in required:
        if name not in resolved and getattr(mapping, name) is None:
            wanted = STANDARD_NAMES[name][0]
            close = closest(wanted, header)
            hint = f"map it in the config: {section}.columns.{name}: {close or '<column name>'}"
            findings.append(Finding(table.name, f"missing required column '{wanted}'", line=1, hint=hint))
    if findings:
        raise InputError(f"{table.name}: the header does not match the config", findings)
    return resolved


def _fold(name: str) -> str:
    return re.sub(r"[\s_\-]+", "_", name.strip().lower()).strip("_")


def find_column(header: list[str], name: str, file: str, key: str | None, findings: list[Finding]) -> str | None:
    """The column called `name`: exact, else the one column equal to it ignoring case, spaces, '-' and '_'.

    Several such columns: a finding (column = `name`) and None."""
    if name in header:
        return name
    matches = [column for column in header if _fold(column) == _fold(name)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        positions = " and ".join(f"'{c}' (column {header.index(c) + 1})" for c in matches)
        findings.append(
            Finding(
                file,
                f"{positions} {'both' if len(matches) == 2 else 'all'} match '{name}' when case is ignored",
                line=1,
                column=name,
                hint=f"name the one to use exactly in the config: {key}" if key else "rename or remove one of them",
            )
        )
    return None


# -- accounts ---------------------------------------------------------------------------------------------------


#: Columns of location_warnings.csv: rejects.csv's, plus the distance from the ZIP's centre.
LOCATION_WARNING_COLUMNS = ["file", "line", "column", "value", "reason", "hint", "distance_km"]


@dataclass(frozen=True)
class AccountsRead:
    accounts: pd.DataFrame  # usable rows: account_id, text fields, zip, lat, lon, line
    findings: list[Finding]  # one per row that cannot be used
    rejected_ids: set[str]  # so their volume rows are set aside with them, not reported as unknown
    empty_rows: int  # rows with every field blank, left out
    # usable accounts whose lat/lon lie farther than zip_mismatch_km from their ZIP's centre (LOCATION_WARNING_COLUMNS)
    location_warnings: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=LOCATION_WARNING_COLUMNS))


def read_accounts(spec: AccountsInput, path: Path) -> AccountsRead:
    """Accounts with id, text attributes, zip and lat/lon, and findings on the rows that cannot be used.

    Rows are located here: lat/lon when given and valid, else the ZIP centroid from the offline table.
    """
    first = None if spec.one_row_per_account else "id"  # a long file: DuckDB keeps each account's first row
    section = "inputs.accounts"
    table, cols = open_table(path, spec.encoding, spec.engine, spec.columns, ("id",), section, first_per=first)
    if "zip" not in cols and not ("lat" in cols and "lon" in cols):
        raise InputError(
            f"{table.name}: no way to place accounts",
            [
                Finding(
                    table.name,
                    "need a ZIP column or both lat and lon columns",
                    line=1,
                    hint="map inputs.accounts.columns.zip (or .lat and .lon) in the config",
                )
            ],
        )
    raw = _stripped(table, cols.values())
    out = pd.DataFrame({"account_id": raw[cols["id"]]})
    for name in ACCOUNT_TEXT_FIELDS:
        out[name] = raw[cols[name]] if name in cols else ""
    out["line"] = table.lines
    findings: list[Finding] = list(table.findings)
    bad = table.bad.copy()
    if not spec.one_row_per_account:  # a long file: the first good row of each account speaks for it
        first = np.ones(len(out), dtype=bool)
        first[~bad] = ~out["account_id"][~bad].duplicated().to_numpy()
        out, raw, bad = out.loc[first].reset_index(drop=True), raw.loc[first].reset_index(drop=True), bad[first]

    blank = (out["account_id"] == "").to_numpy() & ~bad
    for line in out["line"][blank]:
        findings.append(
            Finding(table.name, "blank account id", line=int(line), column=cols["id"], hint="every row needs an id")
        )
    bad |= blank

    bad |= _check_duplicates(out, table.name, cols["id"], spec.one_row_per_account, findings, blank | bad)

    unplaced, given = _locate(raw, cols, out, table.name, findings, bad, "account")
    bad |= unplaced
    bad |= _county_fips(raw, cols, out, table.name, findings, bad, spec.columns.county is not None)
    warnings = _zip_mismatch(raw, cols, out, given & ~bad, table.name, spec.zip_mismatch_km)
    usable = out.loc[~bad]
    rejected = set(out.loc[bad, "account_id"]) - set(usable["account_id"]) - {""}
    return AccountsRead(usable.reset_index(drop=True), findings, rejected, table.empty_rows, warnings)


_FIPS = re.compile(r"^(\d{1,5})(?:\.0+)?$")


def _county_fips(
    raw: pd.DataFrame,
    cols: dict[str, str],
    out: pd.DataFrame,
    name: str,
    findings: list[Finding],
    bad: np.ndarray,
    configured: bool,
) -> np.ndarray:
    """Fill out's county: the county column as 5-digit FIPS text ('1001' and '1001.0' lost a leading zero:
    01001), blank when absent or blank. Returns the rows whose value is not a FIPS code, each with a finding.

    A column found by its standard name (county, county_fips, fips) in which no value is a FIPS code holds county
    names: it is left alone, as before there was a county column."""
    out["county"] = ""
    if "county" not in cols:
        return np.zeros(len(out), dtype=bool)
    text = raw[cols["county"]].fillna("")  # stripped by the reader (`_stripped`)
    digits = text.str.extract(_FIPS, expand=False)
    wrong = ((text != "") & digits.isna()).to_numpy() & ~bad
    if not configured and digits.isna().all():
        return np.zeros(len(out), dtype=bool)
    for i in np.flatnonzero(wrong):
        findings.append(
            Finding(name, "county must be a 5-digit county FIPS code", line=int(out["line"].iloc[i]),
                    column=cols["county"], value=text.iloc[i],
                    hint="state and county digits, e.g. 40099 for Murray County, OK; leave blank to use the ZIP's")
        )  # fmt: skip
    out["county"] = digits.fillna("").str.zfill(5).where(digits.notna(), "").to_numpy()
    return wrong


def _locate(
    raw: pd.DataFrame,
    cols: dict[str, str],
    out: pd.DataFrame,
    name: str,
    findings: list[Finding],
    bad: np.ndarray,
    what: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Fill out's zip, lat and lon: lat/lon when given and valid, else the ZIP centroid. Returns the rows that
    cannot be placed (or have bad coordinates), each with a finding (none for rows already `bad`), and the rows
    placed by their own lat/lon."""
    zips = raw[cols["zip"]] if "zip" in cols else pd.Series("", index=raw.index)
    out["zip"] = per_value(zips, lambda values: values.map(normalize_zip))
    lat, lon, coord_bad = _parse_coordinates(raw, cols, out, name, findings, bad)
    missing = np.isnan(lat) | np.isnan(lon)
    centroids = zip_table().reindex(out["zip"].fillna("").to_numpy())
    lat = np.where(missing, centroids["lat"].to_numpy(dtype=float), lat)
    lon = np.where(missing, centroids["lon"].to_numpy(dtype=float), lon)
    unplaced = (np.isnan(lat) | np.isnan(lon)) & ~bad & ~coord_bad
    for i in np.flatnonzero(unplaced):
        zip_raw = str(zips.iloc[i]).strip()
        if not zip_raw:
            message, hint = f"cannot place the {what}: no lat/lon and no ZIP", "add a ZIP or lat/lon"
        elif pd.isna(out["zip"].iloc[i]):
            message, hint = (
                f"cannot place the {what}: not a ZIP code",
                "expected 5 digits, ZIP+4 or e.g. 2139 / 27410.0",
            )
        else:
            message, hint = f"cannot place the {what}: ZIP not in the offline ZIP table", "check the ZIP or add lat/lon"
        line = int(out["line"].iloc[i])
        findings.append(Finding(name, message, line=line, column=cols.get("zip"), value=zip_raw, hint=hint))
    out["lat"] = np.round(lat, 6)
    out["lon"] = np.round(lon, 6)
    out["zip"] = out["zip"].fillna("")
    return coord_bad | unplaced, ~missing


def _zip_mismatch(
    raw: pd.DataFrame, cols: dict[str, str], out: pd.DataFrame, given: np.ndarray, name: str, limit_km: float | None
) -> pd.DataFrame:
    """Accounts placed by their own lat/lon that lie farther than `limit_km` from their ZIP's centre, as rows of
    LOCATION_WARNING_COLUMNS; (0, 0) and swapped lat/lon are named. The coordinates are kept as given."""
    if limit_km is None or "zip" not in cols:
        return pd.DataFrame(columns=LOCATION_WARNING_COLUMNS)
    centre = zip_table().reindex(out["zip"].to_numpy())
    zlat, zlon = centre["lat"].to_numpy(dtype=float), centre["lon"].to_numpy(dtype=float)
    lat, lon = out["lat"].to_numpy(dtype=float), out["lon"].to_numpy(dtype=float)
    distance = haversine_km(lat, lon, zlat, zlon)
    far = given & np.isfinite(distance) & (distance > limit_km)
    swapped_km = haversine_km(lon, lat, zlat, zlon)
    rows = []
    for i in np.flatnonzero(far):
        zip_code, km = out["zip"].iloc[i], float(distance[i])
        if lat[i] == 0 and lon[i] == 0:
            reason = f"lat/lon is (0, 0), a placeholder for 'unknown': {km:,.0f} km from the centre of ZIP {zip_code}"
        elif abs(lon[i]) <= 90 and swapped_km[i] <= limit_km:
            reason = (
                f"lat and lon look swapped: {km:,.0f} km from the centre of ZIP {zip_code}, "
                f"{swapped_km[i]:,.0f} km when swapped"
            )
        else:
            reason = f"lat/lon is {km:,.0f} km from the centre of ZIP {zip_code} (more than {limit_km:g} km)"
        rows.append(
            {
                "file": name,
                "line": int(out["line"].iloc[i]),
                "column": f"{cols['lat']}/{cols['lon']}",
                "value": f"{raw[cols['lat']].iloc[i].strip()}, {raw[cols['lon']].iloc[i].strip()}",
                "reason": reason,
                "hint": "the coordinates are used as given: correct them or the ZIP, or leave lat/lon blank to place "
                "the account at its ZIP's centre (inputs.accounts.zip_mismatch_km sets the distance, null: no check)",
                "distance_km": round(km, 1),
            }
        )
    return pd.DataFrame(rows, columns=LOCATION_WARNING_COLUMNS).astype({"line": "Int64"})


def _check_duplicates(
    out: pd.DataFrame, name: str, column: str, unique: bool, findings: list[Finding], blank: np.ndarray
) -> np.ndarray:
    if not unique:
        return np.zeros(len(out), dtype=bool)
    dup = out["account_id"].duplicated(keep=False).to_numpy() & ~blank
    if dup.any():
        first_line = out.loc[dup].groupby("account_id")["line"].transform("min")
        for (_, row), first in zip(out.loc[dup].iterrows(), first_line, strict=True):
            if row["line"] != first:
                findings.append(
                    Finding(
                        name,
                        f"duplicate account id (first seen on line {first})",
                        line=int(row["line"]),
                        column=column,
                        value=row["account_id"],
                        hint="ids must be unique; for a long file with one row per code "
                        "set inputs.accounts.one_row_per_account: false",
                    )
                )
        # All copies are unusable: we cannot tell which one is right.
    return dup


def _parse_coordinates(
    raw: pd.DataFrame, cols: dict[str, str], out: pd.DataFrame, name: str, findings: list[Finding], bad: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(raw)
    lat = np.full(n, np.nan)
    lon = np.full(n, np.nan)
    coord_bad = np.zeros(n, dtype=bool)
    for field_name, limit, target in (("lat", 90.0, lat), ("lon", 180.0, lon)):
        if field_name not in cols:
            continue
        text = raw[cols[field_name]]  # stripped by the reader (`_stripped`)
        values = _numbers(text)
        given = (text != "").to_numpy()
        wrong = given & (~np.isfinite(values) | (np.abs(values) > limit))
        for i in np.flatnonzero(wrong & ~bad):
            comma = "," in text.iloc[i]
            findings.append(
                Finding(
                    name,
                    f"{'latitude' if field_name == 'lat' else 'longitude'} must be a number in [-{limit:g}, {limit:g}]",
                    line=int(out["line"].iloc[i]),
                    column=cols[field_name],
                    value=text.iloc[i],
                    hint=DECIMAL_COMMA_HINT
                    if comma
                    else "lat/lon in decimal degrees; swapped columns? leave blank to place by ZIP",
                )
            )
        coord_bad |= wrong
        target[given & ~wrong] = values[given & ~wrong]
    return lat, lon, coord_bad


DECIMAL_COMMA_HINT = "use a dot as decimal separator (e.g. 15.5, not 15,5)"


def _numbers(text: pd.Series) -> np.ndarray:
    """Stripped text -> float (NaN where not a number); a comma is never read as a decimal point."""
    clean = text.where(~text.str.contains(",", regex=False), "")
    return pd.to_numeric(clean, errors="coerce").to_numpy(dtype=float)


# -- volumes ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VolumesRead:
    volumes: pd.DataFrame  # account_id, code, volume, period (+ year: an int, when the volumes span years)
    findings: list[Finding]
    missing: int  # values the config declares as "no data" (e.g. CMS's N/A for suppressed cells), left out
    # values of years potential does not use, of accounts not in the accounts file (a provider gone since): left out
    other_years_unknown: int = 0


@dataclass(frozen=True)
class VolumeSource:
    """One volumes file and the year its rows count for (None: one file of one period, or a `year` column)."""

    path: Path
    year: int | None = None


_GLOB = re.compile(r"[*?\[]")
_YEAR_IN_NAME = re.compile(r"(?<!\d)((?:19|20)\d\d)(?!\d)")


def volume_sources(spec: VolumesInput, resolve: Callable[[str], Path]) -> list[VolumeSource]:
    """The files `inputs.volumes` names: `files` with their years, a glob (each file's year from its name), or one
    file (years from `columns.year` when mapped, else none: today's single-period volumes)."""
    if spec.files:
        return [VolumeSource(resolve(f.path), f.year if f.year is not None else _year_of(resolve(f.path)))
                for f in spec.files]  # fmt: skip
    path = resolve(spec.path)
    if str(path) == "-" or path.exists() or not _GLOB.search(str(path)):  # 'vol [2021].csv' may be a name
        return [VolumeSource(path)]
    matches = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).is_file())
    if not matches:
        raise InputError(
            f"{path}: no file matches",
            [Finding(str(path), "no file matches the pattern", key="inputs.volumes.path",
                     hint="check the folder and the pattern, e.g. 'partb_*.csv' (quote it on the command line)")],
        )  # fmt: skip
    return [VolumeSource(match, _year_of(match)) for match in matches]


def _year_of(path: Path) -> int:
    """The one 4-digit year (1900-2099) in a file's name: partb_2021.csv -> 2021."""
    years = set(_YEAR_IN_NAME.findall(path.name))
    if len(years) != 1:
        raise InputError(
            f"{path}: cannot tell the year of its volumes",
            [Finding(str(path), f"the file name holds {'no' if not years else 'more than one'} 4-digit year",
                     key="inputs.volumes", value=path.name,
                     hint="name each file with its year (partb_2021.csv), or list them: "
                     "inputs.volumes: [{path: a.csv, year: 2021}, ...]")],
        )  # fmt: skip
    return int(years.pop())


def read_volumes(
    spec: VolumesInput,
    path: Path | Sequence[VolumeSource],
    account_ids: pd.Series,
    known_bad_ids: set[str] | None = None,
    scoring: Scoring | None = None,
) -> VolumesRead:
    """Volumes for known accounts, from a long file (one row per account x code) or a wide one (one column per
    code, `spec.wide`), or from several files (`volume_sources`, one a year); findings for rows that cannot be used.

    Rows of accounts that were themselves rejected (`known_bad_ids`) go with the account, not reported twice.
    Files DuckDB scans (`ingest.use_duckdb`) give only the rows of codes a `scoring` rule names.
    With years (several files, a file's year, or `columns.year`) the volumes carry an integer `year` column and
    duplicates are per account x code x period x year.
    """
    sources = [VolumeSource(path)] if isinstance(path, Path) else list(path)
    yearly = len(sources) > 1 or any(s.year is not None for s in sources) or spec.columns.year is not None
    parts, findings = [], []
    for source in sources:
        long, table_findings, column = _volume_rows(spec, source, scoring, yearly)
        parts.append(long)
        findings.extend(table_findings)
    long = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    if spec.periods:  # rows of other periods are not defects, just not wanted
        long = long.loc[long["period"].isin(spec.periods)].reset_index(drop=True)
    declared_missing = long["text"].isin(spec.missing).to_numpy()
    missing = int(declared_missing.sum())
    long = long.loc[~declared_missing].reset_index(drop=True)
    text = long["text"]
    volume, comma = _volume_numbers(text)
    long["volume"] = volume
    bad = long["row_bad"].to_numpy(dtype=bool) | long["account_id"].isin(known_bad_ids or set()).to_numpy()

    def report(
        mask: np.ndarray, message: str, values: pd.Series, hint: str | Callable[[str], str], column: str | None = None
    ) -> None:
        nonlocal bad
        mask = mask & ~bad
        for i in np.flatnonzero(mask):
            value = str(values.iloc[i])
            findings.append(
                Finding(
                    long["file"].iloc[i],
                    message,
                    line=int(long["line"].iloc[i]),
                    column=column or long["column"].iloc[i],
                    value=value,
                    hint=hint(value) if callable(hint) else hint,
                )
            )
        bad |= mask

    account = column["account"]
    ids = long["account_id"]
    other_years_unknown = 0
    if yearly:  # rows of accounts not (or no longer) in the accounts file, of years potential does not use
        years = long["year"]
        chosen = spec.year if spec.year is not None else (int(years.max()) if years.notna().any() else None)
        gone = (~ids.isin(account_ids)).to_numpy() & (years != chosen).fillna(False).to_numpy(dtype=bool) & ~bad
        other_years_unknown = int(gone.sum())
        bad |= gone
        year_text = long["year_text"]
        report(long["year"].isna().to_numpy(), "year is not a 4-digit year", year_text,
               "each row's year, e.g. 2021", column.get("year"))  # fmt: skip
    report((ids == "").to_numpy(), "blank account id", ids, "every volume row names its account", account)
    report(
        ~ids.isin(account_ids).to_numpy(),
        "volume for an unknown account",
        ids,
        "the id is not in the accounts file; check both files use the same id",
        account,
    )
    report(
        (long["code"] == "").to_numpy(),
        "blank procedure code",
        long["code"],
        "every volume row needs a code",
        column.get("code"),
    )
    report(np.isnan(volume) & (text == "").to_numpy(), "blank volume", text, "use 0 for no procedures")
    report(
        comma,
        "volume has a decimal comma",
        text,
        DECIMAL_COMMA_HINT + "; thousands separators are read only in the form 1,234,567",
    )
    hint = "expected a number of procedures, e.g. 42"
    if not spec.missing:
        hint += "; if this value means 'no data' (e.g. N/A), list it in inputs.volumes.missing"
    report(~np.isfinite(volume), "volume is not a number", text, hint)
    report(volume < 0, "negative volume", text, _negative_hint)
    report(
        volume > VOLUME_CAP,
        f"volume above {VOLUME_CAP:,.0f} in one row",
        text,
        "a volume counts procedures of one account and code: check the column and its unit",
    )
    keys = ["account_id", "code", "period", *(["year"] if yearly else [])]
    _check_duplicate_volumes(long, bad, spec, keys, account, findings)
    kept = ["account_id", "code", "volume", "period", *(["year"] if yearly else [])]
    usable = long.loc[~bad, kept].reset_index(drop=True)
    if yearly:
        usable["year"] = usable["year"].astype(np.int64)
    return VolumesRead(usable, findings, missing, other_years_unknown)


def _volume_numbers(text: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each volume text as a number (1,234,567 read with its thousands separators; NaN where not a number) and
    whether it has a comma that is not such a separator (a decimal comma), worked out once per distinct text."""
    codes, uniques = pd.factorize(text, use_na_sentinel=False)
    values = pd.Series(uniques, dtype=object)
    thousands = values.str.fullmatch(_THOUSANDS).to_numpy(dtype=bool)
    comma = values.str.contains(",", regex=False).to_numpy(dtype=bool) & ~thousands
    volume = _numbers(values.where(~thousands, values.str.replace(",", "", regex=False)))
    return volume[codes], comma[codes]


def volumes_of_year(volumes: pd.DataFrame, year: int | None = None) -> pd.DataFrame:
    """The rows potential uses: all of one-period volumes; of volumes with a `year` column, those of `year` (None:
    the latest year present). The other years stay for trends (scoring.growth)."""
    if "year" not in volumes.columns or volumes.empty:
        return volumes
    chosen = int(volumes["year"].max()) if year is None else year
    return volumes.loc[volumes["year"] == chosen].reset_index(drop=True)


def _volume_rows(
    spec: VolumesInput, source: VolumeSource, scoring: Scoring | None, yearly: bool
) -> tuple[pd.DataFrame, list[Finding], dict[str, str]]:
    """One file's volume values (`_long_volumes`) with their file (and year), the file's own findings, and its
    resolved columns. DuckDB scans (Parquet, large files) read only the mapped columns and kept codes."""
    required = ("account",) if spec.wide else ("account", "code", "volume")

    def wide_columns(header: list[str], cols: dict[str, str]) -> list[str]:
        _check_wide_columns(header, spec, str(source.path))
        kept = codes_kept([_normalize_code(code) for code in spec.wide.values()], scoring) if scoring else None
        return [c for i, c in enumerate(spec.wide) if kept is None or kept[i]]

    def summed(cols: dict[str, str]) -> SumBy | None:  # duplicates: sum adds rows alike up; a scan does it first
        keys = tuple(cols[k] for k in ("period", "year") if k in cols)
        return SumBy(cols["account"], cols["code"], cols["volume"], keys, spec.missing)

    table, cols = open_table(
        source.path, spec.encoding, spec.engine, spec.columns, required, "inputs.volumes",
        extra=wide_columns if spec.wide else None, scoring=None if spec.wide else scoring,
        sum_by=summed if spec.duplicates == "sum" and not spec.wide else None,
    )  # fmt: skip
    effective = spec
    if spec.wide and table.scanned:  # the scan left out the columns of codes no rule names
        effective = dataclasses.replace(spec, wide={c: k for c, k in spec.wide.items() if c in table.frame.columns})
    long = _long_volumes(table, cols, effective)
    long["file"] = table.name
    if yearly:
        if "year" not in cols:
            long["year_text"] = str(source.year)
        parsed = long["year_text"].str.extract(r"^((?:19|20)\d\d)(?:\.0+)?$", expand=False)
        long["year"] = pd.to_numeric(parsed, errors="coerce").astype("Int64")
    return long, list(table.findings), cols


#: Most procedures one account x code row may hold; more is a unit or column mistake (and breaks the solver).
VOLUME_CAP = 1e9

_THOUSANDS = r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?"


def _negative_hint(value: str) -> str:
    return (
        f"volumes count procedures and must be 0 or more; if {value} is a code for 'no data' (a suppressed cell), "
        f"list it in inputs.volumes.missing, e.g. missing: [\"{value}\"]"
    )


def _check_duplicate_volumes(
    long: pd.DataFrame, bad: np.ndarray, spec: VolumesInput, keys: list[str], column: str, findings: list[Finding]
) -> None:
    """Two rows (file lines) for one account x code x period (x year): each later one is an error (and set aside, in
    `bad`) unless `duplicates: sum`, which adds them up. Columns of one wide row mapped to one code always add up."""
    if spec.duplicates == "sum":
        return
    good = long.loc[~bad]
    if not good.duplicated(subset=keys).any():  # the common case, without the grouping's cost
        return
    first = good.groupby(keys, sort=False)[["line", "file"]].transform("first")  # rows are in file order
    later = good.loc[((good["line"] != first["line"]) | (good["file"] != first["file"])).to_numpy()]
    for i, row in zip(later.index, later.itertuples(), strict=True):
        period = f", period {row.period}" if row.period else ""
        other = first.at[i, "file"]
        where = f"line {first.at[i, 'line']}" + (f" of {other}" if other != row.file else "")
        findings.append(
            Finding(
                row.file,
                f"duplicate volume row: code {row.code}{period} of this account is also on {where}",
                line=int(row.line),
                column=column,
                value=row.account_id,
                hint="give each account x code (x period) one row, or set inputs.volumes.duplicates: sum "
                "to add them up",
            )
        )
        bad[i] = True


def _long_volumes(table: Table, cols: dict[str, str], spec: VolumesInput) -> pd.DataFrame:
    """account_id, code, text (the raw volume), period, line and the volume's source column, one row per value."""
    raw = _stripped(table, [*cols.values(), *(c for c in spec.wide if c in table.frame.columns)])
    base = {
        "account_id": raw[cols["account"]],
        "period": raw[cols["period"]] if "period" in cols else "",
        "year_text": raw[cols["year"]] if "year" in cols else "",
        "line": table.lines,
        "row_bad": table.bad,
    }
    if not spec.wide:
        return pd.DataFrame(
            base
            | {
                "code": per_value(raw[cols["code"]], lambda codes: codes.map(_normalize_code)),
                "text": raw[cols["volume"]],
                "column": cols["volume"],
            }
        )
    _check_wide_columns(list(raw.columns), spec, table.name)
    parts = [
        pd.DataFrame(base | {"code": _normalize_code(code), "text": raw[column], "column": column})
        for column, code in spec.wide.items()
    ]
    if not parts:  # every code column left out by a scan: no values
        return pd.DataFrame(base | {"code": "", "text": "", "column": ""}).iloc[:0]
    return pd.concat(parts, ignore_index=True).sort_values(["line", "code"], kind="stable", ignore_index=True)


def _check_wide_columns(header: list[str], spec: VolumesInput, name: str) -> None:
    """Every column inputs.volumes.wide names is in the header."""
    absent = [c for c in spec.wide if c not in header]
    if absent:
        raise InputError(
            f"{name}: the header does not match the config",
            [
                Finding(
                    name,
                    "column named in inputs.volumes.wide is not in the header",
                    line=1,
                    column=c,
                    hint=f"did you mean '{closest(c, header)}'?" if closest(c, header) else None,
                )
                for c in absent
            ],
        )


def _normalize_code(code: str) -> str:
    """'27447.0' (a code column read as numbers somewhere upstream) -> '27447'; codes are text otherwise."""
    if code.endswith(".0") and code[:-2].isdigit():
        return code[:-2]
    return code.upper()


# -- alignments -------------------------------------------------------------------------------------------------


def read_alignment(path: Path) -> Table:
    """An alignment file: territory and account_id, or territory and zip (every account of the ZIP goes there).
    Other columns, e.g. of an assignments.csv, are kept."""
    table = read_table(path)
    findings: list[Finding] = []
    renames = {}  # 'Account_ID', 'TERRITORY': our names, matched like the standard columns
    for name in ("territory", "account_id", "zip"):
        found = find_column(list(table.frame.columns), name, table.name, None, findings)
        if found is not None and found != name and name not in table.frame.columns:
            renames[found] = name
    if findings:
        raise InputError(f"{table.name}: not an alignment file", findings)
    table = dataclasses.replace(table, frame=table.frame.rename(columns=renames))
    header = list(table.frame.columns)
    keys = [name for name in ("account_id", "zip") if name in header]
    if "territory" not in header:
        findings.append(
            Finding(table.name, "missing required column 'territory'", line=1,
                    hint=f"an alignment has columns account_id (or zip) and territory; closest here: "
                    f"{closest('territory', header)}")
        )  # fmt: skip
    if not keys:
        findings.append(
            Finding(table.name, "missing required column 'account_id' (or 'zip')", line=1,
                    hint=f"an alignment has columns account_id (or zip) and territory; closest here: "
                    f"{closest('account_id', header)}")
        )  # fmt: skip
    if findings:
        raise InputError(f"{table.name}: not an alignment file", findings)
    # Our own assignments.csv has formula-like names escaped ('=T1): take the quote off so they match again.
    frame = table.frame.assign(territory=table.frame["territory"].str.strip().map(unescape_formula))
    if "account_id" in header:
        frame = frame.assign(account_id=frame["account_id"].str.strip().map(unescape_formula))
    else:
        frame = frame.assign(zip=[normalize_zip(z) or str(z).strip() for z in frame["zip"]])
    return Table(table.name, frame, table.lines)


# -- reps -------------------------------------------------------------------------------------------------------


def read_reps(spec: RepsInput, path: Path) -> pd.DataFrame:
    """The rep roster: rep_id, name, home zip/lat/lon, fte, territory. Any bad row stops the run (exit 3): a
    roster is small and every row of it matters. A row without a name is a vacancy."""
    table = read_table(path, spec.encoding)
    cols = resolve_columns(table, spec.columns, ("id",), "inputs.reps")
    raw = _stripped(table, cols.values())
    out = pd.DataFrame({"rep_id": raw[cols["id"]].str.strip(), "line": table.lines})
    for field_name in ("name", "territory"):
        out[field_name] = raw[cols[field_name]].str.strip() if field_name in cols else ""
    findings: list[Finding] = []
    bad = (out["rep_id"] == "").to_numpy().copy()
    for line in out["line"][bad]:
        findings.append(
            Finding(table.name, "blank rep id", line=int(line), column=cols["id"], hint="every rep needs an id")
        )
    duplicated = out["rep_id"].duplicated() & ~bad
    for row in out.loc[duplicated].itertuples():
        findings.append(
            Finding(table.name, "duplicate rep id", line=int(row.line), column=cols["id"], value=row.rep_id)
        )
    bad |= duplicated.to_numpy()
    named = out.loc[out["territory"] != ""]
    first_line = named.groupby("territory")["line"].transform("min")
    for row, first in zip(named.itertuples(), first_line, strict=True):
        if row.line != first:
            findings.append(
                Finding(
                    table.name,
                    f"two reps with the same territory (lines {first} and {row.line})",
                    line=int(row.line),
                    column=cols["territory"],
                    value=row.territory,
                    hint="each roster row is one territory: give it its own name, or leave it blank",
                )
            )
    fte_text = raw[cols["fte"]].str.strip() if "fte" in cols else pd.Series("1", index=raw.index)
    fte = _numbers(fte_text.replace("", "1"))
    wrong = ~(fte > 0) | ~np.isfinite(fte)
    for i in np.flatnonzero(wrong & ~bad):
        findings.append(
            Finding(
                table.name,
                "FTE must be a number above 0",
                line=int(out["line"].iloc[i]),
                column=cols.get("fte"),
                value=fte_text.iloc[i],
                hint=DECIMAL_COMMA_HINT if "," in fte_text.iloc[i] else "1.0 for a full-time rep, 0.5 for half",
            )
        )
    bad |= wrong
    out["fte"] = fte
    bad |= _locate(raw, cols, out, table.name, findings, bad, "rep")[0]
    if findings:
        raise InputError(f"{table.name}: the rep roster has {len(findings)} problem(s)", findings)
    out["vacant"] = out["name"].str.upper().isin(["", "VACANT"])
    return out.reset_index(drop=True)
