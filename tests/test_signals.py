"""Ctrl-C at any moment of a run, from loading the solver stack to writing: exit 130 and a one-line message,
never a traceback (exit 1 is for bugs)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, Tiny


def _run(tiny: Tiny, after_s: float | None) -> tuple[int, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "terrplan", "optimize", str(tiny.config), "-o", "-"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    if after_s is not None:
        time.sleep(after_s)
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err.decode()


def test_sigint_at_any_point_of_a_run_exits_130_without_a_traceback(tiny):
    started = time.monotonic()
    code, err = _run(tiny, None)
    whole = time.monotonic() - started
    assert code == 0, err
    outcomes = set()
    # From the imports to the last write, evenly spread over an uninterrupted run's length (not at 0: before the
    # interpreter has started, the signal's default action ends the process, as for any program).
    for i in range(1, 9):
        code, err = _run(tiny, whole * i / 9)
        assert "Traceback" not in err, err
        assert code in (0, 130), err
        if code == 130:
            assert err.endswith("error: stopped by SIGINT\n"), err
        outcomes.add(code)
    assert 130 in outcomes


def _failing_to_load(interrupted: bool):
    from terrplan.cli import handle_errors

    @handle_errors
    def command(report):
        # what pybind11 raises when a signal lands while its module initialises (a solver module imported late)
        cause = KeyboardInterrupt() if interrupted else RuntimeError("bad build")
        raise ImportError("initialization failed") from cause

    with pytest.raises(SystemExit) as done:
        command()
    return done.value.code


def test_a_module_whose_loading_ctrl_c_cut_is_an_interruption_not_an_internal_error(capsys):
    assert _failing_to_load(interrupted=True) == 130
    assert capsys.readouterr().err.endswith("error: stopped by SIGINT\n")
    assert _failing_to_load(interrupted=False) == 1  # the same error from anything else is a bug
    assert "internal error: ImportError: initialization failed" in capsys.readouterr().err
