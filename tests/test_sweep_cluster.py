"""`terrplan sweep --cluster`: a real Dask scheduler and two worker processes started here (loopback only)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

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


def test_an_unreachable_scheduler_is_a_clear_error(tiny):
    done = run_cli("sweep", str(tiny.config), "--grid", "k=2", "--dir", str(tiny.dir / "sweep"), "--cluster",
                   "tcp://127.0.0.1:9")  # fmt: skip
    assert done.returncode == 3, done.stderr.decode()
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in done.stderr.decode()
    assert b"Traceback" not in done.stderr
