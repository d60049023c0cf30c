"""Random bytes and random CSV mutations fed to every reader (issue 11): the only exceptions are our input and config
errors (exit 3), never a traceback and never exit 1."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
from click.testing import CliRunner
from conftest import TINY_ACCOUNTS, TINY_CONFIG, TINY_VOLUMES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terrplan.cli import main
from terrplan.config import AccountsInput, RepsInput, VolumesInput
from terrplan.errors import TerrplanError
from terrplan.read import read_accounts, read_alignment, read_reps, read_volumes

REPS = "rep_id,name,home_zip,fte,territory\nR1,Ann,27601,1.0,EAST\nR2,Bob,28202,0.5,WEST\n"
ALIGNMENT = "account_id,territory\nA1,T1\nA2,T1\nB1,T2\nB2,T2\n"
BASES = {"accounts": TINY_ACCOUNTS, "volumes": TINY_VOLUMES, "reps": REPS, "alignment": ALIGNMENT}

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

# Values that break naive readers: control characters, quotes, separators, BOMs, huge and non-finite numbers.
NASTY = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\x0b",
        "\x0c",
        "\x1b[31m",
        "\ufeff",
        '"',
        '""',
        '"a,b"',
        ",",
        ",,",
        "\n",
        "\r",
        '"x\ny"',
        "nan",
        "NaN",
        "-inf",
        "inf",
        "N/A",
        "-999",
        "1e300",
        "-1e-300",
        "9" * 400,
        "1,234",
        "15,5",
        "0x1F",
        "27710",
        "0",
        "-0",
        "=cmd|' /C calc'!A0",
        "é",
        "\ud7ff",
        "account_id",
        "lat",
        "ZIP",
    ]
)
FIELD = st.one_of(NASTY, st.text(max_size=12))


@st.composite
def mutated_csv(draw, base: str) -> str:
    """`base` with a few random edits: fields dropped, duplicated or garbled, rows dropped or duplicated, extra
    commas and quotes, a BOM, and the header's names shuffled in case."""
    rows = [line.split(",") for line in base.splitlines()]
    for _ in range(draw(st.integers(0, 6))):
        r = draw(st.integers(0, len(rows) - 1))
        row = rows[r]
        op = draw(st.sampled_from(["drop", "duplicate", "garble", "comma", "quote", "row", "upper", "insert"]))
        c = draw(st.integers(0, max(len(row) - 1, 0)))
        if op == "drop" and row:
            row.pop(c)
        elif op == "duplicate" and row:
            row.insert(c, row[c])
        elif op == "garble" and row:
            row[c] = draw(FIELD)
        elif op == "comma":
            row.append("")
        elif op == "quote" and row:
            row[c] = '"' + row[c]
        elif op == "row":
            if draw(st.booleans()) and len(rows) > 1:
                rows.pop(r)
            else:
                rows.insert(r, list(row))
        elif op == "upper" and row:
            row[c] = row[c].upper()
        elif op == "insert":
            row.insert(c, draw(FIELD))
    text = "\n".join(",".join(row) for row in rows) + draw(st.sampled_from(["\n", "", "\r\n", "\n\n,,,\n"]))
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    return ("\ufeff" if draw(st.booleans()) else "") + text


def read_all(path: Path) -> None:
    """Every reader on one file; our own errors are the expected way to refuse it."""
    for read in (
        lambda: read_accounts(AccountsInput(), path),
        lambda: read_accounts(AccountsInput(one_row_per_account=False), path),
        lambda: read_volumes(VolumesInput(), path, pd.Series(["A1", "A2", "B1", "B2"]), {"A3"}),
        lambda: read_volumes(VolumesInput(wide={"volume": "27447"}, missing=("N/A",)), path, pd.Series(["A1"])),
        lambda: read_reps(RepsInput(), path),
        lambda: read_alignment(path),
    ):
        try:
            read()
        except TerrplanError as exc:
            assert exc.exit_code == 3, exc
            str(exc)  # the message renders


@FUZZ
@given(data=st.binary(max_size=600))
def test_random_bytes_never_crash_a_reader(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input.csv"
        path.write_bytes(data)
        read_all(path)


@FUZZ
@given(data=st.data(), base=st.sampled_from(sorted(BASES)))
def test_mutated_csv_never_crashes_a_reader(data, base):
    text = data.draw(mutated_csv(BASES[base]))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input.csv"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        read_all(path)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(accounts=mutated_csv(TINY_ACCOUNTS), volumes=mutated_csv(TINY_VOLUMES))
def test_validate_on_mutated_tiny_data_never_exits_1(accounts, volumes):
    with tempfile.TemporaryDirectory() as folder:
        case = Path(folder)
        (case / "accounts.csv").write_bytes(accounts.encode("utf-8", "surrogatepass"))
        (case / "volumes.csv").write_bytes(volumes.encode("utf-8", "surrogatepass"))
        (case / "config.yaml").write_text(TINY_CONFIG)
        result = CliRunner().invoke(main, ["validate", str(case / "config.yaml"), "-q"])
        assert result.exit_code in (0, 3, 4), (result.exit_code, result.stderr, result.exception)
        assert "Traceback" not in result.stderr
