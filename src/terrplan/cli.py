"""Command line: click commands, progress on stderr, and the one place where errors become exit codes.

stdout carries data only (CSV with `-o -`); everything for people goes to stderr.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from terrplan import __version__
from terrplan.config import Config, load_config
from terrplan.errors import EXIT_INTERNAL, Finding, InfeasibleError, TerrplanError
from terrplan.metrics import evaluate
from terrplan.model import Result
from terrplan.pipeline import Loaded, load_accounts
from terrplan.problem import build_problem
from terrplan.solve import SolveParams, check_feasible, solve
from terrplan.write import csv_text, json_text, rejects_frame, write_files

EXIT_CODES_HELP = "Exit codes: 0 ok, 1 internal error, 2 usage, 3 bad input or config, 4 infeasible, 5 a check failed."


class Reporter:
    """Human-facing lines on stderr; silent with --quiet."""

    def __init__(self, quiet: bool):
        self.quiet = quiet

    def info(self, message: str) -> None:
        if not self.quiet:
            click.echo(message, err=True)

    def warn(self, message: str) -> None:
        click.echo(f"warning: {message}", err=True)


def _handle_errors(command):
    """Turn our errors into a message and exit code; anything else is an internal error (exit 1), no traceback
    unless TERRPLAN_DEBUG is set."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except TerrplanError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("TERRPLAN_DEBUG"):
                raise
            click.echo(f"internal error: {type(exc).__name__}: {exc}\n(set TERRPLAN_DEBUG=1 for a traceback)", err=True)
            sys.exit(EXIT_INTERNAL)

    return wrapper


@click.group(epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="terrplan")
def main() -> None:
    """terrplan: balanced, compact sales territories with a proven quality gap."""


def _overrides(**flags: Any) -> dict[str, Any]:
    keys = {
        "seed": "solver.seed",
        "territories": "territories.count",
        "tolerance": "territories.balance.tolerance",
        "time_limit": "solver.time_limit",
        "accounts": "inputs.accounts.path",
        "volumes": "inputs.volumes.path",
    }
    out = {keys[name]: value for name, value in flags.items() if value is not None}
    # Paths given on the command line are relative to the working directory, not the config file.
    for key in ("inputs.accounts.path", "inputs.volumes.path"):
        if key in out and out[key] != "-":
            out[key] = str(Path(out[key]).resolve())
    return out


_common_options = [
    click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False)),
    click.option("--accounts", help="Accounts CSV ('-' for stdin); overrides inputs.accounts.path."),
    click.option("--volumes", help="Volumes CSV; overrides inputs.volumes.path."),
    click.option("-q", "--quiet", is_flag=True, help="No progress lines on stderr (errors still print)."),
]


def common_options(command):
    for option in reversed(_common_options):
        command = option(command)
    return command


@main.command(
    epilog="Example: terrplan optimize configs/sample.yaml -o out/sample\n\n"
    "Pipe: terrplan optimize configs/sample.yaml -o - -q | head\n\n" + EXIT_CODES_HELP
)
@common_options
@click.option("-o", "--output", help="Output directory, or '-' for the assignments CSV on stdout. Default: output.dir.")
@click.option("--seed", type=int, help="Random seed (overrides solver.seed).")
@click.option("-k", "--territories", type=int, help="Number of territories (overrides territories.count).")
@click.option("--tolerance", type=float, help="Balance band, e.g. 0.05 for ±5 % (overrides the config).")
@click.option("--time-limit", type=float, help="Solver time budget in seconds (overrides solver.time_limit).")
@_handle_errors
def optimize(config_path, accounts, volumes, quiet, output, seed, territories, tolerance, time_limit) -> None:
    """Solve a balanced alignment and write assignments.csv, territories.csv, summary.json and rejects.csv."""
    report = Reporter(quiet)
    started = time.perf_counter()
    config = load_config(
        config_path,
        _overrides(
            seed=seed,
            territories=territories,
            tolerance=tolerance,
            time_limit=time_limit,
            accounts=accounts,
            volumes=volumes,
        ),
    )
    loaded = _load(config, report)
    problem = build_problem(loaded.accounts, config)
    check_feasible(problem, list(loaded.accounts["account_id"]), what="territories")
    report.info(
        f"solving: {problem.n_units} accounts into {problem.n_territories} territories, "
        f"{config.territories.balance.metric} within ±{config.territories.balance.tolerance:.0%}"
    )
    params = SolveParams(
        time_limit_s=config.solver.time_limit, seed=config.solver.seed, candidates=config.solver.candidates
    )
    result = solve(problem, params)
    metrics = evaluate(loaded.accounts, problem, result.alignment)
    if not metrics.all_in_band:
        raise _band_failure(metrics)
    summary = _summary(config, loaded, result, metrics, time.perf_counter() - started)
    files = {
        "assignments.csv": csv_text(metrics.assignments),
        "territories.csv": csv_text(metrics.territories),
        "summary.json": json_text(summary),
        "rejects.csv": csv_text(rejects_frame(loaded.findings)),
    }
    target = output if output is not None else str(config.resolve(config.output.dir))
    if target == "-":
        sys.stdout.write(files["assignments.csv"])
        sys.stdout.flush()
    else:
        write_files(Path(target), files)
        report.info(f"wrote {', '.join(files)} to {target}")
    gap = f"{result.gap:.2%}" if result.gap is not None else "n/a"
    report.info(
        f"{result.status}: objective {result.objective:,.1f}, lower bound "
        f"{result.lower_bound if result.lower_bound is None else f'{result.lower_bound:,.1f}'}, gap {gap}; "
        f"{metrics.balance['metric']} index {metrics.balance['min_index']:.1f}-{metrics.balance['max_index']:.1f}; "
        f"{time.perf_counter() - started:.1f} s"
    )


def _band_failure(metrics) -> InfeasibleError:
    """The solver ended outside the band: name the territories and by how much (no files are written)."""
    low, high = metrics.balance["band_low_index"], metrics.balance["band_high_index"]
    column = f"{metrics.balance['metric']}_index" if metrics.balance["metric"] != "accounts" else None
    outside = metrics.territories.loc[~metrics.territories["in_band"]]
    findings = [
        Finding(
            "territories",
            f"{row.territory} ends at index {getattr(row, column):.1f}" if column else f"{row.territory} is outside",
            hint=f"band {low:.1f}-{high:.1f}",
        )
        for row in outside.itertuples()
    ]
    return InfeasibleError(
        f"no alignment found with every territory inside the band ({len(outside)} outside); widen the tolerance "
        "(--tolerance) or change the number of territories (-k)",
        findings,
    )


@main.command(epilog="Example: terrplan validate configs/sample.yaml\n\n" + EXIT_CODES_HELP)
@common_options
@_handle_errors
def validate(config_path, accounts, volumes, quiet) -> None:
    """Check the config and inputs without solving; report every problem found."""
    report = Reporter(quiet)
    config = load_config(config_path, _overrides(accounts=accounts, volumes=volumes))
    loaded = _load(config, report)
    problem = build_problem(loaded.accounts, config)
    check_feasible(problem, list(loaded.accounts["account_id"]), what="territories")
    report.info(
        f"ok: {len(loaded.accounts)} accounts, {problem.n_territories} territories; config and inputs are valid"
    )


def _load(config: Config, report: Reporter) -> Loaded:
    loaded = load_accounts(config)
    if loaded.findings:
        report.warn(f"{len(loaded.findings)} row(s) set aside (see rejects.csv); first: {loaded.findings[0]}")
    report.info(
        f"read {len(loaded.accounts)} accounts, total potential {loaded.accounts['potential'].sum():,.1f}, "
        f"{int((loaded.accounts['potential'] > 0).sum())} with volume"
    )
    return loaded


def _summary(config: Config, loaded: Loaded, result: Result, metrics, runtime_s: float) -> dict[str, Any]:
    return {
        "terrplan_version": __version__,
        "seed": config.solver.seed,
        "inputs": list(loaded.inputs),
        "config": config.as_dict(),
        "status": result.status,
        "objective": round(result.objective, 6),
        "lower_bound": None if result.lower_bound is None else round(result.lower_bound, 6),
        "gap": None if result.gap is None else round(result.gap, 8),
        "runtime_s": round(runtime_s, 3),
        "solver_rounds": result.iterations,
        "accounts": {"used": len(loaded.accounts), "rejected_rows": len(loaded.findings)},
        "territories": config.territories.count,
        "balance": metrics.balance,
    }


__all__ = ["main"]
