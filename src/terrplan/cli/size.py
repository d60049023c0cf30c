"""`terrplan size`: how many territories the workload needs."""

from __future__ import annotations

import sys

import click

from terrplan.cli import EXIT_CODES_HELP, common_options, config_overrides, handle_errors, main, run_started


@main.command(
    name="size",
    epilog="Example: terrplan size configs/sample.yaml --capacity 1600 --k-range 6:14 > sizing.csv\n\n"
    + EXIT_CODES_HELP,
)
@common_options
@click.option("--capacity", type=float, help="Selling hours per FTE per year (overrides sizing.hours_per_fte).")
@click.option("--k-range", help="K values to tabulate as MIN:MAX (overrides sizing.k_min/k_max).")
@click.option(
    "--time-limit",
    type=float,
    default=10.0,
    show_default=True,
    help="Solver seconds per K (the run as a whole gets this times the number of K).",
)
@handle_errors
def size_command(config_path, accounts, volumes, quiet, log_json, capacity, k_range, time_limit, report) -> None:
    """How many territories the workload needs: writes a CSV table per K (workload and travel per rep,
    utilisation, balance) to stdout and recommends the smallest K whose reps are not over capacity."""
    from terrplan.budget import TimeBudget
    from terrplan.cli.outputs import load_inputs
    from terrplan.config import load_config
    from terrplan.sizing import k_range as sizing_k_range
    from terrplan.sizing import needed_territories, recommended_k, size_table
    from terrplan.write import csv_text

    # The per-K limit goes through the config so it gets the same checks as optimize's (finite, positive).
    overrides = config_overrides(accounts=accounts, volumes=volumes, time_limit=time_limit)
    if capacity is not None:
        overrides["sizing.hours_per_fte"] = capacity
    if k_range is not None:
        low, _, high = k_range.partition(":")
        if not (low.isdigit() and high.isdigit() and 0 < int(low) <= int(high)):
            raise click.BadParameter("expected MIN:MAX, e.g. 6:14", param_hint="--k-range")
        overrides["sizing.k_min"], overrides["sizing.k_max"] = int(low), int(high)
    config = load_config(config_path, overrides)
    started = run_started()  # the run's budget is --time-limit per K from here
    loaded = load_inputs(config, report)
    need = needed_territories(loaded.accounts, config)
    report.info(
        "need",
        f"call workload {loaded.accounts['workload_hours'].sum():,.0f} h at {config.sizing.hours_per_fte:,.0f} h per "
        f"FTE needs {need:.1f} FTE before travel",
        fte=need,
    )
    ks = sizing_k_range(loaded.accounts, config)
    budget = TimeBudget.of(config.solver.time_limit * len(ks), started)
    table = size_table(
        loaded.accounts,
        config,
        ks,
        config.solver.time_limit,
        lambda k: report.info("k", f"solving K = {k}", k=k),
        budget,
    )
    sys.stdout.write(csv_text(table, config.output.escape_formulas))
    best = recommended_k(table)
    if best is None:
        report.warn("no-fit", f"no K in {ks.start}-{ks.stop - 1} keeps every rep within capacity; try a larger range")
    else:
        report.info(
            "recommended",
            f"recommended: {best} territories (smallest K with workload incl. travel within capacity)",
            k=best,
        )
