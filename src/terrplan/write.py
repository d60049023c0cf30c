"""Files and reports: a whole output folder swapped in at once, safe cell values, stable ordering, fixed number
formats.

The output folder is replaced as a whole: the run is written into a sibling temporary folder
(`<parent>/.<name>.terrplan-tmp-<pid>-<random>`), every file and folder is fsynced, and the new folder is swapped
in (an atomic exchange on Linux; elsewhere: rename the old folder aside, rename the new one in), then the old one
is removed. A lock (`<parent>/.<name>.terrplan-lock`) keeps two runs into one folder apart; the next run removes
what a killed run left and, if the folder itself is missing, puts the copy set aside back. Files get
0o666 & ~umask, folders 0o777 & ~umask.

TERRPLAN_TEST_WRITE_DELAY (seconds, for tests only) sleeps after each file and before the swap, so tests can
interrupt the write phase at chosen points.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import io
import os
import re
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from terrplan import __version__
from terrplan.cells import escape_formula
from terrplan.errors import Finding, InputError
from terrplan.summary import Bands, Disruption, Inputs, RunSummary, Solve, frozen
from terrplan.summary import json_text as json_text  # summary.json's JSON; the sweep's files use it too

if TYPE_CHECKING:
    from terrplan.compare import Comparison
    from terrplan.config import Config
    from terrplan.metrics import Metrics
    from terrplan.pipeline import Loaded
    from terrplan.progress import Reporter

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows
    fcntl = None

FLOAT_FORMAT = "%.4f"

REJECT_COLUMNS = ["file", "line", "column", "value", "reason", "hint"]

TMP_MARK = ".terrplan-tmp-"
OLD_MARK = ".terrplan-old-"
LOCK_MARK = ".terrplan-lock"
#: A second run into the same folder waits this long for the first to finish writing (TERRPLAN_LOCK_TIMEOUT).
LOCK_TIMEOUT_S = 600.0
#: Leftovers of other runs are removed when their process is gone, or when older than this.
STALE_AFTER_S = 3600.0


# -- cell values ------------------------------------------------------------------------------------------------


def escape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """`escape_formula` on every text cell and header; numeric columns (negative numbers too) stay numbers."""
    text = _text_columns(frame)
    headers = [escape_formula(column) for column in frame.columns]
    if not text and headers == list(frame.columns):
        return frame
    out = frame.copy()
    for column in text:
        out[column] = out[column].astype(object).map(escape_formula)
    out.columns = headers
    return out


def csv_text(frame: pd.DataFrame, escape: bool = True) -> str:
    """CSV with fixed float format and '\\n' line ends; `escape` quotes formula-like text (output.escape_formulas).

    Control characters in text are kept as they are, except that a CR inside a cell becomes a line break ('\\n',
    which is quoted), so no reader takes it for the end of a row.
    """
    buffer = io.StringIO()
    frame = _line_breaks(escape_frame(frame) if escape else frame)
    frame.to_csv(buffer, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    return buffer.getvalue()


def _line_breaks(frame: pd.DataFrame) -> pd.DataFrame:
    def one(value: Any) -> Any:
        return value.replace("\r\n", "\n").replace("\r", "\n") if isinstance(value, str) else value

    columns = [c for c in _text_columns(frame) if frame[c].astype(str).str.contains("\r", regex=False).any()]
    if not columns:
        return frame
    out = frame.copy()
    for column in columns:
        out[column] = out[column].astype(object).map(one)
    return out


def _text_columns(frame: pd.DataFrame) -> list:
    return [
        column
        for column in frame.columns
        if frame[column].dtype == object or isinstance(frame[column].dtype, pd.StringDtype | pd.CategoricalDtype)
    ]


def rejects_frame(findings: Iterable[Finding]) -> pd.DataFrame:
    rows = [
        {"file": f.file, "line": f.line, "column": f.column, "value": f.value, "reason": f.message, "hint": f.hint}
        for f in findings
    ]
    return pd.DataFrame(rows, columns=REJECT_COLUMNS).astype({"line": "Int64"})


# -- the run's files --------------------------------------------------------------------------------------------


def run_summary(
    config: Config,
    loaded: Loaded,
    metrics: Metrics,
    solver: dict[str, Any],
    runtime_s: float,
    band_violations: list[str] | None = None,
    territories_not_contiguous: int | None = None,
    change: Comparison | None = None,
) -> RunSummary:
    """The run's one summary, built once after the solve: `solver` holds the solver stages' figures by name
    (`summary.Solve`); with a current alignment (assignments' current_territory) it carries the disruption
    `compare` finds, moves and changes included: `change` when the run compared already (a refresh), else
    compared here."""
    if change is None:
        from terrplan.compare import disruption  # SciPy's matching: loaded only when a run is written

        change = disruption(metrics.assignments)
    counts = {"rejected_rows": len(loaded.findings), **loaded.counts}  # the counts' own figure wins (rows)
    return RunSummary(
        version=__version__,
        seed=config.solver.seed,
        config=frozen(config.as_dict()),
        inputs=Inputs(frozen(list(loaded.inputs)), len(loaded.accounts), counts.pop("rejected_rows"), frozen(counts)),
        solve=Solve.of(solver),
        objective=round(metrics.objective, 6),
        runtime_s=round(runtime_s, 3),
        territories=len(metrics.territories),
        bands=Bands(frozen(metrics.balance), frozen(list(metrics.balances))),
        disruption=None if change is None else Disruption.of(change.figures, change.moves, change.changes),
        band_violations=None if band_violations is None else tuple(band_violations),
        territories_not_contiguous=territories_not_contiguous,
    )


def output_files(
    summary: RunSummary,
    metrics: Metrics,
    loaded: Loaded,
    escape: bool = True,
    tables: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, str | bytes]:
    """The CSVs and summary.json; with a current alignment also moves.csv and changes.csv (the summary's
    disruption). `escape` (output.escape_formulas) quotes formula-like text in every CSV; `tables`: more CSVs by
    file name (the refresh's departed.csv and relocated.csv)."""
    files: dict[str, str | bytes] = {
        "assignments.csv": csv_text(metrics.assignments, escape),
        "territories.csv": csv_text(metrics.territories, escape),
    }
    change = summary.disruption
    if change is not None and change.moves is not None and change.changes is not None:
        files["moves.csv"] = csv_text(change.moves, escape)
        files["changes.csv"] = csv_text(change.changes, escape)
    for name, frame in (tables or {}).items():
        files[name] = csv_text(frame, escape)
    files["summary.json"] = summary.to_json()
    files["rejects.csv"] = csv_text(rejects_frame(loaded.findings), escape)
    files["location_warnings.csv"] = csv_text(loaded.location_warnings, escape)
    return files


def report_outputs(summary: RunSummary, config: Config, metrics: Metrics, loaded: Loaded) -> dict[str, str | bytes]:
    """report.html, the plans, GeoJSON, the workbook (and report.pdf with output.pdf), from the run's summary."""
    from terrplan.report import report_files  # loaded only when a report is written (validate needs none)

    return report_files(
        metrics.assignments,
        metrics.territories,
        summary,
        config.plans,
        loaded.reps,
        escape=config.output.escape_formulas,
        pdf=config.output.pdf,
        rejects=rejects_frame(loaded.findings),
    )


def write_outputs(
    config: Config,
    loaded: Loaded,
    metrics: Metrics,
    summary: RunSummary,
    output: str | None,
    report: Reporter,
    tables: Mapping[str, pd.DataFrame] | None = None,
) -> None:
    """All files to the output folder (replaced as a whole), or the assignments CSV to stdout for '-o -'.
    `tables`: more CSVs by file name (the refresh's departed.csv and relocated.csv)."""
    files = output_files(summary, metrics, loaded, escape=config.output.escape_formulas, tables=tables)
    target = output if output is not None else str(config.resolve(config.output.dir))
    if target == "-":
        report.close()  # the terminal's progress display ends before the data, which may share the terminal
        sys.stdout.write(files["assignments.csv"])
        sys.stdout.flush()
        return
    if config.output.report:
        report.stage("report")
        with report.status("writing the report…"):
            files.update(report_outputs(summary, config, metrics, loaded))
    write_files(Path(target), files, on_wait=lambda message: report.warn("waiting", message))
    shown = ", ".join(name for name in files if "/" not in name)
    report.info("wrote", f"wrote {len(files)} files to {target}: {shown}", directory=target, files=list(files))


# -- the output folder ------------------------------------------------------------------------------------------


def check_output_dir(directory: str | Path, inputs: Iterable[str | Path | None] = ()) -> None:
    """Before reading anything: the folder can be written, replaced as a whole and holds none of the inputs.

    Exit 3 when it is a file, holds an input (the run would replace it), holds other files than a terrplan
    run's (no summary.json: not ours to delete), or its parent cannot be written. A folder a killed run left set
    aside is put back first, so it is back even when this run then fails.
    """
    target = Path(directory).expanduser().resolve()
    aside = f".{target.name}{OLD_MARK}"
    parent = target.parent
    if not os.path.lexists(target) and parent.is_dir() and any(p.name.startswith(aside) for p in parent.iterdir()):
        with _lock(parent / f".{target.name}{LOCK_MARK}", target, None):
            _recover(parent, target.name)
    for given in inputs:
        if given is None or str(given) in ("", "-"):
            continue
        path = Path(given).expanduser().resolve()
        if path == target or target in path.parents:
            _refuse(
                target,
                path,
                "is an input of this run, inside the output folder",
                "the run replaces the whole output folder; write to another folder (-o DIR or output.dir)",
            )
    _check_replaceable(target)
    existing = target.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        _refuse(target, existing, "is a file, not a folder", "give -o (or output.dir) a path whose parents are folders")
    probe = existing / f".terrplan-probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)
    except OSError as exc:
        _refuse(
            target,
            existing,
            f"cannot be written ({exc.strerror})",
            "choose a folder you can write to (-o DIR), or fix its permissions",
        )


def _check_replaceable(target: Path) -> None:
    if target.exists() and not target.is_dir():
        _refuse(
            target, target, "is a file, not a folder", "give -o (or output.dir) a folder: the run writes several files"
        )
    if target.is_dir() and not (target / "summary.json").is_file() and any(target.iterdir()):
        _refuse(
            target,
            target,
            "holds files but no summary.json, so it is not a terrplan output folder",
            "the run replaces the whole folder; give a new or empty folder, or one an earlier run wrote",
        )


def _refuse(target: Path, path: Path, reason: str, hint: str) -> None:
    raise InputError(f"cannot write the output folder {target}", [Finding(str(path), reason, hint=hint)])


def write_files(directory: Path, files: dict[str, str | bytes], on_wait: Callable[[str], None] | None = None) -> None:
    """Replace `directory` with a folder holding exactly `files`: the old folder stays whole until the new one is
    complete, then one swaps for the other.

    Names may contain '/' for files in subfolders (e.g. plans/T01.md); text is written as UTF-8. `on_wait` is
    told when another run holds the folder's lock.
    """
    target = Path(directory).expanduser().resolve()
    parent, name = target.parent, target.name
    parent.mkdir(parents=True, exist_ok=True)
    delay = float(os.environ.get("TERRPLAN_TEST_WRITE_DELAY") or 0)
    with _lock(parent / f".{name}{LOCK_MARK}", target, on_wait):
        _recover(parent, name)
        _check_replaceable(target)
        staging = parent / f".{name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            os.mkdir(staging, 0o777)
            folders = {staging}
            for relative, content in files.items():
                path = staging / relative
                if path.parent not in folders:
                    path.parent.mkdir(0o777, parents=True, exist_ok=True)
                    folders.add(path.parent)
                _write_new(path, content.encode("utf-8") if isinstance(content, str) else content)
                if delay:
                    time.sleep(delay)
            for folder in sorted(folders, key=lambda p: -len(p.parts)):
                _fsync_dir(folder)
            with _signals_held():  # a signal waits until the old folder is gone too (it is at staging's name now)
                _swap(staging, target)
                _remove(staging)
        finally:
            _remove(staging)  # interrupted before the swap: the half-written new folder goes


def check_output_file(path: str | Path, inputs: Iterable[str | Path]) -> None:
    """Exit 3 when the file to write is a folder, or is one of `inputs` or lies inside an input folder."""
    target = Path(path).expanduser().resolve()
    problem = None
    if target.is_dir():
        problem = "is a folder, not a file", "give -o a file name, e.g. moves.csv"
    for given in inputs:
        source = Path(given).expanduser().resolve()
        if problem is None and (target == source or source in target.parents):
            problem = f"is an input of this run ({source})", "write to a file outside the inputs, e.g. -o moves.csv"
    if problem is not None:
        raise InputError(f"cannot write {target}", [Finding(str(target), problem[0], hint=problem[1])])


def write_file(path: Path, content: str | bytes) -> None:
    """One file, atomically: a temp file beside it (0o666 & ~umask), fsynced, then renamed over it."""
    target = Path(path).expanduser().resolve()
    check_output_file(target, ())
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}{TMP_MARK}*"):
        if _abandoned(stale):
            stale.unlink(missing_ok=True)
    staging = target.parent / f".{target.name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        _write_new(staging, content.encode("utf-8") if isinstance(content, str) else content)
        os.replace(staging, target)
        _fsync_dir(target.parent)
    finally:
        if os.path.lexists(staging):
            os.unlink(staging)


def _write_new(path: Path, data: bytes) -> None:
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
    with os.fdopen(handle, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def _remove(path: Path) -> None:
    """Remove a temporary folder whole, even when a signal's handler fires meanwhile (its exception is raised
    once the folder is gone: a signal caught just before the mask went up still runs its Python handler)."""
    interrupted: BaseException | None = None
    with _signals_held():
        for _ in range(3):  # ignore_errors: what cannot be removed stays for the next run's clean-up
            try:
                if os.path.lexists(path):
                    shutil.rmtree(path, ignore_errors=True)
                break
            except KeyboardInterrupt as exc:
                interrupted = exc
    if interrupted is not None:
        raise interrupted


def _swap(staging: Path, target: Path) -> None:
    """staging becomes target; the old target (if any) ends up at `staging`'s name, for removal. SIGINT and
    SIGTERM wait until the swap is done, so an interrupted run leaves the old folder or the new one."""
    with _signals_held():
        if not os.path.lexists(target):
            os.rename(staging, target)
        elif not _exchange(staging, target):
            aside = target.parent / f".{target.name}{OLD_MARK}{os.getpid()}-{secrets.token_hex(4)}"
            os.rename(target, aside)
            os.rename(staging, target)
            os.rename(aside, staging)
        _fsync_dir(target.parent)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(code, os.strerror(code), str(b))


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    held = {signal.SIGINT, signal.SIGTERM}
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not on Windows
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def _lock(path: Path, target: Path, on_wait: Callable[[str], None] | None) -> Iterator[None]:
    """An exclusive flock on `path` (kept, never deleted: removing a lock file races with its next user)."""
    if fcntl is None:  # pragma: no cover - not on Windows
        yield
        return
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        timeout = float(os.environ.get("TERRPLAN_LOCK_TIMEOUT") or LOCK_TIMEOUT_S)
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told and on_wait is not None:
                    on_wait(f"another terrplan run is writing {target}; waiting up to {timeout:g} s")
                    told = True
                if time.monotonic() >= deadline:
                    _refuse(
                        target,
                        path,
                        f"is locked by another terrplan run writing this folder (waited {timeout:g} s)",
                        "let the other run finish, or write to another folder (-o DIR)",
                    )
                time.sleep(0.05)
        yield
    finally:
        os.close(handle)


def _recover(parent: Path, name: str) -> None:
    """Undo what a killed run left: the old folder set aside while the new one was not yet in (put back), and
    temporary folders (removed). Runs under the lock; leftovers of live processes younger than an hour stay."""
    marks = (f".{name}{TMP_MARK}", f".{name}{OLD_MARK}")
    leftovers = sorted(p for p in parent.iterdir() if p.name.startswith(marks))
    aside = [p for p in leftovers if p.name.startswith(marks[1]) and _abandoned(p)]
    if aside and not os.path.lexists(parent / name):
        newest = max(aside, key=lambda p: p.lstat().st_mtime)
        os.rename(newest, parent / name)
        leftovers.remove(newest)
    for path in leftovers:
        if _abandoned(path):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _abandoned(path: Path) -> bool:
    """A leftover whose process is gone (pid from its name), or that is older than STALE_AFTER_S."""
    match = re.search(r"-(\d+)-[0-9a-f]+$", path.name)
    try:
        age = time.time() - path.lstat().st_mtime
    except FileNotFoundError:
        return False
    if match is None or age > STALE_AFTER_S:
        return True
    pid = int(match.group(1))
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
