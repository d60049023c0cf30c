"""plaincsv reads plain CSV text exactly as the row-by-row reader does: same fields, file lines and blank rows."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

import terrplan.read as read
from terrplan.plaincsv import read_plain

PIECES = ["A1", "x", "", " ", "  pad ", "27447", "02139", "Zoë", "\xa0nb", "a b", "1,5", "\t", "São Paulo", "-3.2"]


def _plain_text(rng: random.Random) -> str:
    width = rng.randint(2, 5)
    lines = [""] * rng.randint(0, 2) + [",".join(f"c{i}" for i in range(width))]
    for _ in range(rng.randint(1, 30)):
        kind = rng.random()
        if kind < 0.1:
            lines.append("")  # an empty line: skipped, still counted
        elif kind < 0.2:
            lines.append(",".join(rng.choice(["", " ", "\xa0"]) for _ in range(width)))  # a blank row
        else:
            lines.append(",".join(rng.choice(PIECES).replace(",", "") for _ in range(width)))
    return ("\ufeff" if rng.random() < 0.2 else "") + "\n".join(lines) + ("\n" if rng.random() < 0.5 else "")


def _both(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[read.Table, read.Table]:
    fast = read.read_table(path, row_findings=True)
    with monkeypatch.context() as patch:
        patch.setattr(read, "read_plain", lambda text: None)  # the row-by-row reader, as before plaincsv
        slow = read.read_table(path, row_findings=True)
    return fast, slow


@pytest.mark.parametrize("seed", range(40))
def test_plain_text_reads_as_the_row_by_row_reader(seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    path = tmp_path / "t.csv"
    path.write_text(_plain_text(rng), encoding="utf-8")
    try:
        fast, slow = _both(path, monkeypatch)
    except read.InputError as exc:  # e.g. only blank rows: both readers must refuse alike
        with pytest.raises(read.InputError) as again:
            monkeypatch.setattr(read, "read_plain", lambda text: None)
            read.read_table(path, row_findings=True)
        assert str(again.value) == str(exc)
        return
    assert fast.frame.equals(slow.frame)
    assert list(fast.frame.columns) == list(slow.frame.columns)
    assert np.array_equal(fast.lines, slow.lines)
    assert fast.empty_rows == slow.empty_rows
    if fast.stripped:  # the claim that lets readers skip stripping must be true
        assert all(v == v.strip() for column in fast.frame for v in fast.frame[column])


@pytest.mark.parametrize(
    "text",
    [
        'a,b\n"1",2\n',
        "a,b\r\n1,2\r\n",
        "a,b\n1,2,3\n",
        "a,b\n1\n",
        "a\n1\n",
        "a,b\n",
        "a,b\n   \n1,2\n",
        "a,b\n1\x002\n",
    ],
)
def test_anything_not_plain_goes_to_the_row_by_row_reader(text: str) -> None:
    assert read_plain(text) is None


def test_plain_rows_keep_their_file_lines_and_blank_rows_are_counted() -> None:
    plain = read_plain("\nid,zip\nA, 02139\n\n , \nB,2139\n")
    assert plain is not None
    assert plain.header == ["id", "zip"] and plain.header_line == 2
    assert plain.frame.values.tolist() == [["A", " 02139"], ["B", "2139"]]
    assert plain.lines.tolist() == [3, 6]
    assert plain.empty_rows == 1
    assert not plain.stripped
