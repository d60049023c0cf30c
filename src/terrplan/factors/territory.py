"""The factor columns of assignments.csv (per account) and territories.csv (per territory), when present."""

from __future__ import annotations

import numpy as np
import pandas as pd

from terrplan.factors.growth import YEAR_PREFIX, group_rates
from terrplan.factors.market import territory_people

_YEARS = "potential_<year>"

#: Per-account factor columns in assignments.csv's order (after its standard columns); each only when present.
ACCOUNT_COLUMNS = (
    "base_potential", _YEARS, "growth_rate", "growth_source", "zip_growth_rate", "growth_factor", "forecast",
    "competitor", "competitor_share", "own_share", "competitive_factor", "adoption", "adoption_factor",
    "opportunity", "facility", "facility_name", "zip_population", "zip_population_65",
)  # fmt: skip


def year_columns(frame: pd.DataFrame) -> list[str]:
    """potential_2018, potential_2020, ...: the yearly potential columns, oldest first."""
    return sorted(c for c in frame.columns if c.startswith(YEAR_PREFIX) and c[len(YEAR_PREFIX) :].isdigit())


def factor_columns(accounts: pd.DataFrame) -> list[str]:
    """The factor columns `accounts` carries, in assignments.csv's order."""
    out: list[str] = []
    for column in ACCOUNT_COLUMNS:
        out.extend(year_columns(accounts) if column == _YEARS else [column] if column in accounts else [])
    return out


def territory_factors(accounts: pd.DataFrame, territory: np.ndarray, k: int) -> pd.DataFrame | None:
    """territories.csv's factor columns (index order), or None when the accounts carry no factor."""
    out: dict[str, np.ndarray] = {}
    potential = accounts["potential"].to_numpy(dtype=float)
    years = year_columns(accounts)
    if years:
        matrix = accounts[years].to_numpy(dtype=float)
        numbers = np.array([int(c[len(YEAR_PREFIX) :]) for c in years])
        out["growth_rate"] = np.nan_to_num(group_rates(matrix, numbers, territory, k))
        out["forecast"] = np.bincount(territory, weights=accounts["forecast"].to_numpy(dtype=float), minlength=k)
    if "competitor_share" in accounts:
        held = np.bincount(territory, weights=potential * accounts["competitor_share"].to_numpy(float), minlength=k)
        total = np.bincount(territory, weights=potential, minlength=k)
        out["competitor_share"] = np.divide(held, total, out=np.zeros(k), where=total > 0)
        out["top_competitor"] = _top_competitor(accounts, territory, k)
    if "zip_population" in accounts:
        people = territory_people(
            accounts["lat"].to_numpy(float), accounts["lon"].to_numpy(float),
            accounts["state"].fillna("").astype(str).to_numpy(), accounts["zip"].fillna("").astype(str).to_numpy(),
            territory, k,
        )  # fmt: skip
        out["population"] = people["population"].to_numpy()
        out["population_65"] = people["population_65"].to_numpy()
        total = np.bincount(territory, weights=potential, minlength=k)
        share_people = out["population_65"] / max(out["population_65"].sum(), 1.0)
        share_potential = total / max(total.sum(), 1e-300)
        out["market_index"] = np.divide(100 * share_people, share_potential, out=np.zeros(k), where=share_potential > 0)
    return pd.DataFrame(out) if out else None


def _top_competitor(accounts: pd.DataFrame, territory: np.ndarray, k: int) -> np.ndarray:
    """The competitor holding the most potential x competitor_share in each territory ('' for none; ties by name)."""
    held = accounts["potential"].to_numpy(float) * accounts["competitor_share"].to_numpy(float)
    frame = pd.DataFrame({"t": territory, "competitor": accounts["competitor"].to_numpy(), "held": held})
    frame = frame.loc[(frame["competitor"] != "") & (frame["held"] > 0)]
    sums = frame.groupby(["t", "competitor"], as_index=False)["held"].sum()
    sums = sums.sort_values(["t", "held", "competitor"], ascending=[True, False, True], kind="stable")
    top = sums.drop_duplicates("t").set_index("t")["competitor"]
    return top.reindex(np.arange(k)).fillna("").to_numpy(dtype=object)
