"""`terrplan validate` and `terrplan evaluate`: check inputs, score and check any alignment."""

from __future__ import annotations

import sys
import time
from pathlib import Path

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


@main.command(epilog="Example: terrplan validate configs/sample.yaml\n\n" + EXIT_CODES_HELP)
@common_options
@handle_errors
def validate(config_path, accounts, volumes, quiet, log_json, report) -> None:
    """Check the config and inputs without solving; report every problem found."""
    from terrplan.config import load_config
    from terrplan.pipeline import prepare
    from terrplan.runs.common import load_inputs

    config = load_config(config_path, config_overrides(accounts=accounts, volumes=volumes))
    loaded = load_inputs(config, report)
    problem = prepare(loaded, config).problem
    report.info(
        "valid",
        f"ok: {len(loaded.accounts)} accounts, {problem.n_territories} territories; config and inputs are valid",
    )


@main.command(
    name="evaluate",
    epilog="Example: terrplan evaluate configs/sample.yaml -o out/current\n\n"
    "Example: terrplan evaluate configs/sample.yaml --alignment out/sample/assignments.csv\n\n" + EXIT_CODES_HELP,
)
@common_options
@click.option(
    "--alignment",
    help="CSV with account_id and territory ('-' for stdin), or an output folder of optimize. "
    "Default: the accounts' current territory column.",
)
@click.option(
    "-o",
    "--output",
    help="Write assignments.csv, territories.csv, summary.json here; '-' for territories.csv on stdout.",
)
@click.option("--tolerance", type=float, help="Balance band to check, e.g. 0.05 (overrides the config).")
@handle_errors
def evaluate_command(config_path, accounts, volumes, quiet, log_json, alignment, output, tolerance, report) -> None:
    """Score any alignment with the metrics `optimize` reports, and check it.

    Exit 5 when an account is unassigned, assigned twice or unknown, or a territory is outside its band
    (the files are still written, so a cron job can alert and show why).
    """
    from terrplan.config import load_config
    from terrplan.runs.evaluate import evaluate_alignment, report_done
    from terrplan.write import csv_text, output_files, write_files

    started = time.perf_counter()
    config = load_config(config_path, config_overrides(accounts=accounts, volumes=volumes, tolerance=tolerance))
    budget = run_budget(config.solver.time_limit)  # only the hierarchy's levels solve here
    check_output(config, output, config_path, alignment)
    run = evaluate_alignment(config, alignment, report, budget, started)
    if output == "-":
        sys.stdout.write(csv_text(run.metrics.territories, config.output.escape_formulas))
    elif output is not None:
        files = output_files(run.summary, run.metrics, run.loaded, escape=config.output.escape_formulas)
        write_files(Path(output), files, on_wait=lambda message: report.warn("waiting", message))
        report.info("wrote", f"wrote assignments.csv, territories.csv, summary.json, rejects.csv to {output}")
    report_done(run, report)
    if run.failure is not None:  # the files are written: exit 5
        raise run.failure
