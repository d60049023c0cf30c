"""Potential, segments and workload per account.

potential = Σ volume × weight of the latest year's volumes (`base_potential` when factors are on)
            × growth_factor × competitive_factor × adoption_factor,
each factor 1 unless the config's `scoring` turns it on (terrplan.factors); every factor is a column of
assignments.csv, so an analyst re-derives each account's potential from its row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from terrplan.config import Opportunity, Scoring, Segment
from terrplan.factors.growth import YEAR_PREFIX, account_growth


def code_matches(pattern: str, code: str) -> bool:
    """'27447' exact, '274*' prefix, '27440-27447' inclusive range (numeric when both ends are numbers)."""
    pattern = pattern.strip().upper()
    if pattern.endswith("*"):
        return code.startswith(pattern[:-1])
    if "-" in pattern:
        low, high = (p.strip() for p in pattern.split("-", 1))
        if low.isdigit() and high.isdigit():
            return code.isdigit() and int(low) <= int(code) <= int(high)
        return len(code) == len(low) and low <= code <= high
    return code == pattern


def code_weight(code: str, scoring: Scoring) -> float:
    """The first matching rule wins: `weights`, then `groups` in order, then `default_weight`."""
    for pattern, weight in scoring.weights.items():
        if code_matches(pattern, code):
            return float(weight)
    for group in scoring.groups:
        if any(code_matches(p, code) for p in group.codes):
            return float(group.weight)
    return float(scoring.default_weight)


def potential_per_account(volumes: pd.DataFrame, scoring: Scoring, account_ids: pd.Series) -> pd.DataFrame:
    """volume (all codes) and potential (sum volume x weight) per account, 0 for accounts without volume rows."""
    if volumes.empty:
        zeros = np.zeros(len(account_ids))
        return pd.DataFrame({"volume": zeros, "potential": zeros}, index=account_ids.to_numpy())
    weights = {code: code_weight(code, scoring) for code in volumes["code"].unique()}
    scored = volumes.assign(potential=volumes["volume"] * volumes["code"].map(weights))
    totals = scored.groupby("account_id", sort=False)[["volume", "potential"]].sum()
    return totals.reindex(account_ids.to_numpy(), fill_value=0.0)


def assign_segments(potential: np.ndarray, ids: np.ndarray, segments: tuple[Segment, ...]) -> np.ndarray:
    """Segment index per account: rank by potential (ties by id), tier i takes the next `share` of cumulative
    potential. An account belongs to the tier its first unit of potential falls in; zero potential -> last tier."""
    order = np.lexsort((ids, -potential))
    total = potential.sum()
    before = np.concatenate([[0.0], np.cumsum(potential[order])[:-1]]) / total if total > 0 else np.ones(len(order))
    bounds = np.cumsum([s.share for s in segments])
    tier_sorted = np.searchsorted(bounds, before, side="right")
    tier_sorted = np.minimum(tier_sorted, len(segments) - 1)
    tier_sorted[potential[order] <= 0] = len(segments) - 1
    tier = np.empty(len(order), dtype=np.int64)
    tier[order] = tier_sorted
    return tier


def yearly_potential(volumes: pd.DataFrame, scoring: Scoring, account_ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Σ volume × weight per account and year (accounts x years, NaN where an account has no row that year), and
    the years, oldest first."""
    if "year" not in volumes or volumes.empty:
        return np.full((len(account_ids), 0), np.nan), np.zeros(0, dtype=np.int64)
    weights = {code: code_weight(code, scoring) for code in volumes["code"].unique()}
    scored = volumes.assign(potential=volumes["volume"] * volumes["code"].map(weights))
    table = scored.pivot_table(index="account_id", columns="year", values="potential", aggfunc="sum", sort=True)
    table = table.reindex(account_ids.to_numpy())
    return table.to_numpy(dtype=float), table.columns.to_numpy(dtype=np.int64)


def score_accounts(
    accounts: pd.DataFrame,
    volumes: pd.DataFrame,
    scoring: Scoring,
    segments: tuple[Segment, ...],
    factors: pd.DataFrame | None = None,
    history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """accounts + volume, potential, segment, calls_per_year, workload_hours (calls x minutes per call / 60).

    `volumes` are the potential's (one year); `history` every year read, for growth when `scoring.growth` is set.
    `factors` (rows in the accounts' order, terrplan.factors.combine) adds its columns; their competitive_factor
    and adoption_factor scale potential, and so does growth (module notes). Segments
    rank the final potential; an account's opportunity (expand / convert / develop) takes its call plan from
    `scoring.opportunities` where that sets calls or minutes."""
    totals = potential_per_account(volumes, scoring, accounts["account_id"])
    scored = accounts.copy()
    scored["volume"] = totals["volume"].to_numpy()
    scored["potential"] = totals["potential"].to_numpy()
    scored = _with_factors(scored, volumes if history is None else history, scoring, factors, _year(volumes))
    tier = assign_segments(scored["potential"].to_numpy(), scored["account_id"].to_numpy(), segments)
    calls = np.array([s.calls_per_year for s in segments])[tier]
    minutes = np.array([s.minutes_per_call for s in segments])[tier]
    if "opportunity" in scored and scoring.opportunities:
        calls, minutes = _opportunity_plans(scored["opportunity"].to_numpy(), calls, minutes, scoring.opportunities)
    scored["segment"] = np.array([s.name for s in segments])[tier]
    scored["calls_per_year"] = calls
    scored["workload_hours"] = calls * minutes / 60.0
    return scored


def _year(volumes: pd.DataFrame) -> int | None:
    """The year of the potential's volumes (None without a year column)."""
    return int(volumes["year"].max()) if "year" in volumes and len(volumes) else None


def _with_factors(
    scored: pd.DataFrame, history: pd.DataFrame, scoring: Scoring, factors: pd.DataFrame | None, year: int | None
) -> pd.DataFrame:
    """`scored` with the factor columns, potential = base_potential × the factors turned on; growth compounds
    from `year` (the potential's) to the plan year."""
    if scoring.growth is None and (factors is None or factors.shape[1] == 0):
        return scored
    extra: dict[str, np.ndarray] = {"base_potential": scored["potential"].to_numpy(dtype=float)}
    multiplier = np.ones(len(scored))
    if scoring.growth is not None:
        matrix, years = yearly_potential(history, scoring, scored["account_id"])
        for i, year in enumerate(years):
            extra[f"{YEAR_PREFIX}{year}"] = matrix[:, i]
        growth = account_growth(matrix, years, scored["zip"].to_numpy(), scoring.growth, year)
        extra.update({column: growth[column].to_numpy() for column in growth.columns})
        extra["forecast"] = scored["volume"].to_numpy(dtype=float) * extra["growth_factor"]
        if scoring.growth.in_potential:
            multiplier = multiplier * extra["growth_factor"]
    if factors is not None:
        extra.update({column: factors[column].to_numpy() for column in factors.columns})
        for column in ("competitive_factor", "adoption_factor"):
            if column in factors:
                multiplier = multiplier * factors[column].to_numpy(dtype=float)
    scored = scored.assign(**extra)
    scored["potential"] = scored["base_potential"].to_numpy() * multiplier
    return scored


def _opportunity_plans(
    opportunity: np.ndarray, calls: np.ndarray, minutes: np.ndarray, plans: tuple[Opportunity, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Calls and minutes per account: its opportunity's where the config sets them, else its size segment's."""
    calls, minutes = calls.astype(float), minutes.astype(float)
    for plan in plans:
        rows = opportunity == plan.name
        if plan.calls_per_year is not None:
            calls[rows] = plan.calls_per_year
        if plan.minutes_per_call is not None:
            minutes[rows] = plan.minutes_per_call
    return calls, minutes


def top_codes(volumes: pd.DataFrame, scoring: Scoring, top: int = 5) -> list[tuple[str, float, float]]:
    """(code, total volume, weight) of the `top` codes with most volume, largest first (ties by code)."""
    if volumes.empty:
        return []
    totals = volumes.groupby("code")["volume"].sum().reset_index()
    totals = totals.sort_values(["volume", "code"], ascending=[False, True], kind="stable").head(top)
    return [(code, float(volume), code_weight(code, scoring)) for code, volume in totals.itertuples(index=False)]
