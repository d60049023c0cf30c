"""Territory polygons on real geography, and GeoJSON (RFC 7946) of territories and accounts.

A territory's shape is the union of the Voronoi cells of its accounts' distinct locations, clipped to the land of
the states that hold accounts (package Census outlines, `boundaries`): never over sea, lakes or another country.
Cells are computed in a local equirectangular plane (x = lon * cos(mean lat)) in which longitudes east of 0 are
shifted by -360, so Guam and the western Aleutians sit beside Alaska rather than across the world; pieces west of
-180 are shifted back (and cut at the antimeridian), so no polygon spans more than 180° of longitude.

Every account lies inside its own territory's shape: a location on the water side of the generalised coastline
keeps a small disc of its own cell. A location shared by accounts of several territories (a ZIP centre) is split:
its cell is cut into wedges around the location, one per territory, sized by potential, so the ZIP shows as split
rather than claimed twice. The territory with the most potential there (`owner`) holds the location itself; the
others' wedges touch it (`shared_locations` counts those). With `areas` (county units), a territory is the union of
its counties' outlines instead.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
import shapely.affinity
from scipy.spatial import Voronoi
from shapely.geometry import MultiPolygon, Point, Polygon, box, mapping
from shapely.geometry.polygon import orient

from terrplan.report.boundaries import counties, states

DECIMALS = 6  # GeoJSON coordinates: ~0.1 m, RFC 7946 §11.2
GRID = 10.0**-DECIMALS
COAST_KM = 2.0  # an account off the generalised coastline keeps a disc this wide of its own cell
APEX_KM = 0.05  # the owner's wedges start this far behind a shared location, so the owner holds it strictly
MIN_WEDGE = 0.08  # a territory's wedge of a shared location: at least this share of the full turn
KM_PER_DEGREE = 111.32


@dataclass(frozen=True)
class Shapes:
    """Territory label -> (Multi)Polygon in lon/lat (possibly empty), and how many locations were shared."""

    polygons: dict[str, shapely.Geometry]
    shared_locations: dict[str, int]
    owner: pd.Series  # per assignments row: the territory whose polygon holds its location


def shifted(lon: np.ndarray | float) -> np.ndarray:
    """Longitudes east of 0 moved by -360: one continuous frame for the US from Guam to Maine."""
    lon = np.asarray(lon, dtype=float)
    return np.where(lon > 0, lon - 360.0, lon)


def territory_shapes(assignments: pd.DataFrame, column: str = "territory", areas: pd.Series | None = None) -> Shapes:
    """Polygons per territory (by `column`) from the accounts' lat/lon; rows without a location are ignored.
    `areas` (county FIPS per assignments row, county units): each territory is the union of its counties."""
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
    shares = {key: list(zip(g["territory"], g["potential"], strict=True)) for key, g in by.groupby("key", sort=True)}
    shared = {label: 0 for label in labels}
    for items in shares.values():
        for label, _ in items[1:]:
            shared[label] += 1

    if areas is not None:
        polygons = _county_shapes(territory, areas.loc[frame.index], potential, labels)
        return Shapes(polygons, shared, keys.map(owners))

    sites = np.array(owners.index.tolist(), dtype=float)  # (m, 2) lon, lat
    sites[:, 0] = shifted(sites[:, 0])
    plane = _Plane(sites)
    xy = plane.forward(sites)
    cells = _cells(xy)
    land = plane.forward_geometry(_land(sites))
    pieces: dict[str, list[shapely.Geometry]] = {label: [] for label in labels}
    holders: dict[str, list[int]] = {label: [] for label in labels}  # sites each territory must hold
    apex = APEX_KM / KM_PER_DEGREE
    held: list[shapely.Geometry] = []  # per site: the piece its owner holds (the cell, or the owner's wedge)
    for i, key in enumerate(owners.index):
        items = shares[key]
        holders[items[0][0]].append(i)
        if len(items) == 1:
            pieces[items[0][0]].append(cells[i])
            held.append(cells[i])
            continue
        wedges = _wedges(xy[i], items, apex, cells[i])
        for label, wedge in wedges:
            pieces[label].append(wedge)
        held.append(wedges[0][1])
    shapely.prepare(land)
    on_land = shapely.contains_xy(land, xy[:, 0], xy[:, 1])
    coast = COAST_KM / KM_PER_DEGREE
    polygons: dict[str, shapely.Geometry] = {}
    for label in labels:
        if not pieces[label]:
            polygons[label] = Polygon()
            continue
        mine = shapely.union_all([_polygonal(piece) for piece in pieces[label]])
        shape = _polygonal(mine.intersection(land))
        off_shore = [i for i in holders[label] if not on_land[i]]
        if off_shore:  # accounts placed just off the generalised coastline keep a disc of their own cell
            discs = [Point(xy[i]).buffer(coast, quad_segs=4).intersection(held[i]) for i in off_shore]
            shape = shapely.union_all([shape, *(_polygonal(disc) for disc in discs)])
        # Back to lon/lat: the affine map can collapse near-coincident wedge vertices, so repair before snapping.
        shape = shapely.make_valid(_unshift(plane.inverse_geometry(shape)))
        polygons[label] = _polygonal(shapely.union_all([_polygonal(shapely.set_precision(shape, GRID))]))
    return Shapes(polygons, shared, keys.map(owners))


def neighbours(polygons: dict[str, shapely.Geometry], within: float = 1e-4) -> dict[str, set[str]]:
    """Territories whose shapes share a border (or come within `within` degrees: wedge tips, the coast discs)."""
    labels = [label for label in sorted(polygons) if not polygons[label].is_empty]
    tree = shapely.STRtree([polygons[label] for label in labels])
    out: dict[str, set[str]] = {label: set() for label in polygons}
    left, right = tree.query([polygons[label] for label in labels], predicate="dwithin", distance=within)
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i != j:
            out[labels[i]].add(labels[j])
    return out


class _Plane:
    """Local equirectangular plane around the sites: x = (lon - lon0) cos(lat0), y = lat - lat0."""

    def __init__(self, sites: np.ndarray):
        self.lon0, self.lat0 = float(sites[:, 0].mean()), float(sites[:, 1].mean())
        self.kx = math.cos(math.radians(self.lat0))

    def forward(self, points: np.ndarray) -> np.ndarray:
        return np.column_stack(((points[:, 0] - self.lon0) * self.kx, points[:, 1] - self.lat0))

    def forward_geometry(self, geometry: shapely.Geometry) -> shapely.Geometry:
        return shapely.affinity.affine_transform(geometry, [self.kx, 0, 0, 1, -self.lon0 * self.kx, -self.lat0])

    def inverse_geometry(self, geometry: shapely.Geometry) -> shapely.Geometry:
        return shapely.affinity.affine_transform(geometry, [1 / self.kx, 0, 0, 1, self.lon0, self.lat0])


def _present(values: pd.Series) -> pd.Series:
    return values.notna() & (values.astype(str).str.strip() != "")


def _land(sites: np.ndarray) -> shapely.Geometry:
    """The land of every state that holds a site (or is nearest to one off the coast), in the shifted frame."""
    outlines = [_shift_parts(area.geometry) for area in states()]
    tree = shapely.STRtree(outlines)
    points = shapely.points(sites)
    inside, hit = tree.query(points, predicate="intersects")
    chosen = set(hit.tolist())
    lost = np.setdiff1d(np.arange(len(points)), inside)
    if len(lost):
        chosen |= set(tree.query_nearest(points[lost])[1].tolist())
    return shapely.union_all([outlines[i] for i in sorted(chosen)])


def _shift_parts(geometry: shapely.Geometry) -> shapely.Geometry:
    parts = [
        shapely.affinity.translate(part, -360.0) if part.bounds[0] > 0 else part for part in shapely.get_parts(geometry)
    ]
    return shapely.union_all(parts) if len(parts) > 1 else parts[0]


def _unshift(geometry: shapely.Geometry) -> shapely.Geometry:
    """Back from the shifted frame: what lies west of -180 moves by +360 (cut at the antimeridian)."""
    if geometry.is_empty or geometry.bounds[0] >= -180.0:
        return geometry
    west = geometry.intersection(box(-720.0, -90.0, -180.0, 90.0))
    east = geometry.difference(box(-720.0, -90.0, -180.0, 90.0))
    parts = [p for p in shapely.get_parts(east)] + [
        shapely.affinity.translate(p, 360.0) for p in shapely.get_parts(west)
    ]
    return shapely.geometrycollections(parts)


def _cells(xy: np.ndarray) -> list[shapely.Geometry]:
    """The (bounded) Voronoi cell of every point in the plane; far frame points bound the outer cells."""
    span = float(np.ptp(xy, axis=0).max()) if len(xy) > 1 else 0.0
    far = 10 * (span + 10.0)
    centre = xy.mean(axis=0)
    frame = centre + far * np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]])
    if len(xy) == 1:
        return [Polygon(frame)]
    # Four far corners make every real cell bounded and keep qhull happy with 2 or collinear points.
    diagram = Voronoi(np.vstack([xy, frame]))
    cells = []
    for i in range(len(xy)):
        region = diagram.regions[diagram.point_region[i]]
        cell = Polygon(diagram.vertices[region])
        cells.append(cell if cell.is_valid else shapely.make_valid(cell))
    return cells


def _wedges(
    site: np.ndarray, items: list[tuple[str, float]], apex: float, cell: shapely.Geometry
) -> list[tuple[str, shapely.Geometry]]:
    """A shared location's cell cut into one wedge per territory (owner first, centred on +x), sized by potential.
    The wedges start `apex` behind the site on the owner's side, so the owner's wedge holds the site inside it."""
    weights = np.array([max(float(p), 0.0) for _, p in items])
    weights = weights / weights.sum() if weights.sum() > 0 else np.full(len(items), 1 / len(items))
    weights = np.maximum(weights, MIN_WEDGE)
    angles = weights / weights.sum() * 2 * math.pi
    minx, miny, maxx, maxy = cell.bounds
    radius = 4 * max(maxx - minx, maxy - miny, apex)
    origin = (site[0] - apex, site[1])
    start = -angles[0] / 2
    out = []
    for (label, _), angle in zip(items, angles, strict=True):
        steps = max(2, math.ceil(angle / (math.pi / 8)))
        arc = [start + angle * k / steps for k in range(steps + 1)]
        ring = [origin] + [(origin[0] + radius * math.cos(a), origin[1] + radius * math.sin(a)) for a in arc]
        out.append((label, Polygon(ring).intersection(cell)))
        start += angle
    return out


def _county_shapes(
    territory: pd.Series, areas: pd.Series, potential: np.ndarray, labels: list[str]
) -> dict[str, shapely.Geometry]:
    """County units: a territory is the union of its counties' outlines (counties the file lacks are skipped), and
    of the counties without accounts that `_white_space` gives it, so its states show no holes. A county whose
    accounts lie in several territories (a current alignment need not follow the units) goes, as a shared location
    does, to the one with most potential there, then most accounts, then the first label."""
    outlines = counties()
    table = pd.DataFrame(
        {"fips": areas.astype(str).str.zfill(5).to_numpy(), "territory": territory.to_numpy(), "potential": potential}
    )
    table = table.loc[table["fips"].isin(outlines.keys())]
    by = table.groupby(["fips", "territory"], sort=True).agg(potential=("potential", "sum"), n=("potential", "size"))
    by = by.reset_index().sort_values(
        ["fips", "potential", "n", "territory"], ascending=[True, False, False, True], kind="stable"
    )
    owner = dict(zip(*(by.drop_duplicates("fips")[key] for key in ("fips", "territory")), strict=True))
    owner = _white_space(owner, outlines)
    polygons = {}
    for label in labels:
        parts = [outlines[f].geometry for f in sorted(owner) if owner[f] == label]
        merged = shapely.union_all(parts) if parts else Polygon()
        polygons[label] = _polygonal(shapely.set_precision(merged, GRID))
    return polygons


def _white_space(owner: dict[str, str], outlines: dict) -> dict[str, str]:
    """Counties without accounts in the states that have some, each drawn with the territory it borders most.

    A county with no account is no unit of the solve, but a map with holes reads as territory nobody covers. Like
    the market size's white space, each such county goes to a neighbour: layer by layer out from the counties with
    accounts, to the territory with the longest shared border (the first label on ties); a county with no land
    border (an island) goes to the territory of the nearest county. Drawn only: never counted in any figure."""
    states = {f[:2] for f in owner}
    pool = sorted(f for f in outlines if f[:2] in states)
    empty = {f for f in pool if f not in owner}
    if not empty:
        return owner
    geometries = [outlines[f].geometry for f in pool]
    tree = shapely.STRtree(geometries)
    left, right = tree.query(geometries, predicate="intersects")
    touching: dict[str, list[str]] = {f: [] for f in pool}
    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        if a != b:
            touching[pool[a]].append(pool[b])
    owner = dict(owner)
    while empty:
        claims = {}
        for f in sorted(empty):
            borders: dict[str, float] = {}
            for g in touching[f]:
                if g in owner:
                    shared = outlines[f].geometry.boundary.intersection(outlines[g].geometry.boundary).length
                    borders[owner[g]] = borders.get(owner[g], 0.0) + shared
            if borders:
                claims[f] = max(sorted(borders), key=borders.__getitem__)
        if not claims:
            break
        owner.update(claims)
        empty -= claims.keys()
    held = sorted(owner)
    points = shapely.points([outlines[f].geometry.representative_point().coords[0] for f in held])
    for f in sorted(empty):
        spot = outlines[f].geometry.representative_point()
        owner[f] = owner[held[int(np.argmin(shapely.distance(points, spot)))]]
    return owner


def _polygonal(geometry: shapely.Geometry) -> shapely.Geometry:
    """Keep only the polygon parts (set_precision may leave slivers as lines), oriented per RFC 7946."""
    flat = shapely.get_parts(shapely.get_parts(geometry))  # collections may hold multi-polygons
    parts = [g for g in flat if isinstance(g, Polygon) and not g.is_empty]
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
