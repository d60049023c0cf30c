"""`terrplan sweep --cluster`: a real Dask scheduler and two worker processes started here (loopback only)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli
from test_sweep import GRID, figures, swept, wait_for  # noqa: F401 (swept: a fixture)

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as local,
        distributed.Client(local) as client,
    ):
        yield local, client


def test_cluster_gives_the_local_table_and_a_killed_worker_loses_nothing(cluster, swept, tmp_path):  # noqa: F811
    local, client = cluster
    on_pool = swept[0]  # the same grid on 2 local workers
    config = on_pool.parent / "case" / "config.yaml"  # the same scenarios, so the same ids
    on_cluster = run_cli("sweep", str(config), *GRID, "--dir", str(tmp_path / "cluster"), "--cluster",
                         local.scheduler_address)  # fmt: skip
    assert on_cluster.returncode == 0, on_cluster.stderr.decode()
    pd.testing.assert_frame_equal(figures(tmp_path / "cluster"), figures(on_pool))
    assert (tmp_path / "cluster" / "frontier.csv").read_bytes() == (on_pool / "frontier.csv").read_bytes()
    for scenario in (p.name for p in (on_pool / "scenarios").iterdir() if not p.name.startswith(".")):
        for name in ("assignments.csv", "territories.csv"):
            local_file = on_pool / "scenarios" / scenario / name
            assert (tmp_path / "cluster" / "scenarios" / scenario / name).read_bytes() == local_file.read_bytes()

    # Again into a new folder; kill the worker process running a scenario while it runs. The scenarios' optimize
    # processes inherit the workers' environment: a write delay keeps each running long enough.
    client.run(os.environ.__setitem__, "TERRPLAN_TEST_WRITE_DELAY", "0.1")
    folder = tmp_path / "killed"
    command = [sys.executable, "-m", "terrplan", "sweep", str(config), *GRID, "--dir", str(folder), "--cluster",
               local.scheduler_address]  # fmt: skip
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pids = client.run(os.getpid)
    wait_for(lambda: any(client.processing().values()) and (folder / "logs").is_dir(), what="a scenario running")
    time.sleep(0.5)  # its optimize process is under way
    busy = next(address for address, keys in client.processing().items() if keys)
    os.kill(pids[busy], signal.SIGKILL)
    _, stderr = driver.communicate(timeout=300)
    assert driver.returncode == 0, stderr.decode()
    pd.testing.assert_frame_equal(figures(folder), figures(on_pool))
    assert not [p for p in (folder / "scenarios").iterdir() if "terrplan-tmp" in p.name]


def test_shipped_inputs_give_the_local_rows_read_from_the_workers_own_copies(cluster, swept, tmp_path):  # noqa: F811
    local, _ = cluster
    on_pool = swept[0]
    config = on_pool.parent / "case" / "config.yaml"
    folder = tmp_path / "shipped"
    done = run_cli("sweep", str(config), "--grid", "k=2,3", "--grid", "tolerance=0.2", "--dir", str(folder),
                   "--cluster", local.scheduler_address, "--ship-inputs")  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert "(inputs shipped)" in done.stderr.decode()
    shipped = figures(folder).drop(columns="pareto").set_index("scenario")
    expected = figures(on_pool).drop(columns="pareto").set_index("scenario").loc[shipped.index]
    assert len(shipped) == 2
    pd.testing.assert_frame_equal(shipped, expected)  # the same scenarios (ids), the same figures
    copies = Path(tempfile.gettempdir()) / f"terrplan-shipped-{os.getuid()}" / "inputs"
    for scenario in shipped.index:
        read = json.loads((folder / "scenarios" / scenario / "summary.json").read_text())["inputs"]
        assert {Path(item["path"]).parent.parent for item in read} == {copies}  # the worker's copies...
        for item in read:  # ...with the bytes of the driver's files
            original = config.parent / Path(item["path"]).name
            assert item["sha256"] == hashlib.sha256(original.read_bytes()).hexdigest()
            assert Path(item["path"]).parent.name == item["sha256"]


def test_size_on_the_cluster_gives_the_local_table(cluster, tiny):
    local, _ = cluster
    size = ("size", str(tiny.config), "--k-range", "2:3", "--capacity", "400", "--time-limit", "30")
    here = run_cli(*size, "--workers", "2", "-d", str(tiny.dir / "here"))
    assert here.returncode == 0, here.stderr.decode()
    there = run_cli(*size, "--cluster", local.scheduler_address, "--ship-inputs", "-d", str(tiny.dir / "there"))
    assert there.returncode == 0, there.stderr.decode()
    assert there.stdout == here.stdout and len(there.stdout.splitlines()) == 3


def test_an_unreachable_scheduler_is_a_clear_error(tiny):
    done = run_cli("sweep", str(tiny.config), "--grid", "k=2", "--dir", str(tiny.dir / "sweep"), "--cluster",
                   "tcp://127.0.0.1:9")  # fmt: skip
    assert done.returncode == 3, done.stderr.decode()
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in done.stderr.decode()
    assert b"Traceback" not in done.stderr
