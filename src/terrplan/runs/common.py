"""What the runs share: loading with progress, hierarchy columns, band checks."""

from __future__ import annotations

import dataclasses
import math

from terrplan.budget import TimeBudget
from terrplan.config import Config
from terrplan.errors import Finding, NotFoundError
from terrplan.factors.competition import match_line
from terrplan.metrics import Metrics, band_decimals
from terrplan.pipeline import Loaded, load_accounts, rows_affected
from terrplan.problem import METRIC_COLUMNS
from terrplan.progress import Reporter
from terrplan.units import county_state_mismatch


def with_hierarchy(metrics: Metrics, config: Config, budget: TimeBudget | None = None) -> Metrics:
    """district and region columns in both tables (D1/R1 when the config sets no hierarchy), within the run's
    budget."""
    from terrplan.hierarchy import assign_hierarchy  # it solves: loaded only by the commands that need it

    column = METRIC_COLUMNS[config.territories.balance.metric]
    levels = assign_hierarchy(metrics.territories, column, config.hierarchy, config.solver.seed, budget)
    territories = metrics.territories.merge(levels, on="territory", how="left")
    assignments = metrics.assignments.merge(levels, on="territory", how="left")
    return dataclasses.replace(metrics, territories=territories, assignments=assignments)


def band_failure(metrics: Metrics) -> NotFoundError:
    """The search ended outside a band that no check proved impossible: name the territories and by how much.
    (What is proven impossible stops before the solve with InfeasibleError, exit 4.)"""
    findings = band_findings(metrics)
    outside = len({miss.territory for miss in metrics.band_misses})
    limits = any(not miss.indexed for miss in metrics.band_misses)
    return NotFoundError(
        f"no alignment with every territory inside its band found within the budget ({outside} outside); the bands "
        "are not proven impossible, and the best alignment found is written with status 'unknown'; give the search "
        f"more time (--time-limit) or starts (solver.starts), widen the tolerance (--tolerance)"
        f"{', relax the accounts limits' if limits else ''}, or change the number of territories (-k)",
        findings,
    )


_LIMIT_KEYS = {"accounts": ("territories.min_accounts", "territories.max_accounts")}


def band_findings(metrics: Metrics) -> list[Finding]:
    """One finding per territory and band it is outside of: a balance band as an index, with the decimals the
    band needs (the primary's as "the band", the others by metric), and each other limit (accounts minimum or
    maximum) in its own units."""
    findings = []
    for miss in metrics.band_misses:
        if miss.indexed:
            digits = band_decimals(miss.low, miss.high, miss.value)
            band = "the band" if miss.primary else f"the {miss.metric} band"
            message = f"{miss.territory} is outside {band}: index {miss.value:.{digits}f}"
            if not math.isfinite(miss.low):
                hint = f"band: at most {miss.high:.{digits}f}"
            elif not math.isfinite(miss.high):
                hint = f"band: at least {miss.low:.{digits}f}"
            else:
                hint = f"band {miss.low:.{digits}f}-{miss.high:.{digits}f}"
        else:
            below = miss.value < miss.low
            side, bound = ("below the minimum", miss.low) if below else ("above the maximum", miss.high)
            key = _LIMIT_KEYS.get(miss.metric, ("the minimum", "the maximum"))[0 if below else 1]
            message = (
                f"{miss.territory} is outside the {miss.metric} limit: {miss.value:,.6g} {miss.metric}, "
                f"{side} of {bound:,.6g}"
            )
            hint = f"{key} is {bound:,.6g}"
        findings.append(Finding("territories", message, hint=hint))
    return findings


def load_inputs(config: Config, report: Reporter) -> Loaded:
    report.stage("read")
    loaded = load_accounts(config, on_stage=report.stage)
    if loaded.findings:
        rows = rows_affected(loaded.findings)
        report.warn("rejects", f"{rows} row(s) set aside (see rejects.csv); first: {loaded.findings[0]}", rows=rows)
    if len(loaded.location_warnings):
        first = loaded.location_warnings.iloc[0]
        report.warn(
            "locations",
            f"{len(loaded.location_warnings)} account(s) have lat/lon far from their ZIP, used as given "
            f"(see location_warnings.csv); first: {first['file']}:{first['line']}: {first['reason']}",
            accounts=len(loaded.location_warnings),
        )
    if config.units.by == "county":
        loaded = _check_counties(loaded, report)
    report.info(
        "read",
        f"read {len(loaded.accounts)} accounts, total potential {loaded.accounts['potential'].sum():,.1f}, "
        f"{int((loaded.accounts['potential'] > 0).sum())} with volume",
        accounts=len(loaded.accounts),
    )
    if "competition_rows" in loaded.counts:  # scoring.competition: how many of its rows found an account
        report.info("competition", match_line(loaded.counts), matched=loaded.counts["competition_matched_rows"])
    return loaded


def _check_counties(loaded: Loaded, report: Reporter) -> Loaded:
    """County units: warn when counties taken from the ZIP lie outside the account's state; summary.json counts them
    (accounts.county_outside_state)."""
    wrong = county_state_mismatch(loaded.accounts)
    if len(wrong):
        first = wrong.iloc[0]
        report.warn(
            "counties",
            f"{len(wrong)} account(s) have a county from their ZIP outside their state; first: account "
            f"{first['account_id']} (line {first['line']}), state {first['state']}, ZIP {first['zip']}, county "
            f"{first['county']} (give each account's county FIPS in a county column: inputs.accounts.columns.county)",
            accounts=len(wrong),
        )
    return dataclasses.replace(loaded, counts={**loaded.counts, "county_outside_state": len(wrong)})
