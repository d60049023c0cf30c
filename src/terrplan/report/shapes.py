"""Territory polygons from account locations, and GeoJSON (RFC 7946) of territories and accounts.

A territory's polygon is the union of the Voronoi cells of its accounts' distinct locations, each cell clipped to
a buffered hull of all accounts. Cells are computed in a local equirectangular plane (x = lon * cos(mean lat)), so
they look right on the map, and mapped back to lon/lat by the inverse affine map. Every account lies inside the
cell of its own location, so it lies inside its territory's polygon, with one exception that no partition can
avoid: when accounts at one location belong to different territories, the location's cell goes to the territory
that holds the most potential there (`shared_locations` counts these).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import Voronoi
from shapely.geometry import MultiPolygon, Point, Polygon, mapping
from shapely.geometry.polygon import orient

DECIMALS = 6  # GeoJSON coordinates: ~0.1 m, RFC 7946 §11.2
GRID = 10.0**-DECIMALS
BUFFER_FRACTION = 0.04  # hull buffer as a share of the larger side of the accounts' extent
MIN_BUFFER_KM = 5.0


@dataclass(frozen=True)
class Shapes:
    """Territory label -> (Multi)Polygon in lon/lat (possibly empty), and how many locations were shared."""

    polygons: dict[str, shapely.Geometry]
    shared_locations: dict[str, int]
    owner: pd.Series  # per assignments row: the territory whose polygon holds its location


def territory_shapes(assignments: pd.DataFrame, column: str = "territory") -> Shapes:
    """Polygons per territory (by `column`) from the accounts' lat/lon; rows without a location are ignored."""
    frame = assignments.loc[assignments["lat"].notna() & assignments["lon"].notna() & _present(assignments[column])]
    labels = sorted(frame[column].astype(str).unique())
    if frame.empty:
        return Shapes({}, {}, pd.Series(dtype=object))
    lon = frame["lon"].to_numpy(dtype=float).round(DECIMALS)
    lat = frame["lat"].to_numpy(dtype=float).round(DECIMALS)
    keys = pd.Series(list(zip(lon, lat, strict=True)), index=frame.index)
    territory = frame[column].astype(str)
    potential = frame["potential"].to_numpy(dtype=float) if "potential" in frame else np.ones(len(frame))

    # The owner of each distinct location: most potential there, then most accounts, then the first label.
    table = pd.DataFrame({"key": keys, "territory": territory, "potential": potential, "n": 1})
    by = table.groupby(["key", "territory"], sort=True).agg(potential=("potential", "sum"), n=("n", "sum"))
    by = by.reset_index().sort_values(
        ["key", "potential", "n", "territory"], ascending=[True, False, False, True], kind="stable"
    )
    owners = by.drop_duplicates("key").set_index("key")["territory"]
    contested = by.groupby("key")["territory"].nunique()
    shared = {label: 0 for label in labels}
    for key in contested.index[contested > 1]:
        for label in by.loc[by["key"] == key, "territory"]:
            if label != owners[key]:
                shared[label] += 1

    sites = np.array(owners.index.tolist(), dtype=float)  # (m, 2) lon, lat
    lat0 = float(sites[:, 1].mean())
    lon0 = float(sites[:, 0].mean())
    kx = math.cos(math.radians(lat0))
    xy = np.column_stack(((sites[:, 0] - lon0) * kx, sites[:, 1] - lat0))
    cells = _clipped_cells(xy)
    polygons: dict[str, shapely.Geometry] = {}
    for label in labels:
        mine = [cells[i] for i, owner in enumerate(owners.to_numpy()) if owner == label]
        if not mine:
            polygons[label] = Polygon()
            continue
        merged = shapely.union_all(mine)
        merged = shapely.affinity.affine_transform(merged, [1 / kx, 0, 0, 1, lon0, lat0])
        merged = shapely.set_precision(merged, GRID)
        polygons[label] = _polygonal(merged)
    return Shapes(polygons, shared, keys.map(owners))


def _present(values: pd.Series) -> pd.Series:
    return values.notna() & (values.astype(str).str.strip() != "")


def _clipped_cells(xy: np.ndarray) -> list[shapely.Geometry]:
    """The Voronoi cell of every point, clipped to the buffered convex hull of all points (planar coordinates)."""
    span = float(np.ptp(xy, axis=0).max()) if len(xy) > 1 else 0.0
    buffer = max(span * BUFFER_FRACTION, MIN_BUFFER_KM / 111.32)
    clip = shapely.MultiPoint(xy.tolist()).convex_hull.buffer(buffer, quad_segs=8)
    if len(xy) == 1:
        return [clip]
    # Four far corners make every real cell bounded and keep qhull happy with 2 or collinear points.
    centre = xy.mean(axis=0)
    far = 10 * (span + buffer)
    frame = centre + far * np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]])
    diagram = Voronoi(np.vstack([xy, frame]))
    cells = []
    for i in range(len(xy)):
        region = diagram.regions[diagram.point_region[i]]
        cell = Polygon(diagram.vertices[region])
        if not cell.is_valid:
            cell = shapely.make_valid(cell)
        cells.append(cell.intersection(clip))
    return cells


def _polygonal(geometry: shapely.Geometry) -> shapely.Geometry:
    """Keep only the polygon parts (set_precision may leave slivers as lines), oriented per RFC 7946."""
    parts = [g for g in shapely.get_parts(geometry) if isinstance(g, Polygon) and not g.is_empty]
    parts = [orient(p, 1.0) for p in parts]
    if not parts:
        return Polygon()
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


# -- GeoJSON ----------------------------------------------------------------------------------------------------


def territories_geojson(territories: pd.DataFrame, shapes: Shapes, colours: dict[str, str]) -> str:
    features = []
    for row in territories.to_dict("records"):
        label = str(row["territory"])
        geometry = shapes.polygons.get(label)
        properties = {key: _value(value) for key, value in row.items()}
        properties["color"] = colours.get(label)
        properties["shared_locations"] = shapes.shared_locations.get(label, 0)
        features.append(
            {
                "type": "Feature",
                "id": label,
                "geometry": None if geometry is None or geometry.is_empty else _coords(mapping(geometry)),
                "properties": properties,
            }
        )
    return _dump({"type": "FeatureCollection", "features": features})


def accounts_geojson(assignments: pd.DataFrame) -> str:
    features = []
    for row in assignments.to_dict("records"):
        lon, lat = _value(row.get("lon")), _value(row.get("lat"))
        geometry = None
        if lon is not None and lat is not None:
            geometry = {"type": "Point", "coordinates": [round(float(lon), DECIMALS), round(float(lat), DECIMALS)]}
        features.append(
            {
                "type": "Feature",
                "id": str(row["account_id"]),
                "geometry": geometry,
                "properties": {key: _value(value) for key, value in row.items()},
            }
        )
    return _dump({"type": "FeatureCollection", "features": features})


def _coords(geometry: dict) -> dict:
    def walk(value):
        if isinstance(value, tuple | list):
            if value and isinstance(value[0], float | int):
                return [round(float(v), DECIMALS) + 0.0 for v in value]
            return [walk(v) for v in value]
        return value

    return {"type": geometry["type"], "coordinates": walk(geometry["coordinates"])}


def _value(value):
    """JSON-safe property values: numpy scalars unwrapped, NaN -> null, floats to 6 decimals."""
    if hasattr(value, "item"):
        value = value.item()
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if isinstance(value, float):
        return round(value, DECIMALS) + 0.0
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _dump(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n"


def point(lon: float, lat: float) -> Point:
    return Point(round(float(lon), DECIMALS), round(float(lat), DECIMALS))
