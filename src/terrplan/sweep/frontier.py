"""frontier.html: the sweep's trade-offs on one self-contained page (inline SVG and CSS, no scripts).

Three charts share the travel axis or K: travel against disruption (moved potential share), travel against balance
(potential spread), and K against travel. Each scenario is a dot coloured by its K; the Pareto-optimal ones are large
dots with a dark ring, each a link to its own report. Below: the frontier and every scenario, failed ones with their
exit code and message.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape

import pandas as pd

from terrplan.report.palette import PALETTE
from terrplan.sweep.grid import Axis

WIDTH, HEIGHT = 420.0, 300.0
LEFT, RIGHT, TOP, BOTTOM = 64.0, 30.0, 14.0, 42.0  # room for the last tick's label on the right
PARETO_RING = "#1d2433"

CSS = """
*{box-sizing:border-box}
body{margin:0;padding:8px 16px 24px;font:13px/1.35 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:#1d2433;background:#fff}
h1{font-size:18px;margin:4px 0 8px}h2{font-size:15px;margin:16px 0 6px}
.charts{display:flex;flex-wrap:wrap;gap:12px}
svg.chart{width:420px;height:300px;border:1px solid #d8dce3;background:#fbfbfc}
svg text{font-size:11px;fill:#3a4254}
.legend span{display:inline-block;margin-right:12px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:4px;vertical-align:-1px}
table{border-collapse:collapse;margin-top:4px}
th,td{border-bottom:1px solid #e4e7ec;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f3f5f8}td.text,th.text{text-align:left;white-space:normal;max-width:420px}
tr.pareto td{font-weight:600}
a{color:#2357a4}
"""


def frontier_page(table: pd.DataFrame, axes: list[Axis], reports: dict[str, str], title: str) -> str:
    """The page; `reports`: scenario -> its report's path relative to the page (the sweep folder)."""
    ks = sorted({int(k) for k in table["k"].dropna()})
    colour = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(ks)}
    done = table.loc[(table["exit_code"] == 0) & table["travel"].notna()]
    charts = []
    if done["moved_potential_share"].notna().any():
        charts.append(_chart(done, "travel", "moved_potential_share", "travel (weighted km)", "moved potential",
                             colour, reports, y_format=lambda v: f"{v:.0%}"))  # fmt: skip
    charts.append(_chart(done, "travel", "potential_spread", "travel (weighted km)", "potential index spread",
                         colour, reports))  # fmt: skip
    charts.append(_chart(done, "k", "travel", "territories (K)", "travel (weighted km)", colour, reports))
    legend = "".join(f'<span><i style="background:{colour[k]}"></i>K = {k}</span>' for k in ks)
    failed = len(table) - len(done)
    counts = f"{len(table)} scenarios, {int(table['pareto'].sum())} Pareto-optimal" + (
        f", {failed} without a result" if failed else ""
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{CSS}</style></head><body>\n<h1>{escape(title)}</h1>\n<p>{counts}. Large ringed dots are "
        "Pareto-optimal (no other scenario has fewer territories, less travel, less disruption and a tighter "
        "balance all at once); each links to its report.</p>\n"
        f'<p class="legend">{legend}</p>\n<div class="charts">{"".join(charts)}</div>\n'
        f"<h2>Pareto-optimal scenarios</h2>\n{_table(table.loc[table['pareto']], axes, reports)}\n"
        f"<h2>All scenarios</h2>\n{_table(table, axes, reports)}\n</body></html>\n"
    )


def _chart(
    rows: pd.DataFrame,
    x: str,
    y: str,
    x_label: str,
    y_label: str,
    colour: dict[int, str],
    reports: dict[str, str],
    y_format: Callable[[float], str] | None = None,
) -> str:
    rows = rows.loc[rows[x].notna() & rows[y].notna()]
    xs, ys = rows[x].astype(float).tolist(), rows[y].astype(float).tolist()
    x_ticks, y_ticks = _ticks(xs, whole=x == "k"), _ticks(ys)
    sx = _scale(x_ticks, LEFT, WIDTH - RIGHT)
    sy = _scale(y_ticks, HEIGHT - BOTTOM, TOP)
    fmt = y_format or _number
    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH:g} {HEIGHT:g}" role="img" '
           f'aria-label="{escape(y_label)} against {escape(x_label)}">']  # fmt: skip
    out.append('<g stroke="#e4e7ec">')
    out += [f'<line x1="{LEFT:g}" x2="{WIDTH - RIGHT:g}" y1="{sy(t):.1f}" y2="{sy(t):.1f}"/>' for t in y_ticks]
    out.append("</g>")
    out += [f'<text x="{LEFT - 6:g}" y="{sy(t) + 4:.1f}" text-anchor="end">{fmt(t)}</text>' for t in y_ticks]
    out += [f'<text x="{sx(t):.1f}" y="{HEIGHT - BOTTOM + 16:g}" text-anchor="middle">{_number(t)}</text>'
            for t in x_ticks]  # fmt: skip
    out.append(
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2:g}" y="{HEIGHT - 8:g}" text-anchor="middle">{escape(x_label)}</text>'
    )
    out.append(f'<text transform="translate(14 {(TOP + HEIGHT - BOTTOM) / 2:g}) rotate(-90)" text-anchor="middle">'
               f"{escape(y_label)}</text>")  # fmt: skip
    # Pareto points last, so they are drawn over the others.
    ordered = sorted(zip(rows.itertuples(index=False), xs, ys, strict=True), key=lambda item: bool(item[0].pareto))
    for row, vx, vy in ordered:
        fill = colour.get(int(row.k), "#9aa1ad")
        tip = f"<title>{escape(str(row.scenario))}: K {int(row.k)}, travel {_number(row.travel)}</title>"
        if row.pareto:
            dot = (f'<circle class="pareto" cx="{sx(vx):.1f}" cy="{sy(vy):.1f}" r="7" fill="{fill}" '
                   f'stroke="{PARETO_RING}" stroke-width="2.5">{tip}</circle>')  # fmt: skip
            href = reports.get(str(row.scenario))
            out.append(f'<a class="pareto" href="{escape(href)}">{dot}</a>' if href else dot)
        else:
            out.append(f'<circle cx="{sx(vx):.1f}" cy="{sy(vy):.1f}" r="4" fill="{fill}" fill-opacity="0.55">{tip}'
                       "</circle>")  # fmt: skip
    out.append("</svg>")
    return "".join(out)


def _table(rows: pd.DataFrame, axes: list[Axis], reports: dict[str, str]) -> str:
    names = [axis.key for axis in axes]
    head = ["scenario", *names, "K", "travel", "moved", "spread", "gap", "status", "exit", "message"]
    lines = ["<table><tr>" + "".join(f'<th class="{_cls(h)}">{escape(h)}</th>' for h in head) + "</tr>"]
    for row in rows.to_dict("records"):  # records: the grid's dotted keys are not attribute names
        href = reports.get(str(row["scenario"]))
        name = f'<a href="{escape(href)}">{row["scenario"]}</a>' if href else escape(str(row["scenario"]))
        cells = [name, *(escape(_value(row[key])) for key in names)]
        cells += [escape(_value(row["k"])), escape(_number(row["travel"]))]
        cells += [escape(_percent(row["moved_potential_share"])), escape(_value(row["potential_spread"]))]
        cells.append(escape(_percent(row["gap"], 2)))
        cells += [escape(_value(row[key])) for key in ("status", "exit_code", "message")]
        css = ' class="pareto"' if row["pareto"] else ""
        lines.append(f"<tr{css}>" + "".join(f'<td class="{_cls(h)}">{c}</td>' for h, c in zip(head, cells, strict=True))
                     + "</tr>")  # fmt: skip
    lines.append("</table>")
    return "".join(lines)


def _cls(header: str) -> str:
    return "text" if header in ("scenario", "status", "message") else "num"


def _value(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _percent(value: object, decimals: int = 1) -> str:
    text = _value(value)
    return f"{float(text):.{decimals}%}" if text else ""


def _number(value: object) -> str:
    """A figure for an axis or a tooltip: thousands separated, few decimals."""
    text = _value(value)
    if not text:
        return ""
    number = float(text)
    if abs(number) >= 1000:
        return f"{number:,.0f}"
    return f"{number:.3g}"


def _ticks(values: list[float], count: int = 5, whole: bool = False) -> list[float]:
    """Round tick values covering `values` (one value: a small range around it); `whole`: steps of 1 or more (K)."""
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high - low < 1e-12:
        pad = abs(low) * 0.05 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / (count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if whole:
        step = max(1.0, math.ceil(step))
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9 or len(ticks) < 2:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 12))
    return ticks


def _scale(ticks: list[float], start: float, end: float) -> Callable[[float], float]:
    low, high = ticks[0], ticks[-1]
    return lambda v: start + (v - low) / (high - low) * (end - start)
