"""`terrplan optimize`: redesign, refresh, or a priced redesign from the current alignment."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from terrplan.cli import (
    EXIT_CODES_HELP,
    check_output,
    common_options,
    config_overrides,
    handle_errors,
    main,
    run_budget,
)

if TYPE_CHECKING:
    from terrplan.config import Config


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
@click.option(
    "--effort",
    type=float,
    help="Search effort (overrides solver.effort, default 1): more never gives a worse result; 0 stops after the "
    "first solution's bound. The time limit still caps it.",
)
@click.option(
    "--report/--no-report",
    "write_report",
    default=None,
    help="Write report.html, plans/, GeoJSON and the workbook (overrides output.report).",
)
@click.option(
    "--pdf/--no-pdf",
    "write_pdf",
    default=None,
    help="Also write report.pdf, a deck: cover, a page per district and per territory (overrides output.pdf).",
)
@click.option(
    "--current",
    help="Refresh instead of redesign: repair this alignment (CSV with account_id, territory; 'accounts' for the "
    "accounts' current territory column) with the fewest moves.",
)
@click.option("--budget", type=float, help="With --current: at most this share of potential may move (0.10 = 10 %).")
@click.option(
    "--move-cost",
    type=float,
    help="With --current: redesign, each moved account costing this many km of its weighted travel "
    "(overrides disruption.move_cost_km); 0 refreshes instead.",
)
@handle_errors
def optimize(
    config_path,
    accounts,
    volumes,
    quiet,
    log_json,
    output,
    seed,
    territories,
    tolerance,
    time_limit,
    effort,
    write_report,
    write_pdf,
    current,
    budget,
    move_cost,
    report,
) -> None:
    """Solve a balanced alignment; write the assignments, territories, summary, rejects and the report."""
    # The solver stack loads here, not with the command line: `terrplan --help` stays fast.
    from terrplan.config import load_config
    from terrplan.runs.optimize import optimize as run_optimize
    from terrplan.runs.optimize import report_done
    from terrplan.write import write_outputs

    started = time.perf_counter()
    config = load_config(
        config_path,
        config_overrides(
            seed=seed,
            territories=territories,
            tolerance=tolerance,
            time_limit=time_limit,
            effort=effort,
            write_report=write_report,
            write_pdf=write_pdf,
            budget=budget,
            move_cost=move_cost,
            accounts=accounts,
            volumes=volumes,
        ),
    )
    budget = run_budget(config.solver.time_limit)  # the whole run's: reading, solving, the hierarchy, writing
    report.budget(budget.deadline)  # the progress display's time left
    current = _current_source(current, config)
    check_output(config, output if output is not None else config.resolve(config.output.dir), config_path, current)
    run = run_optimize(config, current, report, budget, started)
    write_outputs(config, run.loaded, run.metrics, run.summary, output, report, run.tables)
    if run.failure is not None:  # the best alignment found is written: exit 6
        raise run.failure
    report_done(run, report, time.perf_counter() - started)


def _current_source(flag: str | None, config: Config) -> str | None:
    """'accounts' or an absolute path: the flag (relative to the working directory), else disruption.current
    (relative to the config)."""
    if flag is not None:
        return flag if flag == "accounts" else str(Path(flag).resolve())
    given = config.disruption.current
    return given if given in (None, "accounts") else str(config.resolve(given))
