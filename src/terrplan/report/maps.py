"""The report's maps as SVG: the overview (state outlines, territories, accounts, rep homes, insets, legend, scale
bar) and a zoomed map per territory or group of territories (neighbours faded, target accounts labelled).

Every map is one or more panels, each an Albers equal-area projection fitted to a box: the main panel holds the
region with the lower 48 (or whatever region holds most accounts); Alaska, Hawaii, Puerto Rico and any other far-off
cluster of accounts (Guam, American Samoa ...) get an inset each, and the densest metro of the main panel gets a
zoomed inset. Labels never overlap (`labels.Placer`). The output is plain SVG 1.1 with no scripts or CSS, so the
same text goes into report.html, the plans' .svg files and report.pdf.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
import shapely
import shapely.affinity
import shapely.ops
from shapely.geometry import Polygon, box

from terrplan.report.boundaries import states
from terrplan.report.labels import FONT, Box, Placer, f, text_width
from terrplan.report.palette import tint
from terrplan.report.projection import Albers
from terrplan.report.shapes import shifted
from terrplan.report.svgtext import escape

WIDTH = 800.0
MAIN_MAX_HEIGHT = 560.0
INSET_HEIGHT = 150.0
GAP = 8.0
LAND, STATE_LINE, BACKGROUND = "#f7f6f2", "#9d978c", "#e9eef4"
FADED_FILL, FADED_LINE, FADED_DOT = "#eceef1", "#c5cad3", "#c5cad3"
#: Named far-off regions: (name, test on shifted lon, lat). Anything else away from the main region is clustered.
REGIONS = (
    ("Alaska", lambda lon, lat: (lat >= 50) & (lon < -129)),
    ("Hawaii", lambda lon, lat: (lat >= 18) & (lat <= 23.5) & (lon >= -161) & (lon <= -154)),
    ("Puerto Rico", lambda lon, lat: (lat >= 17) & (lat <= 19) & (lon >= -68) & (lon <= -64)),
)
CLUSTER_DEGREES = 6.0  # far-off accounts this close share an inset


def radius(segment: object) -> float:
    """Dot radius (px) of an account by its segment."""
    return {"A": 3.2, "B": 2.6}.get(str(segment), 2.1)


@dataclass(frozen=True)
class MapData:
    """What every map draws from: located accounts (lon, lat, territory, segment, account_id, name), territory
    polygons (lon/lat), colours and rep homes (territory, name, lon, lat)."""

    accounts: pd.DataFrame
    polygons: dict[str, shapely.Geometry]
    colours: dict[str, str]
    homes: list[dict]


@dataclass(frozen=True)
class Panel:
    name: str
    bounds: tuple[float, float, float, float]  # shifted lon/lat
    box: Box  # x0, y0, x1, y1 in SVG pixels
    proj: Albers
    inset: bool


# -- regions ----------------------------------------------------------------------------------------------------


def regions(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Region name per point: 'main', a named region, or a far-off cluster named after its state (e.g. 'Guam')."""
    lon = shifted(lon)
    lat = np.asarray(lat, dtype=float)
    out = np.full(len(lon), "main", dtype=object)
    for name, test in REGIONS:
        out[(out == "main") & test(lon, lat)] = name
    far = (out == "main") & ((lon < -129) | (lat < 24))  # west of the lower 48 or south of the Keys
    far &= ~((lat >= 24) & (lon > -125))
    names = [area.name for area in states()]
    outlines = shapely.STRtree([area.geometry for area in states()])
    centres: list[tuple[float, float, str]] = []
    for i in np.flatnonzero(far):
        for cx, cy, name in centres:
            if abs(lon[i] - cx) < CLUSTER_DEGREES and abs(lat[i] - cy) < CLUSTER_DEGREES:
                out[i] = name
                break
        else:
            real = lon[i] + 360 if lon[i] < -180 else lon[i]
            nearest = int(outlines.query_nearest(shapely.Point(real, lat[i]))[0])
            out[i] = names[nearest]
            centres.append((float(lon[i]), float(lat[i]), names[nearest]))
    return out


# -- geometry helpers -------------------------------------------------------------------------------------------


@cache
def _shifted_states() -> tuple[shapely.Geometry, ...]:
    return tuple(_shift(area.geometry) for area in states())


def _shift(geometry: shapely.Geometry) -> shapely.Geometry:
    """Into the shifted frame (parts east of 0 move by -360)."""
    if geometry.is_empty or (geometry.bounds[0] <= 0 and geometry.bounds[2] <= 0):
        return geometry
    parts = [shapely.affinity.translate(p, -360.0) if p.bounds[0] > 0 else p for p in shapely.get_parts(geometry)]
    return shapely.multipolygons(parts) if len(parts) > 1 else parts[0]


def _pad(bounds: tuple[float, float, float, float], share: float, least: float) -> tuple[float, float, float, float]:
    minx, miny, maxx, maxy = bounds
    dx = max((maxx - minx) * share, least)
    dy = max((maxy - miny) * share, least)
    return minx - dx, max(miny - dy, -89.0), maxx + dx, min(maxy + dy, 89.0)


def _path(geometry: shapely.Geometry) -> str:
    parts = []
    for polygon in shapely.get_parts(shapely.get_parts(geometry)):
        if not isinstance(polygon, Polygon) or polygon.is_empty:
            continue
        for ring in [polygon.exterior, *polygon.interiors]:
            coords = ring.coords[:-1]
            if len(coords) < 3:
                continue
            parts.append("M" + "L".join(f"{f(x)} {f(y)}" for x, y in coords) + "Z")
    return "".join(parts)


def _in_panel(geometry: shapely.Geometry, panel: Panel, tolerance: float = 0.35) -> shapely.Geometry:
    """A shifted lon/lat geometry cut to the panel's extent, projected, clipped to its box and simplified."""
    minx, miny, maxx, maxy = panel.bounds
    cut = geometry.intersection(box(minx, miny, maxx, maxy))
    if cut.is_empty:
        return cut
    projected = panel.proj.geometry(cut)
    x0, y0, x1, y1 = panel.box
    return shapely.clip_by_rect(projected, x0, y0, x1, y1).simplify(tolerance)


def _bounds_of(points: list[tuple[float, float]], geometries: list[shapely.Geometry]) -> tuple:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    for g in geometries:
        if not g.is_empty:
            b = g.bounds
            xs += [b[0], b[2]]
            ys += [b[1], b[3]]
    if not xs:
        return (-1.0, -1.0, 1.0, 1.0)
    return (min(xs), min(ys), max(xs), max(ys))


def _aspect(bounds: tuple[float, float, float, float]) -> float:
    """Width / height of the extent once projected."""
    proj = Albers(bounds, (0.0, 0.0, 1000.0, 1000.0))
    lon = np.linspace(bounds[0], bounds[2], 9)
    lat = np.linspace(bounds[1], bounds[3], 9)
    grid_lon, grid_lat = np.meshgrid(lon, lat)
    x, y = proj.xy(grid_lon.ravel(), grid_lat.ravel())
    return max(float(np.ptp(x)), 1e-6) / max(float(np.ptp(y)), 1e-6)


def _parts_by_region(polygons: dict[str, shapely.Geometry]) -> dict[str, dict[str, shapely.Geometry]]:
    """Territory -> region -> its (shifted) parts in that region."""
    out: dict[str, dict[str, shapely.Geometry]] = {}
    for label, geometry in polygons.items():
        parts = [_shift(p) for p in shapely.get_parts(geometry) if not p.is_empty]
        if not parts:
            out[label] = {}
            continue
        spots = [p.representative_point() for p in parts]
        names = regions(np.array([s.x for s in spots]), np.array([s.y for s in spots]))
        grouped: dict[str, list] = {}
        for name, part in zip(names, parts, strict=True):
            grouped.setdefault(str(name), []).append(part)
        out[label] = {name: shapely.multipolygons(group) for name, group in grouped.items()}  # disjoint parts
    return out


# -- the overview -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    panels: list[Panel]  # the main panel first
    height: float  # below the panels: the legend
    metro: tuple[float, float, float, float] | None  # the dense area's extent (shifted lon/lat), framed on the main
    parts: dict[str, dict[str, shapely.Geometry]]  # territory -> region -> shifted parts


def layout(data: MapData) -> Layout:
    """Panels of the overview: the main region on top, then a row of insets (far-off regions, the densest metro)."""
    accounts = data.accounts
    lon = shifted(accounts["lon"].to_numpy(dtype=float))
    lat = accounts["lat"].to_numpy(dtype=float)
    where = regions(lon, lat)
    homes = data.homes
    home_where = regions(np.array([h["lon"] for h in homes], dtype=float), np.array([h["lat"] for h in homes]))
    parts = _parts_by_region(data.polygons)
    counts = pd.Series(where, dtype=object).value_counts()
    names = sorted(set(where) | set(home_where), key=lambda n: (n != "main", -int(counts.get(n, 0)), n))
    if not names:
        names = ["main"]
    main = "main" if "main" in names else names[0]
    others = [n for n in names if n != main]

    def extent(name: str, share: float, least: float) -> tuple[float, float, float, float]:
        mask = where == name
        points = list(zip(lon[mask], lat[mask], strict=True))
        points += [(float(shifted(h["lon"])), h["lat"]) for h, w in zip(homes, home_where, strict=True) if w == name]
        geometries = [p[name] for p in parts.values() if name in p]
        return _pad(_bounds_of(points, geometries), share, least)

    main_bounds = extent(main, 0.03, 0.05)
    aspect = _aspect(main_bounds)
    main_h = min(MAIN_MAX_HEIGHT, WIDTH / aspect)
    main_w = min(WIDTH, main_h * aspect)
    x0 = (WIDTH - main_w) / 2
    first = Panel(
        main, main_bounds, (x0, 0.0, x0 + main_w, main_h), Albers(main_bounds, (x0, 0, main_w, main_h)), False
    )
    panels = [first]
    insets: list[tuple[str, tuple[float, float, float, float]]] = [(n, extent(n, 0.1, 0.4)) for n in others]
    metro = _metro(first, lon[where == main], lat[where == main])
    if metro is not None:
        insets.append((_metro_name(accounts, metro), metro))
    y = main_h + GAP
    if insets:
        heights = INSET_HEIGHT if len(insets) > 2 else INSET_HEIGHT * 1.4  # one or two insets: room to read them
        widths = [min(max(_aspect(b) * heights, 90.0), 260.0) for _, b in insets]
        if sum(widths) + GAP * (len(widths) - 1) > WIDTH:
            k = (WIDTH - GAP * (len(widths) - 1)) / sum(widths)
            widths = [w * k for w in widths]
            heights *= k
        x = 0.0
        for (name, bounds), w in zip(insets, widths, strict=True):
            top = y + 14
            frame = (x, top, x + w, top + heights)
            panels.append(Panel(name, bounds, frame, Albers(bounds, (x + 2, top + 2, w - 4, heights - 4)), True))
            x += w + GAP
        y += heights + 14 + GAP
    return Layout(panels, y, metro, parts)


def overview_map(data: MapData, label: str = "overview map") -> str:
    """The whole alignment: main panel, insets for far-off regions and the densest metro, legend and scale bar."""
    plan = layout(data)
    placer = Placer()
    body = [_panel(p, data, placer, metro=plan.metro if i == 0 else None) for i, p in enumerate(plan.panels)]
    for panel in plan.panels:
        _territory_labels(panel, data, plan.parts, placer)
    for panel in plan.panels:
        _home_labels(panel, data, placer)
    legend, legend_h = _legend(data, plan.panels[0], plan.height)
    return _svg(WIDTH, plan.height + legend_h, label, "".join(body) + placer.svg() + legend)


def changes_map(data: MapData, current: dict[str, shapely.Geometry], moved: set[str]) -> str:
    """Moved accounts in the colour of their new territory (black ring), the others grey; new boundaries in colour,
    current boundaries dashed grey; same panels as the overview."""
    plan = layout(data)
    placer = Placer()
    is_moved = data.accounts["account_id"].astype(str).isin(moved).to_numpy()
    still = MapData(data.accounts.loc[~is_moved], {}, {}, [])
    movers = MapData(data.accounts.loc[is_moved], {}, data.colours, [])
    body = []
    for panel in plan.panels:
        out = [_panel_open(panel, placer)]
        out.append('<g fill="none" stroke="#9aa1ad" stroke-width="1" stroke-dasharray="4 3">')
        for label in sorted(current):
            geometry = _in_panel(_shift(current[label]), panel, 0.3)
            if not geometry.is_empty:
                out.append(f'<path d="{_path(geometry)}"/>')
        out.append('</g><g fill="none" stroke-width="1.6" stroke-linejoin="round">')
        for label in sorted(data.polygons):
            geometry = _in_panel(_shift(data.polygons[label]), panel, 0.3)
            if not geometry.is_empty:
                colour = data.colours.get(label, "#888888")
                out.append(f'<path data-territory="{escape(label)}" d="{_path(geometry)}" stroke="{colour}"/>')
        out.append("</g>")
        out.append(_dots(panel, still, focus=set(), faded_radius=1.8))
        out.append(_dots(panel, movers, focus=None, fixed_radius=3.6, rim="#111"))
        out.append(_panel_close(panel))
        body.append("".join(out))
    for panel in plan.panels:
        _territory_labels(panel, data, plan.parts, placer)
    legend_h = 24.0
    legend = f'<g class="legend" font-size="11">{_scale_bar(plan.panels[0], 0.0, plan.height + 14, WIDTH)}</g>'
    return _svg(WIDTH, plan.height + legend_h, "change map", "".join(body) + placer.svg() + legend)


def _svg(width: float, height: float, label: str, body: str) -> str:
    return (
        f'<svg class="map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {f(width)} {f(height)}" '
        f'width="{f(width)}" height="{f(height)}" role="img" aria-label="{escape(label)}" font-family="{FONT}">'
        + body
        + "</svg>"
    )


def _metro(panel: Panel, lon: np.ndarray, lat: np.ndarray) -> tuple[float, float, float, float] | None:
    """The extent of the densest cluster of the main panel, if dots crowd there: a 32 px grid cell holding at least
    25 accounts and 6 % of the panel's."""
    if len(lon) < 100:
        return None
    x, y = panel.proj.xy(lon, lat)
    cell = 32.0
    keys = pd.Series(list(zip((x // cell).astype(int), (y // cell).astype(int), strict=True)))
    counts = keys.value_counts(sort=False).sort_index()
    top = counts.max()
    if top < max(25, 0.06 * len(lon)):
        return None
    cx, cy = counts[counts == top].index[0]
    near = (np.abs(x // cell - cx) <= 1) & (np.abs(y // cell - cy) <= 1)
    return _pad(
        (float(lon[near].min()), float(lat[near].min()), float(lon[near].max()), float(lat[near].max())), 0.05, 0.02
    )


def _metro_name(accounts: pd.DataFrame, bounds: tuple[float, float, float, float]) -> str:
    """'Dense area', with the states most of its accounts are in (when the accounts have a state column)."""
    if "state" not in accounts:
        return "Dense area"
    inside = _within(bounds, accounts["lon"].to_numpy(dtype=float), accounts["lat"].to_numpy(dtype=float))
    counts = accounts.loc[inside, "state"].dropna().astype(str).value_counts()
    top = sorted(counts.index[:3], key=lambda state: (-counts[state], state))
    return f"Dense area ({', '.join(top)})" if top else "Dense area"


def _panel_open(panel: Panel, placer: Placer) -> str:
    """A panel's frame title (insets), background and land."""
    x0, y0, x1, y1 = panel.box
    out = [f'<g class="panel" data-panel="{escape(panel.name)}">']
    if panel.inset:
        out.append(f'<text x="{f(x0 + 2)}" y="{f(y0 - 3)}" font-size="11" fill="#5a6275">{escape(panel.name)}</text>')
        placer.reserve((x0, y0 - 14, x0 + text_width(panel.name, 11) + 4, y0))
    rect = f'x="{f(x0)}" y="{f(y0)}" width="{f(x1 - x0)}" height="{f(y1 - y0)}"'
    # Shapes are clipped to the box in geometry (`_in_panel`), not by an SVG clipPath: no url() references, and
    # fpdf2 draws the same thing.
    out.append(f'<rect {rect} fill="{BACKGROUND}"/><g>')
    out.append(f'<path class="land" d="{_states_path(panel)}" fill="{LAND}"/>')
    return "".join(out)


def _panel_close(panel: Panel) -> str:
    """State outlines over the territories (so they read through the fills), then the frame."""
    x0, y0, x1, y1 = panel.box
    return (
        f'<path class="states" d="{_states_path(panel)}" fill="none" stroke="{STATE_LINE}" stroke-width="0.7" '
        f'stroke-linejoin="round"/></g><rect x="{f(x0)}" y="{f(y0)}" width="{f(x1 - x0)}" height="{f(y1 - y0)}" '
        'fill="none" stroke="#b8bec9"/></g>'
    )


def _states_path(panel: Panel) -> str:
    return "".join(_path(g) for g in (_in_panel(s, panel) for s in _shifted_states()) if not g.is_empty)


def _panel(panel: Panel, data: MapData, placer: Placer, metro=None, focus: set[str] | None = None) -> str:
    """One panel: background, land, territories (faded outside `focus`), accounts, homes (labels come later)."""
    out = [_panel_open(panel, placer), '<g class="territories" stroke-linejoin="round">']
    for label in sorted(data.polygons):
        geometry = _in_panel(_shift(data.polygons[label]), panel, 0.3)
        if geometry.is_empty or geometry.area < 0.5:
            continue
        colour = data.colours.get(label, "#888888")
        if focus is not None and label not in focus:
            fill, stroke, width = FADED_FILL, FADED_LINE, 0.8
        else:
            fill, stroke, width = tint(colour), colour, 1.2
        out.append(
            f'<path data-territory="{escape(label)}" d="{_path(geometry)}" fill="{fill}" fill-rule="evenodd" '
            f'stroke="{stroke}" stroke-width="{width:g}"><title>{escape(label)}</title></path>'
        )
    out.append("</g>")
    out.append(_dots(panel, data, focus))
    if metro is not None:
        (mx0, my0), (mx1, my1) = panel.proj.point(metro[0], metro[3]), panel.proj.point(metro[2], metro[1])
        out.append(
            f'<rect class="metro" x="{f(mx0)}" y="{f(my0)}" width="{f(mx1 - mx0)}" height="{f(my1 - my0)}" '
            'fill="none" stroke="#1d2433" stroke-width="1" stroke-dasharray="3 2"/>'
        )
    out.append(_home_marks(panel, data, placer, focus))
    out.append(_panel_close(panel))
    return "".join(out)


def _visible(panel: Panel, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return _within(panel.bounds, lon, lat)


def _within(bounds: tuple[float, float, float, float], lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Points inside a (shifted) lon/lat box."""
    minx, miny, maxx, maxy = bounds
    lon = shifted(lon)
    return (lon >= minx) & (lon <= maxx) & (lat >= miny) & (lat <= maxy)


def _dots(
    panel: Panel,
    data: MapData,
    focus: set[str] | None,
    faded_radius: float = 1.6,
    fixed_radius: float | None = None,
    rim: str = "#fff",
) -> str:
    """Accounts as dots sized by segment, the biggest drawn first; outside the focus small and grey."""
    frame = data.accounts
    lon, lat = frame["lon"].to_numpy(dtype=float), frame["lat"].to_numpy(dtype=float)
    shown = frame.loc[_visible(panel, lon, lat)]
    if shown.empty:
        return ""
    x, y = panel.proj.xy(shown["lon"].to_numpy(dtype=float), shown["lat"].to_numpy(dtype=float))
    territory = shown["territory"].astype(str).to_numpy()
    segment = shown["segment"].to_numpy() if "segment" in shown else np.full(len(shown), None)
    ids = shown["account_id"].astype(str).to_numpy()
    names = shown["name"].astype(str).to_numpy() if "name" in shown else np.full(len(shown), "")
    mine = np.ones(len(shown), bool) if focus is None else np.isin(territory, sorted(focus))
    radii = np.array([radius(s) for s in segment])
    order = sorted(range(len(shown)), key=lambda i: (bool(mine[i]), -radii[i], ids[i]))
    out = [f'<g class="accounts" stroke="{rim}" stroke-width="{0.8 if rim != "#fff" else 0.4}">']
    for i in order:
        if mine[i]:
            fill = data.colours.get(territory[i], "#888888")
            r = fixed_radius if fixed_radius is not None else radii[i]
        else:
            fill, r = FADED_DOT, faded_radius
        tip = escape(f"{ids[i]} {names[i]} ({territory[i]}, segment {segment[i]})")
        out.append(f'<circle cx="{f(x[i])}" cy="{f(y[i])}" r="{r:g}" fill="{fill}"><title>{tip}</title></circle>')
    out.append("</g>")
    return "".join(out)


def _home_marks(panel: Panel, data: MapData, placer: Placer, focus: set[str] | None) -> str:
    """Rep homes: a square in the territory's colour with a dark rim (their names are placed with the labels)."""
    out = ['<g class="homes" stroke="#111" stroke-width="1.2">']
    for home, x, y in _homes_in(panel, data, focus):
        placer.reserve((x - 5, y - 5, x + 5, y + 5))
        colour = data.colours.get(home["territory"], "#888888")
        out.append(
            f'<rect x="{f(x - 4.5)}" y="{f(y - 4.5)}" width="9" height="9" fill="{colour}">'
            f"<title>{escape(str(home['territory']))}: {escape(_rep_name(home))}</title></rect>"
        )
    out.append("</g>")
    return "".join(out)


def _homes_in(panel: Panel, data: MapData, focus: set[str] | None):
    """(home, x, y) of the homes inside the panel's extent (of the focus's territories only, when given)."""
    for home in data.homes:
        if focus is not None and home["territory"] not in focus:
            continue
        if _visible(panel, np.array([home["lon"]]), np.array([home["lat"]]))[0]:
            yield (home, *panel.proj.point(home["lon"], home["lat"]))


def _rep_name(home: dict) -> str:
    name = str(home.get("name") or "").strip()
    return name if name and name.upper() != "VACANT" else "vacant"


def _territory_labels(panel: Panel, data: MapData, parts: dict, placer: Placer, only: set[str] | None = None) -> None:
    """One label per territory with area in the panel, at its pole of inaccessibility or nearby (leader line)."""
    within = panel.box
    for label in sorted(data.polygons):
        if only is not None and label not in only:
            continue
        projected = [_in_panel(g, panel, 0.5) for g in parts.get(label, {}).values()]
        projected = [g for g in projected if not g.is_empty]
        if not projected:
            continue
        merged = shapely.union_all(projected)
        pieces = [p for p in shapely.get_parts(shapely.get_parts(merged)) if isinstance(p, Polygon)]
        if not pieces:
            continue
        largest = max(pieces, key=lambda p: p.area)
        if largest.area < (30.0 if not panel.inset else 12.0):
            continue
        spot = shapely.ops.polylabel(largest, tolerance=1.0) if largest.area > 4 else largest.representative_point()
        reach = 60.0 if panel.inset else 240.0
        placer.place(label, (spot.x, spot.y), within, reach=reach, data=f' data-territory="{escape(label)}"')


def _home_labels(panel: Panel, data: MapData, placer: Placer, focus: set[str] | None = None) -> None:
    for home, x, y in _homes_in(panel, data, focus):
        text = f"{_rep_name(home)} ({home['territory']})"
        placer.place(
            text, (x, y), panel.box, size=10, bold=False, gap=5.0, reach=90.0, css="label home",
            data=f' data-territory="{escape(str(home["territory"]))}"',
        )  # fmt: skip


# -- legend and scale bar ---------------------------------------------------------------------------------------


def _legend(
    data: MapData, panel: Panel, top: float, territories: bool = True, width: float = WIDTH
) -> tuple[str, float]:
    """Territory swatches (wrapping), dot sizes per segment, the rep-home mark and the main panel's scale bar."""
    out = [f'<g class="legend" font-size="11" fill="#1d2433" transform="translate(0 {f(top)})">']
    x, y = 0.0, 12.0
    if territories:
        for label in sorted(data.colours):
            step = 16 + text_width(label, 11) + 10
            if x + step > width:
                x, y = 0.0, y + 16
            out.append(
                f'<rect x="{f(x)}" y="{f(y - 9)}" width="11" height="11" fill="{tint(data.colours[label])}" '
                f'stroke="{data.colours[label]}"/><text x="{f(x + 15)}" y="{f(y)}">{escape(label)}</text>'
            )
            x += step
        x, y = 0.0, y + 18
    segments = sorted({str(s) for s in data.accounts.get("segment", pd.Series(dtype=str)).dropna()})
    out.append(f'<text x="{f(x)}" y="{f(y)}">accounts by segment:</text>')
    x += text_width("accounts by segment:", 11) + 8
    for segment in segments:
        r = radius(segment)
        out.append(
            f'<circle cx="{f(x + r)}" cy="{f(y - 4)}" r="{r:g}" fill="#5a6275"/>'
            f'<text x="{f(x + 2 * r + 4)}" y="{f(y)}">{escape(segment)}</text>'
        )
        x += 2 * r + 10 + text_width(segment, 11)
    if data.homes:
        x += 10
        out.append(
            f'<rect x="{f(x)}" y="{f(y - 9)}" width="9" height="9" fill="#fff" stroke="#111" stroke-width="1.2"/>'
            f'<text x="{f(x + 14)}" y="{f(y)}">rep home (territory colour)</text>'
        )
        x += 14 + text_width("rep home (territory colour)", 11) + 10
    out.append(_scale_bar(panel, x + 10, y, width))
    out.append("</g>")
    return "".join(out), y + 10


def _scale_bar(panel: Panel, x: float, y: float, width: float) -> str:
    km_per_px = panel.proj.km_per_pixel()
    target = 110 * km_per_px
    nice = max([v for v in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000) if v <= target] or [1])
    length = nice / km_per_px
    x = min(x, width - length - 60)
    return (
        f'<g class="scale"><path d="M{f(x)} {f(y - 6)}V{f(y - 2)}H{f(x + length)}V{f(y - 6)}" fill="none" '
        f'stroke="#1d2433" stroke-width="1.2"/><text x="{f(x + length + 5)}" y="{f(y)}">{nice:g} km</text></g>'
    )


# -- a map of some territories ----------------------------------------------------------------------------------


def focus_map(
    data: MapData,
    focus: set[str],
    label: str,
    targets: pd.DataFrame | None = None,
    width: float = 640.0,
    max_height: float = 460.0,
    parts: dict[str, dict[str, shapely.Geometry]] | None = None,
) -> str:
    """Zoomed to `focus` (one territory or a district): other territories faded, target accounts numbered by rank
    (`targets` in rank order, with account_id, lon, lat). Parts of the focus in other regions are left out and
    named in a note at the bottom."""
    accounts = data.accounts
    mine = accounts.loc[accounts["territory"].astype(str).isin(focus)]
    lon = shifted(mine["lon"].to_numpy(dtype=float))
    lat = mine["lat"].to_numpy(dtype=float)
    where = regions(lon, lat)
    counts = pd.Series(where, dtype=object).value_counts()
    region = str(counts.index[0]) if len(counts) else "main"
    parts = parts if parts is not None else _parts_by_region(data.polygons)
    homes = [h for h in data.homes if h["territory"] in focus]
    home_where = regions(np.array([h["lon"] for h in homes], dtype=float), np.array([h["lat"] for h in homes]))
    points = list(zip(lon[where == region], lat[where == region], strict=True))
    points += [(float(shifted(h["lon"])), h["lat"]) for h, w in zip(homes, home_where, strict=True) if w == region]
    geometries = [parts[t][region] for t in sorted(focus) if region in parts.get(t, {})]
    bounds = _pad(_bounds_of(points, geometries), 0.1, 0.05)
    aspect = _aspect(bounds)
    height = min(max_height, width / aspect)
    w = min(width, height * aspect)
    x0 = (width - w) / 2
    panel = Panel(region, bounds, (x0, 0.0, x0 + w, height), Albers(bounds, (x0, 0.0, w, height)), False)
    placer = Placer()
    # Only the focus's accounts are drawn: the neighbours show as faded shapes.
    body = _panel(panel, dataclasses.replace(data, accounts=mine), placer, focus=focus)
    _territory_labels(panel, data, parts, placer, only=focus)
    _home_labels(panel, data, placer, focus)
    marks = []
    if targets is not None and len(targets):
        shown = targets.loc[targets["lat"].notna() & targets["lon"].notna()]
        for rank, row in enumerate(shown.to_dict("records"), start=1):
            if not _visible(panel, np.array([row["lon"]]), np.array([row["lat"]]))[0]:
                continue
            x, y = panel.proj.point(float(row["lon"]), float(row["lat"]))
            marks.append(f'<circle cx="{f(x)}" cy="{f(y)}" r="4.2" fill="none" stroke="#1d2433" stroke-width="1.2"/>')
            placer.place(
                str(rank), (x, y), panel.box, size=10, gap=5.0, reach=80.0, css="label target",
                data=f' data-account="{escape(str(row["account_id"]))}"',
            )  # fmt: skip
    elsewhere = sorted(set(where) - {region})
    note_h = 0.0
    note = ""
    colours = {t: data.colours[t] for t in sorted(focus) if t in data.colours}
    legend, legend_h = _legend(
        MapData(mine, {}, colours, homes), panel, height + 4, territories=len(focus) > 1, width=width
    )
    total = height + 4 + legend_h
    if elsewhere:
        n = int((where != region).sum())
        note = (
            f'<text x="0" y="{f(total + 12)}" font-size="11" fill="#5a6275">{n} account(s) outside this view: '
            f"{escape(', '.join(elsewhere))}</text>"
        )
        note_h = 16.0
    total += note_h
    return (
        f'<svg class="map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {f(width)} {f(total)}" '
        f'width="{f(width)}" height="{f(total)}" role="img" aria-label="{escape(label)}" font-family="{FONT}">'
        + body
        + '<g class="targets">'
        + "".join(marks)
        + "</g>"
        + placer.svg()
        + legend
        + note
        + "</svg>"
    )


def territory_maps(data: MapData, plans: list) -> dict[str, str]:
    """Territory -> its zoomed map, its plan's target list (`Plan.targets`, in rank order) numbered on it; territories
    without a located account get none."""
    located = data.accounts.set_index(data.accounts["account_id"].astype(str))[["lon", "lat"]]
    parts = _parts_by_region(data.polygons)
    out = {}
    drawn = set(data.accounts["territory"].astype(str))
    for plan in plans:
        if plan.territory not in drawn:  # no located account: nothing to draw
            continue
        ids = plan.targets["account_id"].astype(str) if "account_id" in plan.targets else pd.Series(dtype=str)
        targets = located.reindex(ids.to_numpy()).reset_index(names="account_id")
        out[plan.territory] = focus_map(data, {plan.territory}, f"map of {plan.territory}", targets, parts=parts)
    return out
