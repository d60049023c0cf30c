"""Contiguous territories over an adjacency graph: detached pieces reattached, bands repaired without cuts."""

from __future__ import annotations

import json

import numpy as np
from conftest import TINY_CONFIG, invoke, requires_shared, run_cli

from terrplan.contiguity import is_contiguous, make_contiguous, pieces, unit_neighbours
from terrplan.model import Problem, bands_hold


def grid(rows: int, cols: int) -> tuple[tuple[frozenset[str], ...], dict[str, set[str]], np.ndarray]:
    """Areas r{i}c{j} on a grid, rook adjacency, and their x/y."""
    keys = [f"r{i}c{j}" for i in range(rows) for j in range(cols)]
    graph = {f"r{i}c{j}": set() for i in range(rows) for j in range(cols)}
    for i in range(rows):
        for j in range(cols):
            for di, dj in ((0, 1), (1, 0)):
                if i + di < rows and j + dj < cols:
                    graph[f"r{i}c{j}"].add(f"r{i + di}c{j + dj}")
                    graph[f"r{i + di}c{j + dj}"].add(f"r{i}c{j}")
    xy = np.array([[i, j] for i in range(rows) for j in range(cols)], dtype=float)
    return tuple(frozenset([k]) for k in keys), graph, xy


def test_a_detached_piece_joins_its_neighbour_and_bands_are_restored():
    areas, graph, xy = grid(4, 4)
    neighbours = unit_neighbours(areas, graph)
    weights = np.ones(16)
    problem = Problem(2, weights, weights[None, :], ("units",), 7.0, 9.0, coords=xy, geometry="euclidean")
    # Left half territory 0, right half 1, but the corner r3c3 wrongly in 0: detached from it.
    territory = np.array([0 if j < 2 else 1 for i in range(4) for j in range(4)])
    territory[15] = 0
    assert not is_contiguous(territory, 2, neighbours).all()
    fixed = make_contiguous(problem, territory, np.array([5, 10]), neighbours)
    assert is_contiguous(fixed, 2, neighbours).all()
    assert bands_hold(problem, fixed)
    assert fixed[15] == 1


def test_band_repair_never_cuts_a_territory_in_two():
    areas, graph, xy = grid(1, 8)  # a path: only the ends of each territory may move
    neighbours = unit_neighbours(areas, graph)
    weights = np.ones(8)
    problem = Problem(2, weights, weights[None, :], ("units",), 4.0, 4.0, coords=xy, geometry="euclidean")
    territory = np.array([0, 0, 0, 0, 0, 0, 1, 1])  # 6 / 2: two units must cross the border
    fixed = make_contiguous(problem, territory, np.array([1, 7]), neighbours)
    assert fixed.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert all(len(pieces(np.flatnonzero(fixed == t), neighbours)) == 1 for t in range(2))


def test_islands_are_exempt():
    areas = (frozenset(["a"]), frozenset(["b"]), frozenset(["island"]))
    neighbours = unit_neighbours(areas, {"a": {"b"}, "b": {"a"}})
    assert [len(n) for n in neighbours] == [1, 1, 0]
    assert is_contiguous(np.array([0, 1, 0]), 2, neighbours).all()  # the island does not split territory 0


def test_contiguity_needs_area_units(tiny):
    tiny.write("config.yaml", TINY_CONFIG + "contiguity: {graph: graph.json}\n")
    result = invoke("optimize", str(tiny.config), "-q")
    assert result.exit_code == 3
    assert "key 'contiguity.graph': contiguity needs area units" in result.stderr


@requires_shared
def test_nc_hospitals_in_contiguous_county_territories(tmp_path):
    proc = run_cli(
        "optimize", "configs/cms-inpatient-drg-nc-2012-contiguous.yaml", "-o", str(tmp_path), "-q", "--no-report"
    )
    assert proc.returncode == 0, proc.stderr.decode()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["contiguity"]["territories_contiguous"] == 4
    assert summary["units"] == 100  # all 100 NC counties, with or without a hospital
    assert summary["balance"]["territories_in_band"] == 4
    assert summary["lower_bound"] <= summary["objective"]
