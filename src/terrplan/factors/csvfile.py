"""The factor files (competition, adoption, affiliations, Open Payments) read as text, with file/line errors."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from terrplan.errors import Finding, InputError, closest


@dataclass(frozen=True)
class TextTable:
    """A CSV as text columns, with the file line each row starts on."""

    name: str
    frame: pd.DataFrame
    lines: np.ndarray

    def column(self, given: str | None, standard: tuple[str, ...], key: str, required: bool = True) -> str | None:
        """The column a config key names (it must exist), else the first standard name present (any case)."""
        header = list(self.frame.columns)
        if given is not None:
            if given in header:
                return given
            close = closest(given, header)
            raise InputError(
                f"{self.name}: column '{given}' is not in the header",
                [
                    Finding(
                        self.name,
                        f"column named in {key} is not in the header",
                        line=1,
                        column=given,
                        hint=f"did you mean '{close}'?" if close else f"the file has: {', '.join(header[:15])}",
                    )
                ],
            )
        folded = {name.lower(): name for name in header}
        for name in standard:
            if name.lower() in folded:
                return folded[name.lower()]
        if not required:
            return None
        raise InputError(
            f"{self.name}: no {standard[0]} column",
            [
                Finding(
                    self.name,
                    f"expected a column named {' or '.join(standard)}",
                    line=1,
                    hint=f"name the column in {key}; the file has: {', '.join(header[:15])}",
                )
            ],
        )


def read_text_table(path: Path, encoding: str = "utf-8") -> TextTable:
    """Every field as text; blank rows skipped; a missing or empty file, bad bytes or a ragged row is an error."""
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"{name}: cannot read the file",
            [Finding(name, exc.strerror or "cannot read the file", hint="check the path in the config")],
        ) from None
    try:
        text = data.decode("utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{name}: not {encoding} text",
            [
                Finding(
                    name,
                    f"byte {exc.start} cannot be decoded",
                    line=line,
                    hint="re-save the file as UTF-8, or set the input's encoding",
                )
            ],
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[list[str]] = []
    lines: list[int] = []
    findings: list[Finding] = []
    header: list[str] | None = None
    start = 1
    try:
        for record in reader:
            if header is None:
                if record:
                    header = [field.strip() for field in record]
            elif "".join(record).strip():
                if len(record) != len(header):
                    findings.append(
                        Finding(
                            name,
                            f"the row has {len(record)} fields, the header has {len(header)}",
                            line=start,
                            hint="quote values that hold a comma",
                        )
                    )
                else:
                    rows.append(record)
                    lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(
            f"{name}: not a readable CSV",
            [
                Finding(
                    name, str(exc), line=reader.line_num, hint='close the quoted field, or double quotes inside it ("")'
                )
            ],
        ) from None
    if header is None or (not rows and not findings):
        raise InputError(
            f"{name}: the file is empty",
            [Finding(name, "no header or no rows", hint="expected a CSV with a header line and rows")],
        )
    doubled = sorted({column for column in header if header.count(column) > 1})
    findings.extend(Finding(name, "duplicate column name", line=1, column=c, hint="rename one") for c in doubled)
    if findings:
        raise InputError(f"{name}: {len(findings)} problem(s)", findings)
    return TextTable(name, pd.DataFrame(rows, columns=header, dtype=object), np.array(lines, dtype=np.int64))


def bad_rows(name: str, findings: list[Finding]) -> None:
    """Raise for row problems found by a factor reader: all of them at once, before any work."""
    if findings:
        raise InputError(f"{name}: {len(findings)} row(s) cannot be used", findings)
