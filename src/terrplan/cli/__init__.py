"""Command line: click commands, progress on stderr, and the one place where errors become exit codes.

stdout carries data only (CSV with `-o -`); everything for people goes to stderr.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, NoReturn

import click

from terrplan import __version__
from terrplan.budget import TimeBudget
from terrplan.errors import EXIT_INTERNAL, TerrplanError, interruption
from terrplan.progress import Reporter

# Taken before the commands (and with them pandas, numpy and OR-Tools) load: a program run's clock starts here.
_LOADING = time.perf_counter()

EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 internal error, 2 usage, 3 bad input or config, 4 infeasible (proven), 5 a check failed, "
    "6 no alignment in band found (not proven impossible), "
    "130 interrupted (Ctrl-C), 143 terminated (SIGTERM)."
)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so the same clean-up runs (exit 128 + signal)."""

    signum = signal.SIGTERM


def _terminate(signum, frame) -> None:
    raise Terminated()


def handle_errors(command):
    """Turn our errors into a message and exit code; anything else is an internal error (exit 1), no traceback
    unless TERRPLAN_DEBUG is set. SIGINT (Ctrl-C) and SIGTERM stop the command through the same clean-up (the
    output folder stays as it was, temporary files go) and exit 130 / 143."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        report = Reporter(kwargs.get("quiet", False), kwargs.get("log_json", False), started=run_started())
        main_thread = threading.current_thread() is threading.main_thread()
        if main_thread:
            previous = signal.getsignal(signal.SIGTERM)
            signal.signal(signal.SIGTERM, _terminate)
        try:
            return command(*args, report=report, **kwargs)
        except TerrplanError as exc:
            report.error("failed", str(exc), exit_code=exc.exit_code, findings=[str(f) for f in exc.problems])
            sys.exit(exc.exit_code)
        except KeyboardInterrupt as exc:
            _stopped(report, exc)
        except (click.exceptions.Exit, click.ClickException):
            raise
        except Exception as exc:
            if (interrupt := interruption(exc)) is not None:
                _stopped(report, interrupt)
            if os.environ.get("TERRPLAN_DEBUG"):
                raise
            report.error(
                "internal", f"internal error: {type(exc).__name__}: {exc}\n(set TERRPLAN_DEBUG=1 for a traceback)"
            )
            sys.exit(EXIT_INTERNAL)
        finally:
            report.close()  # the terminal's progress display ends with the command
            if main_thread:
                signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)

    return wrapper


def _stopped(report: Reporter, exc: KeyboardInterrupt) -> NoReturn:
    signum = getattr(exc, "signum", signal.SIGINT)
    code = 128 + int(signum)
    report.error("interrupted", f"stopped by {signal.Signals(signum).name}", exit_code=code)
    sys.exit(code)


@click.group(epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="terrplan")
def main() -> None:
    """terrplan: balanced, compact sales territories with a proven quality gap."""


def run_started() -> float:
    """When the run began, on the budget's clock: the program's start when terrplan runs as one (`terrplan ...`,
    `python -m terrplan`), so loading the solver stack and reading the inputs count; now when a command is invoked
    in-process (click's CliRunner in tests, a notebook)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    program = "terrplan.__main__" in sys.modules or getattr(spec, "name", None) == "terrplan.__main__"
    return _LOADING if program else time.perf_counter()


def run_budget(seconds: float) -> TimeBudget:
    """The run's one time budget (solver.time_limit, --time-limit): `seconds` from `run_started()`."""
    return TimeBudget.of(seconds, run_started())


def config_overrides(**flags: Any) -> dict[str, Any]:
    keys = {
        "seed": "solver.seed",
        "territories": "territories.count",
        "tolerance": "territories.balance.tolerance",
        "time_limit": "solver.time_limit",
        "effort": "solver.effort",
        "write_report": "output.report",
        "write_pdf": "output.pdf",
        "budget": "disruption.budget",
        "move_cost": "disruption.move_cost_km",
        "accounts": "inputs.accounts.path",
        "volumes": "inputs.volumes.path",
    }
    out = {keys[name]: value for name, value in flags.items() if value is not None}
    # Paths given on the command line are relative to the working directory, not the config file.
    for key in ("inputs.accounts.path", "inputs.volumes.path"):
        if key in out and out[key] != "-":
            out[key] = str(Path(out[key]).resolve())
    return out


def check_output(config, target: str | Path | None, *inputs: str | Path | None) -> None:
    """Exit 3 before anything is read when `target` (an output folder; None or '-': nothing to check) is a file,
    cannot be written, holds other files than a terrplan run's, or holds an input: the config's input files
    (every path the config names: `sweep.grid.path_slots`) plus `inputs` (the config file, --current,
    --alignment)."""
    from terrplan.sweep.grid import config_data, path_slots
    from terrplan.write import check_output_dir

    if target is None or str(target) == "-":
        return
    given = [node.get(leaf) for node, leaf, _ in path_slots(config_data(config))]
    paths = [config.resolve(path) for path in given if isinstance(path, str) and path not in ("", "-", "accounts")]
    check_output_dir(target, [*paths, *(path for path in inputs if path not in (None, "accounts"))])


_common_options = [
    click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False)),
    click.option("--accounts", help="Accounts CSV ('-' for stdin); overrides inputs.accounts.path."),
    click.option(
        "--volumes",
        help="Volumes file (CSV, .csv.gz or Parquet) or a quoted glob of yearly files ('partb_*.csv'); overrides "
        "inputs.volumes.path.",
    ),
    click.option("-q", "--quiet", is_flag=True, help="No progress lines on stderr (warnings and errors still print)."),
    click.option("--log-json", is_flag=True, help="Every stderr line as a JSON object, for log collectors."),
]


def common_options(command):
    for option in reversed(_common_options):
        command = option(command)
    return command


# The commands register themselves on `main` when imported.
from terrplan.cli import check, compare, optimize, size, sweep  # noqa: E402, F401

__all__ = ["main"]
