"""Necessary conditions for the bands, checked before solving, each failure explained with numbers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ortools.graph.python import max_flow

from terrplan.errors import Finding, InfeasibleError
from terrplan.model import Problem, outside_band


def check_feasible(
    problem: Problem,
    labels: Sequence[str] | None = None,
    what: str = "problem",
    territory_names: Sequence[str] | None = None,
) -> None:
    """Raise InfeasibleError naming every violated necessary condition and the smallest fix we can compute.

    `labels` name the units, `territory_names` the territories, in messages."""
    findings: list[Finding] = []
    k = problem.n_territories
    if problem.n_units < k:
        findings.append(
            Finding(
                what,
                f"{k} territories but only {problem.n_units} units",
                hint=f"use at most {problem.n_units} territories",
            )
        )
    for row, name in enumerate(problem.metric_names):  # every band row on its own, named by its metric
        findings.extend(_metric_findings(problem, row, name, labels, what, territory_names))
    if problem.rules is not None and not findings:
        names = territory_names or [f"territory {t + 1}" for t in range(k)]
        unit_labels = labels or [f"unit {u}" for u in range(problem.n_units)]
        findings.extend(rule_findings(problem, unit_labels, names))
        if not findings:
            findings.extend(hall_findings(problem, unit_labels, names))
    if findings:
        raise InfeasibleError("no alignment can meet the balance bands", findings)


def _metric_findings(problem: Problem, row: int, name: str, labels, what: str, territory_names=None) -> list[Finding]:
    out: list[Finding] = []
    k = problem.n_territories
    values = problem.metrics[row]
    lower, upper = problem.lower[row], problem.upper[row]
    total = float(values.sum())
    mean = total / k
    tolerance = "the tolerance" if row == 0 else f"the {name} tolerance"  # the primary's is --tolerance
    empty = np.flatnonzero(lower > upper + 1e-9 * np.maximum(np.abs(upper), 1.0))
    if len(empty):
        names = territory_names or [f"territory {t + 1}" for t in range(k)]
        t = int(empty[0])
        out.append(
            Finding(
                what,
                f"the {name} band of {names[t]} is empty: its minimum {lower[t]:,.6g} is above its maximum "
                f"{upper[t]:,.6g}" + (f" ({len(empty) - 1} more territories alike)" if len(empty) > 1 else ""),
                hint=f"{name}: the tolerance band and the limits per FTE must overlap; widen {tolerance} or move "
                "the limits",
            )
        )
    if np.isfinite(upper).all() and upper.sum() < total - 1e-9 * abs(total):
        out.append(
            Finding(
                what,
                f"total {name} {total:,.6g} exceeds the sum of the territory maxima {upper.sum():,.6g}",
                hint=f"raise the maxima, widen {tolerance} or add territories",
            )
        )
    if lower.sum() > total + 1e-9 * abs(total):
        out.append(
            Finding(
                what,
                f"total {name} {total:,.6g} is below the sum of the territory minima {lower.sum():,.6g}",
                hint=f"lower the minima, widen {tolerance} or use fewer territories",
            )
        )
    top = int(np.argmax(values))
    biggest = float(values[top])
    cap = float(upper.max())
    if np.isfinite(cap) and biggest > cap + 1e-9 * abs(cap):
        label = labels[top] if labels is not None else f"unit {top}"
        share = biggest / total * 100 if total else 100.0
        need_tol = biggest / mean - 1 if mean > 0 else np.inf
        max_k = int(np.floor(total * (cap / mean) / biggest)) if mean > 0 else 0
        out.append(
            Finding(
                what,
                f"{label} alone holds {name} {biggest:,.6g} ({share:.1f} % of the total), more than the "
                f"largest territory maximum {cap:,.6g} ({cap / mean * 100:.0f} % of the mean)",
                hint=f"widen {tolerance} to at least {need_tol * 100:.1f} %, use at most {max_k} territories, "
                "or split the account",
            )
        )
    positive = int((values > 0).sum())
    needs = int((lower > 0).sum())
    if positive < needs:
        out.append(
            Finding(
                what,
                f"{needs} territories need some {name} but only {positive} units have any",
                hint=f"use at most {positive} territories or drop the minimum",
            )
        )
    return out


def rule_findings(problem: Problem, labels: Sequence[str], names: Sequence[str]) -> list[Finding]:
    """Locks and forbidden pairs against the bands: a unit with nowhere to go, locks that overfill a territory,
    a territory that cannot reach its minimum from the units allowed there; each with the smallest relaxation."""
    rules = problem.rules
    assert rules is not None
    n, k = problem.n_units, problem.n_territories
    allowed = rules.allowed(np.arange(n)[:, None], np.arange(k)[None, :], k)  # (n, K)
    out: list[Finding] = []
    for unit in np.flatnonzero(~allowed.any(axis=1))[:20]:
        out.append(Finding("rules", f"{labels[unit]} is forbidden in every territory it could be in",
                           hint="drop one of its forbid rules"))  # fmt: skip
    if out:
        return out
    locked = rules.locked >= 0
    by_lock = rules.locked[locked]
    locked_totals = np.array([np.bincount(by_lock, weights=v[locked], minlength=k) for v in problem.metrics])
    reach_totals = np.array([(allowed * v[:, None]).sum(axis=0) for v in problem.metrics])
    # The band test itself: locks alone above a maximum, or all a territory may draw below its minimum.
    overfull = outside_band(problem, locked_totals) & (locked_totals > problem.upper)
    starved = outside_band(problem, reach_totals) & (reach_totals < problem.lower)
    for row, metric in enumerate(problem.metric_names):
        values = problem.metrics[row]
        locked_total, reach = locked_totals[row], reach_totals[row]
        for t in range(k):
            upper, lower = problem.upper[row, t], problem.lower[row, t]
            if overfull[row, t]:
                excess = locked_total[t] - upper
                members = np.flatnonzero(rules.locked == t)
                members = members[np.argsort(-values[members], kind="stable")]
                freed = np.cumsum(values[members])
                fewest = members[: int(np.searchsorted(freed, excess - 1e-9)) + 1]
                out.append(
                    Finding(
                        "rules",
                        f"locks put {metric} {locked_total[t]:,.6g} into {names[t]}, above its maximum {upper:,.6g}",
                        hint=f"unlock at least {excess:,.6g} of {metric}: the fewest locks that do it are "
                        + ", ".join(labels[u] for u in fewest[:5])
                        + (f" and {len(fewest) - 5} more" if len(fewest) > 5 else ""),
                    )
                )
            if starved[row, t]:
                out.append(
                    Finding(
                        "rules",
                        f"{names[t]} can reach at most {metric} {reach[t]:,.6g} from the units its locks and "
                        f"forbid rules allow, below its minimum {lower:,.6g}",
                        hint=f"allow it at least {lower - reach[t]:,.6g} more {metric}, or lower its minimum",
                    )
                )
    return out


_FLOW_SCALE = 1e9  # the primary metric's total in integer flow units


def hall_findings(problem: Problem, labels: Sequence[str], names: Sequence[str]) -> list[Finding]:
    """Groups the single-territory checks miss: accounts whose rules leave them only territories too small to
    hold them, or territories that together cannot draw their minimum from the accounts allowed to them.

    Two max flows over the allowed pairs (unrestricted units pooled into one node), with supplies rounded down
    and capacities up so rounding never invents a conflict; a short flow's minimum cut names the group.
    """
    rules = problem.rules
    assert rules is not None
    out: list[Finding] = []
    for row, metric in enumerate(problem.metric_names):
        amount = problem.metrics[row]
        if (amount < 0).any() or amount.sum() <= 0:
            continue
        graph = _AllowedGraph.build(problem, amount)
        upper = problem.upper[row]
        if np.isfinite(upper).all():
            units, territories, carried, room = graph.overfull(upper)
            if units:
                out.append(
                    Finding(
                        "rules",
                        f"{_some(units, labels)} may only join {', '.join(names[t] for t in territories)}, which "
                        f"hold at most {metric} {room:,.6g} together, but they carry {carried:,.6g}",
                        hint=f"allow them elsewhere (at least {carried - room:,.6g} of {metric}), or raise those "
                        "territories' maxima",
                    )
                )
        lower = problem.lower[row]
        if (lower > 0).any():
            territories, reach, need = graph.starved(np.maximum(np.where(np.isfinite(lower), lower, 0), 0))
            if territories:
                out.append(
                    Finding(
                        "rules",
                        f"{', '.join(names[t] for t in territories)} can draw at most {metric} {reach:,.6g} together "
                        f"from the units their locks and forbid rules allow, below their combined minimum "
                        f"{need:,.6g}",
                        hint=f"allow them at least {need - reach:,.6g} more {metric}, or lower their minima",
                    )
                )
    return out


def _some(units: list[int], labels: Sequence[str]) -> str:
    shown = ", ".join(labels[u] for u in units[:3])
    return f"{len(units)} units ({shown}{', ...' if len(units) > 3 else ''})"


class _AllowedGraph:
    """Restricted units (a lock or a forbidden pair) each with their allowed territories; the rest pooled."""

    def __init__(
        self, k: int, restricted: np.ndarray, pairs: np.ndarray, supply: np.ndarray, pool: int, pooled: int,
        scale: float,
    ):  # fmt: skip
        self.k, self.restricted, self.pairs, self.supply, self.pool = k, restricted, pairs, supply, pool
        self.pooled = pooled  # unrestricted units: each lost less than one flow unit to rounding down
        self.scale = scale  # flow units per unit of the metric

    @classmethod
    def build(cls, problem: Problem, amount: np.ndarray) -> _AllowedGraph:
        rules = problem.rules
        assert rules is not None
        n, k = problem.n_units, problem.n_territories
        restricted = np.zeros(n, dtype=bool)
        restricted[rules.locked >= 0] = True
        restricted[rules.forbidden // k] = True
        units = np.flatnonzero(restricted)
        allowed = rules.allowed(units[:, None], np.arange(k)[None, :], k)
        rows, cols = np.nonzero(allowed)
        scale = _FLOW_SCALE / amount.sum()
        supply = np.floor(amount * scale).astype(np.int64)
        pool = int(supply[~restricted].sum())
        return cls(k, units, np.column_stack([rows, cols]), supply[units], pool, int((~restricted).sum()), scale)

    def overfull(self, upper: np.ndarray) -> tuple[list[int], list[int], float, float]:
        """Units that cannot all be placed under the maxima, their territories, what they carry and hold."""
        r, k = len(self.restricted), self.k
        source, sink, pool = r + k + 1, r + k + 2, r + k
        scale = self.scale
        flow = max_flow.SimpleMaxFlow()
        big = np.int64(4 * _FLOW_SCALE)
        tails = [np.full(r, source), self.pairs[:, 0], [source], np.full(k, pool), r + np.arange(k)]
        heads = [np.arange(r), r + self.pairs[:, 1], [pool], r + np.arange(k), np.full(k, sink)]
        caps = [self.supply, np.full(len(self.pairs), big), [self.pool], np.full(k, big),
                np.ceil(np.maximum(upper, 0) * scale).astype(np.int64) + 1]  # fmt: skip
        flow.add_arcs_with_capacity(*(np.concatenate(part).astype(np.int64) for part in (tails, heads, caps)))
        flow.solve(source, sink)
        if flow.optimal_flow() >= int(self.supply.sum()) + self.pool:
            return [], [], 0.0, 0.0
        side = set(flow.get_source_side_min_cut())
        units = [int(self.restricted[i]) for i in range(r) if i in side]
        territories = [t for t in range(k) if r + t in side]
        carried = float(self.supply[[i for i in range(r) if i in side]].sum() / scale)
        if pool in side:
            carried += self.pool / scale
        return units, territories, carried, float(np.maximum(upper[territories], 0).sum())

    def starved(self, lower: np.ndarray) -> tuple[list[int], float, float]:
        """Territories that cannot together reach their minima, what they can reach and what they need."""
        r, k = len(self.restricted), self.k
        source, sink, pool = r + k + 1, r + k + 2, r + k
        scale = self.scale
        need = np.floor(lower * scale).astype(np.int64)
        big = np.int64(4 * _FLOW_SCALE)
        flow = max_flow.SimpleMaxFlow()
        tails = [np.full(k, source), r + self.pairs[:, 1], r + np.arange(k), np.arange(r), [pool]]
        heads = [r + np.arange(k), self.pairs[:, 0], np.full(k, pool), np.full(r, sink), [sink]]
        # what the units can give, rounded up (each unit floored lost less than one flow unit): never short by rounding
        caps = [need, np.full(len(self.pairs), big), np.full(k, big), self.supply + 1, [self.pool + self.pooled]]
        flow.add_arcs_with_capacity(*(np.concatenate(part).astype(np.int64) for part in (tails, heads, caps)))
        flow.solve(source, sink)
        if flow.optimal_flow() >= int(need.sum()):
            return [], 0.0, 0.0
        side = set(flow.get_source_side_min_cut())
        territories = [t for t in range(k) if r + t in side]
        reach = sum(self.supply[i] for i in range(r) if i in side) + (self.pool if pool in side else 0)
        return territories, float(reach / scale), float(lower[territories].sum())
