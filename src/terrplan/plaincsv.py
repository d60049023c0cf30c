"""A fast, exact reading of *plain* CSV text: no quote, no carriage return, no NUL, and every non-empty line with
exactly the header's number of fields.

Machine-written exports (a million accounts, claims extracts) are plain. For them a CSV record is one physical line
and a field is the text between commas, so pandas' C tokenizer gives the very fields `csv.reader` gives, and the
file line of each row is its physical line, found with numpy on the bytes. Anything else (a quoted field, a row of
the wrong width, `\\r` line ends) is `None`: the caller's row-by-row reader takes it, with its exact reports.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Characters `str.strip` removes that are not ASCII: when a file holds none of them (and no ASCII whitespace next
#: to a comma or a line end) every field is already stripped.
_UNICODE_SPACE = "\x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"


@dataclass(frozen=True)
class Plain:
    header: list[str]  # the first non-empty line's fields, as written
    header_line: int
    frame: pd.DataFrame  # text (object) columns 0..width-1, one row per non-blank data line
    lines: np.ndarray  # 1-based file line of each row
    empty_rows: int  # data lines whose every field is blank (",,,"), left out
    stripped: bool  # no field has leading or trailing whitespace


def read_plain(text: str) -> Plain | None:
    """`text` (a decoded CSV) read as described above, or None when it is not plain."""
    if '"' in text or "\r" in text or "\x00" in text:
        return None
    raw = text.encode("utf-8")
    data = np.frombuffer(raw, dtype=np.uint8)
    breaks = np.flatnonzero(data == 10)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(data)]])
    filled = np.flatnonzero(ends > starts)  # csv.reader skips empty lines (but counts them)
    if len(filled) < 2:
        return None
    header_at = filled[0]
    header = raw[starts[header_at] : ends[header_at]].decode("utf-8").split(",")
    width = len(header)
    body = filled[1:]
    commas = np.flatnonzero(data == 44)
    count = np.searchsorted(commas, ends[body]) - np.searchsorted(commas, starts[body])
    if width < 2 or (count != width - 1).any():
        return None
    frame = pd.read_csv(
        io.BytesIO(raw[starts[body[0]] :]), header=None, names=list(range(width)), dtype=object,
        na_filter=False, quoting=csv.QUOTE_NONE, engine="c", skip_blank_lines=True, encoding="utf-8",
    )  # fmt: skip
    if len(frame) != len(body):  # never expected: the lines and the tokenizer disagree, take the exact reader
        return None
    lines = body + 1
    space = (data == 32) | (data == 9) | ((data >= 11) & (data <= 12)) | ((data >= 28) & (data <= 31))
    blank = _blank_rows(frame, data, space, commas, starts[body], ends[body], count)
    empty_rows = int(blank.sum())
    if empty_rows:
        frame, lines = frame.loc[~blank].reset_index(drop=True), lines[~blank]
    return Plain(header, int(header_at) + 1, frame, lines.astype(np.int64), empty_rows, _stripped(text, data, space))


def _blank_rows(
    frame: pd.DataFrame, data: np.ndarray, space: np.ndarray, commas: np.ndarray, starts: np.ndarray,
    ends: np.ndarray, count: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Rows whose every field strips to nothing. Lines made only of commas, whitespace or non-ASCII bytes may be;
    those few are checked exactly with `str.strip`."""
    maybe = np.flatnonzero(space | (data >= 128))
    soft = np.searchsorted(maybe, ends) - np.searchsorted(maybe, starts)
    candidates = np.flatnonzero(ends - starts == count + soft)
    blank = np.zeros(len(frame), dtype=bool)
    for i in candidates:
        blank[i] = not "".join(frame.iloc[i]).strip()
    return blank


def _stripped(text: str, data: np.ndarray, space: np.ndarray) -> bool:
    """Whether no field starts or ends with whitespace: no ASCII whitespace next to a comma, a line break or the
    text's ends, and none of the other characters `str.strip` removes anywhere."""
    if not len(data):
        return True
    edge = (data == 44) | (data == 10)
    if space[0] or space[-1] or (space[1:] & edge[:-1]).any() or (space[:-1] & edge[1:]).any():
        return False
    return not ((data >= 128).any() and any(ch in text for ch in _UNICODE_SPACE))
