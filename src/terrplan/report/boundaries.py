"""US state and county outlines from the package's Census TopoJSON (geodata/us_counties_10m.json.gz, see NOTICE.md).

Decoded once per process into shapely geometries in lon/lat. Shared arcs make neighbouring outlines meet exactly,
so the union of the states is the land with no slivers between them.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

import shapely
from shapely.geometry import MultiPolygon, Polygon

DATA = "us_counties_10m.json.gz"


@dataclass(frozen=True)
class Area:
    """One state or county: FIPS id, name and outline (lon/lat)."""

    fips: str
    name: str
    geometry: shapely.Geometry


@cache
def _topology() -> dict:
    with resources.files("terrplan.geodata").joinpath(DATA).open("rb") as handle:
        return json.loads(gzip.decompress(handle.read()))


@cache
def _arcs() -> list[list[tuple[float, float]]]:
    """Delta-encoded quantised arcs -> absolute lon/lat points (the topology's transform)."""
    topology = _topology()
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def _ring(indices: list[int]) -> list[tuple[float, float]]:
    arcs = _arcs()
    points: list[tuple[float, float]] = []
    for index in indices:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc if not points else arc[1:])  # consecutive arcs share their end point
    return points


def _geometry(geometry: dict) -> shapely.Geometry:
    polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
    parts = []
    for rings in polygons:
        outer, *holes = (_ring(r) for r in rings)
        if len(outer) >= 4:
            parts.append(Polygon(outer, [h for h in holes if len(h) >= 4]))
    if not parts:  # an island below the file's resolution
        return Polygon()
    shape = MultiPolygon(parts) if len(parts) > 1 else parts[0]
    return shape if shape.is_valid else shapely.make_valid(shape)


def _areas(kind: str) -> tuple[Area, ...]:
    out = []
    for item in _topology()["objects"][kind]["geometries"]:
        if item.get("type") not in {"Polygon", "MultiPolygon"}:
            continue
        out.append(Area(str(item["id"]), str(item.get("properties", {}).get("name", "")), _geometry(item)))
    return tuple(sorted(out, key=lambda a: a.fips))


@cache
def states() -> tuple[Area, ...]:
    """The 50 states, DC, Puerto Rico and the island areas, by FIPS."""
    return _areas("states")


@cache
def counties() -> dict[str, Area]:
    """County (5-digit FIPS) -> outline; 3,231 counties and equivalents incl. Puerto Rico and the island areas."""
    return {area.fips.zfill(5): area for area in _areas("counties")}
