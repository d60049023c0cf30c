"""`terrplan evaluate`'s run: score a given alignment with the metrics optimize reports, and check it.

The run writes nothing: the command writes its files and raises `EvaluateRun.failure` (exit 5) after them, so a cron
job can alert and show why.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from terrplan.budget import TimeBudget
from terrplan.config import Config
from terrplan.errors import EXIT_OK, CheckFailedError, Finding, InputError
from terrplan.metrics import Metrics, evaluate, index_ranges
from terrplan.model import Alignment
from terrplan.pipeline import Loaded, alignment_centres, match_alignment
from terrplan.problem import balance_count, build_problem
from terrplan.progress import Reporter
from terrplan.read import read_alignment
from terrplan.runs.common import band_findings, load_inputs, with_hierarchy
from terrplan.summary import RunSummary
from terrplan.write import run_summary


@dataclass(frozen=True)
class EvaluateRun:
    """One evaluate run's result: the files' content and the checks that failed."""

    loaded: Loaded
    metrics: Metrics  # account level, with the district and region columns
    summary: RunSummary  # its config sized to the alignment (its territories, free centres)
    labels: tuple[str, ...]  # the alignment's territory names, sorted
    assigned: int  # accounts the alignment assigns
    checks: tuple[Finding, ...]  # unassigned, twice-assigned or unknown accounts; territories outside a band

    @property
    def failure(self) -> CheckFailedError | None:
        """Raised once the files are written: exit 5."""
        return CheckFailedError(f"{len(self.checks)} check(s) failed", list(self.checks)) if self.checks else None

    @property
    def exit_code(self) -> int:
        failure = self.failure
        return EXIT_OK if failure is None else failure.exit_code


def evaluate_alignment(
    config: Config, alignment: str | None, report: Reporter, budget: TimeBudget, started: float | None = None
) -> EvaluateRun:
    """Read the inputs and score `alignment`: a CSV of account_id (or zip) and territory ('-' for stdin), an output
    folder of optimize, or None for the accounts' current territory column. `budget`: the hierarchy's levels solve
    within it; `started`: the run's start on `time.perf_counter`'s clock, for summary.json's runtime_s."""
    started = time.perf_counter() if started is None else started
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
    checks = (*given.findings, *band_findings(metrics))
    solver = {"status": "evaluated", "lower_bound": None, "gap": None, "checks_failed": len(checks)}
    summary = run_summary(sized, loaded, metrics, solver, time.perf_counter() - started)
    return EvaluateRun(loaded, metrics, summary, given.labels, int(assigned.sum()), checks)


def report_done(run: EvaluateRun, report: Reporter) -> None:
    """The run's closing line on stderr: the objective, the index ranges and how many territories are in band."""
    balance = run.metrics.balance
    count = len(run.labels)
    report.info(
        "evaluated",
        f"{count} territories, {run.assigned} accounts: objective {run.metrics.objective:,.1f}; "
        f"{index_ranges(run.metrics.balances, band=True)}, {balance['territories_in_band']} of {count} in band",
        objective=run.metrics.objective,
        **balance,
    )


def _label_fte(labels: tuple[str, ...], folder: Path | None, reps: pd.DataFrame | None) -> np.ndarray | None:
    """FTE per territory name, so targets match what optimize used: from an output folder's territories.csv,
    else from the roster's territory column; None (equal targets) when neither names every territory."""
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
