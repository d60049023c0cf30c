"""Reps to territories: the roster's rep per anchored territory, or a matching of reps to free territories."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from terrplan.geo import haversine_km

REP_COLUMNS = ["rep_id", "rep_name", "fte", "home_lat", "home_lon", "home_to_centre_km"]


_FTE_MISMATCH_KM = 1e7  # a rep goes to a territory sized for another FTE only when nothing else is left
BOOK_KM = 200.0  # losing a rep's whole current book of potential counts like living this much farther away


def rep_for_territory(
    reps: pd.DataFrame, centres: np.ndarray, anchored: bool, fte: np.ndarray, kept: np.ndarray | None = None
) -> np.ndarray:
    """Roster row per territory (-1 for a vacancy).

    Anchored territories belong to their roster row. Free territories get reps by a minimum-cost matching
    (Hungarian method) among territories sized for the rep's FTE (`fte` per territory). The cost is the
    home-to-centre distance plus, when `kept` (roster rows x territories: potential of the rep's current
    accounts that land in the territory) is given, BOOK_KM x the share of the rep's book the territory loses;
    territories left over, or matched to a vacancy row, are vacant.
    """
    k = len(centres)
    if anchored:
        return np.where(reps["vacant"].to_numpy(), -1, np.arange(k))
    staffed = np.flatnonzero(~reps["vacant"].to_numpy())
    homes = reps[["lat", "lon"]].to_numpy()[staffed]
    cost = haversine_km(homes[:, None, 0], homes[:, None, 1], centres[None, :, 0], centres[None, :, 1])
    mismatch = np.abs(reps["fte"].to_numpy()[staffed][:, None] - fte[None, :]) > 1e-9
    if kept is not None:
        book = kept[staffed].sum(axis=1, keepdims=True)
        lost = np.divide(book - kept[staffed], book, out=np.zeros_like(cost), where=book > 0)
        cost = cost + BOOK_KM * lost
    rows, cols = linear_sum_assignment(cost + _FTE_MISMATCH_KM * mismatch)
    out = np.full(k, -1, dtype=np.int64)
    out[cols] = staffed[rows]
    return out


def territory_reps(
    reps: pd.DataFrame, centres: np.ndarray, anchored: bool, fte: np.ndarray, kept: np.ndarray | None = None
) -> pd.DataFrame:
    """REP_COLUMNS per territory (index order); vacancies have blank rep_id and rep_name 'VACANT'."""
    chosen = rep_for_territory(reps, centres, anchored, fte, kept)
    has = chosen >= 0
    pick = np.where(has, chosen, 0)
    home_lat = np.where(has, reps["lat"].to_numpy()[pick], np.nan)
    home_lon = np.where(has, reps["lon"].to_numpy()[pick], np.nan)
    return pd.DataFrame(
        {
            "rep_id": np.where(has, reps["rep_id"].to_numpy()[pick], ""),
            "rep_name": np.where(has, reps["name"].to_numpy()[pick], "VACANT"),
            "fte": fte,
            "home_lat": home_lat,
            "home_lon": home_lon,
            "home_to_centre_km": haversine_km(home_lat, home_lon, centres[:, 0], centres[:, 1]),
        }
    )


def kept_potential(
    reps: pd.DataFrame, current: np.ndarray, territory: np.ndarray, potential: np.ndarray, k: int
) -> np.ndarray:
    """(roster rows, K) potential of each rep's current accounts (current territory name = the rep's) that the
    new alignment (`territory` index per account) puts in each territory."""
    row_of = {name: i for i, name in enumerate(reps["territory"]) if name}
    rows = np.array([row_of.get(name, -1) for name in current], dtype=np.int64)
    has = rows >= 0
    kept = np.zeros((len(reps), k))
    np.add.at(kept, (rows[has], territory[has]), potential[has])
    return kept
