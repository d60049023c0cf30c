"""CSV / stdin -> validated DataFrames.

Every row-level defect is collected as a `Finding` (file, line, column, value, hint) instead of stopping at the
first; the caller decides whether they stop the run or go to the rejects file. File-level defects (missing,
empty, not UTF-8, a mapped column absent) raise `InputError` at once.
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from terrplan.config import AccountsInput, RepsInput, VolumesInput
from terrplan.errors import Finding, InputError, closest
from terrplan.geo import normalize_zip, zip_table

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
}

ACCOUNT_TEXT_FIELDS = ("name", "type", "specialty", "address", "city", "state", "system", "territory")


@dataclass(frozen=True)
class Table:
    """A CSV read as text, with the 1-based file line of each row (for messages)."""

    name: str
    frame: pd.DataFrame
    lines: np.ndarray
    empty_rows: int = 0  # rows with every field blank, left out


def read_table(path: Path, encoding: str = "utf-8") -> Table:
    """Read a CSV (or stdin for '-') as text columns, refusing empty and undecodable files with a clear message."""
    name = "<stdin>" if str(path) == "-" else str(path)
    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except FileNotFoundError:
        raise InputError(
            f"{name}: file not found", [Finding(name, "file not found", hint="check the path in the config")]
        ) from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory, expected a CSV file") from None
    text = _decode(data, name, encoding)
    if not text.strip():
        raise InputError(
            f"{name}: the file is empty",
            [Finding(name, "no header and no rows", hint="expected a CSV with a header line")],
        )
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False, skip_blank_lines=True)
    except pd.errors.ParserError as exc:
        raise InputError(f"{name}: not a readable CSV: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    # Rows of nothing but separators (",,,,") carry no data: drop them, but count them for the log.
    empty = (frame == "").all(axis=1).to_numpy()
    # Physical line of each row: header is line 1; blank lines are skipped by the parser, so count them back in.
    lines = _row_lines(text, len(frame))
    if empty.any():
        frame, lines = frame.loc[~empty].reset_index(drop=True), lines[~empty]
    if frame.empty:
        raise InputError(f"{name}: the file has a header but no rows", [Finding(name, "no data rows", line=2)])
    return Table(name, frame, lines, int(empty.sum()))


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


def _row_lines(text: str, n_rows: int) -> np.ndarray:
    """Line number of each data row, assuming no newlines inside quoted fields (then it is approximate)."""
    lines = [i + 1 for i, line in enumerate(text.splitlines()) if line.strip()]
    rows = np.array(lines[1 : n_rows + 1], dtype=np.int64)
    if len(rows) < n_rows:  # quoted newlines: fall back to row order
        rows = np.arange(2, n_rows + 2, dtype=np.int64)
    return rows


def resolve_columns(table: Table, mapping: object, required: tuple[str, ...], section: str) -> dict[str, str]:
    """field -> column in `table`, from explicit mapping or standard names; explicit names must exist."""
    header = list(table.frame.columns)
    resolved: dict[str, str] = {}
    findings: list[Finding] = []
    for f in fields(mapping):  # type: ignore[arg-type]
        explicit = getattr(mapping, f.name)
        if explicit is not None:
            if explicit in header:
                resolved[f.name] = explicit
            else:
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
            if candidate in header:
                resolved[f.name] = candidate
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


# -- accounts ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountsRead:
    accounts: pd.DataFrame  # usable rows: account_id, text fields, zip, lat, lon, line
    findings: list[Finding]  # one per row that cannot be used
    rejected_ids: set[str]  # so their volume rows are set aside with them, not reported as unknown
    empty_rows: int  # rows with every field blank, left out


def read_accounts(spec: AccountsInput, path: Path) -> AccountsRead:
    """Accounts with id, text attributes, zip and lat/lon, and findings on the rows that cannot be used.

    Rows are located here: lat/lon when given and valid, else the ZIP centroid from the offline table.
    """
    table = read_table(path, spec.encoding)
    cols = resolve_columns(table, spec.columns, ("id",), "inputs.accounts")
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
    raw = table.frame
    out = pd.DataFrame({"account_id": raw[cols["id"]].str.strip()})
    for name in ACCOUNT_TEXT_FIELDS:
        out[name] = raw[cols[name]].str.strip() if name in cols else ""
    out["line"] = table.lines
    if not spec.one_row_per_account:  # a long file: the first row of each account speaks for it
        first = ~out["account_id"].duplicated().to_numpy()
        out = out.loc[first].reset_index(drop=True)
        raw = raw.loc[first].reset_index(drop=True)
    findings: list[Finding] = []
    bad = np.zeros(len(out), dtype=bool)

    blank = (out["account_id"] == "").to_numpy()
    for line in out["line"][blank]:
        findings.append(
            Finding(table.name, "blank account id", line=int(line), column=cols["id"], hint="every row needs an id")
        )
    bad |= blank

    bad |= _check_duplicates(out, table.name, cols["id"], spec.one_row_per_account, findings, blank)

    bad |= _locate(raw, cols, out, table.name, findings, bad, "account")
    usable = out.loc[~bad]
    rejected = set(out.loc[bad, "account_id"]) - set(usable["account_id"]) - {""}
    return AccountsRead(usable.reset_index(drop=True), findings, rejected, table.empty_rows)


def _locate(
    raw: pd.DataFrame,
    cols: dict[str, str],
    out: pd.DataFrame,
    name: str,
    findings: list[Finding],
    bad: np.ndarray,
    what: str,
) -> np.ndarray:
    """Fill out's zip, lat and lon: lat/lon when given and valid, else the ZIP centroid. Returns rows that cannot
    be placed (or have bad coordinates), each with a finding."""
    zips = raw[cols["zip"]] if "zip" in cols else pd.Series("", index=raw.index)
    out["zip"] = zips.map(normalize_zip)
    lat, lon, coord_bad = _parse_coordinates(raw, cols, out, name, findings)
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
    return coord_bad | unplaced


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
    raw: pd.DataFrame, cols: dict[str, str], out: pd.DataFrame, name: str, findings: list[Finding]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(raw)
    lat = np.full(n, np.nan)
    lon = np.full(n, np.nan)
    bad = np.zeros(n, dtype=bool)
    for field_name, limit, target in (("lat", 90.0, lat), ("lon", 180.0, lon)):
        if field_name not in cols:
            continue
        text = raw[cols[field_name]].str.strip()
        values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
        given = (text != "").to_numpy()
        wrong = given & (~np.isfinite(values) | (np.abs(values) > limit))
        for i in np.flatnonzero(wrong):
            findings.append(
                Finding(
                    name,
                    f"{'latitude' if field_name == 'lat' else 'longitude'} must be a number in [-{limit:g}, {limit:g}]",
                    line=int(out["line"].iloc[i]),
                    column=cols[field_name],
                    value=text.iloc[i],
                    hint="lat/lon in decimal degrees; swapped columns? leave blank to place by ZIP",
                )
            )
        bad |= wrong
        target[given & ~wrong] = values[given & ~wrong]
    return lat, lon, bad


# -- volumes ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VolumesRead:
    volumes: pd.DataFrame  # account_id, code, volume, period
    findings: list[Finding]
    missing: int  # values the config declares as "no data" (e.g. CMS's N/A for suppressed cells), left out


def read_volumes(
    spec: VolumesInput, path: Path, account_ids: pd.Series, known_bad_ids: set[str] | None = None
) -> VolumesRead:
    """Volumes for known accounts, from a long file (one row per account x code) or a wide one (one column per
    code, `spec.wide`); findings for rows that cannot be used.

    Rows of accounts that were themselves rejected (`known_bad_ids`) go with the account, not reported twice.
    """
    table = read_table(path, spec.encoding)
    required = ("account",) if spec.wide else ("account", "code", "volume")
    cols = resolve_columns(table, spec.columns, required, "inputs.volumes")
    long = _long_volumes(table, cols, spec)
    if spec.periods:  # rows of other periods are not defects, just not wanted
        long = long.loc[long["period"].isin(spec.periods)].reset_index(drop=True)
    declared_missing = long["text"].isin(spec.missing).to_numpy()
    missing = int(declared_missing.sum())
    long = long.loc[~declared_missing].reset_index(drop=True)
    text = long["text"].str.replace(",", "", regex=False)
    volume = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    long["volume"] = volume
    findings: list[Finding] = []
    bad = long["account_id"].isin(known_bad_ids or set()).to_numpy().copy()

    def report(mask: np.ndarray, message: str, values: pd.Series, hint: str, column: str | None = None) -> None:
        nonlocal bad
        mask = mask & ~bad
        for i in np.flatnonzero(mask):
            findings.append(
                Finding(
                    table.name,
                    message,
                    line=int(long["line"].iloc[i]),
                    column=column or long["column"].iloc[i],
                    value=str(values.iloc[i]),
                    hint=hint,
                )
            )
        bad |= mask

    account = cols["account"]
    ids = long["account_id"]
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
        cols.get("code"),
    )
    report(np.isnan(volume) & (text == "").to_numpy(), "blank volume", text, "use 0 for no procedures")
    hint = "expected a number of procedures, e.g. 42"
    if not spec.missing:
        hint += "; if this value means 'no data' (e.g. N/A), list it in inputs.volumes.missing"
    report(~np.isfinite(volume), "volume is not a number", text, hint)
    report(volume < 0, "negative volume", text, "volumes count procedures and must be 0 or more")
    usable = long.loc[~bad, ["account_id", "code", "volume", "period"]].reset_index(drop=True)
    return VolumesRead(usable, findings, missing)


def _long_volumes(table: Table, cols: dict[str, str], spec: VolumesInput) -> pd.DataFrame:
    """account_id, code, text (the raw volume), period, line and the volume's source column, one row per value."""
    raw = table.frame
    base = {
        "account_id": raw[cols["account"]].str.strip(),
        "period": raw[cols["period"]].str.strip() if "period" in cols else "",
        "line": table.lines,
    }
    if not spec.wide:
        return pd.DataFrame(
            base
            | {
                "code": raw[cols["code"]].str.strip().map(_normalize_code),
                "text": raw[cols["volume"]].str.strip(),
                "column": cols["volume"],
            }
        )
    absent = [c for c in spec.wide if c not in raw.columns]
    if absent:
        header = list(raw.columns)
        raise InputError(
            f"{table.name}: the header does not match the config",
            [
                Finding(
                    table.name,
                    "column named in inputs.volumes.wide is not in the header",
                    line=1,
                    column=c,
                    hint=f"did you mean '{closest(c, header)}'?" if closest(c, header) else None,
                )
                for c in absent
            ],
        )
    parts = [
        pd.DataFrame(base | {"code": _normalize_code(code), "text": raw[column].str.strip(), "column": column})
        for column, code in spec.wide.items()
    ]
    return pd.concat(parts, ignore_index=True).sort_values(["line", "code"], kind="stable", ignore_index=True)


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
    header = list(table.frame.columns)
    keys = [name for name in ("account_id", "zip") if name in header]
    findings = []
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
    frame = table.frame.assign(territory=table.frame["territory"].str.strip())
    if "account_id" in header:
        frame = frame.assign(account_id=frame["account_id"].str.strip())
    else:
        frame = frame.assign(zip=[normalize_zip(z) or str(z).strip() for z in frame["zip"]])
    return Table(table.name, frame, table.lines)


# -- reps -------------------------------------------------------------------------------------------------------


def read_reps(spec: RepsInput, path: Path) -> pd.DataFrame:
    """The rep roster: rep_id, name, home zip/lat/lon, fte, territory. Any bad row stops the run (exit 3): a
    roster is small and every row of it matters. A row without a name is a vacancy."""
    table = read_table(path, spec.encoding)
    cols = resolve_columns(table, spec.columns, ("id",), "inputs.reps")
    raw = table.frame
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
    fte_text = raw[cols["fte"]].str.strip() if "fte" in cols else pd.Series("1", index=raw.index)
    fte = pd.to_numeric(fte_text.replace("", "1"), errors="coerce").to_numpy(dtype=float)
    wrong = ~(fte > 0) | ~np.isfinite(fte)
    for i in np.flatnonzero(wrong & ~bad):
        findings.append(
            Finding(
                table.name,
                "FTE must be a number above 0",
                line=int(out["line"].iloc[i]),
                column=cols.get("fte"),
                value=fte_text.iloc[i],
                hint="1.0 for a full-time rep, 0.5 for half",
            )
        )
    bad |= wrong
    out["fte"] = fte
    bad |= _locate(raw, cols, out, table.name, findings, bad, "rep")
    if findings:
        raise InputError(f"{table.name}: the rep roster has {len(findings)} problem(s)", findings)
    out["vacant"] = out["name"].str.upper().isin(["", "VACANT"])
    return out.reset_index(drop=True)
