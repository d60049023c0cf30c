"""Reps to territories: the roster's rep per anchored territory, or a matching of reps to free territories."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from terrplan.geo import haversine_km

REP_COLUMNS = ["rep_id", "rep_name", "fte", "home_lat", "home_lon", "home_to_centre_km"]


_FTE_MISMATCH_KM = 1e7  # a rep goes to a territory sized for another FTE only when nothing else is left


def rep_for_territory(reps: pd.DataFrame, centres: np.ndarray, anchored: bool, fte: np.ndarray) -> np.ndarray:
    """Roster row per territory (-1 for a vacancy).

    Anchored territories belong to their roster row. Free territories get reps by a minimum total home-to-centre
    distance matching (Hungarian method) among territories sized for the rep's FTE (`fte` per territory);
    territories left over, or matched to a vacancy row, are vacant.
    """
    k = len(centres)
    if anchored:
        return np.where(reps["vacant"].to_numpy(), -1, np.arange(k))
    staffed = np.flatnonzero(~reps["vacant"].to_numpy())
    homes = reps[["lat", "lon"]].to_numpy()[staffed]
    cost = haversine_km(homes[:, None, 0], homes[:, None, 1], centres[None, :, 0], centres[None, :, 1])
    mismatch = np.abs(reps["fte"].to_numpy()[staffed][:, None] - fte[None, :]) > 1e-9
    rows, cols = linear_sum_assignment(cost + _FTE_MISMATCH_KM * mismatch)
    out = np.full(k, -1, dtype=np.int64)
    out[cols] = staffed[rows]
    return out


def territory_reps(reps: pd.DataFrame, centres: np.ndarray, anchored: bool, fte: np.ndarray) -> pd.DataFrame:
    """REP_COLUMNS per territory (index order); vacancies have blank rep_id and rep_name 'VACANT'."""
    chosen = rep_for_territory(reps, centres, anchored, fte)
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
