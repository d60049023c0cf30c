"""Out-of-core scans of large data files with DuckDB: CSV, gzip CSV and Parquet, read as text.

Only the columns a reader asks for leave DuckDB, for volumes only the rows whose code a scoring rule names
(`code_filter`), added up per account and code under `duplicates: sum` (`SumBy`), and of a long accounts file only
each account's first row, so a 10-million-row claims file of which five codes are kept never sits in pandas.
The rows keep their file line (for a CSV, the record number + 1: exact unless a quoted field with a line break or
a blank line comes before the row), and rows DuckDB cannot parse (more or fewer fields than the header, a quote that
never closes) come back as findings with their line, as the row-by-row reader reports them.

Text from the files and the config is data: paths and values reach DuckDB as bound parameters, column names as
quoted identifiers, never as SQL text of their own.
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from terrplan.config import Scoring
from terrplan.errors import Finding, InputError

#: CSV files this large (bytes on disk; a gzip file counts 4 times its size) are scanned with DuckDB under
#: `engine: auto`; below it the row-by-row reader is as fast (the sample: 0.1 s) and keeps every edge case.
DUCKDB_AUTO_BYTES = 128 * 2**20

#: Encodings DuckDB's CSV reader decodes itself; others take the row-by-row reader (engine: auto) or are refused.
DUCKDB_ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "utf-8-sig": "utf-8", "latin-1": "latin-1",
                    "latin1": "latin-1", "iso-8859-1": "latin-1", "utf-16": "utf-16"}  # fmt: skip

#: Unparseable rows reported before the scan gives up listing them (the row-by-row reader has no cap: its files fit
#: in memory; a broken export of 10 million rows would otherwise give 10 million findings).
REJECT_CAP = 1000


def is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def is_gzip(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


def use_duckdb(path: Path, engine: str, encoding: str) -> bool:
    """Whether `path` is scanned with DuckDB: the one place that decides (README, "Large files").

    Parquet always; `engine: duckdb` always; `engine: pandas` never; `auto`: CSV (or gzip CSV) files of at least
    DUCKDB_AUTO_BYTES in an encoding DuckDB decodes. stdin is never scanned (it is read once, row by row)."""
    if str(path) == "-":
        return False
    if is_parquet(path) or engine == "duckdb":
        return True
    if engine == "pandas" or encoding.lower().replace("_", "-") not in DUCKDB_ENCODINGS:
        return False
    try:
        size = path.stat().st_size
    except OSError:  # missing: the reader that opens it says so
        return False
    return size * (4 if is_gzip(path) else 1) >= DUCKDB_AUTO_BYTES


def read_header(path: Path, encoding: str) -> list[str]:
    """The file's column names as written (a CSV's first record, a Parquet file's schema)."""
    name = str(path)
    if not path.exists():
        raise InputError(f"{name}: file not found", [Finding(name, "file not found", hint="check the path")])
    if path.is_dir():
        raise InputError(f"{name}: is a directory, expected a CSV file")
    if is_parquet(path):
        con = _connect()
        try:
            return [row[0] for row in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [name]).fetchall()]
        except Exception as exc:  # duckdb's errors share no base class worth naming here
            raise InputError(f"{name}: not a readable Parquet file", [Finding(name, _first_line(exc))]) from None
    opener = gzip.open if is_gzip(path) else open
    codec = "utf-8-sig" if DUCKDB_ENCODINGS.get(encoding.lower().replace("_", "-")) == "utf-8" else encoding
    try:
        with opener(path, "rt", encoding=codec, newline="") as handle:  # type: ignore[operator]
            reader = csv.reader(handle)
            for record in reader:
                if not record:
                    continue
                if reader.line_num != 1:  # DuckDB takes line 1 as the header: blank lines first would shift it
                    raise InputError(
                        f"{name}: the header is not on line 1",
                        [Finding(name, "blank lines before the header", line=reader.line_num,
                                 hint="remove the blank lines above the header, or set the input's engine: pandas")],
                    )  # fmt: skip
                return record
    except (UnicodeDecodeError, OSError, EOFError, csv.Error) as exc:
        raise InputError(
            f"{name}: cannot read the header",
            [Finding(name, f"cannot read the header: {exc}", line=1,
                     hint="a CSV (or gzip CSV) with a header line; set the input's `encoding` if it is not UTF-8")],
        ) from None  # fmt: skip
    except LookupError:
        raise InputError(f"{name}: unknown encoding {encoding!r} in the config") from None
    raise InputError(f"{name}: the file is empty", [Finding(name, "no header and no rows", hint="expected a header")])


@dataclass(frozen=True)
class Scan:
    """The asked columns of the kept rows as text ('' for blank), each row's file line, and the rows DuckDB could
    not parse as findings (their lines are not in `frame`)."""

    frame: pd.DataFrame
    lines: np.ndarray
    findings: tuple[Finding, ...]
    empty_rows: int = 0


@dataclass(frozen=True)
class SumBy:
    """Volume rows alike (account, code and `keys`, e.g. period and year) added up in DuckDB, as `duplicates: sum`
    adds them: only rows whose volume is a plain number (digits, a dot, at most 10 decimals; not a `missing` value)
    with an account and a code; every other row comes through as it is, for the reader's checks to name it."""

    account: str
    code: str
    volume: str
    keys: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()


def scan(
    path: Path,
    header: list[str],
    columns: list[str],
    encoding: str = "utf-8",
    code_column: str | None = None,
    scoring: Scoring | None = None,
    first_per: str | None = None,
    sum_by: SumBy | None = None,
) -> Scan:
    """`columns` (names from `header`, the reader's cleaned names in file order) of the rows of `path`.

    With `code_column` and `scoring`, only rows whose code a scoring rule can match (`code_filter`); with
    `first_per`, only the first row of each (stripped) value of that column, as a long accounts file is read; with
    `sum_by`, rows alike added up (their first line and row speak for them)."""
    name = str(path)
    con = _connect()
    params: list[object] = [name]
    if is_parquet(path):
        # Parquet keeps its own types and names: read by position under the cleaned names, as text.
        source = "read_parquet(?, file_row_number = true)"
        raw = [row[0] for row in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [name]).fetchall()]
        select = ", ".join(f"CAST({_ident(raw[header.index(c)])} AS VARCHAR) AS {_ident(c)}" for c in columns)
        numbered = f"SELECT file_row_number + 2 AS line, {select} FROM {source}"
    else:
        codec = DUCKDB_ENCODINGS.get(encoding.lower().replace("_", "-"))
        if codec is None:
            raise InputError(
                f"{name}: DuckDB cannot decode {encoding}",
                [Finding(name, f"encoding {encoding} is not one DuckDB reads", hint="re-save the file as UTF-8, or "
                         "set the input's engine: pandas (the row-by-row reader decodes any encoding)")],
            )  # fmt: skip
        types = "{" + ", ".join(f"{_literal(c)}: 'VARCHAR'" for c in header) + "}"
        source = (
            f"read_csv(?, header = true, auto_detect = false, columns = {types}, delim = ',', quote = '\"', "
            f"escape = '\"', encoding = ?, ignore_errors = true, store_rejects = true, "
            f"compression = '{'gzip' if is_gzip(path) else 'none'}')"
        )
        params.append(codec)
        select = ", ".join(f"{_ident(c)}" for c in columns)
        # row_number() runs over the scan in file order (DuckDB keeps insertion order), before any filter.
        numbered = f"SELECT row_number() OVER () + 1 AS line, {select} FROM {source}"
    query = f"SELECT * FROM ({numbered}) AS scanned"
    if code_column is not None and scoring is not None:
        condition, values = code_filter("__terrplan_code", scoring)
        if condition is not None:  # the code normalized once per row, then tested against every rule
            normalized = _normalized_code(_ident(code_column))
            coded = f"SELECT *, {normalized} AS __terrplan_code FROM ({numbered})"
            query = f"SELECT * EXCLUDE (__terrplan_code) FROM ({coded}) WHERE {condition}"
            params.extend(values)
    if sum_by is not None:
        query, values = _summed(query, columns, sum_by)
        params.extend(values)
    if first_per is not None:  # the first row of each id by line: a hash aggregate (read_accounts then strips ids)
        firsts = ", ".join(f"arg_min({_ident(c)}, line) AS {_ident(c)}" for c in columns)
        query = f"SELECT min(line) AS line, {firsts} FROM ({query}) AS kept GROUP BY {_ident(first_per)}"
    try:
        frame = con.execute(query, params).df()
        rejects = [] if is_parquet(path) else _rejects(con, name)
        rejected = np.zeros(0, dtype=np.int64)
        if rejects:  # every rejected row's line (few columns: cheap), for the lines of the rows after them
            query = "SELECT line FROM reject_errors ORDER BY line"
            rejected = np.unique(np.array([row[0] for row in con.execute(query).fetchall()], dtype=np.int64))
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{name}: not a readable file", [Finding(name, _first_line(exc), hint=_READ_HINT)]) from None
    finally:
        con.close()
    if len(frame) > 1 and not (np.diff(frame["line"].to_numpy()) > 0).all():  # groups come in no order
        frame = frame.sort_values("line", kind="stable", ignore_index=True)
    frame = frame.fillna("").astype(object)
    lines = frame.pop("line").to_numpy(dtype=np.int64)
    if len(rejected):
        lines = _skip_rejected(lines, rejected)
    empty = np.zeros(len(frame), dtype=bool)
    if columns:
        empty |= (frame[columns[0]].str.strip() == "").to_numpy(dtype=bool)
    for column in columns[1:]:  # only the few rows blank so far are looked at again
        rows = np.flatnonzero(empty)
        empty[rows] = (frame[column].iloc[rows].str.strip() == "").to_numpy()
    frame, lines = frame.loc[~empty].reset_index(drop=True), lines[~empty]
    findings = tuple(finding for _, finding in rejects)
    return Scan(frame, lines, findings, int(empty.sum()))


def _summed(query: str, columns: list[str], by: SumBy) -> tuple[str, list[object]]:
    """`query`'s rows with the plain-number rows alike added up (exactly, as decimals), the others as they are."""
    volume = f"trim({_ident(by.volume)}, {_WHITESPACE})"
    account = f"trim({_ident(by.account)}, {_WHITESPACE})"
    code = _normalized_code(_ident(by.code))
    missing = f" AND {volume} NOT IN ({', '.join('?' * len(by.missing))})" if by.missing else ""
    plain = f"regexp_full_match({volume}, '[0-9]{{1,27}}([.][0-9]{{1,10}})?') AND {account} <> '' AND {code} <> ''"
    keys = [account, code, *(f"trim(coalesce({_ident(k)}, ''), {_WHITESPACE})" for k in by.keys)]
    picked = []
    for column in columns:  # the first row's values, but the sum's volume (as exact text: 182.0000000000)
        if column == by.volume:
            picked.append(f"CAST(sum(CAST({volume} AS DECIMAL(38, 10))) AS VARCHAR) AS {_ident(column)}")
        else:
            picked.append(f"arg_min({_ident(column)}, line) AS {_ident(column)}")
    names = ", ".join(_ident(c) for c in columns)
    summed = (
        f"WITH kept AS MATERIALIZED ({query}) "
        f"SELECT line, {names} FROM kept WHERE NOT coalesce({plain}{missing}, false) "
        f"UNION ALL SELECT min(line) AS line, {', '.join(picked)} FROM kept WHERE {plain}{missing} "
        f"GROUP BY {', '.join(keys)}"
    )
    return summed, [*by.missing, *by.missing]


def code_filter(code: str, scoring: Scoring) -> tuple[str | None, list[object]]:
    """A SQL condition on the normalized code expression `code` (with its bound values) true for every code that
    some rule of `scoring` matches, as score.code_matches reads a pattern ('27447', '274*', '27440-27447'); None
    when every code counts (default_weight above 0). Codes that no rule names weigh 0 and are not read."""
    if scoring.default_weight > 0:
        return None, []
    patterns = [p for p, weight in scoring.weights.items() if weight > 0]
    patterns += [p for group in scoring.groups if group.weight > 0 for p in group.codes]
    if not patterns:
        return "FALSE", []
    parts: list[str] = []
    values: list[object] = []
    exact = sorted({p.strip().upper() for p in patterns if not p.strip().endswith("*") and "-" not in p})
    if exact:  # the common case, one hash lookup per row
        parts.append(f"{code} IN ({', '.join('?' * len(exact))})")
        values.extend(exact)
    for raw in patterns:
        pattern = raw.strip().upper()
        if pattern in exact:
            continue
        if pattern.endswith("*"):
            parts.append(f"starts_with({code}, ?)")
            values.append(pattern[:-1])
        elif "-" in pattern:
            low, high = (p.strip() for p in pattern.split("-", 1))
            if low.isdigit() and high.isdigit():
                parts.append(f"(regexp_full_match({code}, '[0-9]+') AND TRY_CAST({code} AS HUGEINT) BETWEEN ? AND ?)")
                values.extend([int(low), int(high)])
            else:
                parts.append(f"(length({code}) = ? AND {code} BETWEEN ? AND ?)")
                values.extend([len(low), low, high])
    return "(" + " OR ".join(parts) + ")", values


def codes_kept(codes: list[str], scoring: Scoring) -> list[bool]:
    """For each code, whether `code_filter` keeps it (the columns of a wide file are codes)."""
    condition, values = code_filter("code", scoring)
    if condition is None:
        return [True] * len(codes)
    con = _connect()
    try:
        frame = pd.DataFrame({"code": codes, "i": range(len(codes))})
        con.register("codes", frame)
        kept = {row[0] for row in con.execute(f"SELECT i FROM codes WHERE {condition}", values).fetchall()}
    finally:
        con.close()
    return [i in kept for i in range(len(codes))]


def _normalized_code(column: str) -> str:
    """SQL for read._normalize_code of the stripped value: '27447.0' -> '27447', else upper case."""
    stripped = f"trim(coalesce({column}, ''), {_WHITESPACE})"
    number = f"suffix({stripped}, '.0') AND regexp_full_match({stripped}, '[0-9]+[.]0')"  # suffix first: cheap
    return f"(CASE WHEN {number} THEN left({stripped}, length({stripped}) - 2) ELSE upper({stripped}) END)"


#: The characters str.strip() takes off that can be in a CSV field (ASCII whitespace, NBSP), as a SQL literal.
_WHITESPACE = "' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13) || chr(160)"


def _rejects(con, name: str) -> list[tuple[int, Finding]]:
    """Rows the CSV scan set aside, as (line, finding), the first REJECT_CAP of them."""
    rows = con.execute(
        "SELECT line, error_type, csv_line, column_idx FROM reject_errors ORDER BY line LIMIT ?", [REJECT_CAP]
    ).fetchall()
    out = []
    for line, kind, text, _ in rows:
        kind = str(kind)
        if kind == "TOO MANY COLUMNS":
            message = "the row has more fields than the header"
            hint = 'a comma inside a value splits it: quote the value ("Smith, John") or remove the extra field'
        elif kind == "MISSING COLUMNS":
            message = "the row has fewer fields than the header"
            hint = "every row needs a field for each column (blank is fine: two commas in a row)"
        elif "QUOTE" in kind:
            message, hint = "a quoted field never closes", _QUOTE_HINT
        else:
            message, hint = f"cannot read the row ({kind.lower()})", _READ_HINT
        value = str(text or "").strip()
        out.append((int(line), Finding(name, message, line=int(line), value=value[:59] + "…" if len(value) > 60
                                       else value, hint=hint)))  # fmt: skip
    return out


def _skip_rejected(lines: np.ndarray, rejected: np.ndarray) -> np.ndarray:
    """Row numbers counted over the parsed rows (+ 1) -> file lines, stepping over the rejected rows' lines (sorted,
    unique): the k-th line not rejected is k + the number of rejected lines r_j with r_j - j < k (j from 1)."""
    before = rejected - np.arange(1, len(rejected) + 1)
    return lines + np.searchsorted(before, lines, side="left")


_QUOTE_HINT = 'a value starting with a quote (") runs to the next quote; close it, or double quotes inside ("")'
_READ_HINT = "check the file is a CSV (comma-separated, header line) or a Parquet file"


def _connect():
    import duckdb  # imported here: the solver stack and small runs never pay for it

    # stderr is ours (DESIGN.md §6): no progress bar of DuckDB's own
    con = duckdb.connect(config={"preserve_insertion_order": True})
    con.execute("SET enable_progress_bar = false")
    return con


def _ident(name: str) -> str:
    """A column name as a quoted SQL identifier (any text is safe inside)."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    """A string literal for the one place a name must be SQL text (read_csv's column-types struct)."""
    return "'" + text.replace("'", "''") + "'"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


__all__ = ["Scan", "code_filter", "codes_kept", "read_header", "scan", "use_duckdb"]
