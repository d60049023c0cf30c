"""Output trust on the tiny case: formula-like text quoted in every CSV and never a workbook formula, territory
names that never become unsafe paths, Markdown and HTML that show names as text, and an output folder replaced
as a whole (the old run or the new one, never a mix, even when killed at random points of the write phase),
checked before anything is read."""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from xml.etree import ElementTree

import pandas as pd
import pytest
from conftest import ROOT, TINY_ACCOUNTS, TINY_CONFIG, TINY_VOLUMES, Tiny, invoke
from openpyxl import load_workbook

from terrplan.cells import escape_formula
from terrplan.report.plans import plan_file_names
from terrplan.report.workbook import workbook_bytes
from terrplan.write import csv_text

# The tiny accounts with hostile names and current territories (OWASP CSV injection, HTML and Markdown links).
HOSTILE_ACCOUNTS = """account_id,name,type,zip,lat,lon,system,current_territory
A1,"=HYPERLINK(""http://x"",""y"")",Hospital,27710,,,Duke,=T1
A2,=cmd|' /C calc'!A0,ASC,27607,,,,=T1
A3,@SUM(1),Practice,27610,,,,=T1
A4,"\t=1+1",Practice,27518,,,,=T1
B1,+1-2,Hospital,28203,35.2039,-80.8391,Atrium,@T2
B2,<script>alert(1)</script>,ASC,28207,,,,@T2
B3,[x](javascript:alert(1)),Practice,28105,,,,@T2
B4,<img src=x onerror=alert(1)>,Practice,28025,,,,=T1
"""
# One volume row that cannot be used, so rejects.csv carries a formula-like value too.
HOSTILE_VOLUMES = TINY_VOLUMES + "A1,27447,=1+2,2025\n"
REJECT_CONFIG = TINY_CONFIG.replace("inputs:\n", "inputs:\n  on_bad_rows: reject\n")
QUOTED_NAMES = {
    "A1": '\'=HYPERLINK("http://x","y")',
    "A2": "'=cmd|' /C calc'!A0",
    "A3": "'@SUM(1)",
    "A4": "'=1+1",  # the reader strips the tab, and the '=' it leaves is quoted
    "B1": "'+1-2",
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
TEXT = {"account_id": str, "territory": str, "current_territory": str, "name": str}


def _hostile(tiny: Tiny, config: str = REJECT_CONFIG) -> Tiny:
    tiny.write("accounts.csv", HOSTILE_ACCOUNTS)
    tiny.write("volumes.csv", HOSTILE_VOLUMES)
    tiny.write("config.yaml", config)
    return tiny


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _names(out: Path) -> dict[str, str]:
    frame = pd.read_csv(out / "assignments.csv", dtype=TEXT, keep_default_na=False)
    return dict(zip(frame["account_id"], frame["name"], strict=True))


def _workbook_cells(path: Path) -> list:
    book = load_workbook(path)
    return [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]


# -- formulas ---------------------------------------------------------------------------------------------------


def test_formula_like_text_is_quoted_in_every_csv_and_no_workbook_cell_is_a_formula(tiny):
    _hostile(tiny)
    result = invoke("optimize", str(tiny.config), "--current", "accounts", "-q")
    assert result.exit_code == 0, result.stderr
    names = _names(tiny.out)
    assert {key: names[key] for key in QUOTED_NAMES} == QUOTED_NAMES
    csvs = sorted(path.name for path in tiny.out.glob("*.csv"))
    assert {"assignments.csv", "territories.csv", "moves.csv", "changes.csv", "rejects.csv"} <= set(csvs)
    for name in csvs:
        risky = [c for c in _cells((tiny.out / name).read_text()) if c.startswith(FORMULA_START) and not _is_number(c)]
        assert risky == [], name
    territories = pd.read_csv(tiny.out / "territories.csv", dtype=TEXT)
    assert sorted(territories["territory"]) == ["'=T1", "'@T2"]
    assert "'=T1" in _cells((tiny.out / "moves.csv").read_text())
    rejects = pd.read_csv(tiny.out / "rejects.csv", dtype=str)
    assert list(rejects["value"]) == ["'=1+2"]
    # Negative numbers stay numbers.
    assert pd.read_csv(tiny.out / "assignments.csv")["lon"].lt(0).all()
    cells = _workbook_cells(tiny.out / "workbook.xlsx")
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    assert {c.value for c in cells if isinstance(c.value, str)} >= set(QUOTED_NAMES.values())
    # Each plan and its map, named after the escaped territory names.
    assert sorted(p.name for p in (tiny.out / "plans").iterdir()) == ["T1.md", "T1.svg", "T2.md", "T2.svg"]
    piped = invoke("optimize", str(tiny.config), "--current", "accounts", "-q", "-o", "-")
    assert piped.exit_code == 0, piped.stderr
    assert piped.stdout == (tiny.out / "assignments.csv").read_text()


def test_escape_formulas_false_writes_raw_text_but_never_a_formula_cell(tiny):
    _hostile(tiny, REJECT_CONFIG.replace("output: {dir: out}", "output: {dir: out, escape_formulas: false}"))
    result = invoke("optimize", str(tiny.config), "-q")
    assert result.exit_code == 0, result.stderr
    names = _names(tiny.out)
    assert names["A1"] == '=HYPERLINK("http://x","y")' and names["A3"] == "@SUM(1)" and names["B1"] == "+1-2"
    assert list(pd.read_csv(tiny.out / "rejects.csv", dtype=str)["value"]) == ["=1+2"]
    cells = _workbook_cells(tiny.out / "workbook.xlsx")
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    raw = [c for c in cells if c.value == '=HYPERLINK("http://x","y")']
    assert len(raw) == 2 and {c.data_type for c in raw} == {"s"}  # Assignments and Target lists


def test_csv_quotes_a_leading_tab_or_cr_keeps_control_characters_and_numbers_and_the_workbook_cleans_them():
    frame = pd.DataFrame({"=h": ["\tx", "\r=1", "-3", "a=b", "v\x0bw", None], "n": [-1.5, 2.0, -3.0, 0.0, 1.0, 2.0]})
    # A CR inside a cell becomes a (quoted) line break, so no reader ends the row there.
    assert csv_text(frame) == "'=h,n\n'\tx,-1.5000\n\"'\n=1\",2.0000\n'-3,-3.0000\na=b,0.0000\nv\x0bw,1.0000\n,2.0000\n"
    assert csv_text(frame, escape=False).startswith("=h,n\n\tx,-1.5000\n")
    text = pd.DataFrame({"t": ["a\x0bb", "\x00=x\x1b", "c\x0cd", "#N/A", "-3"], "n": [-1, 2, 3, 4, 5]})
    (book,) = [load_workbook(io.BytesIO(workbook_bytes({"S": text}, escape_formula)))]
    sheet = book["S"]
    assert [c.value for c in sheet["A"]] == ["T", "a\nb", "'=x", "c d", "#N/A", "'-3"]
    assert {c.data_type for c in sheet["A"]} == {"s"}
    assert [c.value for c in sheet["B"]][1:] == [-1, 2, 3, 4, 5]


# -- names as paths, Markdown and HTML --------------------------------------------------------------------------


def test_safe_file_names_are_plain_short_unique_and_not_windows_devices():
    assert plan_file_names(
        [
            "T1",
            "t1",
            "T1.",
            "../../../escaped_T1",
            "<b>",
            "b",
            "CON",
            "con.txt",
            "",
            "..",
            ".hidden",
            "a" * 100,
            "Zürich",
        ]
    ) == {
        "": "territory",
        "..": "territory-2",
        "../../../escaped_T1": "escaped_T1",
        ".hidden": "hidden",
        "<b>": "b",
        "CON": "CON_",
        "T1": "T1",
        "T1.": "T1-2",
        "Zürich": "Zurich",
        "a" * 100: "a" * 64,
        "b": "b-2",
        "con.txt": "con_.txt",
        "t1": "t1-3",
    }


def test_territory_names_from_the_current_alignment_stay_inside_the_folder_as_safe_file_names(tiny):
    accounts = TINY_ACCOUNTS.replace(",T1\n", ",../../../escaped_T1\n").replace(",T2\n", ",<b>\n")
    tiny.write("accounts.csv", accounts)
    result = invoke("optimize", str(tiny.config), "--current", "accounts", "-q")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (tiny.out / "plans").iterdir()) == [
        "b.md",
        "b.svg",
        "escaped_T1.md",
        "escaped_T1.svg",
    ]
    assert sorted(tiny.dir.parent.rglob("escaped_T1*")) == [
        tiny.out / "plans" / f"escaped_T1.{kind}" for kind in ("md", "svg")
    ]
    # A name is text in the map too, never markup.
    assert "<b>" not in (tiny.out / "plans" / "b.svg").read_text()
    assert (tiny.out / "plans" / "b.md").read_text().startswith("# Territory plan: &lt;b&gt;\n")
    assert (tiny.out / "plans" / "escaped_T1.md").read_text().startswith("# Territory plan: ../../../escaped\\_T1\n")
    html = (tiny.out / "report.html").read_text()
    assert 'data-territory="&lt;b&gt;"' in html and 'data-territory="<b>"' not in html


def test_script_tags_and_links_in_names_are_text_in_the_plans_and_the_report(tiny):
    _hostile(tiny, TINY_CONFIG.replace("inputs:\n", "inputs:\n  reps: {path: reps.csv}\n"))
    tiny.write(
        "reps.csv",
        "rep_id,name,home_zip,fte,territory\nR1,<script>x</script>,27601,1.0,T01\nR2,[c](javascript:alert(1)),28202,1.0,T02\n",
    )
    tiny.write("volumes.csv", TINY_VOLUMES)
    result = invoke("optimize", str(tiny.config), "-q")
    assert result.exit_code == 0, result.stderr
    plans = "".join(p.read_text() for p in sorted((tiny.out / "plans").glob("*.md")))
    for raw in ("<script", "<img", "[x](javascript", "[c](javascript"):
        assert raw not in plans
    # The plans' maps are SVG: a name is an escaped text node there, never an element.
    maps = "".join(p.read_text() for p in sorted((tiny.out / "plans").glob("*.svg")))
    assert maps and "<script" not in maps and "<img" not in maps
    for shown in (
        "Rep: &lt;script&gt;x&lt;/script&gt; (R1)",
        "Rep: \\[c\\](javascript:alert(1)) (R2)",
        "| B2 | &lt;script&gt;alert(1)&lt;/script&gt; |",
        "| B3 | \\[x\\](javascript:alert(1)) |",
        "| B4 | &lt;img src=x onerror=alert(1)&gt; |",
        "| A2 | =cmd\\|' /C calc'!A0 |",
    ):
        assert shown in plans
    html = (tiny.out / "report.html").read_text()
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;script&gt;x&lt;/script&gt;" in html


def test_control_characters_in_names_leave_every_map_well_formed_and_the_deck_written(tiny):
    """A vertical tab is FileMaker's in-cell line break and the readers keep it: XML forbids it, so a map that kept
    it would be no SVG at all (and fpdf2 would refuse the deck)."""
    accounts = TINY_ACCOUNTS.replace(",T1\n", ",T\x0b1\n")
    lines = accounts.split("\n")
    lines[1] = lines[1].replace(lines[1].split(",")[1], "Duke\x0bRaleigh", 1)
    tiny.write("accounts.csv", "\n".join(lines))
    result = invoke("optimize", str(tiny.config), "--current", "accounts", "--pdf", "-q")
    assert result.exit_code == 0, result.stderr
    maps = sorted((tiny.out / "plans").glob("*.svg"))
    assert len(maps) == 2
    for path in maps:
        ElementTree.parse(path)  # raises on a character XML forbids
        assert "\x0b" not in path.read_text()
    assert (tiny.out / "report.pdf").read_bytes().startswith(b"%PDF")


# -- the output folder as a whole -------------------------------------------------------------------------------


def test_a_run_with_fewer_territories_leaves_no_files_of_the_earlier_run(tiny):
    assert invoke("optimize", str(tiny.config), "-q").exit_code == 0
    assert (tiny.out / "plans" / "T02.md").exists()
    result = invoke("optimize", str(tiny.config), "-q", "-k", "1")
    assert result.exit_code == 0, result.stderr
    assert sorted(str(p.relative_to(tiny.out)) for p in tiny.out.rglob("*")) == [
        "accounts.geojson",
        "assignments.csv",
        "changes.csv",
        "location_warnings.csv",
        "moves.csv",
        "plans",
        "plans/T01.md",
        "plans/T01.svg",
        "rejects.csv",
        "report.html",
        "summary.json",
        "territories.csv",
        "territories.geojson",
        "workbook.xlsx",
    ]
    assert "T02" not in (tiny.out / "report.html").read_text()
    assert sorted(p.name for p in tiny.dir.iterdir()) == [
        ".out.terrplan-lock", "accounts.csv", "config.yaml", "out", "volumes.csv",
    ]  # fmt: skip


def _case(folder: Path) -> Tiny:
    folder.mkdir()
    case = Tiny(folder)
    case.write("accounts.csv", TINY_ACCOUNTS)
    case.write("volumes.csv", TINY_VOLUMES)
    case.write("config.yaml", TINY_CONFIG)
    return case


def _snapshot(out: Path) -> dict[str, bytes] | None:
    """Every file's bytes (summary.json without runtime_s), or None when the folder is missing."""
    if not out.is_dir():
        return None
    files = {}
    for path in sorted(out.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if path.name == "summary.json":
                summary = json.loads(data)
                summary.pop("runtime_s")
                data = json.dumps(summary, sort_keys=True).encode()
            files[str(path.relative_to(out))] = data
    return files


def _leftovers(parent: Path) -> list[str]:
    """Temporary and set-aside folders (not the lock, nor the probe file the output check writes and removes)."""
    return sorted(p.name for p in parent.iterdir() if ".terrplan-tmp-" in p.name or ".terrplan-old-" in p.name)


def _start(tiny: Tiny, *args: str, delay: float) -> subprocess.Popen:
    env = dict(os.environ, TERRPLAN_TEST_WRITE_DELAY=str(delay))
    return subprocess.Popen(
        [sys.executable, "-m", "terrplan", "optimize", str(tiny.config), "-q", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_for_write_phase(proc: subprocess.Popen, parent: Path, before: set[str]) -> None:
    """Until the run's temporary folder appears (or the run ends)."""
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if set(_leftovers(parent)) - before:
            return
        time.sleep(0.005)


def _two_runs(tiny: Tiny) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The folder after a K=2 run and after a K=1 run (different file sets and contents)."""
    assert invoke("optimize", str(tiny.config), "-q", "-o", str(tiny.dir / "k1"), "-k", "1").exit_code == 0
    assert invoke("optimize", str(tiny.config), "-q").exit_code == 0
    return _snapshot(tiny.out), _snapshot(tiny.dir / "k1")


def _kill_lane(tiny: Tiny, seed: int, rounds: int) -> list[tuple[str, int, str]]:
    """Runs alternating K, each killed (SIGKILL or SIGTERM) at a random point of its write phase; after each the
    folder must be exactly one of the two runs."""
    k2, k1 = _two_runs(tiny)
    rng = random.Random(seed)
    seen = []
    for i in range(rounds):
        state = _snapshot(tiny.out)
        assert state in (k1, k2), f"round {i}: a mix of two runs"
        before = set(_leftovers(tiny.dir))
        sig = (signal.SIGKILL, signal.SIGTERM)[i % 2]
        proc = _start(tiny, "-k", "2" if state == k1 else "1", delay=0.02)
        _wait_for_write_phase(proc, tiny.dir, before)
        time.sleep(rng.uniform(0.0, 0.4))  # 14 files x 0.02 s, then the swap
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        after = _snapshot(tiny.out)
        assert after in (k1, k2), f"round {i}: {sig.name} left a mix"
        if sig == signal.SIGTERM:
            # 143: stopped by our handler; -15: the signal came after the run, when the default action applies.
            assert proc.returncode in (0, 143, -15), err.decode()
            # Its own temporary folder is gone; one a SIGKILL left before goes when a run next reaches its write
            # phase (this one may have been stopped before that), and the run after the loop checks that.
            own = [name for name in _leftovers(tiny.dir) if f"-{proc.pid}-" in name]
            assert own == [], f"round {i}: pid {proc.pid}, exit {proc.returncode}, {err.decode()}"
        seen.append((sig.name, proc.returncode, "old" if after == state else "new"))
    assert invoke("optimize", str(tiny.config), "-q").exit_code == 0
    assert _snapshot(tiny.out) == k2
    assert _leftovers(tiny.dir) == []
    return seen


def test_killed_at_random_points_of_the_write_phase_the_folder_is_the_old_run_or_the_new_one(tmp_path):
    lanes = [_case(tmp_path / "lane1"), _case(tmp_path / "lane2")]
    with ThreadPoolExecutor(2) as pool:
        seen = [row for rows in pool.map(_kill_lane, lanes, (11, 12), (4, 4)) for row in rows]
    assert len(seen) == 8
    # Both outcomes happen: some kills land before the swap, some after (or after the run ended).
    assert {outcome for _, _, outcome in seen} == {"old", "new"}, seen
    assert {(name, code) for name, code, _ in seen} >= {("SIGTERM", 143)}, seen


def _interrupt(tiny: Tiny, sig: signal.Signals) -> tuple[int, str, dict[str, bytes], dict[str, bytes]]:
    assert invoke("optimize", str(tiny.config), "-q").exit_code == 0
    old = _snapshot(tiny.out)
    proc = _start(tiny, "-k", "1", delay=0.2)
    _wait_for_write_phase(proc, tiny.dir, set())
    time.sleep(0.3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err.decode(), old, _snapshot(tiny.out)


def test_sigint_and_sigterm_stop_the_write_cleanly_and_keep_the_old_folder(tmp_path):
    cases = [_case(tmp_path / "int"), _case(tmp_path / "term")]
    with ThreadPoolExecutor(2) as pool:
        (int_code, int_err, int_old, int_now), (term_code, term_err, term_old, term_now) = pool.map(
            _interrupt, cases, (signal.SIGINT, signal.SIGTERM)
        )
    assert (int_code, int_err) == (130, "error: stopped by SIGINT\n")
    assert (term_code, term_err) == (143, "error: stopped by SIGTERM\n")
    assert int_now == int_old and term_now == term_old
    assert _leftovers(cases[0].dir) == _leftovers(cases[1].dir) == []


@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_files_and_folders_follow_the_umask(tiny, umask, file_mode, dir_mode):
    previous = os.umask(umask)
    try:
        result = invoke("optimize", str(tiny.config), "-q")
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.stderr
    modes = {p.name: p.stat().st_mode & 0o777 for p in [tiny.out, *tiny.out.rglob("*")]}
    assert {m for n, m in modes.items() if "." in n} == {file_mode}
    assert modes["out"] == modes["plans"] == dir_mode


def test_a_second_run_into_a_locked_folder_waits_then_gives_up_with_exit_3(tiny, monkeypatch):
    handle = os.open(tiny.dir / ".out.terrplan-lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        monkeypatch.setenv("TERRPLAN_LOCK_TIMEOUT", "0.3")
        result = invoke("optimize", str(tiny.config), "-q")
        assert result.exit_code == 3
        assert result.stderr == (
            f"warning: another terrplan run is writing {tiny.out}; waiting up to 0.3 s\n"
            f"error: cannot write the output folder {tiny.out}\n"
            f"  {tiny.dir}/.out.terrplan-lock: is locked by another terrplan run writing this folder (waited 0.3 s)\n"
            "    hint: let the other run finish, or write to another folder (-o DIR)\n"
        )
        assert not tiny.out.exists() and _leftovers(tiny.dir) == []
        monkeypatch.delenv("TERRPLAN_LOCK_TIMEOUT")
        proc = _start(tiny, delay=0)
        line = proc.stderr.readline().decode()
        assert line == f"warning: another terrplan run is writing {tiny.out}; waiting up to 600 s\n"
        time.sleep(0.3)
        assert not tiny.out.exists()
    finally:
        os.close(handle)  # releases the lock
    assert proc.wait(timeout=60) == 0
    assert (tiny.out / "summary.json").exists()


# -- output paths checked before reading ------------------------------------------------------------------------


def _error(result) -> str:
    assert result.exit_code == 3, result.stderr
    return result.stderr


def test_an_output_path_that_is_a_file_is_refused_before_reading(tiny):
    tiny.write("volumes.csv", "account_id,code,volume\nA1,27447,-3\n")  # would fail later with 'negative volume'
    target = tiny.write("taken", "keep me")
    assert _error(invoke("optimize", str(tiny.config), "-o", str(target))) == (
        f"error: cannot write the output folder {target}\n"
        f"  {target}: is a file, not a folder\n"
        "    hint: give -o (or output.dir) a folder: the run writes several files\n"
    )
    assert target.read_text() == "keep me"


def test_an_output_folder_holding_an_input_is_refused_before_reading(tiny):
    tiny.write("volumes.csv", "account_id,code,volume\nA1,27447,-3\n")
    hashes = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tiny.dir.iterdir()}
    assert _error(invoke("optimize", str(tiny.config), "-o", str(tiny.dir))) == (
        f"error: cannot write the output folder {tiny.dir}\n"
        f"  {tiny.dir}/accounts.csv: is an input of this run, inside the output folder\n"
        "    hint: the run replaces the whole output folder; write to another folder (-o DIR or output.dir)\n"
    )
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tiny.dir.iterdir()} == hashes
    tiny.out.mkdir()
    alignment = tiny.write("out/assignments.csv", "account_id,territory\nA1,T1\n")
    stderr = _error(invoke("evaluate", str(tiny.config), "--alignment", str(alignment), "-o", str(tiny.out)))
    assert stderr.splitlines()[1] == f"  {alignment}: is an input of this run, inside the output folder"


def test_a_folder_that_terrplan_did_not_write_is_never_replaced(tiny):
    tiny.out.mkdir()
    notes = tiny.write("out/notes.txt", "mine")
    assert _error(invoke("optimize", str(tiny.config), "-q")) == (
        f"error: cannot write the output folder {tiny.out}\n"
        f"  {tiny.out}: holds files but no summary.json, so it is not a terrplan output folder\n"
        "    hint: the run replaces the whole folder; give a new or empty folder, or one an earlier run wrote\n"
    )
    assert notes.read_text() == "mine"


def test_an_unwritable_parent_is_refused_before_reading(tiny):
    parent = Path("/sys")  # not writable even for root
    probe = parent / "terrplan-probe"
    try:
        probe.mkdir()
    except OSError:
        pass
    else:  # pragma: no cover - a system where /sys is writable
        probe.rmdir()
        pytest.skip("/sys is writable here: no folder that cannot be written")
    target = parent / "terrplan-out"
    assert _error(invoke("optimize", str(tiny.config), "-o", str(target))) == (
        f"error: cannot write the output folder {target}\n"
        f"  {parent}: cannot be written (Permission denied)\n"
        "    hint: choose a folder you can write to (-o DIR), or fix its permissions\n"
    )


def test_compare_never_writes_its_moves_over_an_input(tiny):
    a = tiny.write("a.csv", "account_id,territory\nA1,T1\nB1,T2\n")
    b = tiny.write("b.csv", "account_id,territory\nA1,T2\nB1,T2\n")
    assert _error(invoke("compare", str(a), str(b), "-q", "-o", str(a))) == (
        f"error: cannot write {a}\n"
        f"  {a}: is an input of this run ({a})\n"
        "    hint: write to a file outside the inputs, e.g. -o moves.csv\n"
    )
    assert a.read_text() == "account_id,territory\nA1,T1\nB1,T2\n"
    assert _error(invoke("compare", str(a), str(b), "-q", "-o", str(tiny.dir))).splitlines()[1] == (
        f"  {tiny.dir}: is a folder, not a file"
    )
    result = invoke("compare", str(a), str(b), "-q", "-o", str(tiny.dir / "moves.csv"))
    assert result.exit_code == 0, result.stderr
    assert (tiny.dir / "moves.csv").read_text().splitlines()[0].startswith("account_id,")


def test_a_folder_a_killed_run_set_aside_is_put_back_by_the_next_run_even_when_it_fails(tiny):
    assert invoke("optimize", str(tiny.config), "-q").exit_code == 0
    old = _snapshot(tiny.out)
    dead = subprocess.Popen(["true"])  # once it has ended, its pid belongs to no process
    dead.wait()
    # What the non-Linux swap leaves when killed between its two renames: no folder, the old one set aside.
    tiny.out.rename(tiny.dir / f".out.terrplan-old-{dead.pid}-0a1b2c3d")
    tiny.write("volumes.csv", "account_id,code,volume\nA1,27447,-3\n")
    result = invoke("optimize", str(tiny.config), "-q")
    assert result.exit_code == 3 and "negative volume" in result.stderr
    assert _snapshot(tiny.out) == old
    assert _leftovers(tiny.dir) == []


def test_escaped_names_read_back_as_written_by_evaluate_compare_and_refresh(tiny):
    """A territory '=T1' is written as "'=T1"; our own readers take the quote off, so names and ids round-trip."""
    _hostile(tiny)
    tiny.write("accounts.csv", HOSTILE_ACCOUNTS.replace("\nA1,", "\n-A1,"))
    tiny.write("volumes.csv", HOSTILE_VOLUMES.replace("\nA1,", "\n-A1,"))
    assert invoke("optimize", str(tiny.config), "-q", "--current", "accounts").exit_code == 0
    written = pd.read_csv(tiny.out / "assignments.csv", dtype=TEXT, keep_default_na=False)
    assert "'-A1" in set(written["account_id"]) and set(written["territory"]) == {"'=T1", "'@T2"}
    evaluated = invoke("evaluate", str(tiny.config), "--alignment", str(tiny.out), "-o", "-", "-q")
    assert evaluated.exit_code == 0, evaluated.stderr
    assert sorted(pd.read_csv(io.StringIO(evaluated.stdout))["territory"]) == ["'=T1", "'@T2"]
    compared = invoke("compare", str(tiny.out), str(tiny.out), "--json")
    assert compared.exit_code == 0, compared.stderr
    figures = json.loads(compared.stdout)
    assert (figures["moved_accounts"], figures["accounts_in_both"]) == (0, 8)
    again = invoke("optimize", str(tiny.config), "-q", "--current", str(tiny.out / "assignments.csv"), "-o",
                   str(tiny.dir / "again"))  # fmt: skip
    assert again.exit_code == 0, again.stderr
    summary = json.loads((tiny.dir / "again" / "summary.json").read_text())
    assert summary["refresh"]["departed_accounts"] == 0
