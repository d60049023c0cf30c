"""`terrplan optimize`'s run: read the inputs, then redesign, refresh, or redesign priced from the current alignment.

The run writes nothing: it returns what the command writes (`write.write_outputs`) and how the run ends. What is
proven impossible raises (exit 4, nothing written); what the search merely did not find is written, then raised
(`OptimizeRun.failure`, exit 6).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from terrplan.budget import TimeBudget
from terrplan.config import Config
from terrplan.design import Design, run_design
from terrplan.errors import EXIT_OK, Finding, InfeasibleError, NotFoundError
from terrplan.metrics import Metrics, index_ranges
from terrplan.pipeline import Loaded, use_current, with_input
from terrplan.progress import Reporter
from terrplan.read import read_alignment
from terrplan.refresh import RefreshRun, refresh_line, run_refresh
from terrplan.runs.common import band_failure, band_findings, load_inputs, with_hierarchy
from terrplan.summary import RunSummary
from terrplan.write import run_summary


@dataclass(frozen=True)
class OptimizeRun:
    """One optimize run's result: the files' content (metrics, summary, tables) and how it ends."""

    loaded: Loaded  # the inputs as read, the current alignment's file among them
    metrics: Metrics  # account level, with the district and region columns
    summary: RunSummary
    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)  # the refresh's departed.csv, relocated.csv
    design: Design | None = None  # a redesign's solve
    refresh: RefreshRun | None = None  # a refresh's repair
    failure: NotFoundError | None = None  # written, then raised: nothing in band (or contiguous) found, exit 6

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.failure is None else self.failure.exit_code


def optimize(
    config: Config, current: str | None, report: Reporter, budget: TimeBudget, started: float | None = None
) -> OptimizeRun:
    """Read the inputs, then: without `current`, redesign; with `current` ('accounts', or an alignment CSV's path)
    and disruption.move_cost_km > 0, redesign priced from it; with a move cost of 0, refresh it.

    `budget`: the whole run's (reading included); `started`: the run's start on `time.perf_counter`'s clock, for
    summary.json's runtime_s (default: now)."""
    started = time.perf_counter() if started is None else started
    loaded = load_inputs(config, report)
    if current is not None and config.disruption.move_cost_km > 0:
        loaded = use_current(loaded, current)
    elif current is not None:
        return refresh(loaded, config, current, budget, started)
    return redesign(loaded, config, current, report, budget, started)


def refresh(loaded: Loaded, config: Config, current: str, budget: TimeBudget, started: float) -> OptimizeRun:
    """Repair the current alignment (`current`: 'accounts', or an alignment CSV's path) with the fewest moves; the
    bands or the budget out of reach raise InfeasibleError (exit 4, nothing written)."""
    table = None if current == "accounts" else read_alignment(Path(current))
    if table is not None:
        loaded = with_input(loaded, Path(current))
    run = run_refresh(loaded, config, table)
    if run.failure is not None:
        raise run.failure
    metrics = with_hierarchy(run.metrics, config, budget)
    fields = {"status": "refreshed", "lower_bound": None, "gap": None, "refresh": run.figures}
    summary = run_summary(config, loaded, metrics, fields, time.perf_counter() - started, change=run.change)
    return OptimizeRun(loaded, metrics, summary, run.tables, refresh=run)


def redesign(
    loaded: Loaded, config: Config, current: str | None, report: Reporter, budget: TimeBudget, started: float
) -> OptimizeRun:
    """Solve the config (priced from the current alignment when `current` is set, see `design.run_design`); proven
    infeasible raises InfeasibleError (exit 4, nothing written)."""
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
        failure = NotFoundError(
            "no contiguous alignment inside every band found within the budget; the best alignment found is written "
            "with status 'unknown'",
            [Finding("territories", f"{pieces} territories are in more than one piece on the adjacency graph")],
        )
        return OptimizeRun(loaded, metrics, summary, design=design, failure=failure)
    if not metrics.all_in_band:  # written for the user to see, then exit 6: found nothing, proved nothing
        violations = [str(finding) for finding in band_findings(metrics)]
        summary = run_summary(config, loaded, metrics, fields, runtime_s, band_violations=violations)
        return OptimizeRun(loaded, metrics, summary, design=design, failure=band_failure(metrics))
    summary = run_summary(config, loaded, metrics, fields, runtime_s)
    return OptimizeRun(loaded, metrics, summary, design=design)


def report_done(run: OptimizeRun, report: Reporter, elapsed: float) -> None:
    """The run's closing lines on stderr, once its files are written: the refresh's figures (and a warning for the
    territories whose every account departed), or the solve's quality. `elapsed`: seconds since the run began."""
    if run.refresh is not None:
        figures = run.refresh.figures
        report.info("refreshed", refresh_line(figures), **figures)
        if figures["emptied_territories"]:
            report.warn(
                "emptied",
                f"every account of {', '.join(figures['emptied_territories'])} has departed: the refresh keeps "
                f"{len(run.metrics.territories)} territories; to staff those reps, redesign (optimize without "
                "--current, or with --move-cost)",
                territories=figures["emptied_territories"],
            )
        return
    assert run.design is not None
    result, summary = run.design.result, run.summary
    gap = f"{result.gap:.2%}" if result.gap is not None else "n/a"
    bound = "n/a" if result.lower_bound is None else f"{result.lower_bound:,.1f}"
    quality = f"lower bound {bound}, gap {gap}"
    report.info(
        "solved",
        f"{result.status}: objective {run.metrics.objective:,.1f}, {quality}; {index_ranges(run.metrics.balances)}; "
        f"{elapsed:.1f} s",
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
