"""Two alignments side by side: moved accounts and potential, matched territories, metrics.

Territory names of two alignments need not mean the same thing (an optimized map names T01.. north to south), so
B's territories are matched to A's by the largest shared potential (Hungarian method) before counting moves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from terrplan.errors import Finding, InputError
from terrplan.read import read_alignment


@dataclass(frozen=True)
class Side:
    """One side of a comparison: an output folder (with summary/territories) or a bare alignment file."""

    name: str
    assignments: pd.DataFrame  # account_id, territory, potential (0 when unknown), segment
    summary: dict[str, Any] | None
    territories: pd.DataFrame | None


@dataclass(frozen=True)
class Comparison:
    moves: pd.DataFrame  # account_id, from_territory, to_territory, matched_to, potential, segment
    changes: pd.DataFrame  # per A territory: accounts and potential lost and gained
    figures: dict[str, Any]


def load_side(path: Path) -> Side:
    folder = path if path.is_dir() else None
    file = folder / "assignments.csv" if folder else path
    if folder and not file.exists():
        raise InputError(
            f"{folder}: no assignments.csv here",
            [
                Finding(
                    str(folder),
                    "not an output folder",
                    hint="give an output folder of optimize/evaluate, or an alignment CSV",
                )
            ],
        )
    table = read_alignment(file).frame
    if "account_id" not in table:
        raise InputError(
            f"{file}: compare needs account_id",
            [Finding(str(file), "a ZIP -> territory alignment names no accounts", line=1,
                     hint="score it first: terrplan evaluate CONFIG --alignment FILE -o DIR, then compare DIR")],
        )  # fmt: skip
    frame = table[["account_id", "territory"]].assign(
        potential=pd.to_numeric(table["potential"], errors="coerce").fillna(0.0) if "potential" in table else 0.0,
        segment=table.get("segment", ""),
    )
    summary = (
        json.loads((folder / "summary.json").read_text()) if folder and (folder / "summary.json").exists() else None
    )
    territories = pd.read_csv(folder / "territories.csv") if folder and (folder / "territories.csv").exists() else None
    return Side(str(path), frame.drop_duplicates("account_id"), summary, territories)


def disruption(assignments: pd.DataFrame) -> Comparison | None:
    """The current alignment (current_territory) against the new one, or None when there is no current one."""
    current = assignments.loc[assignments["current_territory"].fillna("") != ""]
    if current.empty:
        return None
    columns = ["account_id", "territory", "potential", "segment"]
    before = Side("current", current.assign(territory=current["current_territory"])[columns], None, None)
    after = Side("new", assignments[columns], None, None)
    return compare(before, after)


def compare(a: Side, b: Side) -> Comparison:
    merged = a.assignments.merge(b.assignments, on="account_id", how="outer", suffixes=("_a", "_b"), indicator=True)
    both = merged.loc[merged["_merge"] == "both"].copy()
    both["potential"] = both["potential_a"].where(both["potential_a"] > 0, both["potential_b"])
    both["segment"] = both["segment_a"].where(both["segment_a"] != "", both["segment_b"])
    matched = _match_territories(both)
    both["matched_to"] = both["territory_b"].map(matched)
    moved = both.loc[both["matched_to"] != both["territory_a"]]
    moves = (
        moved.rename(columns={"territory_a": "from_territory", "territory_b": "to_territory"})[
            ["account_id", "from_territory", "to_territory", "matched_to", "potential", "segment"]
        ]
        .sort_values(["potential", "account_id"], ascending=[False, True], kind="stable")
        .reset_index(drop=True)
    )
    lost = moved.groupby("territory_a").agg(accounts_lost=("account_id", "size"), potential_lost=("potential", "sum"))
    gained = moved.groupby("matched_to").agg(
        accounts_gained=("account_id", "size"), potential_gained=("potential", "sum")
    )
    changes = (
        pd.DataFrame(index=sorted(set(both["territory_a"])))
        .join(lost)
        .join(gained)
        .fillna(0)
        .astype({"accounts_lost": int, "accounts_gained": int})
        .assign(potential_changed=lambda d: d["potential_lost"] + d["potential_gained"])
        .sort_values("potential_changed", ascending=False, kind="stable")
        .rename_axis("territory")
        .reset_index()
    )
    total_potential = float(both["potential"].sum())
    figures = {
        "a": a.name,
        "b": b.name,
        "accounts_in_both": len(both),
        "only_in_a": int((merged["_merge"] == "left_only").sum()),
        "only_in_b": int((merged["_merge"] == "right_only").sum()),
        "moved_accounts": len(moves),
        "moved_accounts_share": len(moves) / len(both) if len(both) else 0.0,
        "moved_potential": float(moves["potential"].sum()),
        "moved_potential_share": float(moves["potential"].sum()) / total_potential if total_potential else 0.0,
        "moved_by_name": int((both["territory_a"] != both["territory_b"]).sum()),
        "territory_match": dict(sorted(matched.items())),
        "metrics": {"a": _side_metrics(a), "b": _side_metrics(b)},
    }
    return Comparison(moves, changes, figures)


def _match_territories(both: pd.DataFrame) -> dict[str, str]:
    """B territory -> the A territory sharing most potential with it (accounts when there is no potential)."""
    weight = both["potential"] if both["potential"].sum() > 0 else pd.Series(1.0, index=both.index)
    overlap = pd.crosstab(both["territory_b"], both["territory_a"], values=weight, aggfunc="sum").fillna(0.0)
    rows, cols = linear_sum_assignment(-overlap.to_numpy())
    matched = {overlap.index[r]: overlap.columns[c] for r, c in zip(rows, cols, strict=True)}
    for label in overlap.index.difference(list(matched)):  # more B territories than A: keep their own names
        matched[label] = str(label)
    return matched


def _side_metrics(side: Side) -> dict[str, Any]:
    out: dict[str, Any] = {"territories": int(side.assignments["territory"].nunique())}
    if side.summary:
        for key in ("objective", "lower_bound", "gap", "status"):
            out[key] = side.summary.get(key)
        balance = side.summary.get("balance", {})
        out["min_index"], out["max_index"] = balance.get("min_index"), balance.get("max_index")
    if side.territories is not None and "mean_distance_km" in side.territories:
        t = side.territories
        out["mean_distance_km"] = float(np.average(t["mean_distance_km"], weights=np.maximum(t["accounts"], 1)))
    return out
