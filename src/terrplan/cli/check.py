"""`terrplan validate` and `terrplan evaluate`: check inputs, score and check any alignment."""

from __future__ import annotations

import dataclasses
import sys
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
    import numpy as np


@main.command(epilog="Example: terrplan validate configs/sample.yaml\n\n" + EXIT_CODES_HELP)
@common_options
@handle_errors
def validate(config_path, accounts, volumes, quiet, log_json, report) -> None:
    """Check the config and inputs without solving; report every problem found."""
    from terrplan.cli.outputs import load_inputs
    from terrplan.config import load_config
    from terrplan.pipeline import prepare

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
    from terrplan.cli.outputs import band_findings, load_inputs, with_hierarchy
    from terrplan.config import load_config
    from terrplan.errors import CheckFailedError, InputError
    from terrplan.metrics import evaluate, index_ranges
    from terrplan.model import Alignment
    from terrplan.pipeline import alignment_centres, match_alignment
    from terrplan.problem import balance_count, build_problem
    from terrplan.read import read_alignment
    from terrplan.write import csv_text, output_files, run_summary, write_files

    started = time.perf_counter()
    config = load_config(config_path, config_overrides(accounts=accounts, volumes=volumes, tolerance=tolerance))
    budget = run_budget(config.solver.time_limit)  # only the hierarchy's levels solve here
    check_output(config, output, config_path, alignment)
    loaded = load_inputs(config, report)
    path = Path(alignment) if alignment else None
    folder = path if path is not None and path.is_dir() else None
    given = match_alignment(
        loaded.accounts, read_alignment(folder / "assignments.csv" if folder else path) if path else None
    )
    if not given.labels:
        raise InputError("the alignment assigns no account to a territory")
    assigned = given.territory >= 0
    scored = loaded.accounts.loc[assigned].reset_index(drop=True)
    sized = dataclasses.replace(
        config, territories=dataclasses.replace(config.territories, count=len(given.labels), centres="free")
    )
    problem = build_problem(scored, sized, fte=_label_fte(given.labels, folder, loaded.reps))
    territory = given.territory[assigned]
    centres = alignment_centres(problem, territory)
    metrics = evaluate(scored, problem, Alignment(territory, centres), given.labels, balanced=balance_count(config))
    metrics = with_hierarchy(metrics, config, budget)
    checks = list(given.findings) + band_findings(metrics)
    solver = {"status": "evaluated", "lower_bound": None, "gap": None, "checks_failed": len(checks)}
    runtime_s = time.perf_counter() - started
    if output == "-":
        sys.stdout.write(csv_text(metrics.territories, config.output.escape_formulas))
    elif output is not None:
        summary = run_summary(sized, loaded, metrics, solver, runtime_s)
        files = output_files(summary, metrics, loaded, escape=config.output.escape_formulas)
        write_files(Path(output), files, on_wait=lambda message: report.warn("waiting", message))
        report.info("wrote", f"wrote assignments.csv, territories.csv, summary.json, rejects.csv to {output}")
    balance = metrics.balance
    report.info(
        "evaluated",
        f"{len(given.labels)} territories, {int(assigned.sum())} accounts: objective {metrics.objective:,.1f}; "
        f"{index_ranges(metrics.balances, band=True)}, {balance['territories_in_band']} of {len(given.labels)} in band",
        objective=metrics.objective,
        **balance,
    )
    if checks:
        raise CheckFailedError(f"{len(checks)} check(s) failed", checks)


def _label_fte(labels: tuple[str, ...], folder: Path | None, reps) -> np.ndarray | None:
    """FTE per territory name, so targets match what optimize used: from an output folder's territories.csv,
    else from the roster's territory column; None (equal targets) when neither names every territory."""
    import numpy as np
    import pandas as pd

    if folder is not None and (folder / "territories.csv").exists():
        table = pd.read_csv(folder / "territories.csv", dtype={"territory": str})
        if "fte" in table:
            by_label = dict(zip(table["territory"], table["fte"], strict=True))
            if set(labels) <= set(by_label):
                return np.array([by_label[label] for label in labels], dtype=float)
    if reps is not None and set(labels) <= set(reps["territory"]):
        by_label = dict(zip(reps["territory"], reps["fte"], strict=True))
        return np.array([by_label[label] for label in labels], dtype=float)
    return None
