"""Necessary conditions for the bands, checked before solving, each failure explained with numbers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from terrplan.errors import Finding, InfeasibleError
from terrplan.model import Problem


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
    for row, name in enumerate(problem.metric_names):
        findings.extend(_metric_findings(problem, row, name, labels, what))
    if problem.rules is not None and not findings:
        names = territory_names or [f"territory {t + 1}" for t in range(k)]
        findings.extend(rule_findings(problem, labels or [f"unit {u}" for u in range(problem.n_units)], names))
    if findings:
        raise InfeasibleError("no alignment can meet the balance bands", findings)


def _metric_findings(problem: Problem, row: int, name: str, labels, what: str) -> list[Finding]:
    out: list[Finding] = []
    k = problem.n_territories
    values = problem.metrics[row]
    lower, upper = problem.lower[row], problem.upper[row]
    total = float(values.sum())
    mean = total / k
    if np.isfinite(upper).all() and upper.sum() < total - 1e-9 * abs(total):
        out.append(
            Finding(
                what,
                f"total {name} {total:,.6g} exceeds the sum of the territory maxima {upper.sum():,.6g}",
                hint="raise the maxima, widen the tolerance or add territories",
            )
        )
    if lower.sum() > total + 1e-9 * abs(total):
        out.append(
            Finding(
                what,
                f"total {name} {total:,.6g} is below the sum of the territory minima {lower.sum():,.6g}",
                hint="lower the minima, widen the tolerance or use fewer territories",
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
                hint=f"widen the tolerance to at least {need_tol * 100:.1f} %, use at most {max_k} territories, "
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
    for row, metric in enumerate(problem.metric_names):
        values = problem.metrics[row]
        locked = rules.locked >= 0
        locked_total = np.bincount(rules.locked[locked], weights=values[locked], minlength=k)
        reach = (allowed * values[:, None]).sum(axis=0)
        for t in range(k):
            upper, lower = problem.upper[row, t], problem.lower[row, t]
            if np.isfinite(upper) and locked_total[t] > upper + 1e-9 * max(abs(upper), 1.0):
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
            if np.isfinite(lower) and reach[t] < lower - 1e-9 * max(abs(lower), 1.0):
                out.append(
                    Finding(
                        "rules",
                        f"{names[t]} can reach at most {metric} {reach[t]:,.6g} from the units its locks and "
                        f"forbid rules allow, below its minimum {lower:,.6g}",
                        hint=f"allow it at least {lower - reach[t]:,.6g} more {metric}, or lower its minimum",
                    )
                )
    return out
