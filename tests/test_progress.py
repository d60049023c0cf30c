"""Live progress: stages, timestamps and the solver's progress on stderr, the same outputs whatever stderr is.

Real runs of the CLI on the tiny case: `--log-json` (timestamped events, stages in order, solver progress,
throttled), a pipe (plain stage lines), a pseudo-terminal (the rich display, stdout's CSV untouched) and `-q`
(nothing on stderr).
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import json
import os
import pty
import select
import subprocess
import sys
import time

import numpy as np
import pytest

from terrplan.progress import PROGRESS_PER_S, Reporter


def _run(tiny, *args: str, **kwargs) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "terrplan", "optimize", str(tiny.config), *args]
    return subprocess.run(command, capture_output=True, timeout=300, **kwargs)


def _events(stderr: bytes) -> list[dict]:
    return [json.loads(line) for line in stderr.decode().splitlines()]


def test_log_json_events_carry_a_time_the_stages_in_order_and_the_solver_progress(tiny):
    """... and the files are the same bytes as a quiet run's (-q: nothing at all on stderr)."""
    done = _run(tiny, "--log-json", "-o", str(tiny.dir / "loud"))
    assert done.returncode == 0, done.stderr.decode()
    quiet = _run(tiny, "-q", "-o", str(tiny.dir / "quiet"))
    assert quiet.returncode == 0 and quiet.stderr == b""
    for name in ("assignments.csv", "territories.csv", "summary.json", "workbook.xlsx", "report.html"):
        got, want = (tiny.dir / "loud" / name).read_bytes(), (tiny.dir / "quiet" / name).read_bytes()
        if name == "summary.json":  # its run time differs between any two runs
            got, want = (json.loads(x) for x in (got, want))
            got.pop("runtime_s"), want.pop("runtime_s")
        assert got == want, name
    events = _events(done.stderr)
    times = [datetime.datetime.fromisoformat(e["ts"].replace("Z", "+00:00")) for e in events]
    assert all(t.tzinfo is not None for t in times) and times == sorted(times)
    assert all(e["ts"].endswith("Z") for e in events)
    stages = [e["stage"] for e in events if e["event"] == "stage"]
    assert stages == ["read", "score", "solve", "bound", "report"]  # the tiny case has no neighbourhood search
    progress = [e for e in events if e["event"] == "progress"]
    assert any(e["stage"] == "solve" and e["objective"] > 0 for e in progress)
    bounded = [e for e in progress if e["bound"] is not None]
    assert bounded and bounded[-1]["gap"] is not None and bounded[-1]["gap"] < 1e-6  # the tiny case is optimal
    solved = events[-1]
    assert solved["event"] == "solved" and solved["objective"] == pytest.approx(progress[-1]["objective"], rel=1e-9)
    # every progress event follows its stage's event, and each stage sends at most PROGRESS_PER_S a second
    # (plus its first bound and the last improvement held back when it ends)
    for stage in set(stages):
        mine = [t for e, t in zip(events, times, strict=True) if e["event"] == "progress" and e["stage"] == stage]
        if mine:
            span = (mine[-1] - mine[0]).total_seconds()
            assert len(mine) <= PROGRESS_PER_S * span + 3, (stage, len(mine), span)


def test_the_reporter_throttles_the_solver_and_sends_the_last_improvement_when_the_stage_ends(capsys):
    report = Reporter(log_json=True)
    report.stage("solve")
    began = time.perf_counter()
    for step in range(1000):
        report.solver_progress("solve", 1000.0 - step, None)
    quick = time.perf_counter() - began < 1.0 / PROGRESS_PER_S
    report.solver_progress("solve", 1.0, None)  # the same objective again: no news, no event
    report.stage("bound")
    events = _events(capsys.readouterr().err.encode())
    progress = [e for e in events if e["event"] == "progress"]
    if quick:  # (a machine this slow would rightly send more)
        assert [e["objective"] for e in progress] == [1000.0, 1.0]
    assert [e["event"] for e in events][-1] == "stage" and events[-1]["stage"] == "bound"
    quiet = Reporter(quiet=True, log_json=True)
    quiet.stage("solve")
    quiet.solver_progress("solve", 5.0, 4.0)
    assert capsys.readouterr().err == ""


def test_a_terminal_gets_the_live_display_a_pipe_plain_lines_and_stdout_stays_data(tiny):
    """stderr on a pseudo-terminal: the rich display (stage, clock, budget left, best objective and gap), drawn in
    place; on a pipe: plain stage lines. stdout carries the same CSV bytes either way."""
    plain = _run(tiny, "-o", "-")
    assert plain.returncode == 0, plain.stderr.decode()
    lines = plain.stderr.decode().splitlines()
    assert [line.split(" at ")[0] for line in lines if line.startswith("stage ")] == [
        f"stage {name}" for name in ("read", "score", "solve", "bound")
    ]  # -o -: no report stage
    assert "\x1b" not in plain.stderr.decode() and "\r" not in plain.stderr.decode()  # no spinner, no escape codes
    master, slave = pty.openpty()
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="120")
    command = [sys.executable, "-m", "terrplan", "optimize", str(tiny.config), "-o", "-"]
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    shown = b""
    while True:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal closed: the program is done
                break
            if not chunk:
                break
            shown += chunk
        elif proc.poll() is not None:
            break
    stdout = proc.stdout.read()
    assert proc.wait(timeout=60) == 0
    os.close(master)
    text = shown.decode(errors="replace")
    assert "\x1b[" in text and "\r" in text  # styled and redrawn in place
    for needle in ("solve", "bound", "elapsed", "left", "objective 6,937.5", "gap 0.00%", "optimal: objective"):
        assert needle in text, needle
    assert "account_id" not in text  # no data through the display
    assert stdout == plain.stdout and stdout.startswith(b"account_id,")



def test_the_solver_hook_hears_each_phase_and_changes_nothing():
    """The same solve with and without an observer gives the same result; the observer hears the phases in order
    (starts, bound, neighbourhood search) and, without rep homes, a best objective that never rises."""
    from test_lns import clustered

    from terrplan.solve import SolveParams, solve

    problem = clustered(1850, 12, seed=5)  # the neighbourhood search runs from 1,800 units
    params = SolveParams(time_limit_s=600.0, seed=1, starts=1, bound_iterations=10, effort=0.25, exact=False)
    heard: list[tuple[str, float, float | None]] = []
    told = solve(problem, dataclasses.replace(params, on_progress=lambda *event: heard.append(event)))
    alone = solve(problem, params)
    assert np.array_equal(told.alignment.territory, alone.alignment.territory)
    assert (told.objective, told.lower_bound) == (alone.objective, alone.lower_bound)
    phases = [phase for phase, _, _ in heard]
    assert phases == sorted(phases, key=["solve", "bound", "search"].index)
    assert set(phases) == {"solve", "bound", "search"}
    values = [value for _, value, _ in heard]
    assert all(later <= earlier for earlier, later in itertools.pairwise(values)) and values[-1] >= told.objective
    assert any(bound is not None for _, _, bound in heard)
