"""Running scenarios: one `terrplan` process per scenario, on a local pool or a Dask cluster.

Each scenario runs as its own `terrplan optimize CONFIG -o FOLDER` process (a K of `terrplan size`: `terrplan size
CONFIG --scenario-k K --scenario-dir FOLDER`): its own memory, its own time budget from
its own start (as a single run has), a crash that kills only itself, and outputs byte for byte those of running
optimize by hand on the scenario's config. A library call inside a long-lived worker would share the worker's
memory, and its clock would start when the worker loaded terrplan, not when the scenario began.

The scenario process ends with its parent (Linux: PR_SET_PDEATHSIG), so a killed driver or Dask worker leaves no
orphan writing into the sweep; optimize's own clean-up then removes its half-written folder.

What a scenario leaves: its output folder (written whole or not at all by `terrplan.write`), its log, and last its
row (`rows/<id>.json`, written atomically): a scenario with a row is done, and is never run again.

On a cluster the inputs are read from the paths the driver hashed (a shared file system), or shipped: their bytes
go to the workers with the scenarios (`run_cluster(..., ship=True)`), and each worker writes them once into a folder
of its own (`shipped_copy`), checked against the driver's sha256, and runs the scenario on a copy of its config
that names those files. The sweep folder itself (configs, output folders, rows) is shared either way.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from terrplan.child import CORES_ENV, TIED, cores_share, tied_args
from terrplan.errors import EXIT_NOT_FOUND, EXIT_OK, Finding, InputError
from terrplan.sweep.grid import with_paths
from terrplan.write import json_text, write_file

#: Set in the child between fork and exec would be unsafe with threads (the driver's pool, Dask's): the child sets
#: its parent-death signal itself, checks its parent is still the one that started it, then runs the CLI as
#: `python -m terrplan` does (so its time budget counts from its own start).
_LAUNCH = (
    TIED
    + """\
sys.argv[0] = "terrplan"
from terrplan.__main__ import run
run()
"""
)

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
    # The terrplan command line, without the program: optimize's (the default) or one K of size's.
    argv: tuple[str, ...] = ()

    def command(self) -> tuple[str, ...]:
        return self.argv or ("optimize", self.config, "-o", self.output)


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


def run_scenario(task: Task, cores: int | None = None) -> dict[str, Any]:
    """Run one scenario (unless its row exists) and return its row: exit code, message and figures. `cores`: the
    scenario process's share of the cores (CORES_ENV), where the caller runs several at once."""
    done = read_row(Path(task.row))
    if done is not None:
        return done
    Path(task.log).parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    command = [sys.executable, "-c", _LAUNCH, *tied_args(), *task.command()]
    with open(task.log, "wb") as log:
        with _LOCK:
            if _STOPPING.is_set():
                raise ScenarioStopped(task.id, 143)
            env = None if cores is None else dict(os.environ, **{CORES_ENV: str(cores)})
            process = subprocess.Popen(
                [*command, "--log-json"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, env=env
            )
            _RUNNING.add(process)
        try:
            code = process.wait()
        finally:
            with _LOCK:
                _RUNNING.discard(process)
    if code < 0 or code in _STOPPED:
        raise ScenarioStopped(task.id, code)
    row = _ROWS[task.command()[0]](task, code, time.perf_counter() - started)
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
    """An optimize scenario's row: its figures from its summary.json and territories.csv."""
    row = _base_row(task, code, seconds)
    output = Path(task.output)
    if code not in _WRITTEN or not (output / "summary.json").is_file():
        return row
    summary = json.loads((output / "summary.json").read_text(encoding="utf-8"))
    if _changed_input(task, summary.get("inputs", []), row):
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


def _size_row(task: Task, code: int, seconds: float) -> dict[str, Any]:
    """A K of size's row: its table row as the scenario wrote it (size.json's `row`) under `figures`."""
    row = _base_row(task, code, seconds)
    written = Path(task.output) / "size.json"
    if code != EXIT_OK or not written.is_file():
        return row
    data = json.loads(written.read_text(encoding="utf-8"))
    if not _changed_input(task, data.get("inputs", []), row):
        row["figures"] = data["row"]
    return row


#: How a finished scenario's row is made, by the command it ran.
_ROWS = {"optimize": _row, "size": _size_row}


def _base_row(task: Task, code: int, seconds: float) -> dict[str, Any]:
    return {"exit_code": code, "message": _error_message(Path(task.log)), "runtime_s": round(seconds, 3)}


def _changed_input(task: Task, given: list[dict[str, str]], row: dict[str, Any]) -> bool:
    """Whether the scenario read another copy of an input than the one the driver hashed; if so `row` says so."""
    expected = dict(task.inputs)
    for read in given:
        if read["path"] in expected and read["sha256"] != expected[read["path"]]:
            changed = f"{read['path']} changed while the sweep ran (or differs on this worker): run the sweep again"
            row.update(exit_code=InputError.exit_code, message=changed)
            return True
    return False


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
    """Up to `workers` scenario processes at a time, each with its share of the cores (`cores_share`: on two cores,
    two scenarios run one process each). A scenario whose process dies is run once more (`retrying` is
    told why); Ctrl-C (KeyboardInterrupt, SIGTERM) stops every scenario process, which removes its half-written
    folder, and leaves."""
    _STOPPING.clear()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="terrplan-sweep")
    cores = cores_share(workers)
    running: dict[Future, tuple[Task, int]] = {pool.submit(run_scenario, task, cores): (task, 1) for task in tasks}
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
                        running[pool.submit(run_scenario, task, cores)] = (task, attempt + 1)
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


def run_cluster(tasks: list[Task], address: str, done: Done, ship: bool = False) -> None:
    """The same scenarios on an existing Dask distributed scheduler. The workers share the sweep folder with the
    driver (same paths); the inputs are read at the driver's paths too, or with `ship` sent to every worker once
    (scattered) and written into a folder of the worker's own. A worker that dies mid-scenario has it rescheduled
    by the scheduler; a scenario process that dies is retried once (Dask's retries). Ctrl-C cancels what has not
    started; scenarios already running finish on their workers, and their rows are there for the next run."""
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
        shipped = _scatter(client, tasks) if ship else None
        futures = {}
        for task in tasks:
            # a shipping scenario gets its inputs' futures: Dask hands the worker their bytes
            key = f"terrplan-{task.id}-{token}"
            if shipped is None:
                future = client.submit(run_scenario, task, key=key, pure=False, retries=1)
            else:
                files = {path: shipped[path] for path, _ in task.inputs}
                future = client.submit(run_shipped, task, files, key=key, pure=False, retries=1)
            futures[future] = task
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


def _scatter(client: Any, tasks: list[Task]) -> dict[str, Any]:
    """Each input's bytes on every worker (one copy per worker, not one per scenario): path -> its Dask future.
    The bytes are checked against the sha256 the scenarios' ids were made from."""
    files: dict[str, str] = {}
    for task in tasks:
        files.update(task.inputs)
    out = {}
    for path, digest in sorted(files.items()):
        data = Path(path).read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise InputError(
                f"an input changed since the sweep hashed it: {path}",
                [Finding(path, "its sha256 differs from the one the scenarios were planned with",
                         hint="run the sweep again")],
            )  # fmt: skip
        out[path] = client.scatter(data, broadcast=True, hash=False)
    return out


def run_shipped(task: Task, files: dict[str, bytes]) -> dict[str, Any]:
    """On a worker: the scenario with its inputs written into the worker's own folder (`shipped_copy`) and read
    from there, through a copy of its config that names them."""
    if read_row(Path(task.row)) is not None:
        return run_scenario(task)
    digests = dict(task.inputs)
    local = {path: str(shipped_copy(path, digests[path], data)) for path, data in files.items()}
    data = json.loads(Path(task.config).read_text(encoding="utf-8"))
    config = _shipped_folder() / "configs" / f"{task.id}.json"
    write_file(config, json_text(with_paths(data, local)))
    argv = tuple(str(config) if arg == task.config else arg for arg in task.command())
    inputs = tuple((local[path], digest) for path, digest in task.inputs)
    return run_scenario(dataclasses.replace(task, config=str(config), inputs=inputs, argv=argv))


def shipped_copy(path: str, digest: str, data: bytes) -> Path:
    """A shipped input written once per worker at `<temp>/terrplan-shipped-<uid>/inputs/<sha256>/<its name>`,
    after its bytes are checked against the driver's sha256 (an existing copy is checked again before use)."""
    target = _shipped_folder() / "inputs" / digest / Path(path).name
    if hashlib.sha256(data).hexdigest() != digest:
        raise InputError(
            f"a shipped input arrived damaged: {path}",
            [Finding(path, "the bytes this worker received do not have the driver's sha256", hint="run again")],
        )
    with contextlib.suppress(OSError):
        if hashlib.sha256(target.read_bytes()).hexdigest() == digest:
            return target
    write_file(target, data)  # atomically: scenarios on one worker may write the same input at once
    return target


def _shipped_folder() -> Path:
    """The worker's own folder for shipped inputs and configs (per user, so workers of several users never mix)."""
    return Path(tempfile.gettempdir()) / f"terrplan-shipped-{os.getuid()}"
