"""The parts of a territory plan derived from its accounts: segments, goals per segment and quarter, the activity
calendar, the timeline, training needs and the risks, each as plain data or plain text lines.

Optional factor columns (issue 14: growth_rate, potential_<year>, competitor, competitor_share, own_share,
adoption, opportunity) are used where the accounts carry them; every part works without them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from terrplan.report.goals import Quarter, largest_remainder

#: A competitor "dominates" an account when it holds at least this share of it.
DOMINANT_SHARE = 0.5
#: Fast growers and decliners (annual growth rate) named in training and risks.
FAST_GROWTH, DECLINE = 0.2, -0.1
#: Top-3 share of potential above which the concentration risk is high.
HIGH_CONCENTRATION = 0.3


def num(value: float | None, decimals: int = 1) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:,.{decimals}f}"


def pct(value: float | None, decimals: int = 1) -> str:
    return "n/a" if value is None else f"{value * 100:.{decimals}f} %"


@dataclass(frozen=True)
class Group:
    """A segment (by size) or an opportunity (expand / convert / develop) of a territory's accounts."""

    kind: str  # "segment" or "opportunity"
    name: str
    accounts: int
    potential: float
    share: float  # of the territory's potential
    calls_per_year: float | None  # per account
    called: int  # accounts whose calls follow this group's plan (an opportunity's plan replaces the segment's)
    minutes_per_call: float | None
    activities: dict[str, float]  # activity -> per account and year (plans.activities)
    tactics: tuple[str, ...]  # named activities without counts (an opportunity's config)
    goal: int | None  # this group's part of the territory goal
    goal_by_quarter: tuple[int, ...]  # sums to goal; empty without a goal


def groups(
    accounts: pd.DataFrame,
    kind: str,
    config: list[dict[str, Any]],
    activities: dict[str, dict[str, float]],
    opportunities: list[dict[str, Any]] = (),
) -> list[Group]:
    """The territory's accounts by `kind` (the column `segment` or `opportunity`), in the config's order then by
    name; `config` is summary.json's segments or scoring.opportunities. For segments, `opportunities` (the latter)
    says which accounts' calls follow their opportunity's call plan instead."""
    if kind not in accounts:
        return []
    names = accounts[kind].fillna("").astype(str)
    known = [str(c["name"]) for c in config]
    present = sorted(set(names) - {""}, key=lambda n: (known.index(n) if n in known else len(known), n))
    total = float(accounts["potential"].sum())
    by_name = {str(c["name"]): c for c in config}
    out = []
    planned = {str(o["name"]) for o in opportunities if o.get("calls_per_year") is not None}
    elsewhere = (
        accounts["opportunity"].fillna("").astype(str).isin(planned)
        if kind == "segment" and planned and "opportunity" in accounts
        else pd.Series(False, index=accounts.index)
    )
    for name in present:
        mine = accounts.loc[names == name]
        spec = by_name.get(name, {})
        potential = float(mine["potential"].sum())
        out.append(
            Group(
                kind=kind,
                name=name,
                accounts=len(mine),
                potential=potential,
                share=potential / total if total > 0 else len(mine) / len(accounts),
                calls_per_year=_number(spec.get("calls_per_year")),
                called=int((~elsewhere[names == name]).sum()),
                minutes_per_call=_number(spec.get("minutes_per_call")),
                activities=dict(activities.get(name, {})),
                tactics=tuple(str(a) for a in spec.get("activities") or ()),
                goal=None,
                goal_by_quarter=(),
            )
        )
    return out


def with_goals(items: list[Group], goal: int | None, quarter_shares: tuple[float, ...]) -> list[Group]:
    """The territory goal split over the groups by potential (largest remainder), and each group's over the
    quarters by the plan's quarter shares: every split adds up exactly."""
    if goal is None or not items:
        return items
    parts = largest_remainder(goal, [g.potential if g.potential > 0 else 0.0 for g in items])
    return [
        _replace(g, goal=part, goal_by_quarter=tuple(largest_remainder(part, quarter_shares)))
        for g, part in zip(items, parts, strict=True)
    ]


def _replace(group: Group, **changes: Any) -> Group:
    return Group(**{**group.__dict__, **changes})


def _number(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else float(value)


def activity_calendar(items: list[Group], quarters: list[Quarter]) -> tuple[list[str], list[list[str]]]:
    """Rows (group, activity, per account and year, Q1..Q4, year): calls from the segment's call frequency and the
    activities of plans.activities, each year's total spread evenly over the quarters in whole numbers."""
    headings = ["group", "activity", "per account/year", *(q.label for q in quarters), "year"]
    rows = []
    for g in items:
        calls = [("calls", g.calls_per_year)] if g.calls_per_year and g.called else []
        plan = calls + sorted(g.activities.items())
        for activity, per_account in plan:
            accounts = g.called if activity == "calls" else g.accounts
            total = round(float(per_account) * accounts)
            spread = largest_remainder(total, [1.0] * len(quarters))
            rows.append([f"{g.kind} {g.name}", activity, f"{per_account:g}", *map(str, spread), str(total)])
    return headings, rows


def tactic_lines(items: list[Group], unit: str) -> list[str]:
    out = []
    for g in items:
        parts = []
        if g.calls_per_year and g.called:
            minutes = f" of {g.minutes_per_call:g} min" if g.minutes_per_call else ""
            parts.append(f"{g.calls_per_year:g} calls a year{minutes} at each account")
        parts += [f"{name} {count:g} a year per account" for name, count in sorted(g.activities.items())]
        parts += list(g.tactics)
        goal = f", toward {g.goal:,} {unit}" if g.goal is not None else ""
        if g.calls_per_year and not g.called:
            parts.append("calls by each account's opportunity plan")
        what = "; ".join(parts) if parts else "no call plan in the config"
        head = f"{g.kind.capitalize()} {g.name} ({g.accounts} accounts, {pct(g.share)} of potential{goal})"
        out.append(f"{head}: {what}.")
    return out


# -- training ---------------------------------------------------------------------------------------------------


def training_lines(
    accounts: pd.DataFrame, experience: str, top3_share: float, max_km: float, far_km: float, unit: str
) -> list[str]:
    """Needs that follow from the territory's accounts, each with the figure behind it; `experience` is the line
    on the rep (vacant, new, experienced or unknown)."""
    total = float(accounts["potential"].sum()) or 1.0
    out = [experience]
    if {"competitor_share", "competitor"} <= set(accounts):
        held = accounts.loc[accounts["competitor_share"].fillna(0) >= DOMINANT_SHARE]
        if len(held):
            rival = _top_by_potential(held, "competitor")
            out.append(
                f"Competitive selling: competitors hold at least {pct(DOMINANT_SHARE, 0)} of {len(held)} accounts "
                f"({pct(held['potential'].sum() / total)} of potential){f', mostly {rival}' if rival else ''}: "
                "conversion and objection handling against their products."
            )
    started = _started(accounts)
    if started is not None and len(started[1]):
        first, new = started
        out.append(
            f"Procedure start-up: {len(new)} accounts had no volume in {first} and do the procedure now "
            f"({pct(new['potential'].sum() / total)} of potential): clinical in-service and case-support training."
        )
    if "growth_rate" in accounts:
        fast = accounts.loc[accounts["growth_rate"].fillna(0) >= FAST_GROWTH]
        if len(fast):
            out.append(
                f"Growth accounts: {len(fast)} accounts grow {pct(FAST_GROWTH, 0)} a year or more "
                f"({pct(fast['potential'].sum() / total)} of potential): capacity and case-coverage planning."
            )
    if "adoption" in accounts:
        trial = accounts.loc[accounts["adoption"].fillna("").astype(str).str.lower() == "trialist"]
        if len(trial):
            out.append(f"Trial conversion: {len(trial)} trialist accounts: evaluation-to-contract selling.")
    if "type" in accounts:
        types = accounts.groupby(accounts["type"].fillna("").astype(str).str.lower())["potential"].sum() / total
        hospital = float(sum(v for k, v in types.items() if "hosp" in k))
        asc = float(sum(v for k, v in types.items() if "asc" in k or "surgery center" in k))
        if hospital >= 0.5:
            out.append(
                f"Hospital value analysis: hospitals hold {pct(hospital)} of potential: committee and "
                "contracting (value analysis, GPO) selling."
            )
        if asc >= 0.3:
            out.append(
                f"ASC economics: surgery centers hold {pct(asc)} of potential: site-of-care and "
                "bundled-payment selling."
            )
    if top3_share >= HIGH_CONCENTRATION:
        out.append(f"Key-account management: the top 3 accounts hold {pct(top3_share)} of potential.")
    if max_km > far_km:
        out.append(f"Routing: accounts up to {max_km:,.0f} km from the centre: trip planning to keep calls on plan.")
    if len(out) == 1:
        out.append(f"No territory-specific need found: the standard product and procedure refresher ({unit}).")
    return out


def _top_by_potential(accounts: pd.DataFrame, column: str) -> str:
    names = accounts[column].fillna("").astype(str)
    sums = accounts.loc[names != ""].groupby(names[names != ""])["potential"].sum()
    if sums.empty:
        return ""
    return str(sorted(sums.items(), key=lambda kv: (-kv[1], kv[0]))[0][0])


_YEAR_COLUMN = re.compile(r"^potential_(\d{4})$")


def _started(accounts: pd.DataFrame) -> tuple[int, pd.DataFrame] | None:
    """(first year, accounts blank or 0 that year and above 0 in the latest) from the potential_<year> columns."""
    years = sorted(int(m.group(1)) for c in accounts.columns if (m := _YEAR_COLUMN.match(str(c))))
    if len(years) < 2:
        return None
    first, last = (pd.to_numeric(accounts[f"potential_{y}"], errors="coerce") for y in (years[0], years[-1]))
    return years[0], accounts.loc[(first.fillna(0) <= 0) & (last.fillna(0) > 0)]


def experience_line(rep: dict[str, Any] | None, reps: pd.DataFrame | None) -> str:
    """The rep's training path: vacant, new (under a year) or experienced from the roster's tenure_years or
    hire_date (relative to the plan's own year is not known here, so tenure_years is preferred)."""
    if rep is None:
        return "Rep: none assigned in the roster: the rep who takes the territory starts with the onboarding path."
    if not rep.get("rep_id") or str(rep.get("name", "")).upper() in {"", "VACANT"}:
        return "Vacant territory: the hire needs the full onboarding path (products, procedures, the accounts)."
    row = None
    if reps is not None and "rep_id" in reps:
        match = reps.loc[reps["rep_id"].astype(str) == str(rep["rep_id"])]
        row = match.iloc[0] if len(match) else None
    tenure = pd.to_numeric(row.get("tenure_years"), errors="coerce") if row is not None else np.nan
    if pd.notna(tenure):
        if float(tenure) < 1:
            return f"New rep ({float(tenure):g} years): onboarding path, ride-alongs each quarter."
        return f"Experienced rep ({float(tenure):g} years): advanced selling and coaching of peers."
    return "Rep tenure not in the roster (a tenure_years column would set new-rep or experienced training)."


# -- risks ------------------------------------------------------------------------------------------------------


def concentration_risk(accounts: pd.DataFrame, top3_share: float) -> str:
    names = ", ".join(str(n) for n in accounts["name"].head(3)) if "name" in accounts else ""
    level = "High" if top3_share >= HIGH_CONCENTRATION else "Moderate"
    return (
        f"{level} concentration: the top 3 accounts ({names}) hold {pct(top3_share)} of potential. Mitigation: a "
        "second clinical and purchasing contact and a multi-year agreement at each, and growth in the next tier of "
        "accounts so that losing one top account does not lose the year."
    )


def competitive_risk(accounts: pd.DataFrame) -> str:
    total = float(accounts["potential"].sum()) or 1.0
    if "competitor_share" not in accounts:
        return (
            "Competitive exposure unknown: the run has no competitive-landscape input (scoring.competition). "
            "Mitigation: record the incumbent manufacturer at every target account during Q1 calls."
        )
    share = float((accounts["competitor_share"].fillna(0) * accounts["potential"]).sum() / total)
    held = accounts.loc[accounts["competitor_share"].fillna(0) >= DOMINANT_SHARE]
    rival = _top_by_potential(held, "competitor") if "competitor" in accounts else ""
    return (
        f"Competitive: competitors hold {pct(share)} of the territory's potential (weighted), and dominate "
        f"{len(held)} accounts ({pct(held['potential'].sum() / total)} of potential)"
        f"{f', mostly {rival}' if rival else ''}. "
        "Mitigation: a conversion plan per dominated target account (clinical evidence, trial, contract terms), "
        "reviewed each quarter."
    )


def decline_risk(accounts: pd.DataFrame) -> str | None:
    if "growth_rate" not in accounts:
        return None
    down = accounts.loc[accounts["growth_rate"].fillna(0) <= DECLINE]
    if down.empty:
        return None
    total = float(accounts["potential"].sum()) or 1.0
    return (
        f"Declining volume: {len(down)} accounts shrink {pct(-DECLINE, 0)} a year or more "
        f"({pct(down['potential'].sum() / total)} of potential). Mitigation: find where the cases went (a new "
        "site, a competitor, a retiring surgeon) in Q1 and follow them."
    )
