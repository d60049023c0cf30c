"""Adjacency graphs for contiguity: ZIP (ZCTA) lists as JSON, or the Census county adjacency file."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from terrplan.errors import Finding, InputError


def read_graph(path: Path) -> dict[str, set[str]]:
    """key -> neighbour keys (symmetric, no self-loops). JSON: {"27601": ["27603", ...]}; otherwise the Census
    county_adjacency.txt layout (tab-separated; a county's FIPS in column 2, each neighbour's in column 4)."""
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
        for key, neighbours in raw.items():
            for other in neighbours:
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
            _link(graph, current, fields[3].strip())
    return dict(graph)


def _link(graph: dict[str, set[str]], a: str, b: str) -> None:
    if a != b:
        graph[a].add(b)
        graph[b].add(a)
