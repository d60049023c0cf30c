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
    from terrplan.budget import TimeBudget
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
    from terrplan.cli.outputs import (
        band_failure,
        band_findings,
        load_inputs,
        with_hierarchy,
        write_outputs,
    )
    from terrplan.config import load_config
    from terrplan.design import run_design
    from terrplan.errors import Finding, InfeasibleError, NotFoundError
    from terrplan.metrics import index_ranges
    from terrplan.pipeline import use_current, with_input
    from terrplan.read import read_alignment
    from terrplan.refresh import refresh_line, run_refresh
    from terrplan.write import run_summary

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
    loaded = load_inputs(config, report)
    if current is not None and config.disruption.move_cost_km > 0:
        loaded = use_current(loaded, current)
    elif current is not None:
        table = None if current == "accounts" else read_alignment(Path(current))
        if table is not None:
            loaded = with_input(loaded, Path(current))
        run = run_refresh(loaded, config, table)
        if run.failure is not None:
            raise run.failure
        metrics = with_hierarchy(run.metrics, config, budget)
        fields = {"status": "refreshed", "lower_bound": None, "gap": None, "refresh": run.figures}
        summary = run_summary(config, loaded, metrics, fields, time.perf_counter() - started, change=run.change)
        write_outputs(config, loaded, metrics, summary, output, report, run.tables)
        report.info("refreshed", refresh_line(run.figures), **run.figures)
        if run.figures["emptied_territories"]:
            report.warn(
                "emptied",
                f"every account of {', '.join(run.figures['emptied_territories'])} has departed: the refresh keeps "
                f"{len(run.metrics.territories)} territories; to staff those reps, redesign (optimize without "
                "--current, or with --move-cost)",
                territories=run.figures["emptied_territories"],
            )
        return
    design = run_design(loaded, config, current, report, _for_solving(budget, config, len(loaded.accounts)))
    result = design.result
    metrics = with_hierarchy(design.metrics, config, budget)
    fields = design.fields
    runtime_s = time.perf_counter() - started  # up to the files: what summary.json has always counted
    if result.status == "infeasible":  # proven (SCIP's exact model, or the districting model): exit 4, nothing written
        proof = f": {result.message}" if result.message else " (proven by the exact model, SCIP)"
        raise InfeasibleError(
            "no alignment can meet the bands",
            [
                Finding(
                    "territories",
                    f"no split of the {len(metrics.assignments)} accounts into {len(metrics.territories)} territories "
                    f"keeps every one inside its band{proof}",
                    hint="widen the tolerance (--tolerance) or change the number of territories (-k)",
                )
            ],
        )
    if result.status == "unknown" and metrics.all_in_band:  # in band, not contiguous (locks blocked the repair)
        pieces = len(metrics.territories) - int((fields.get("contiguity") or {}).get("territories_contiguous", 0))
        summary = run_summary(config, loaded, metrics, fields, runtime_s, territories_not_contiguous=pieces)
        write_outputs(config, loaded, metrics, summary, output, report)
        raise NotFoundError(
            "no contiguous alignment inside every band found within the budget; the best alignment found is written "
            "with status 'unknown'",
            [Finding("territories", f"{pieces} territories are in more than one piece on the adjacency graph")],
        )
    if not metrics.all_in_band:  # written for the user to see, then exit 6: found nothing, proved nothing
        violations = [str(finding) for finding in band_findings(metrics)]
        summary = run_summary(config, loaded, metrics, fields, runtime_s, band_violations=violations)
        write_outputs(config, loaded, metrics, summary, output, report)
        raise band_failure(metrics)
    summary = run_summary(config, loaded, metrics, fields, runtime_s)
    write_outputs(config, loaded, metrics, summary, output, report)
    gap = f"{result.gap:.2%}" if result.gap is not None else "n/a"
    bound = "n/a" if result.lower_bound is None else f"{result.lower_bound:,.1f}"
    quality = f"lower bound {bound}, gap {gap}"
    report.info(
        "solved",
        f"{result.status}: objective {metrics.objective:,.1f}, {quality}; {index_ranges(metrics.balances)}; "
        f"{time.perf_counter() - started:.1f} s",
        status=summary.status,
        objective=summary.objective,
        lower_bound=summary.lower_bound,
        gap=summary.gap,
        runtime_s=summary.runtime_s,
    )


# What follows the solves (contiguity, measuring each account, the hierarchy, writing the files and the report), in
# seconds: a fixed part and a part per account, measured on the sample (3,000 accounts: about 0.4 s without the
# report, 1.8 s with it, on 2 cores).
_AFTER_S, _AFTER_PER_ACCOUNT_S, _REPORT_PER_ACCOUNT_S = 0.3, 0.05e-3, 0.45e-3


def _for_solving(budget: TimeBudget, config: Config, accounts: int) -> TimeBudget:
    """The run's budget less what the steps after the solves are expected to need (`TimeBudget.keep`: at most half
    of what is left, or what reading took), so the run as a whole ends by its deadline."""
    after = _AFTER_S + accounts * (_AFTER_PER_ACCOUNT_S + (_REPORT_PER_ACCOUNT_S if config.output.report else 0.0))
    return budget.keep(after, spent=config.solver.time_limit - budget.remaining())


def _current_source(flag: str | None, config: Config) -> str | None:
    """'accounts' or an absolute path: the flag (relative to the working directory), else disruption.current
    (relative to the config)."""
    if flag is not None:
        return flag if flag == "accounts" else str(Path(flag).resolve())
    given = config.disruption.current
    return given if given in (None, "accounts") else str(config.resolve(given))
