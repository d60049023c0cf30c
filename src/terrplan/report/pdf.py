"""report.pdf: a deck a sales VP forwards. Cover (headline figures, the national map, the balance chart), one page per
district (its territories zoomed, a table), one page per territory (its map with the targets numbered, figures, the
target list).

Drawn with fpdf2 (pure Python, from PyPI, no browser) from the same SVG maps as report.html. The creation date is
fixed (2000-01-01, not the clock) and the file ID is a hash of the content, so the same inputs give the same bytes.
fpdf2's core fonts cover Latin-1 only: other characters in names are written as their closest Latin-1 letters (else
"?").
"""

from __future__ import annotations

import io
import logging
import math
import re
import unicodedata
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd

from terrplan.report.html import balance_chart_svg
from terrplan.report.maps import MapData, focus_map, overview_map
from terrplan.report.palette import rgb
from terrplan.report.plans import Plan, num, pct, rep_text, target_rows

if TYPE_CHECKING:
    from fpdf import FPDF

    from terrplan.summary import RunSummary

FIXED_DATE = datetime(2000, 1, 1, tzinfo=UTC)
PAGE_W, PAGE_H, MARGIN = 792.0, 612.0, 28.0  # US letter, landscape, in points
TARGETS_SHOWN = 12
_CIRCLE = re.compile(
    r'<circle cx="(?P<cx>[-\d.]+)" cy="(?P<cy>[-\d.]+)" r="(?P<r>[\d.]+)" fill="(?P<fill>[^"]+)"\s*/?>(</circle>)?'
)
_DOTS = re.compile(r'(<g class="accounts"[^>]*>)(.*?)(</g>)', re.S)


def pdf_bytes(
    data: MapData,
    territories: pd.DataFrame,
    summary: RunSummary,
    plans: list[Plan],
    territory_maps: dict[str, str],
) -> bytes:
    """The deck: 1 cover + one page per district (when the territories have a district column) + one per plan."""
    from fpdf import FPDF  # ~1 s to import: only when a deck is asked for

    pdf = FPDF(orientation="L", unit="pt", format="letter")
    pdf.set_creation_date(FIXED_DATE)  # not the clock: the same inputs give the same bytes (the ID hashes them)
    pdf.set_producer("terrplan")
    pdf.set_title("Territory alignment")
    pdf.set_auto_page_break(False)
    pdf.set_margins(MARGIN, MARGIN)
    _cover(pdf, data, territories, summary)
    if "district" in territories:
        for district, group in territories.groupby(territories["district"].astype(str), sort=True):
            _district(pdf, data, district, group)
    for plan in plans:
        _territory(pdf, plan, territories, territory_maps.get(plan.territory))
    return bytes(pdf.output())


def _cover(pdf: FPDF, data: MapData, territories: pd.DataFrame, summary: RunSummary) -> None:
    pdf.add_page()
    _title(pdf, "Territory alignment")
    balance = summary.bands.primary
    gap = summary.gap
    figures = [
        f"{len(data.accounts):,} accounts",
        f"{len(territories):,} territories",
        f"status {summary.status}",
        f"gap {pct(gap, 2)}" if gap is not None else "gap n/a",
    ]
    if balance:
        low, high = num(balance.get("min_index")), num(balance.get("max_index"))
        figures.append(f"{balance.get('metric', 'potential')} index {low}-{high}")
    _line(pdf, " | ".join(figures), 10)
    top = pdf.get_y() + 6
    _svg(pdf, overview_map(data), MARGIN, top, 470, PAGE_H - top - MARGIN)
    chart = balance_chart_svg(territories, balance, data.colours)
    _svg(pdf, chart, MARGIN + 485, top, PAGE_W - 2 * MARGIN - 485, PAGE_H - top - MARGIN)


def _district(pdf: FPDF, data: MapData, district: str, group: pd.DataFrame) -> None:
    pdf.add_page()
    labels = [str(t) for t in group["territory"]]
    region = f" (region {group['region'].astype(str).iloc[0]})" if "region" in group else ""
    _title(pdf, f"District {district}{region}")
    _line(pdf, f"{len(labels)} territories: {', '.join(labels)}", 10)
    top = pdf.get_y() + 6
    svg = focus_map(data, set(labels), f"map of district {district}", width=560, max_height=420)
    _svg(pdf, svg, MARGIN, top, 440, PAGE_H - top - MARGIN)
    rows = [
        [
            str(r["territory"]),
            f"{int(r['accounts']):,}",
            num(r["potential"]),
            num(r.get("potential_index")),
            num(r.get("workload_index")),
            "yes" if bool(r.get("in_band", True)) else "no",
        ]
        for r in group.to_dict("records")
    ]
    pdf.set_xy(MARGIN + 455, top)
    _table(pdf, ["territory", "accounts", "potential", "pot. index", "work. index", "in band"], rows, 281)


def _territory(pdf: FPDF, plan: Plan, territories: pd.DataFrame, svg: str | None) -> None:
    pdf.add_page()
    pdf.set_fill_color(*rgb(plan.colour))
    pdf.rect(MARGIN, MARGIN, 10, 18, style="F")
    pdf.set_fill_color(255, 255, 255)
    pdf.set_x(MARGIN + 14)
    _title(pdf, f"Territory {plan.territory}")
    row = territories.loc[territories["territory"].astype(str) == plan.territory]
    facts = [rep_text(plan.rep) if plan.rep is not None else "Rep: none given"]
    facts.append(f"{len(plan.accounts):,} accounts; potential {num(plan.potential)} ({pct(plan.share)} of total)")
    if len(row):
        r = row.iloc[0]
        facts.append(
            f"potential index {num(r.get('potential_index'))}; workload {num(plan.workload_hours)} h/year "
            f"(index {num(r.get('workload_index'))})"
        )
    facts.append(f"distance from the centre: mean {num(plan.mean_distance_km)} km, max {num(plan.max_distance_km)} km")
    if plan.target is not None:
        facts.append(f"target: {num(plan.target, 0)} {plan.goal_unit}")
    top = pdf.get_y() + 4
    if svg:
        _svg(pdf, svg, MARGIN, top, 430, PAGE_H - top - MARGIN)
    pdf.set_xy(MARGIN + 445, top)
    for fact in facts:
        pdf.set_x(MARGIN + 445)
        pdf.set_font("helvetica", size=9)
        pdf.multi_cell(PAGE_W - 2 * MARGIN - 445, 11, _latin(fact), new_x="LMARGIN", new_y="NEXT")
    headings, rows = target_rows(plan)
    keep = [i for i, h in enumerate(headings) if h in {"#", "account", "name", "segment", "potential"}]
    pdf.set_xy(MARGIN + 445, pdf.get_y() + 6)
    pdf.set_font("helvetica", style="B", size=9)
    pdf.cell(0, 12, f"Target accounts (numbered on the map, top {min(len(rows), TARGETS_SHOWN)})")
    pdf.set_xy(MARGIN + 445, pdf.get_y() + 14)
    widths = {"#": 16, "account": 50, "name": 142, "segment": 42, "potential": 52}
    columns = [headings[i] for i in keep]
    table_rows = [[r[i] for i in keep] for r in rows[:TARGETS_SHOWN]]
    _table(pdf, columns, table_rows, 291, tuple(widths.get(c, 40) for c in columns))


# -- drawing helpers ----------------------------------------------------------------------------------------------


def _title(pdf: FPDF, text: str) -> None:
    pdf.set_font("helvetica", style="B", size=18)
    pdf.set_text_color(29, 36, 51)
    pdf.cell(0, 22, _latin(text), new_x="LMARGIN", new_y="NEXT")


def _line(pdf: FPDF, text: str, size: float) -> None:
    pdf.set_font("helvetica", size=size)
    pdf.set_text_color(90, 98, 117)
    pdf.multi_cell(0, size * 1.3, _latin(text), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(29, 36, 51)


def _table(
    pdf: FPDF, headings: list[str], rows: list[list[str]], width: float, widths: tuple[float, ...] | None = None
) -> None:
    from fpdf.fonts import FontFace

    pdf.set_font("helvetica", size=7.5)
    x = pdf.get_x()
    pdf.set_left_margin(x)
    with pdf.table(
        width=width,
        align="LEFT",
        line_height=10,
        headings_style=FontFace(emphasis="BOLD", fill_color=(242, 244, 247)),
        borders_layout="HORIZONTAL_LINES",
        col_widths=widths,
    ) as table:
        for line in [headings, *rows]:
            cells = table.row()
            for value in line:
                cells.cell(_latin(str(value)))
    pdf.set_left_margin(MARGIN)


def _svg(pdf: FPDF, svg: str, x: float, y: float, width: float, height: float) -> None:
    """An SVG fitted into the box, keeping its aspect; dots merged into one path per colour (fpdf2 draws a circle
    as four arcs: thousands of them take seconds, one path each colour takes milliseconds)."""
    svg = re.sub(r"<title>.*?</title>", "", svg, flags=re.S)
    svg = _DOTS.sub(lambda m: '<g class="accounts">' + _merged_dots(m[2]) + m[3], svg)  # no rim: it swamps print
    svg = _latin(svg)
    size = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg)
    w, h = (float(size[1]), float(size[2])) if size else (width, height)
    scale = min(width / w, height / h)
    logger = logging.getLogger("fpdf.svg")  # it warns of SVG features it skips (none the maps need)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        pdf.image(io.BytesIO(svg.encode("latin-1")), x=x, y=y, w=w * scale, h=h * scale)
    finally:
        logger.setLevel(level)


def _merged_dots(group: str) -> str:
    by_fill: dict[str, list[str]] = {}
    for m in _CIRCLE.finditer(group):
        cx, cy, r = float(m["cx"]), float(m["cy"]), float(m["r"])
        points = [(cx + r * math.cos(math.pi * k / 4), cy + r * math.sin(math.pi * k / 4)) for k in range(8)]
        by_fill.setdefault(m["fill"], []).append("M" + "L".join(f"{px:.1f} {py:.1f}" for px, py in points) + "Z")
    return "".join(f'<path fill="{fill}" d="{"".join(paths)}"/>' for fill, paths in sorted(by_fill.items()))


#: Letters without a decomposition, and punctuation, spelled in Latin-1.
_SPELLED = {"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "ı": "i", "Œ": "OE", "œ": "oe"}
_SPELLED |= {"–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "•": "*", "■": "#", "…": "..."}


def _latin(text: str) -> str:
    """Text the core fonts can draw: Latin-1 kept, accents elsewhere dropped, anything else '?'."""
    if all(ord(c) < 256 for c in text):
        return text
    out = []
    for char in text:
        if ord(char) < 256:
            out.append(char)
            continue
        base = unicodedata.normalize("NFKD", char).encode("latin-1", "ignore").decode("latin-1")
        out.append(base or _SPELLED.get(char, "?"))
    return "".join(out)
