"""`terrplan sweep` on the tiny case: the grid, the table, reruns, faults (a killed driver, Ctrl-C, a scenario process
that dies), bad input, and the frontier page in headless Chromium.

The sweeps here run real `terrplan` processes: the driver as a subprocess, each scenario as its own optimize process.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import psutil
import pytest
from conftest import TINY_ACCOUNTS, TINY_CONFIG, TINY_VOLUMES, invoke, run_cli

from terrplan.child import CORES_ENV, usable_cores
from terrplan.config import load_config
from terrplan.report.palette import PALETTE, rgb
from terrplan.sweep import plan_sweep
from terrplan.sweep.frontier import PARETO_RING
from terrplan.sweep.grid import GridError, Settings, check_shippable, parse_axes, standalone, sweep_settings

# K 2-4 at two tolerances: K = 4 at ±5 % is proven impossible on the tiny case (exit 4), the rest solve.
GRID = ("--grid", "k=2:4", "--grid", "tolerance=0.05,0.2")
TWO_BALANCES = TINY_CONFIG.replace(
    "balance: {metric: potential, tolerance: 0.05}",
    "balance:\n    - {metric: potential, tolerance: 0.05}\n    - {metric: workload, tolerance: 0.5}",
)


def make_case(folder: Path, config: str = TINY_CONFIG) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "accounts.csv").write_text(TINY_ACCOUNTS)
    (folder / "volumes.csv").write_text(TINY_VOLUMES)
    (folder / "config.yaml").write_text(config)
    return folder / "config.yaml"


def start_sweep(config: Path, folder: Path, *more: str, delay: float = 0.0) -> subprocess.Popen:
    env = dict(os.environ, TERRPLAN_TEST_WRITE_DELAY=str(delay)) if delay else None
    command = [sys.executable, "-m", "terrplan", "sweep", str(config), *GRID, "--dir", str(folder), *more]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def figures(folder: Path) -> pd.DataFrame:
    """The results table without runtime_s, the one column that is a measurement rather than a result."""
    return pd.read_parquet(folder / "results.parquet").drop(columns="runtime_s")


def wait_for(check, timeout: float = 120.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def scenario_processes(driver: int) -> list[psutil.Process]:
    try:
        return [p for p in psutil.Process(driver).children() if "optimize" in p.cmdline()]
    except psutil.NoSuchProcess:
        return []


def assert_nothing_half_written(folder: Path) -> None:
    """Every scenario folder is whole (a summary.json) or absent, and so is every row; no temporary leftovers. (A
    whole folder may lack its row when the sweep stopped between the two: the next run does that scenario again.)"""
    for part in ("scenarios", "rows"):
        names = [p.name for p in (folder / part).iterdir()] if (folder / part).exists() else []
        assert not [name for name in names if "terrplan-tmp" in name], names
    for name in os.listdir(folder / "scenarios") if (folder / "scenarios").exists() else []:
        if not name.startswith("."):
            assert (folder / "scenarios" / name / "summary.json").is_file(), name
    for row in (folder / "rows").glob("*.json"):
        assert json.loads(row.read_text())["exit_code"] in (0, 4), row


@pytest.fixture(scope="session")
def swept(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """One clean sweep of the tiny grid on 2 local workers, with the frontier page and the CSV on stdout."""
    root = tmp_path_factory.mktemp("swept")
    config = make_case(root / "case")
    done = run_cli("sweep", str(config), *GRID, "--dir", str(root / "sweep"), "--workers", "2", "--report", "-o", "-")
    assert done.returncode == 0, done.stderr.decode()
    return root / "sweep", done


# -- the grid ---------------------------------------------------------------------------------------------------


def test_grid_keys_address_balance_entries_by_position_by_metric_and_the_primary(tmp_path):
    config = load_config(make_case(tmp_path, TWO_BALANCES))
    axes = parse_axes(
        [
            "territories.balance.tolerance=0.03:0.05:0.01",  # the primary's, as --tolerance
            "territories.balance.workload.tolerance=0.2,0.4",
            "territories.balance.1.max_per_fte=null,900",
            "--move-cost=0,30",
            "k=40:60:5",
            "output.report=false",
        ],
        config,
    )
    assert [(axis.key, axis.path, axis.values) for axis in axes] == [
        ("territories.balance.tolerance", ("territories", "balance", 0, "tolerance"), ("0.03", "0.04", "0.05")),
        ("territories.balance.workload.tolerance", ("territories", "balance", 1, "tolerance"), ("0.2", "0.4")),
        ("territories.balance.1.max_per_fte", ("territories", "balance", 1, "max_per_fte"), (None, "900")),
        ("disruption.move_cost_km", ("disruption", "move_cost_km"), ("0", "30")),
        ("territories.count", ("territories", "count"), ("40", "45", "50", "55", "60")),
        ("output.report", ("output", "report"), (False,)),
    ]


@pytest.mark.parametrize(
    ("grid", "code", "message"),
    [
        ("territories.cout=2,3", 2, "unknown config key territories.cout ('cout' is not a key of territories); "
                                    "did you mean 'territories.count'?"),
        ("territories.balance.beds.tolerance=0.1", 2, "territories.balance has no entry 'beds'"),
        ("k=4:2", 2, "'4:2' is not a range MIN:MAX[:STEP] with MIN <= MAX and STEP > 0"),
        ("k=2.5:4", 2, "'2.5:4' is a range of whole numbers here"),
        ("k=2,,3", 2, "an empty value"),
        ("k=2,2", 2, "the value '2' is given twice"),
        ("hierarchy=2,3", 2, "hierarchy is a section; put one of its keys on the grid"),
        ("territories.count", 2, "expected KEY=V1,V2,..."),
        ("territories.count=2,abc", 3, "--grid territories.count=abc: key 'territories.count': expected a number "
                                       "(int) (got 'abc')"),
        ("tolerance=0.05,1.5", 3, "--grid territories.balance.tolerance=1.5: key 'territories.balance.tolerance': "
                                  "tolerance must be a fraction in [0, 1) (got '1.5')"),
        ("accounts=missing.csv", 3, "missing.csv: key 'inputs.accounts.path': No such file or directory"),
    ],
)  # fmt: skip
def test_bad_grid_input_stops_before_any_work_naming_the_key_and_value(tiny, grid, code, message):
    result = invoke("sweep", str(tiny.config), "--grid", grid, "--dir", str(tiny.dir / "sweep"))
    assert result.exit_code == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tiny.dir / "sweep").exists()


def test_a_scenario_id_is_its_config_and_inputs_and_a_changed_input_changes_it(tmp_path):
    config = make_case(tmp_path)
    first = plan_sweep(config, {}, ["k=2,3"])
    again = plan_sweep(config, {}, ["territories.count=3,2"])  # the same scenarios by another name, in another order
    assert [s.id for s in first.scenarios] == [s.id for s in reversed(again.scenarios)]
    assert len({s.id for s in first.scenarios}) == 2
    (tmp_path / "volumes.csv").write_text(TINY_VOLUMES.replace("150", "151"))
    changed = plan_sweep(config, {}, ["k=2,3"])
    assert not {s.id for s in changed.scenarios} & {s.id for s in first.scenarios}


def test_every_input_file_is_hashed_and_made_absolute_globs_file_by_file(tmp_path):
    case = make_case(tmp_path / "case").parent
    for year in (2020, 2021):
        (case / f"volumes-{year}.csv").write_text(TINY_VOLUMES)
    listed = TINY_CONFIG.replace("volumes: {path: volumes.csv}", "volumes:\n    files:\n"
                                 "      - {path: volumes-2020.csv, year: 2020}\n      - {path: volumes-2021.csv, year: 2021}")  # fmt: skip
    plan = plan_sweep(make_case(case, listed), {}, ["k=2"])
    assert {path.name for path in plan.hashes} == {"accounts.csv", "volumes-2020.csv", "volumes-2021.csv"}
    files = standalone(plan.scenarios[0].config)["inputs"]["volumes"]["files"]
    assert [entry["path"] for entry in files] == [str(case / "volumes-2020.csv"), str(case / "volumes-2021.csv")]
    (case / "volumes-2021.csv").write_text(TINY_VOLUMES.replace("150", "151"))
    assert plan_sweep(case / "config.yaml", {}, ["k=2"]).scenarios[0].id != plan.scenarios[0].id
    globbed = make_case(case, TINY_CONFIG.replace("volumes: {path: volumes.csv}", "volumes: {path: volumes-20*.csv}"))
    plan = plan_sweep(globbed, {}, ["k=2"])
    assert {path.name for path in plan.hashes} == {"accounts.csv", "volumes-2020.csv", "volumes-2021.csv"}
    with pytest.raises(GridError, match="--ship-inputs cannot send a glob of files"):
        check_shippable(s.config for s in plan.scenarios)


def test_the_scoring_factor_files_are_inputs_too_hashed_and_made_absolute(tmp_path):
    case = make_case(tmp_path / "case").parent
    (case / "landscape.csv").write_text("account_id,manufacturer,share\nA1,Rival,0.6\n")
    factors = TINY_CONFIG.replace("scoring:\n", "scoring:\n  competition: {path: landscape.csv, company: OurCo}\n")
    assert factors != TINY_CONFIG
    plan = plan_sweep(make_case(case, factors), {}, ["k=2"])
    assert "landscape.csv" in {path.name for path in plan.hashes}
    scenario = standalone(plan.scenarios[0].config)
    assert scenario["scoring"]["competition"]["path"] == str(case / "landscape.csv")
    (case / "landscape.csv").write_text("account_id,manufacturer,share\nA1,Rival,0.7\n")
    assert plan_sweep(case / "config.yaml", {}, ["k=2"]).scenarios[0].id != plan.scenarios[0].id


def test_workers_and_cluster_exclude_each_other(tiny):
    result = invoke("sweep", str(tiny.config), "--grid", "k=2", "--workers", "2", "--cluster", "tcp://127.0.0.1:9")
    assert result.exit_code == 2
    assert "--workers and --cluster exclude each other" in result.stderr


def test_values_fine_alone_but_not_together_are_a_failed_row(tiny):
    result = invoke("sweep", str(tiny.config), "--grid", "territories.min_accounts=3", "--grid",
                    "territories.max_accounts=2,8", "--dir", str(tiny.dir / "sweep"), "-q")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    table = pd.read_parquet(tiny.dir / "sweep" / "results.parquet")
    assert list(table["territories.max_accounts"]) == [2, 8]
    assert list(table["exit_code"]) == [3, 0]
    assert "key 'territories.min_accounts': min_accounts is above max_accounts (got '3 > 2')" in table["message"][0]
    assert table["status"][0] == "invalid" and table["status"][1] == "optimal"


def test_the_config_sweep_section_gives_the_grid_and_the_flags_win(tmp_path):
    section = ("sweep:\n  grid:\n    k: 2:3\n    tolerance: [0.05, 0.2]\n    accounts: [accounts.csv]\n"
               "  workers: 3\n  ship_inputs: yes\n")  # fmt: skip
    path = make_case(tmp_path / "case", TINY_CONFIG + section)
    config = load_config(path)
    axes = parse_axes(["tolerance=0.1", "seed=1,2"], config, path)
    assert [(axis.key, axis.values, axis.flag) for axis in axes] == [
        ("territories.count", ("2", "3"), False),
        ("territories.balance.tolerance", ("0.1",), True),  # the flag's values replace the section's
        ("inputs.accounts.path", (str(tmp_path / "case" / "accounts.csv"),), False),  # relative to the config
        ("solver.seed", ("1", "2"), True),
    ]
    assert sweep_settings(config, path, None, None, None) == Settings(3, None, True)
    assert sweep_settings(config, path, 1, None, False) == Settings(1, None, False)
    assert sweep_settings(config, path, None, "tcp://127.0.0.1:9", None) == Settings(None, "tcp://127.0.0.1:9", True)
    # the same scenarios, with the same ids, as the same grid given as flags; a scenario's config has no sweep section
    by_section = plan_sweep(path, {}, ["tolerance=0.1", "seed=1,2"]).scenarios
    plain = make_case(tmp_path / "plain")
    by_flags = plan_sweep(plain, {}, ["k=2:3", "tolerance=0.1", f"accounts={tmp_path / 'case' / 'accounts.csv'}",
                                      f"volumes={tmp_path / 'case' / 'volumes.csv'}", "seed=1,2"]).scenarios  # fmt: skip
    assert [s.id for s in by_section] == [s.id for s in by_flags]
    assert "sweep" not in standalone(by_section[0].config)


@pytest.mark.parametrize(
    ("section", "messages"),
    [
        ("sweep: {grid: {k: '4:2'}}", ["config.yaml: key 'sweep.grid.k': '4:2' is not a range MIN:MAX[:STEP]"]),
        ("sweep: {grid: {territories.cout: [2, 3]}}", ["config.yaml: key 'sweep.grid.territories.cout': unknown "
                                                       "config key territories.cout"]),
        ("sweep: {grid: {k: [[2, 3]]}}", ["config.yaml: key 'sweep.grid.k': expected a list of values, or text"]),
        ("sweep: {grid: {sweep.workers: [1, 2]}}", ["the sweep section says how to sweep; it is no scenario's"]),
        ("sweep: {grid: [k, 2]}", ["config.yaml: key 'sweep.grid': expected a mapping of config keys to values",
                                   "hint: e.g. grid: {territories.count: '11:13'"]),
        ("sweep: {workers: many, clutser: tcp://x:1, ship_inputs: maybe}",
         ["config.yaml: the sweep section has 3 problem(s)",
          "config.yaml: key 'sweep.clutser': unknown config key\n    hint: did you mean 'sweep.cluster'?",
          "config.yaml: key 'sweep.workers': expected a whole number, 1 or more (got 'many')",
          "config.yaml: key 'sweep.ship_inputs': expected true or false (got 'maybe')"]),
        ("sweep: {workers: 2, cluster: tcp://127.0.0.1:9}", ["key 'sweep.workers': workers and cluster exclude each "
                                                             "other\n    hint: the cluster has its own workers"]),
        ("sweep: {cluster: 8786}", ["key 'sweep.cluster': expected a Dask scheduler's address (got '8786')\n    "
                                    "hint: e.g. tcp://"]),
    ],
)  # fmt: skip
def test_a_bad_sweep_section_stops_before_any_work_naming_file_key_and_hint(tiny, section, messages):
    tiny.write("config.yaml", TINY_CONFIG + section + "\n")
    result = invoke("sweep", str(tiny.config), "--grid", "k=2", "--dir", str(tiny.dir / "sweep"))
    assert result.exit_code == 2, result.stderr
    for message in messages:
        assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tiny.dir / "sweep").exists()


def test_ship_inputs_needs_a_cluster(tiny):
    result = invoke("sweep", str(tiny.config), "--grid", "k=2", "--ship-inputs", "--dir", str(tiny.dir / "sweep"))
    assert result.exit_code == 2
    assert "--ship-inputs sends the inputs to a cluster's workers: give --cluster" in result.stderr
    assert not (tiny.dir / "sweep").exists()


# -- the table --------------------------------------------------------------------------------------------------


def test_the_table_has_a_row_per_scenario_with_the_figures_of_its_own_summary(swept):
    folder, done = swept
    table = pd.read_parquet(folder / "results.parquet")
    assert list(table["territories.count"]) == [2, 2, 3, 3, 4, 4]
    assert list(table["territories.balance.tolerance"]) == [0.05, 0.2] * 3
    failed = table.loc[table["exit_code"] != 0]
    assert list(failed["territories.count"]) == [4] and list(failed["status"]) == ["infeasible"]
    assert list(failed["exit_code"]) == [4] and "no alignment can meet the bands" in failed["message"].iloc[0]
    for row in table.loc[table["exit_code"] == 0].itertuples():
        summary = json.loads((folder / row.folder / "summary.json").read_text())
        assert (row.k, row.status, row.objective, row.runtime_s) == (
            summary["territories"], summary["status"], summary["objective"], summary["runtime_s"])  # fmt: skip
        assert row.moved_potential_share == summary["disruption"]["moved_potential_share"]
        territories = pd.read_csv(folder / row.folder / "territories.csv")
        assert row.potential_spread == pytest.approx(territories["potential_index"].max()
                                                     - territories["potential_index"].min())  # fmt: skip
    # stdout carries the frontier CSV and nothing else; it is frontier.csv
    assert done.stdout == (folder / "frontier.csv").read_bytes()
    frontier = pd.read_csv(io.BytesIO(done.stdout))
    assert list(frontier["scenario"]) == list(table.loc[table["pareto"], "scenario"])
    assert 0 < len(frontier) < len(table)


def test_a_scenario_is_what_optimize_gives_for_its_config(swept, tmp_path):
    folder, _ = swept
    scenario = pd.read_parquet(folder / "results.parquet")["scenario"][0]
    done = run_cli("optimize", str(folder / "configs" / f"{scenario}.json"), "-o", str(tmp_path / "by-hand"))
    assert done.returncode == 0, done.stderr.decode()
    for name in ("assignments.csv", "territories.csv", "report.html", "moves.csv"):
        assert (tmp_path / "by-hand" / name).read_bytes() == (folder / "scenarios" / scenario / name).read_bytes()


def test_a_scenario_config_read_again_is_the_same_scenario(swept):
    folder, _ = swept
    configs = sorted((folder / "configs").glob("*.json"))
    assert len(configs) == 6
    for config in configs:
        (again,) = plan_sweep(config, {}, []).scenarios
        assert again.id == config.stem


def test_a_rerun_does_no_work_and_writes_the_same_table(swept):
    folder, _ = swept
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file() and "scenarios" not in p.parts[-2:]}
    table = (folder / "results.parquet").read_bytes()
    done = run_cli("sweep", str(folder.parent / "case" / "config.yaml"), *GRID, "--dir", str(folder), "--report")
    assert done.returncode == 0, done.stderr.decode()
    assert "6 scenario(s): 0 run now, 6 done before" in done.stderr.decode()
    assert (folder / "results.parquet").read_bytes() == table
    for log in (folder / "logs").iterdir():
        assert log.stat().st_mtime_ns == before[log], f"{log.name} was run again"


# -- faults -----------------------------------------------------------------------------------------------------


def test_a_killed_sweep_leaves_nothing_half_written_and_resumes_to_the_same_table(swept, tmp_path):
    config = swept[0].parent / "case" / "config.yaml"  # the same scenarios, so the same ids
    folder = tmp_path / "sweep"
    driver = start_sweep(config, folder, "--workers", "2", delay=0.15)
    wait_for(lambda: (folder / "rows").is_dir() and any((folder / "rows").iterdir()), what="a first row")
    children = scenario_processes(driver.pid)
    driver.kill()  # SIGKILL: no clean-up in the driver; its scenario processes end with it
    driver.communicate()
    psutil.wait_procs(children, timeout=30)
    assert all(not p.is_running() for p in children)
    rows = len(list((folder / "rows").iterdir()))
    assert 1 <= rows < 6
    assert not (folder / "results.parquet").exists()
    assert_nothing_half_written(folder)
    done = run_cli("sweep", str(config), *GRID, "--dir", str(folder), "--workers", "2")
    assert done.returncode == 0, done.stderr.decode()
    assert f"{6 - rows} run now, {rows} done before" in done.stderr.decode()
    pd.testing.assert_frame_equal(figures(folder), figures(swept[0]))


def test_ctrl_c_stops_cleanly_and_the_next_run_resumes(swept, tmp_path):
    config = swept[0].parent / "case" / "config.yaml"  # the same scenarios, so the same ids
    folder = tmp_path / "sweep"
    driver = start_sweep(config, folder, "--workers", "2", delay=0.15)
    wait_for(lambda: len(scenario_processes(driver.pid)) == 2, what="two scenario processes")
    children = scenario_processes(driver.pid)
    # two at once: each gets half the cores, so neither starts a second process to compete with the other
    assert [p.environ().get(CORES_ENV) for p in children] == [str(max(1, usable_cores() // 2))] * 2
    driver.send_signal(signal.SIGINT)
    _, stderr = driver.communicate(timeout=60)
    assert driver.returncode == 130, stderr.decode()
    assert "stopped by SIGINT" in stderr.decode() and "Traceback" not in stderr.decode()
    assert all(not p.is_running() for p in children)
    assert_nothing_half_written(folder)
    done = run_cli("sweep", str(config), *GRID, "--dir", str(folder), "--workers", "2")
    assert done.returncode == 0, done.stderr.decode()
    pd.testing.assert_frame_equal(figures(folder), figures(swept[0]))


def test_a_scenario_process_that_dies_is_run_again(swept, tmp_path):
    config = swept[0].parent / "case" / "config.yaml"  # the same scenarios, so the same ids
    folder = tmp_path / "sweep"
    driver = start_sweep(config, folder, "--workers", "2", "--log-json", delay=0.1)
    wait_for(lambda: scenario_processes(driver.pid), what="a scenario process")
    victim = scenario_processes(driver.pid)[0]
    scenario = re.search(r"configs/(\w+)\.json", " ".join(victim.cmdline())).group(1)
    victim.kill()
    _, stderr = driver.communicate(timeout=180)
    assert driver.returncode == 0, stderr.decode()
    events = [json.loads(line) for line in stderr.decode().splitlines()]
    finished = [e for e in events if e["event"] == "scenario"]
    assert len(finished) == 6 and scenario in {e["scenario"] for e in finished}
    retried = [e["message"] for e in events if e["event"] == "retry"]
    assert retried == [f"scenario {scenario}: its process ended by SIGKILL; running it once more"]
    pd.testing.assert_frame_equal(figures(folder), figures(swept[0]))


# -- the frontier page ------------------------------------------------------------------------------------------


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def _chromium(page: Path, tmp_path: Path, *flags: str) -> subprocess.CompletedProcess:
    browser = _browser()
    if browser is None:
        pytest.skip("no Chromium found (install Debian's chromium; .ci/run does where it can)")
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1366,768", *flags, page.as_uri()]  # fmt: skip
    return subprocess.run(command, capture_output=True, timeout=120)


def test_frontier_page_draws_its_charts_and_every_pareto_point_links_to_a_report(swept, tmp_path):
    folder, _ = swept
    table = pd.read_parquet(folder / "results.parquet")
    page = folder / "frontier.html"
    # The DOM Chromium built: one link per Pareto point and chart, each to a report that exists.
    dom = _chromium(page, tmp_path, "--dump-dom").stdout.decode()
    links = re.findall(r'<a class="pareto" href="([^"]+)">', dom)
    pareto = table.loc[table["pareto"], "scenario"]
    charts = dom.count('<svg class="chart"')
    assert charts == 3  # travel vs disruption, travel vs balance, K vs travel
    assert len(links) == charts * len(pareto)
    assert {link.split("/")[1] for link in links} == set(pareto)
    for link in links:
        assert link.endswith("/report.html") and (folder / link).is_file(), link
    # The screenshot: the Pareto points' rings and the dots in each K's colour are drawn.
    png = tmp_path / "shot.png"
    shot = _chromium(page, tmp_path, f"--screenshot={png}")
    assert png.exists(), shot.stderr.decode(errors="replace")[-2000:]
    from PIL import Image

    image = Image.open(png).convert("RGB")
    pixels = Counter(zip(*(band.tobytes() for band in image.split()), strict=True))

    def near(colour: str) -> int:
        return sum(n for p, n in pixels.items() if all(abs(a - b) <= 3 for a, b in zip(p, rgb(colour), strict=True)))

    assert near(PARETO_RING) >= 40 * len(pareto), "the Pareto rings are missing"
    ks = sorted(table["k"].unique())  # the page colours K in this order
    for k in table.loc[table["exit_code"] == 0, "k"].unique():
        assert near(PALETTE[ks.index(k)]) >= 30, f"no dots in K = {k}'s colour {PALETTE[ks.index(k)]}"


def test_a_process_given_a_share_of_the_cores_uses_no_more():
    code = "from terrplan.child import usable_cores; print(usable_cores())"
    alone = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    shared = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, **{CORES_ENV: "1"}),
    )
    assert int(alone.stdout) == usable_cores() and int(shared.stdout) == 1
