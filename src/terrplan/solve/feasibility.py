"""Necessary conditions for the bands, checked before solving, each failure explained with numbers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from terrplan.errors import Finding, InfeasibleError
from terrplan.model import Problem


def check_feasible(problem: Problem, labels: Sequence[str] | None = None, what: str = "problem") -> None:
    """Raise InfeasibleError naming every violated necessary condition and the smallest fix we can compute."""
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
