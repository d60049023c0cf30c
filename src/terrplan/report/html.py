"""report.html: one self-contained page (inline SVG and CSS, no scripts, fonts or tiles from the network).

Sections: headline figures; the overview map (accounts coloured by territory, territory polygons, rep homes) beside
the balance chart; the territory table; the change map and moved accounts when a current alignment is given; one
plan per territory. Laid out for a 1366x768 screen, with print CSS (landscape, one plan per page).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from terrplan.metrics import index_decimals
from terrplan.report.labels import f as _f
from terrplan.report.maps import MapData, changes_map, overview_map
from terrplan.report.plans import Plan, num, pct, rep_text
from terrplan.report.plans import sections as plan_sections
from terrplan.report.svgtext import escape

if TYPE_CHECKING:
    from terrplan.summary import RunSummary

MOVES_SHOWN = 100

CSS = """
*{box-sizing:border-box}
body{margin:0;font:13px/1.35 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1d2433;
background:#fff;-webkit-print-color-adjust:exact;print-color-adjust:exact}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:6px 18px;padding:8px 16px;border-bottom:1px solid #d8dce3}
h1{font-size:18px;margin:0 12px 0 0}
h2{font-size:16px;margin:18px 0 8px}
h3{font-size:15px;margin:0 0 6px}
h4{font-size:13px;margin:10px 0 4px}
.figures{display:flex;flex-wrap:wrap;gap:4px 16px;margin:0;padding:0;list-style:none}
.figures li b{font-size:15px}
.figures li span{color:#5a6275;margin-right:4px}
nav a{margin-right:10px;color:#2357a4}
main{padding:8px 16px 24px}
.top{display:grid;grid-template-columns:minmax(0,1.55fr) minmax(0,1fr);gap:16px;align-items:start}
figure{margin:0}
figcaption{color:#5a6275;font-size:12px;margin:2px 0 4px}
svg.map{width:100%;height:auto;max-height:78vh;border:1px solid #d8dce3;background:#fbfbfc}
svg.chart{width:100%;height:auto}
table{border-collapse:collapse;font-size:12px;margin:4px 0 8px}
th,td{padding:2px 8px;border-bottom:1px solid #e3e6eb;text-align:left;vertical-align:top}
th{background:#f2f4f7;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.sw{display:inline-block;width:11px;height:11px;border:1px solid #0003;vertical-align:-1px;margin-right:4px}
.bad{color:#b3261e;font-weight:600}
.plan{border-top:3px solid var(--c);padding-top:8px;margin-top:20px}
.cols{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:0 24px}
.note{color:#5a6275}
.legend span{margin-right:12px;white-space:nowrap}
.territory-map{max-width:660px;margin-top:8px}
@page{size:landscape;margin:10mm}
@media print{
 header{border:0}
 nav{display:none}
 .top{grid-template-columns:minmax(0,1.4fr) minmax(0,1fr)}
 svg.map{max-height:160mm}
 .territory-map svg.map{max-height:110mm}
 section{break-inside:avoid-page}
 section.big{break-inside:auto}
 .plan{break-before:page}
 #plans>h2{break-before:page;break-after:avoid}
 article.plan:first-of-type{break-before:auto}
 table{break-inside:auto} tr{break-inside:avoid}
}
"""


def render(
    *,
    assignments: pd.DataFrame,
    territories: pd.DataFrame,
    summary: RunSummary,
    colours: dict[str, str],
    maps: MapData,
    current_polygons: dict[str, shapely.Geometry] | None,
    moves: pd.DataFrame | None,
    plans: list[Plan],
    territory_maps: dict[str, str] | None = None,
) -> str:
    """`maps` is what the maps draw; `territory_maps` (territory -> SVG) go into the plans."""
    body = [_header(summary, assignments, territories, moves is not None)]
    body.append('<main><div class="top">')
    body.append(
        "<figure><figcaption>Accounts coloured by territory, with territory boundaries"
        + (", rep homes (■) named" if maps.homes else "")
        + "; insets for far-off regions and the densest area; labels moved off their spot have a leader line"
        + "</figcaption>"
        + overview_map(maps)
        + "</figure>"
    )
    body.append(
        "<figure><figcaption>Balance: index per territory (mean = 100); the shaded strip is the band</figcaption>"
        + _balance_chart(territories, summary.bands.primary, colours)
        + "</figure>"
    )
    body.append("</div>")
    body.append(_territory_table(territories, colours, plans, index_decimals(summary.bands.primary)))
    if moves is not None:
        body.append(_changes(assignments, colours, maps, current_polygons or {}, moves))
    body.append('<section class="big" id="plans"><h2>Territory plans</h2>')
    body += [_with_map(_plan_html(plan), (territory_maps or {}).get(plan.territory)) for plan in plans]
    body.append("</section></main>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        "<title>terrplan report</title><style>"
        + CSS
        + "</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


# -- header -----------------------------------------------------------------------------------------------------


def _header(summary: RunSummary, assignments: pd.DataFrame, territories: pd.DataFrame, has_moves: bool) -> str:
    balance = summary.bands.primary
    gap = summary.gap
    bound = summary.lower_bound
    figures = [
        ("status", summary.status),
        ("objective", num(summary.objective)),
        ("lower bound", num(bound) if bound is not None else "n/a"),
        ("gap", pct(gap, 2) if gap is not None else "n/a"),
        ("accounts", f"{len(assignments):,}"),
        ("territories", f"{len(territories):,}"),
    ]
    for item in summary.bands.each or ([balance] if balance else []):  # every balance metric, primary first
        digits = index_decimals(item)
        low, high = (item.get(key) for key in ("band_low_index", "band_high_index"))
        low, high = (v if v is not None and np.isfinite(v) else None for v in (low, high))  # one-sided: None or inf
        if low is not None and high is not None:
            band = f"band {num(low, digits)}–{num(high, digits)}"
        else:
            band = f"band: at most {num(high, digits)}" if high is not None else f"band: at least {num(low, digits)}"
        figures.append(
            (
                f"{item.get('metric', '')} index",
                f"{num(item.get('min_index'), digits)}–{num(item.get('max_index'), digits)} ({band})",
            )
        )
    items = "".join(f"<li><span>{escape(k)}</span><b>{escape(v)}</b></li>" for k, v in figures)
    links = ['<a href="#territories">Territories</a>']
    if has_moves:
        links.append('<a href="#changes">Changes</a>')
    links.append('<a href="#plans">Plans</a>')
    return f'<header><h1>Territory alignment</h1><ul class="figures">{items}</ul><nav>{"".join(links)}</nav></header>'


# -- maps -------------------------------------------------------------------------------------------------------


def _changes(
    assignments: pd.DataFrame,
    colours: dict,
    maps: MapData,
    current_polygons: dict,
    moves: pd.DataFrame,
) -> str:
    total = float(assignments["potential"].sum())
    moved_potential = float(moves["potential"].sum())
    out = ['<section class="big" id="changes"><h2>Changes against the current alignment</h2>']
    out.append(
        f"<p>{len(moves):,} of {len(assignments):,} accounts move ({pct(len(moves) / len(assignments))}), "
        f"holding {num(moved_potential)} potential ({pct(moved_potential / total if total else 0)}).</p>"
    )
    renamed = moves.loc[
        moves["from_territory"] != moves["from_became"], ["from_territory", "from_became"]
    ].drop_duplicates()
    if len(renamed):
        pairs = ", ".join(f"{a} → {b}" for a, b in sorted(renamed.itertuples(index=False)))
        out.append(
            f'<p class="note">Current territories are matched to the new territories they became: {escape(pairs)}. '
            "An account moves when its new territory is not its current territory's match.</p>"
        )
    svg = [changes_map(maps, current_polygons, set(moves["account_id"].astype(str)))]
    out.append(
        '<figure style="max-width:900px"><figcaption>Moved accounts in the colour of their new territory (black '
        "ring); unchanged accounts grey; new boundaries in colour, current boundaries dashed grey</figcaption>"
        + "".join(svg)
        + "</figure>"
    )
    out.append(_flow_table(moves, colours))
    shown = moves.head(MOVES_SHOWN)
    out.append(f"<h3>Moved accounts ({len(moves):,}, by potential)</h3>")
    if len(moves) > MOVES_SHOWN:
        out.append(f'<p class="note">The first {MOVES_SHOWN} are shown; the workbook\'s Changes sheet lists all.</p>')
    rows = [
        [
            escape(str(r["account_id"])),
            escape(str(r["name"])),
            _swatch(colours, str(r["from_became"]), _from_text(r)),
            _swatch(colours, str(r["to_territory"])),
            escape(str(r["segment"])),
            num(r["potential"]),
        ]
        for r in shown.to_dict("records")
    ]
    out.append(_table(["account", "name", "from", "to", "segment", "potential"], rows, numeric={5}))
    out.append("</section>")
    return "".join(out)


def _flow_table(moves: pd.DataFrame, colours: dict) -> str:
    """Per territory: accounts and potential gained and lost."""
    labels = sorted(set(moves["from_became"]) | set(moves["to_territory"]))
    rows = []
    for label in labels:
        gained, lost = moves.loc[moves["to_territory"] == label], moves.loc[moves["from_became"] == label]
        rows.append(
            [
                _swatch(colours, label),
                f"{len(gained):,}",
                num(float(gained["potential"].sum())),
                f"{len(lost):,}",
                num(float(lost["potential"].sum())),
            ]
        )
    headings = ["new territory", "accounts in", "potential in", "accounts out", "potential out"]
    return "<h3>Moves by territory</h3>" + _table(headings, rows, numeric={1, 2, 3, 4})


def _from_text(move: dict) -> str:
    """The current territory, and the new territory it became when the labels differ."""
    if move["from_became"] == move["from_territory"]:
        return str(move["from_territory"])
    return f"{move['from_territory']} (now {move['from_became']})"


def _swatch(colours: dict, label: str, text: str | None = None) -> str:
    colour = colours.get(label)
    shown = escape(text if text is not None else label)
    if colour is None:
        return shown
    return f'<span class="sw" style="background:{colour}"></span>{shown}'


def _with_map(article: str, svg: str | None) -> str:
    """The territory's own map (zoomed, neighbours faded, targets numbered by rank) under the plan's heading and rep
    line, where a reader looks first; left as it is when the plan already shows it (`Plan.map_html`)."""
    if not svg or svg in article:
        return article
    figure = (
        '<figure class="territory-map"><figcaption>The territory (neighbours faded); circled numbers are its '
        "target accounts by rank</figcaption>" + svg + "</figure>"
    )
    at = article.find("</h3>")
    if at < 0:
        return article.removesuffix("</article>") + figure + "</article>"
    at += len("</h3>")
    if article.startswith("<p>", at):  # the rep line
        at = article.index("</p>", at) + len("</p>")
    return article[:at] + figure + article[at:]


# -- balance chart ----------------------------------------------------------------------------------------------


def _balance_chart(territories: pd.DataFrame, balance: Mapping[str, Any], colours: dict) -> str:
    """The balance chart and its legend line."""
    metric = str(balance.get("metric", "potential"))
    low, high = balance.get("band_low_index"), balance.get("band_high_index")
    digits = index_decimals(balance)
    legend = f"bars: {escape(metric)} index"
    if "workload_index" in territories:
        legend += "; ◇ workload index"
    if low is not None and high is not None:
        legend += f"; band {float(low):.{digits}f}–{float(high):.{digits}f}"
    return balance_chart_svg(territories, balance, colours) + f'<p class="note">{legend}</p>'


def balance_chart_svg(territories: pd.DataFrame, balance: Mapping[str, Any], colours: dict) -> str:
    """Each territory's index as a bar (and its workload index as a diamond) against the band: one SVG."""
    metric = str(balance.get("metric", "potential"))
    column = f"{metric}_index" if f"{metric}_index" in territories else "potential_index"
    values = territories[column].to_numpy(dtype=float)
    workload = territories["workload_index"].to_numpy(dtype=float) if "workload_index" in territories else None
    low, high = balance.get("band_low_index"), balance.get("band_high_index")
    digits = index_decimals(balance)
    span = [100.0, *values]
    if low is not None and high is not None:
        span += [float(low), float(high)]
    if workload is not None:
        span += list(workload)
    lo, hi = min(span), max(span)
    pad = max((hi - lo) * 0.08, 1.0)
    lo, hi = math.floor(lo - pad), math.ceil(hi + pad)
    # Rows shrink with many territories so up to ~40 fit beside the map at 1366x768.
    row_h, left, right, top = max(12.0, min(20.0, 560.0 / max(len(values), 1))), 46.0, 54.0, 22.0
    width = 480.0
    plot = width - left - right
    height = top + row_h * len(values) + 28

    def x(v: float) -> float:
        return left + (v - lo) / (hi - lo) * plot

    out = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_f(width)} {_f(height)}" '
        f'role="img" aria-label="balance chart" font-size="11">'
    ]
    bottom = top + row_h * len(values)
    if low is not None and high is not None:
        out.append(
            f'<rect class="band" x="{_f(x(float(low)))}" y="{_f(top - 4)}" '
            f'width="{_f(x(float(high)) - x(float(low)))}" height="{_f(bottom - top + 8)}" fill="#e4e9f2"/>'
        )
    for tick in _ticks(lo, hi):
        out.append(
            f'<line x1="{_f(x(tick))}" x2="{_f(x(tick))}" y1="{_f(top - 4)}" y2="{_f(bottom + 4)}" '
            f'stroke="#d8dce3" stroke-width="0.6"/><text x="{_f(x(tick))}" y="{_f(bottom + 16)}" '
            f'text-anchor="middle" fill="#5a6275">{tick:g}</text>'
        )
    for i, (label, value) in enumerate(zip(territories["territory"].astype(str), values, strict=True)):
        y = top + i * row_h
        mid = y + row_h / 2
        x0, x1 = sorted((x(100.0), x(value)))
        out.append(
            f'<text x="{_f(left - 6)}" y="{_f(mid + 4)}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{_f(x0)}" y="{_f(y + 0.15 * row_h)}" width="{_f(max(x1 - x0, 1.0))}" height="{_f(0.7 * row_h)}" '
            f'fill="{colours[label]}"><title>{escape(label)}: {metric} index {value:.{digits}f}</title></rect>'
            f'<text x="{_f(width - right + 6)}" y="{_f(mid + 4)}">{value:.{digits}f}</text>'
        )
        if workload is not None:
            wx, d = x(float(workload[i])), 0.3 * row_h
            out.append(
                f'<path d="M{_f(wx)} {_f(mid - d)}L{_f(wx + d * 0.66)} {_f(mid)}L{_f(wx)} {_f(mid + d)}'
                f'L{_f(wx - d * 0.66)} {_f(mid)}Z" fill="#fff" stroke="#1d2433" stroke-width="1">'
                f"<title>{escape(label)}: workload index {workload[i]:.1f}</title></path>"
            )
    out.append(
        f'<line x1="{_f(x(100.0))}" x2="{_f(x(100.0))}" y1="{_f(top - 8)}" y2="{_f(bottom + 4)}" '
        f'stroke="#1d2433" stroke-width="1.2"/><text x="{_f(x(100.0))}" y="{_f(top - 10)}" '
        f'text-anchor="middle">mean 100</text>'
    )
    out.append("</svg>")
    return "".join(out)


def _ticks(lo: float, hi: float) -> list[float]:
    span = hi - lo
    step = next(s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 500, 1000, 1e9) if span / s <= 8)
    first = math.ceil(lo / step) * step
    return [float(v) for v in np.arange(first, hi + 1e-9, step)]


# -- tables -----------------------------------------------------------------------------------------------------


def _table(headings: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th{' class=n' if i in numeric else ''}>{escape(h)}</th>" for i, h in enumerate(headings))
    body = "".join(
        "<tr>" + "".join(f"<td{' class=n' if i in numeric else ''}>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _territory_table(territories: pd.DataFrame, colours: dict, plans: list[Plan], digits: int) -> str:
    by_label = {p.territory: p for p in plans}
    has_reps = any(p.rep is not None for p in plans)
    has_target = any(p.target is not None for p in plans)
    groups = [c for c in ("district", "region") if c in territories]
    headings = ["territory", *groups] + (["rep"] if has_reps else [])
    headings += ["accounts", "potential", "potential index", "workload h", "workload index", "mean km", "max km"]
    headings += ["in band"] + (["target"] if has_target else [])
    rows = []
    for r in territories.to_dict("records"):
        label = str(r["territory"])
        plan = by_label.get(label)
        row = [f'<a href="#plan-{escape(label)}">{_swatch(colours, label)}</a>']
        row += [escape("" if pd.isna(r[c]) else str(r[c])) for c in groups]
        if has_reps:
            row.append(escape(rep_text(plan.rep).removeprefix("Rep: ")) if plan is not None and plan.rep else "")
        row += [
            f"{int(r['accounts']):,}",
            num(r["potential"]),
            num(r["potential_index"], digits),
            num(r["workload_hours"]),
            num(r["workload_index"], digits),
            num(r["mean_distance_km"]),
            num(r["max_distance_km"]),
            "yes" if bool(r["in_band"]) else '<span class="bad">no</span>',
        ]
        if has_target:
            row.append(num(plan.target, 0) if plan is not None else "")
        rows.append(row)
    first_numeric = 1 + len(groups) + (1 if has_reps else 0)
    numeric = set(range(first_numeric, first_numeric + 7)) | ({first_numeric + 8} if has_target else set())
    return '<section id="territories"><h2>Territories</h2>' + _table(headings, rows, numeric) + "</section>"


def _plan_html(plan: Plan) -> str:
    """The plan's sections (`plans.sections`, as in the Markdown plan), every text escaped."""
    label = escape(plan.territory)
    out = [f'<article class="plan" id="plan-{label}" style="--c:{plan.colour}">']
    out.append(f'<h3><span class="sw" style="background:{plan.colour}"></span>Territory plan: {label}</h3>')
    if plan.rep is not None:
        out.append(f"<p>{escape(rep_text(plan.rep))}</p>")
    for section in plan_sections(plan):
        out.append(f"<h4>{escape(section.title)}</h4>")
        if section.lead:
            before, strong, after = (escape(t) for t in section.lead)
            out.append(f"<p>{before}<strong>{strong}</strong>{after}</p>" if strong else f"<p>{before}</p>")
        if section.lines:
            out.append("<ul>" + "".join(f"<li>{escape(line)}</li>" for line in section.lines) + "</ul>")
        for caption, headings, rows in section.tables:
            if caption:
                out.append(f'<p class="note">{escape(caption)}</p>')
            numeric = {i for i in range(len(headings)) if rows and all(_NUMERIC.match(r[i]) for r in rows)}
            out.append(_table(headings, [[escape(c) for c in r] for r in rows], numeric))
    out.append("</article>")
    return "".join(out)


#: A cell shown right-aligned: a number, a percentage or an empty cell.
_NUMERIC = re.compile(r"^(-?[\d,]+(\.\d+)?( %)?)?$")
