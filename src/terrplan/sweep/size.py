"""`terrplan size` through the sweep's machinery: each K a scenario, content-addressed and resumable.

Each K runs as `terrplan size CONFIG --scenario-k K --scenario-dir FOLDER` (its own process, locally or on a Dask
cluster, as a sweep's scenarios do) and writes its table row to FOLDER/size.json; the driver builds the table from
the rows. A K's id is its scenario id (`grid.scenario_id`: the resolved config, the inputs' sha256, terrplan's
version) with the K, so a rerun of the same size reuses every K already solved, and an interrupted one resumes.

The folder (`--dir`, default output.dir with '-size' appended) holds configs/, scenarios/, logs/ and rows/ as a
sweep's does, and inputs/: accounts read from stdin, kept so every K reads the same bytes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from terrplan.config import Config
from terrplan.errors import EXIT_INTERNAL, TerrplanError
from terrplan.sweep import Job, OnRetry, OnRow, run_jobs
from terrplan.sweep.grid import hash_inputs, scenario_id
from terrplan.write import write_file

#: What only a size folder holds (see `terrplan.sweep.open_folder`).
FOLDER = ("configs", "scenarios", "logs", "rows", "inputs")

#: The exit codes a failed K passes on as they are; any other (a process that died twice) is an internal error.
_PASSED_ON = (1, 2, 3, 4, 5, 6)


class SizeFailed(TerrplanError):
    """A K's scenario failed (not a proven infeasibility, which is a row): size exits with its code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code if exit_code in _PASSED_ON else EXIT_INTERNAL


def default_folder(config: Config) -> Path:
    """The config's output.dir with '-size' appended."""
    target = config.resolve(config.output.dir)
    return target.with_name(f"{target.name}-size")


def spool_stdin(folder: Path, data: bytes) -> Path:
    """Accounts read from stdin, kept in the folder under their sha256 (each K's process reads this file)."""
    path = folder / "inputs" / f"accounts-{hashlib.sha256(data).hexdigest()[:16]}.csv"
    if not path.is_file():
        write_file(path, data)
    return path


def size_rows(
    folder: Path,
    config: Config,
    ks: range,
    workers: int,
    cluster: str | None = None,
    ship: bool = False,
    on_row: OnRow | None = None,
    on_retry: OnRetry | None = None,
) -> list[dict[str, Any]]:
    """Each K's table row, in K order, each K solved (unless done before) as its own scenario in `folder`.
    SizeFailed names the first K whose scenario failed."""
    hashes: dict[Path, str] = {}
    hash_inputs(config, hashes)
    ids = {k: scenario_id(config, hashes, {"size_k": k}) for k in ks}
    jobs = [Job(ids[k], config, ("size", "--scenario-k", str(k)), "--scenario-dir") for k in ks]
    rows = run_jobs(folder, jobs, hashes, workers, cluster, ship, on_row, on_retry).rows
    for k in ks:
        row = rows[ids[k]]
        if "figures" not in row:
            why = (row.get("message") or "").strip() or "its process failed"
            log = folder / "logs" / f"{ids[k]}.log"
            raise SizeFailed(f"K = {k}: {why} (exit {row['exit_code']}; its log: {log})", row["exit_code"])
    return [rows[ids[k]]["figures"] for k in ks]
