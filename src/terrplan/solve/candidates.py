"""Sparse candidate arcs: each unit's nearest few sites, so assignment and bounds never build an n x n matrix."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from terrplan.model import Problem


def nearest_sites(problem: Problem, sites: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """For every unit, its `count` nearest of `sites`: (n, count) positions into `sites` and distances, sorted."""
    count = min(count, len(sites))
    units = np.arange(problem.n_units)
    if problem.geometry == "matrix":
        sub = problem.distances[:, sites]
        if problem.floor_distances:
            sub = np.floor(sub)
        part = (
            np.argpartition(sub, count - 1, axis=1)[:, :count]
            if count < len(sites)
            else np.tile(np.arange(len(sites)), (len(units), 1))
        )
        dist = np.take_along_axis(sub, part, axis=1)
    else:
        tree = cKDTree(problem.site_points()[sites])
        _, part = tree.query(problem.unit_points(), k=count)
        part = part.reshape(len(units), count)
        dist = problem.distance(units[:, None], sites[part])
    order = np.argsort(dist, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(dist, order, axis=1)


def nearest_units(problem: Problem, sites: np.ndarray, count: int) -> np.ndarray:
    """For every one of `sites`, its `count` nearest units: (len(sites), count) unit ids."""
    count = min(count, problem.n_units)
    if problem.geometry == "matrix":
        sub = problem.distances[:, sites].T
        if count >= problem.n_units:
            return np.tile(np.arange(problem.n_units), (len(sites), 1))
        return np.argpartition(sub, count - 1, axis=1)[:, :count]
    tree = cKDTree(problem.unit_points())
    _, idx = tree.query(problem.site_points()[sites], k=count)
    return np.asarray(idx).reshape(len(sites), count)
