"""Running scenarios: one `terrplan optimize` process per scenario, on a local pool or a Dask cluster.

Each scenario runs as its own `terrplan optimize CONFIG -o FOLDER` process: its own memory, its own time budget from
its own start (as a single run has), a crash that kills only itself, and outputs byte for byte those of running
optimize by hand on the scenario's config. A library call inside a long-lived worker would share the worker's
memory, and its clock would start when the worker loaded terrplan, not when the scenario began.

The scenario process ends with its parent (Linux: PR_SET_PDEATHSIG), so a killed driver or Dask worker leaves no
orphan writing into the sweep; optimize's own clean-up then removes its half-written folder.

What a scenario leaves: its output folder (written whole or not at all by `terrplan.write`), its log, and last its
row (`rows/<id>.json`, written atomically): a scenario with a row is done, and is never run again.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from terrplan.errors import EXIT_NOT_FOUND, EXIT_OK, Finding, InputError
from terrplan.write import json_text, write_file

#: Set in the child between fork and exec would be unsafe with threads (the driver's pool, Dask's): the child sets
#: its parent-death signal itself, checks its parent is still the one that started it, then runs the CLI as
#: `python -m terrplan` does (so its time budget counts from its own start).
_LAUNCH = """\
import ctypes, os, signal, sys
if sys.platform.startswith("linux"):
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv.pop(1)):
    sys.exit(143)
sys.argv[0] = "terrplan"
from terrplan.__main__ import run
run()
"""

#: Exit codes that mean the scenario was stopped, not that it finished: 130 (SIGINT), 143 (SIGTERM).
_STOPPED = (130, 143)

#: Exit codes after which the scenario's output folder holds a run (6: the best alignment found, outside a band).
_WRITTEN = (EXIT_OK, EXIT_NOT_FOUND)


@dataclass(frozen=True)
class Task:
    """One scenario to run, as paths a worker can reach (the sweep folder is shared with a cluster's workers)."""

    id: str
    config: str  # the scenario's config (JSON, which YAML reads), paths absolute
    output: str  # its output folder
    row: str  # its row, written when it has run
    log: str  # optimize's stderr (--log-json)
    inputs: tuple[tuple[str, str], ...]  # (path, sha256) of each input, as the driver hashed them


class ScenarioStopped(Exception):
    """The scenario's process ended by a signal or was stopped (130/143): no row; retried once, or left for the
    next run when the sweep itself is stopping."""

    def __init__(self, task_id: str, code: int):
        signum = -code if code < 0 else code - 128
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        super().__init__(f"scenario {task_id}: its process ended by {name}")
        self.task_id, self.code = task_id, 128 + signum

    def __reduce__(self) -> tuple[Any, ...]:  # Dask sends it from a worker to the driver
        return ScenarioStopped, (self.task_id, self.code)


# The driver's pool stops its scenario processes on Ctrl-C; a worker on a cluster never sets this.
_RUNNING: set[subprocess.Popen] = set()
_LOCK = threading.Lock()
_STOPPING = threading.Event()


def run_scenario(task: Task) -> dict[str, Any]:
    """Run one scenario (unless its row exists) and return its row: exit code, message and figures."""
    done = read_row(Path(task.row))
    if done is not None:
        return done
    Path(task.log).parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    command = [sys.executable, "-c", _LAUNCH, str(os.getpid()), "optimize", task.config, "-o", task.output]
    with open(task.log, "wb") as log:
        with _LOCK:
            if _STOPPING.is_set():
                raise ScenarioStopped(task.id, 143)
            process = subprocess.Popen(
                [*command, "--log-json"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log
            )
            _RUNNING.add(process)
        try:
            code = process.wait()
        finally:
            with _LOCK:
                _RUNNING.discard(process)
    if code < 0 or code in _STOPPED:
        raise ScenarioStopped(task.id, code)
    row = _row(task, code, time.perf_counter() - started)
    write_file(Path(task.row), json_text(row))
    return row


def read_row(path: Path) -> dict[str, Any] | None:
    """A done scenario's row, or None (not run yet)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def stopped_row(task: Task, error: BaseException) -> dict[str, Any]:
    """The row of a scenario whose process died on every try: not written, so the next run tries again."""
    code = error.code if isinstance(error, ScenarioStopped) else 1
    return {"exit_code": code, "message": str(error), "runtime_s": None, "status": "died"}


def _row(task: Task, code: int, seconds: float) -> dict[str, Any]:
    row: dict[str, Any] = {"exit_code": code, "message": _error_message(Path(task.log)), "runtime_s": round(seconds, 3)}
    output = Path(task.output)
    if code not in _WRITTEN or not (output / "summary.json").is_file():
        return row
    summary = json.loads((output / "summary.json").read_text(encoding="utf-8"))
    expected = dict(task.inputs)
    for given in summary.get("inputs", []):
        if given["path"] in expected and given["sha256"] != expected[given["path"]]:
            changed = f"{given['path']} changed while the sweep ran (or differs on this worker): run the sweep again"
            row.update(exit_code=InputError.exit_code, message=changed)
            return row
    parts = summary.get("objective_parts") or {}
    moved = summary.get("disruption") or {}
    row.update(
        status=summary["status"],
        k=summary["territories"],
        objective=summary["objective"],
        lower_bound=summary.get("lower_bound"),
        gap=summary.get("gap"),
        travel=parts.get("travel", summary["objective"]),
        disruption_cost=parts.get("disruption", 0.0),
        moved_potential_share=moved.get("moved_potential_share"),
        moved_accounts=moved.get("moved_accounts"),
        runtime_s=summary["runtime_s"],  # optimize's own figure, as its summary.json says
        **_spreads(output / "territories.csv"),
    )
    return row


def _spreads(territories: Path) -> dict[str, float | None]:
    """The spread (highest less lowest index, mean 100) of potential and workload across territories."""
    with open(territories, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    out: dict[str, float | None] = {}
    for metric in ("potential", "workload"):
        values = [float(row[f"{metric}_index"]) for row in rows if row.get(f"{metric}_index") not in (None, "")]
        out[f"{metric}_spread"] = round(max(values) - min(values), 6) if values else None
    return out


def _error_message(log: Path) -> str:
    """The message of the scenario's last error line (optimize --log-json), or ''."""
    message = ""
    with contextlib.suppress(OSError):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and record.get("level") == "error":
                    message = str(record.get("message", ""))
    return message


# -- where the scenarios run ------------------------------------------------------------------------------------

Done = Callable[[Task, dict[str, Any]], None]


def run_local(tasks: Iterable[Task], workers: int, done: Done, retrying: Callable[[str], None] | None = None) -> None:
    """Up to `workers` scenario processes at a time. A scenario whose process dies is run once more (`retrying` is
    told why); Ctrl-C (KeyboardInterrupt, SIGTERM) stops every scenario process, which removes its half-written
    folder, and leaves."""
    _STOPPING.clear()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="terrplan-sweep")
    running: dict[Future, tuple[Task, int]] = {pool.submit(run_scenario, task): (task, 1) for task in tasks}
    try:
        while running:
            finished, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)  # a timeout keeps Ctrl-C heard
            for future in finished:
                task, attempt = running.pop(future)
                try:
                    row = future.result()
                except ScenarioStopped as error:
                    if attempt < 2:
                        if retrying is not None:
                            retrying(f"{error}; running it once more")
                        running[pool.submit(run_scenario, task)] = (task, attempt + 1)
                        continue
                    row = stopped_row(task, error)
                done(task, row)
    finally:
        if running:
            _stop_all()
        pool.shutdown(wait=True, cancel_futures=True)


def _stop_all() -> None:
    """SIGTERM to every scenario process this driver started; they end as optimize does on Ctrl-C."""
    with _LOCK:
        _STOPPING.set()
        for process in _RUNNING:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)


def run_cluster(tasks: list[Task], address: str, done: Done) -> None:
    """The same scenarios on an existing Dask distributed scheduler. The sweep folder and the inputs must be at the
    same paths on the workers (a shared file system). A worker that dies mid-scenario has it rescheduled by the
    scheduler; a scenario process that dies is retried once (Dask's retries). Ctrl-C cancels what has not started;
    scenarios already running finish on their workers, and their rows are there for the next run."""
    from distributed import Client, as_completed

    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise InputError(
            f"cannot reach the Dask scheduler at {address}",
            [Finding(address, str(exc) or type(exc).__name__, hint="start one (dask scheduler) or check the address")],
        ) from None
    with client:
        token = os.urandom(4).hex()  # keys unique to this sweep run: never a stale result from an earlier one
        futures = {
            client.submit(run_scenario, task, key=f"terrplan-{task.id}-{token}", pure=False, retries=1): task
            for task in tasks
        }
        try:
            for future in as_completed(futures):
                task = futures[future]
                try:
                    row = future.result()
                except Exception as error:  # KilledWorker (the scheduler gave up), ScenarioStopped twice
                    row = stopped_row(task, error)
                done(task, row)
                future.release()
        finally:
            client.cancel([future for future in futures if not future.done()])
