"""Equal-area map projections for the report's maps: Albers conic fitted to an extent, in SVG pixels.

Longitudes are taken in the shifted frame (`shapes.shifted`: east of 0 moves by -360), so Alaska's Aleutians are one
piece. Near the equator, where a conic degenerates (its cone constant tends to 0), the cylindrical equal-area
projection is used instead.
"""

from __future__ import annotations

import math

import numpy as np
import shapely

from terrplan.report.shapes import shifted

EARTH_KM = 6371.0088


class Albers:
    """Albers equal-area conic (spherical) with standard parallels at 1/6 and 5/6 of the extent's latitudes, scaled
    and translated so the extent fills the box (x0, y0, width, height) in SVG pixels (y down)."""

    def __init__(self, bounds: tuple[float, float, float, float], box: tuple[float, float, float, float]):
        minx, miny, maxx, maxy = bounds
        span = max(maxy - miny, 1e-6)
        self.lon0 = math.radians((minx + maxx) / 2)
        phi1, phi2 = math.radians(miny + span / 6), math.radians(maxy - span / 6)
        self.lat0 = math.radians((miny + maxy) / 2)
        self.n = (math.sin(phi1) + math.sin(phi2)) / 2
        if abs(self.n) < 0.05:  # near the equator: cylindrical equal-area with true scale at the mid latitude
            self.n = 0.0
            self.k = math.cos(self.lat0)
        else:
            self.c = math.cos(phi1) ** 2 + 2 * self.n * math.sin(phi1)
            self.rho0 = math.sqrt(max(self.c - 2 * self.n * math.sin(self.lat0), 0.0)) / self.n
        self.scale, self.dx, self.dy = 1.0, 0.0, 0.0
        self.box = box
        xs, ys = self._raw(*_outline(bounds))
        x0, y0, width, height = box
        spanx, spany = max(float(np.ptp(xs)), 1e-9), max(float(np.ptp(ys)), 1e-9)
        self.scale = min(width / spanx, height / spany)
        # Centre the extent in the box.
        self.dx = x0 + (width - spanx * self.scale) / 2 - float(xs.min()) * self.scale
        self.dy = y0 + (height - spany * self.scale) / 2 + float(ys.max()) * self.scale

    def _raw(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lam = np.radians(shifted(lon)) - self.lon0
        phi = np.radians(np.asarray(lat, dtype=float))
        if self.n == 0.0:
            return EARTH_KM * lam * self.k, EARTH_KM * np.sin(phi) / self.k
        rho = np.sqrt(np.maximum(self.c - 2 * self.n * np.sin(phi), 0.0)) / self.n
        theta = self.n * lam
        return EARTH_KM * rho * np.sin(theta), EARTH_KM * (self.rho0 - rho * np.cos(theta))

    def xy(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        """lon/lat (arrays or scalars) -> SVG x, y."""
        x, y = self._raw(np.atleast_1d(np.asarray(lon, dtype=float)), np.atleast_1d(np.asarray(lat, dtype=float)))
        return x * self.scale + self.dx, self.dy - y * self.scale

    def point(self, lon: float, lat: float) -> tuple[float, float]:
        x, y = self.xy(lon, lat)
        return float(x[0]), float(y[0])

    def geometry(self, geometry: shapely.Geometry) -> shapely.Geometry:
        """A lon/lat geometry in SVG pixels."""

        def project(coords: np.ndarray) -> np.ndarray:
            x, y = self.xy(coords[:, 0], coords[:, 1])
            return np.column_stack((x, y))

        return shapely.transform(geometry, project)

    def km_per_pixel(self) -> float:
        """Scale at the centre of the box (equal-area: exact along the standard parallels, close elsewhere)."""
        lon, lat = math.degrees(self.lon0), math.degrees(self.lat0)
        (x1, y1), (x2, y2) = self.point(lon - 0.5, lat), self.point(lon + 0.5, lat)
        km = EARTH_KM * math.radians(1.0) * math.cos(math.radians(lat))
        return km / max(math.hypot(x2 - x1, y2 - y1), 1e-9)


def _outline(bounds: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Points along the edges of a lon/lat box (a conic bends parallels, so corners alone do not bound it)."""
    minx, miny, maxx, maxy = bounds
    t = np.linspace(0.0, 1.0, 17)
    lon = np.concatenate([minx + (maxx - minx) * t, minx + (maxx - minx) * t, np.full(17, minx), np.full(17, maxx)])
    lat = np.concatenate([np.full(17, miny), np.full(17, maxy), miny + (maxy - miny) * t, miny + (maxy - miny) * t])
    return lon, lat
