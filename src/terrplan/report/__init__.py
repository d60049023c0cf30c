"""Reports people act on: report.html, a Markdown plan per territory, GeoJSON and a workbook.

One entry point, `report_files`, turns what `optimize` computed into a dict of file name -> content (str or
bytes) for `write.write_files`. Everything is deterministic: the same inputs give byte-identical files (no
timestamps, fixed number formats, stable ordering).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pandas as pd

from terrplan.config import Plans
from terrplan.report.html import render
from terrplan.report.maps import MapData, territory_maps
from terrplan.report.palette import colours as palette_colours
from terrplan.report.pdf import pdf_bytes
from terrplan.report.plans import build_plans, markdown, plan_file_names, plan_frame, rep_homes, vacancy_frame
from terrplan.report.shapes import accounts_geojson, neighbours, territories_geojson, territory_shapes
from terrplan.report.workbook import Sheet, target_lists, workbook_bytes, workbook_sheets

if TYPE_CHECKING:
    from terrplan.summary import RunSummary

__all__ = ["report_files"]


def report_files(
    assignments: pd.DataFrame,
    territories: pd.DataFrame,
    summary: RunSummary,
    plans: Plans,
    reps: pd.DataFrame | None = None,
    escape: bool = True,
    rejects: pd.DataFrame | None = None,
    pdf: bool = False,
) -> dict[str, str | bytes]:
    """report.html, territories.geojson, accounts.geojson, workbook.xlsx and plans/<name>.md, the name a safe
    file name made from the territory's (`plans.plan_file_names`).

    `assignments` and `territories` are the frames written to assignments.csv and territories.csv; `summary` is
    the run's (`summary.RunSummary`, what summary.json renders; the Changes come from its disruption); `plans` is
    the config's plans section; `reps` (optional) has rep_id, name, home_zip (or lat/lon), fte and territory, and
    adds rep homes to the map and FTE-weighted targets.
    `escape` (output.escape_formulas) formula-escapes every text cell of the workbook. `rejects` (rejects.csv's
    rows) adds the workbook's Rejects sheet. Each plan gets its territory's map (plans/<name>.svg, and in
    report.html); `pdf` (output.pdf) adds report.pdf, the deck (`pdf.pdf_bytes`).
    """
    assignments = assignments.sort_values("account_id", kind="stable", ignore_index=True)
    territories = territories.sort_values("territory", kind="stable", ignore_index=True)
    labels = [str(t) for t in territories["territory"]]
    areas = _county_areas(assignments, summary.units_by)
    shapes = territory_shapes(assignments, areas=areas)
    colours = palette_colours(labels, neighbours(shapes.polygons))  # neighbours get distinct colours
    moves = _moves(assignments, summary)
    current_shapes = territory_shapes(assignments, "current_territory", areas) if moves is not None else None
    territory_plans = build_plans(assignments, territories, summary, plans, colours, reps)
    located = assignments.loc[assignments["lat"].notna() & assignments["lon"].notna()]
    polygons = {label: shapes.polygons[label] for label in labels if label in shapes.polygons}
    map_data = MapData(located, polygons, colours, rep_homes(territories, reps))
    own_maps = territory_maps(map_data, territory_plans)
    territory_plans = [dataclasses.replace(p, map_html=own_maps.get(p.territory, "")) for p in territory_plans]
    html = render(
        assignments=assignments,
        territories=territories,
        summary=summary,
        colours=colours,
        maps=map_data,
        current_polygons=current_shapes.polygons if current_shapes is not None else None,
        moves=moves,
        plans=territory_plans,
        territory_maps=own_maps,
    )
    sheets = workbook_sheets(assignments, territories, summary.as_dict(), moves, target_lists(territory_plans), rejects)
    # Each territory's plan, line by line, and the accounts each vacancy cover moves; before the Summary sheet.
    sheets[-1:-1] = [
        Sheet("Plans", plan_frame(territory_plans)),
        Sheet("Vacancy cover", vacancy_frame(territory_plans)),
    ]
    files: dict[str, str | bytes] = {
        "report.html": html,
        "territories.geojson": territories_geojson(territories, shapes, colours),
        "accounts.geojson": accounts_geojson(assignments),
        "workbook.xlsx": workbook_bytes(sheets, escape=escape),
    }
    names = plan_file_names(plan.territory for plan in territory_plans)
    for plan in territory_plans:
        name = names[plan.territory]
        if plan.territory not in own_maps:
            files[f"plans/{name}.md"] = markdown(plan)
            continue
        files[f"plans/{name}.md"] = markdown(dataclasses.replace(plan, map_file=f"{name}.svg"))  # links its map
        files[f"plans/{name}.svg"] = own_maps[plan.territory]
    if pdf:
        files["report.pdf"] = pdf_bytes(map_data, territories, summary, territory_plans, own_maps)
    return files


def _county_areas(assignments: pd.DataFrame, units_by: str) -> pd.Series | None:
    """County FIPS per row when the units are counties (drawn as their outlines), else None."""
    if units_by != "county":
        return None
    if "county" in assignments and assignments["county"].notna().all():
        return assignments["county"].astype(str)
    from terrplan.geo import county_of

    zips = assignments["zip"].astype("string") if "zip" in assignments else pd.Series("", index=assignments.index)
    fips = county_of(zips, assignments["lat"].to_numpy(dtype=float), assignments["lon"].to_numpy(dtype=float))
    return pd.Series(fips, index=assignments.index)


def _moves(assignments: pd.DataFrame, summary: RunSummary) -> pd.DataFrame | None:
    """The moves `compare` counted against the current alignment (the summary's disruption), with each account's
    name and the new territory its old one became; None without a current alignment.

    Current and new labels need not agree: the disruption's territory_match maps each new territory to the current
    one it continues, so an account moved when its current territory is not the match of its new one, and
    `from_became` names the new territory that continues the account's current one (itself when none does).
    """
    change = summary.disruption
    if change is None or change.moves is None:
        return None
    continued = {old: new for new, old in sorted((str(k), str(v)) for k, v in change.territory_match.items())}
    moves = change.moves  # by potential, largest first, then account_id
    names = assignments.set_index("account_id")["name"]
    became = moves["from_territory"].astype(str).map(lambda label: continued.get(label, label))
    return pd.DataFrame(
        {
            "account_id": moves["account_id"].to_numpy(),
            "name": moves["account_id"].map(names).to_numpy(),
            "from_territory": moves["from_territory"].astype(str).to_numpy(),
            "from_became": became.to_numpy(),
            "to_territory": moves["to_territory"].astype(str).to_numpy(),
            "segment": moves["segment"].to_numpy(),
            "potential": moves["potential"].to_numpy(),
        }
    )
