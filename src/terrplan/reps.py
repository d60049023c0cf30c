"""Reps to territories: the roster's rep per anchored territory, or a matching of reps to free territories."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from terrplan.geo import haversine_km
from terrplan.model import Homes

REP_COLUMNS = ["rep_id", "rep_name", "fte", "home_lat", "home_lon", "home_to_centre_km", "home_to_territory_km"]


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
    reps: pd.DataFrame,
    centres: np.ndarray,
    anchored: bool,
    fte: np.ndarray,
    accounts: np.ndarray,
    territory: np.ndarray,
    kept: np.ndarray | None = None,
) -> pd.DataFrame:
    """REP_COLUMNS per territory (index order); vacancies have blank rep_id and rep_name 'VACANT'.

    `accounts`: (N, 2) lat/lon of every account and `territory` its territory index, for home_to_territory_km."""
    chosen = rep_for_territory(reps, centres, anchored, fte, kept)
    has = chosen >= 0
    pick = np.where(has, chosen, 0)
    home_lat = np.where(has, reps["lat"].to_numpy()[pick], np.nan)
    home_lon = np.where(has, reps["lon"].to_numpy()[pick], np.nan)
    homes = np.column_stack([home_lat, home_lon])
    return pd.DataFrame(
        {
            "rep_id": np.where(has, reps["rep_id"].to_numpy()[pick], ""),
            "rep_name": np.where(has, reps["name"].to_numpy()[pick], "VACANT"),
            "fte": fte,
            "home_lat": home_lat,
            "home_lon": home_lon,
            "home_to_centre_km": haversine_km(home_lat, home_lon, centres[:, 0], centres[:, 1]),
            "home_to_territory_km": home_to_territory(homes, accounts, territory),
        }
    )


def home_to_territory(homes: np.ndarray, accounts: np.ndarray, territory: np.ndarray) -> np.ndarray:
    """(K,) km from each territory's home (`homes`, (K, 2) lat/lon, NaN for a vacancy) to the territory's nearest
    account (`accounts`, (N, 2) lat/lon, in territory `territory`); NaN for a vacancy or a territory without accounts.

    A home among its territory's accounts is a few km from the nearest of them; one outside is as far as the drive
    to the territory's edge."""
    out = np.full(len(homes), np.nan)
    order = np.argsort(territory, kind="stable")
    bounds = np.searchsorted(territory[order], np.arange(len(homes) + 1))
    for t in np.flatnonzero(~np.isnan(homes[:, 0])):
        members = order[bounds[t] : bounds[t + 1]]
        if len(members):
            lat, lon = accounts[members, 0], accounts[members, 1]
            out[t] = float(haversine_km(homes[t, 0], homes[t, 1], lat, lon).min())
    return out


def rep_homes(reps: pd.DataFrame | None, weights: np.ndarray, fte: np.ndarray, home_weight: float) -> Homes | None:
    """The home term of free territories tied to reps: territory t is roster row t's (a roster with one row per
    territory), and a km from the rep's home to the territory's centre costs `home_weight` x the territory's target
    share of the objective weight (total x fte_t / total FTE), i.e. as if that share of the territory's travel
    started from the home. Vacancies get no term. None without such a roster, or with a weight of 0."""
    k = len(fte)
    if reps is None or len(reps) != k or home_weight <= 0:
        return None
    staffed = ~reps["vacant"].to_numpy(dtype=bool)
    weight = np.where(staffed, home_weight * float(np.sum(weights)) * fte / fte.sum(), 0.0)
    if not (weight > 0).any():
        return None
    return Homes(reps[["lat", "lon"]].to_numpy(dtype=float), weight)


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


def home_figures(
    territories: pd.DataFrame, limit_km: float, home_weight: float, home_term: float, hint: str | None = None
) -> tuple[dict[str, float | int | None], str | None, str | None]:
    """summary.json's `reps` block from the territory table (REP_COLUMNS joined); the warning when some rep lives
    farther than `limit_km` from their territory's nearest account, else a log line saying none does (None without
    a staffed territory).

    `home_weight`: the home term's weight in force (0 when there is none); `home_term`: its value, which steers the
    solve but is not part of the reported objective; `hint`: what would bring reps closer, for the warning."""
    km = territories["home_to_territory_km"].to_numpy(dtype=float)
    staffed = ~np.isnan(km)
    over = np.flatnonzero(staffed & (km > limit_km))
    centre_km = territories["home_to_centre_km"].to_numpy(dtype=float)[staffed]
    figures: dict[str, float | int | None] = {
        "max_home_to_territory_km": round(float(km[staffed].max()), 3) if staffed.any() else None,
        "max_home_to_centre_km": round(float(centre_km.max()), 3) if staffed.any() else None,
        "over_limit": len(over),
        "limit_km": limit_km,
        "home_weight": home_weight,
        "home_term": round(home_term, 6),
    }
    if not staffed.any():
        return figures, None, None
    if not len(over):
        note = f"reps: every home within {limit_km:g} km of its territory (farthest {km[staffed].max():.1f} km)"
        if home_weight > 0:
            note += f"; home term {home_term:,.1f}, not in the objective"
        return figures, None, note
    worst = territories.iloc[over[int(np.argmax(km[over]))]]
    message = (
        f"{len(over)} rep(s) live more than {limit_km:g} km from their territory's nearest account; farthest: "
        f"{worst['rep_name']} ({worst['rep_id']}), territory {worst['territory']}, {km[over].max():.1f} km"
        + (f" ({hint})" if hint else "")
    )
    return figures, message, None
