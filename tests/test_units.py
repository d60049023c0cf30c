"""Small pure functions: ZIP normalisation, code patterns, segments, config loading, import direction."""

from __future__ import annotations

import ast

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from terrplan.config import ProcedureGroup, Scoring, Segment, load_config
from terrplan.errors import ConfigError
from terrplan.geo import haversine_km, normalize_zip
from terrplan.score import assign_segments, code_matches, code_weight, potential_per_account


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2139", "02139"),
        ("02139", "02139"),
        ("27410.0", "27410"),
        ("02139-1234", "02139"),
        ("41023134", "04102"),  # ZIP+4 stored as a number: 04102-3134
        ("5011234", "00501"),
        ("021391234", "02139"),
        (" 501 ", "00501"),
        ("", None),
        ("abc", None),
        ("123456", None),
        (None, None),
        (float("nan"), None),
    ],
)
def test_normalize_zip(raw, expected):
    assert normalize_zip(raw) == expected


def test_haversine_known_distance():
    # Raleigh to Charlotte is about 210 km as the crow flies.
    assert haversine_km(35.7796, -78.6382, 35.2271, -80.8431) == pytest.approx(209.5, abs=1.0)
    assert haversine_km(10.0, 20.0, 10.0, 20.0) == 0.0


@pytest.mark.parametrize(
    ("pattern", "code", "hit"),
    [
        ("27447", "27447", True),
        ("27447", "27446", False),
        ("274*", "27447", True),
        ("274*", "27547", False),
        ("27440-27447", "27446", True),
        ("27440-27447", "27448", False),
        ("469 *", "469 - MAJOR JOINT", True),
        ("G0100-G0199", "G0150", True),
        ("G0100-G0199", "G0200", False),
    ],
)
def test_code_patterns(pattern, code, hit):
    assert code_matches(pattern, code) is hit


def test_first_matching_rule_wins():
    scoring = Scoring(weights={"27447": 2.0}, groups=(ProcedureGroup("knee", ("274*",), 0.5),), default_weight=0.1)
    assert code_weight("27447", scoring) == 2.0
    assert code_weight("27446", scoring) == 0.5
    assert code_weight("99213", scoring) == 0.1


def test_accounts_without_volume_keep_zero_potential():
    volumes = pd.DataFrame({"account_id": ["a", "a", "b"], "code": ["1", "2", "1"], "volume": [10.0, 5.0, 1.0]})
    totals = potential_per_account(volumes, Scoring(weights={"1": 2.0, "2": 1.0}), pd.Series(["a", "b", "c"]))
    assert totals["potential"].tolist() == [25.0, 2.0, 0.0]
    assert totals["volume"].tolist() == [15.0, 1.0, 0.0]


def test_segments_split_cumulative_potential():
    segments = (Segment("A", 0.5, 1, 1), Segment("B", 0.3, 1, 1), Segment("C", 0.2, 1, 1))
    potential = np.array([50.0, 20.0, 10.0, 10.0, 5.0, 5.0, 0.0])
    ids = np.array(list("abcdefg"))
    # Cumulative share before each: 0, .5, .7, .8, .9, .95 -> A, B, B, C, C, C; zero potential -> C.
    assert assign_segments(potential, ids, segments).tolist() == [0, 1, 1, 2, 2, 2, 2]


def test_config_defaults_and_relative_paths(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("inputs:\n  accounts: {path: data/a.csv}\n")
    config = load_config(path, {"solver.seed": 5})
    assert config.solver.seed == 5
    assert config.territories.balance.tolerance == 0.05
    assert config.resolve(config.inputs.accounts.path) == tmp_path / "data/a.csv"


def test_config_reports_every_problem_at_once(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "inputs:\n  accounts: {path: a.csv}\nterritories:\n  count: two\n  balance: {metric: potental}\nsolvr: {}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert "key 'territories.count': expected a number (int) (got 'two')" in text
    assert (
        "key 'territories.balance.metric': not an allowed value (got 'potental')\n    hint: did you mean 'potential'?"
        in text
    )
    assert "key 'solvr': unknown config key\n    hint: did you mean 'solver'?" in text


LAYERS = {  # a module may import only modules of a lower layer (DESIGN.md §5)
    "cli": 5,
    "sweep": 4.6,
    "runs": 4.8,  # one module per command's run (optimize, evaluate, size): above what they orchestrate, below cli
    "write": 4.3,  # output assembly: builds the run's summary (compare) and the report's files
    "summary": 3.9,  # the run's typed summary: report reads it, write builds it
    "pipeline": 4,
    "refresh": 4.5,
    "design": 4.5,
    "rules": 3.6,
    "regions": 3.6,
    "hierarchy": 4,
    "sizing": 4,
    "compare": 4,
    "progress": 4,
    "report": 4,
    "vacancy": 3.8,
    "metrics": 3,
    "units": 3.5,
    "contiguity": 3.7,
    "districting": 3.65,
    "district_columns": 3.62,  # the exact districting model on few units per territory: districting calls it
    "district_core": 3.63,  # the core-first districting start: districting calls it; it uses district_columns
    "adjacency": 3,
    "reps": 3,
    "solve": 3,
    "score": 3,
    "read": 3,
    "ingest": 2.5,  # DuckDB scans of large data files: read (3) calls it; it needs config (2)
    "problem": 3,
    "model": 2,
    "config": 2,
    "factors": 2.5,  # scoring factors: below score and metrics, which use them; above config and geo
    "geo": 1,
    "plaincsv": 1,  # exact fast reading of plain CSV text (no quotes): read (3) calls it
    "budget": 1,
    "child": 1,  # the prelude that ties a child interpreter to its parent: sweep and the bound process use it
    "cells": 1,
    "errors": 0,
    "__init__": 0,
    "__main__": 6,
}


def test_imports_run_one_way():
    package = ROOT / "src" / "terrplan"
    for path in package.rglob("*.py"):
        rel = path.relative_to(package)
        module = rel.parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("terrplan."):
                target = node.module.split(".")[1]
                if target == module:
                    continue
                assert LAYERS[target] < LAYERS[module], f"{rel} imports terrplan.{target}"
