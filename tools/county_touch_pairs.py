"""Regenerate src/terrplan/geodata/county_touch_pairs.csv.gz from the Census county outlines (TopoJSON).

Usage: python tools/county_touch_pairs.py [counties-10m.json] [output.csv.gz]
Default input: ../shared/data/census-boundaries/counties-10m.json (us-atlas 3.0.1, Census cartographic boundary
files 2017 at 1:10,000,000; geometry public domain, packaging ISC).

Two counties touch along an edge (rook and queen neighbours) when their outlines share a TopoJSON arc, and at a
corner only (queen, not rook) when they share a vertex but no arc. Each pair is written once (county_a < county_b)
with touch = edge or corner, sorted; the gzip carries no timestamp, so the same input gives the same bytes.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections import defaultdict
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INPUT = ROOT.parent / "shared" / "data" / "census-boundaries" / "counties-10m.json"
DEFAULT_OUTPUT = ROOT / "src" / "terrplan" / "geodata" / "county_touch_pairs.csv.gz"


def _rings(geometry: dict) -> list[list[int]]:
    if geometry.get("type") == "Polygon":
        return geometry["arcs"]
    if geometry.get("type") == "MultiPolygon":
        return [ring for polygon in geometry["arcs"] for ring in polygon]
    return []


def touch_pairs(topology: dict) -> dict[tuple[str, str], str]:
    """(county_a, county_b) -> 'edge' | 'corner' for every pair of counties whose outlines touch."""
    arcs = []
    for arc in topology["arcs"]:  # delta-encoded quantised points -> absolute integer points
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x, y))
        arcs.append(points)
    by_arc: dict[int, set[str]] = defaultdict(set)
    by_point: dict[tuple[int, int], set[str]] = defaultdict(set)
    for geometry in topology["objects"]["counties"]["geometries"]:
        county = str(geometry["id"]).zfill(5)
        for ring in _rings(geometry):
            for index in ring:
                arc = index if index >= 0 else ~index
                by_arc[arc].add(county)
                for point in arcs[arc]:
                    by_point[point].add(county)
    pairs: dict[tuple[str, str], str] = {}
    for counties in by_point.values():
        for pair in combinations(sorted(counties), 2):
            pairs.setdefault(pair, "corner")
    for counties in by_arc.values():
        for pair in combinations(sorted(counties), 2):
            pairs[pair] = "edge"
    return pairs


def main(argv: list[str]) -> None:
    source = Path(argv[0]) if argv else DEFAULT_INPUT
    target = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUTPUT
    pairs = touch_pairs(json.loads(source.read_text(encoding="utf-8")))
    lines = ["county_a,county_b,touch", *(f"{a},{b},{touch}" for (a, b), touch in sorted(pairs.items()))]
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as out:
        out.write(("\n".join(lines) + "\n").encode("ascii"))
    edges = sum(touch == "edge" for touch in pairs.values())
    print(f"{target}: {len(pairs)} pairs ({edges} edge, {len(pairs) - edges} corner only)")


if __name__ == "__main__":
    main(sys.argv[1:])
