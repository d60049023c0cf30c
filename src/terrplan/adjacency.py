"""Adjacency graphs for contiguity: ZIP (ZCTA) lists as JSON, or the Census county adjacency file.

The Census county file is queen contiguity: counties touching only at a corner (the Four Corners) are neighbours.
For rook contiguity, the pairs that the Census county outlines show touching at a corner only are dropped; the
package ships them (geodata/county_touch_pairs.csv.gz, made by tools/county_touch_pairs.py from the Census
cartographic boundaries). Pairs the outlines cannot judge (across water, where the shoreline-clipped outlines do not
meet, or counties newer than the 2017 outlines) are kept. A ZIP graph (JSON) is a bare list of pairs that does not
say how they touch, so rook is refused for it.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import defaultdict
from functools import lru_cache
from importlib import resources
from pathlib import Path

from terrplan.errors import ConfigError, Finding, InputError


@lru_cache(maxsize=1)
def county_touch() -> dict[tuple[str, str], str]:
    """(county_a, county_b), a < b -> 'edge' or 'corner' for every pair of counties whose outlines touch."""
    data = gzip.decompress(resources.files("terrplan.geodata").joinpath("county_touch_pairs.csv.gz").read_bytes())
    return {(r["county_a"], r["county_b"]): r["touch"] for r in csv.DictReader(io.StringIO(data.decode("ascii")))}


def corner_only(a: str, b: str) -> bool:
    """True when counties a and b touch only at a point (queen, not rook neighbours)."""
    return county_touch().get((a, b) if a < b else (b, a)) == "corner"


def read_graph(path: Path, neighbours: str = "queen") -> dict[str, set[str]]:
    """key -> neighbour keys (symmetric, no self-loops). JSON: {"27601": ["27603", ...]}; otherwise the Census
    county_adjacency.txt layout (tab-separated; a county's FIPS in column 2, each neighbour's in column 4).

    neighbours='rook' drops the county pairs that touch at a corner only (see the module notes)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(
            f"{path}: adjacency graph not found",
            [
                Finding(
                    str(path),
                    "file not found",
                    hint="contiguity.graph names a ZIP adjacency JSON or the Census county adjacency file",
                )
            ],
        ) from None
    graph: dict[str, set[str]] = defaultdict(set)
    if path.suffix.lower() == ".json":
        try:
            raw = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: not a JSON adjacency list: {exc}") from None
        if not isinstance(raw, dict):
            raise InputError(f"{path}: expected a JSON object of key -> list of neighbour keys")
        if neighbours == "rook":
            raise ConfigError(
                "contiguity.neighbours: rook needs the Census county adjacency file",
                [
                    Finding(
                        "config",
                        f"{path.name} is a ZIP graph (JSON): its pairs do not say whether areas share a border or "
                        "only a corner",
                        key="contiguity.neighbours",
                        value="rook",
                        hint="set contiguity.neighbours: queen to use the graph's pairs as they are, or use "
                        "units.by: county with the Census county_adjacency.txt",
                    )
                ],
            )
        for key, listed in raw.items():
            for other in listed:
                _link(graph, str(key), str(other))
        return dict(graph)
    current = None
    for number, line in enumerate(data.decode("latin-1").splitlines(), start=1):
        fields = line.split("\t")
        if len(fields) < 4:
            if line.strip():
                raise InputError(
                    f"{path}:{number}: expected 4 tab-separated fields (the Census county adjacency layout)"
                )
            continue
        if fields[1].strip():
            current = fields[1].strip()
            graph.setdefault(current, set())
        if current is not None and fields[3].strip():
            other = fields[3].strip()
            if neighbours == "rook" and corner_only(current, other):
                graph.setdefault(other, set())
                continue
            _link(graph, current, other)
    return dict(graph)


def _link(graph: dict[str, set[str]], a: str, b: str) -> None:
    if a != b:
        graph[a].add(b)
        graph[b].add(a)
