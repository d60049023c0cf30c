"""Potential, segments and workload per account."""

from __future__ import annotations

import numpy as np
import pandas as pd

from terrplan.config import Scoring, Segment


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


def score_accounts(
    accounts: pd.DataFrame, volumes: pd.DataFrame, scoring: Scoring, segments: tuple[Segment, ...]
) -> pd.DataFrame:
    """accounts + volume, potential, segment, calls_per_year, workload_hours (calls x minutes per call / 60)."""
    totals = potential_per_account(volumes, scoring, accounts["account_id"])
    scored = accounts.copy()
    scored["volume"] = totals["volume"].to_numpy()
    scored["potential"] = totals["potential"].to_numpy()
    tier = assign_segments(scored["potential"].to_numpy(), scored["account_id"].to_numpy(), segments)
    calls = np.array([s.calls_per_year for s in segments])[tier]
    minutes = np.array([s.minutes_per_call for s in segments])[tier]
    scored["segment"] = np.array([s.name for s in segments])[tier]
    scored["calls_per_year"] = calls
    scored["workload_hours"] = calls * minutes / 60.0
    return scored


def top_codes(volumes: pd.DataFrame, scoring: Scoring, top: int = 5) -> list[tuple[str, float, float]]:
    """(code, total volume, weight) of the `top` codes with most volume, largest first (ties by code)."""
    if volumes.empty:
        return []
    totals = volumes.groupby("code")["volume"].sum().reset_index()
    totals = totals.sort_values(["volume", "code"], ascending=[False, True], kind="stable").head(top)
    return [(code, float(volume), code_weight(code, scoring)) for code, volume in totals.itertuples(index=False)]
