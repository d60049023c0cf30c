"""Map labels that never overlap: greedy placement over candidate spots, with a leader line when a label had to move.

Text boxes are estimated from Arial's advance widths (rounded up, the fonts a browser substitutes are no wider), so
a placed box holds the rendered text; the browser test measures the real boxes with getBBox.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from terrplan.report.svgtext import escape

FONT = "Arial, Helvetica, sans-serif"
Box = tuple[float, float, float, float]  # x0, y0, x1, y1

# Arial advance widths in em, bold (regular is at most these): digits and most lowercase 0.556-0.611.
_NARROW = set("ijlI.,:;'!|() -")
_WIDE = set("mwMW@")


def text_width(text: str, size: float, bold: bool = False) -> float:
    """An upper estimate of the rendered width of `text` in Arial (or a metric-compatible font) at `size` px."""
    em = 0.0
    for char in text:
        if char in _NARROW:
            em += 0.34
        elif char in _WIDE:
            em += 0.95
        elif char.isupper():
            em += 0.78 if bold else 0.73
        else:
            em += 0.62 if bold else 0.57
    return em * size


def f(value: float) -> str:
    """A coordinate with one decimal (no "-0.0"), as all the report's SVG writes them."""
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


@dataclass
class Placer:
    """Places labels one at a time where they overlap nothing placed or reserved before them."""

    boxes: list[Box] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    leaders: list[str] = field(default_factory=list)

    def reserve(self, box: Box) -> None:
        self.boxes.append(box)

    def free(self, box: Box, within: Box) -> bool:
        if box[0] < within[0] or box[1] < within[1] or box[2] > within[2] or box[3] > within[3]:
            return False
        return not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in self.boxes)

    def place(
        self,
        text: str,
        anchor: tuple[float, float],
        within: Box,
        *,
        size: float = 12.0,
        bold: bool = True,
        gap: float = 0.0,
        reach: float = 240.0,
        css: str = "label",
        data: str = "",
        colour: str = "#1d2433",
    ) -> bool:
        """Put `text` centred on `anchor` if free, else at the nearest free spot on rings around it (with a leader
        line back to the anchor); `gap` first tries the four sides of a marker of that half-width. False if no spot
        within `reach` px is free."""
        width, height = text_width(text, size, bold) + 4.0, size * 1.2
        x, y = anchor
        for cx, cy in _candidates(x, y, width, height, gap, reach):
            box = (cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2)
            if not self.free(box, within):
                continue
            self.boxes.append(box)
            inside = box[0] <= x <= box[2] and box[1] <= y <= box[3]
            if not inside and math.hypot(cx - x, cy - y) > gap + max(width, height) / 2 + 2:
                ex, ey = min(max(x, box[0]), box[2]), min(max(y, box[1]), box[3])
                self.leaders.append(f'<path d="M{f(x)} {f(y)}L{f(ex)} {f(ey)}"/>')
            weight = ' font-weight="700"' if bold else ""
            attrs = f'x="{f(cx)}" y="{f(cy + size * 0.35)}" font-size="{size:g}"{weight}'
            self.texts.append(
                f'<g class="{css}"{data}><text {attrs} fill="none" stroke="#fff" stroke-width="3" '
                f'stroke-linejoin="round">{escape(text)}</text><text {attrs} fill="{colour}">{escape(text)}</text></g>'
            )
            return True
        return False

    def svg(self) -> str:
        """Leader lines under the labels."""
        return (
            '<g class="leaders" fill="none" stroke="#5a6275" stroke-width="0.8">'
            + "".join(self.leaders)
            + f'</g><g class="labels" font-family="{FONT}" text-anchor="middle">'
            + "".join(self.texts)
            + "</g>"
        )


def _candidates(x: float, y: float, width: float, height: float, gap: float, reach: float):
    if gap > 0:  # beside a marker: right, left, above, below
        yield x + gap + width / 2 + 1, y
        yield x - gap - width / 2 - 1, y
        yield x, y - gap - height / 2 - 1
        yield x, y + gap + height / 2 + 1
    else:
        yield x, y
    step = max(height, 10.0)
    radius = step
    while radius <= reach:
        count = max(8, int(2 * math.pi * radius / step))
        for k in range(count):
            angle = 2 * math.pi * k / count
            yield x + radius * math.cos(angle) * 1.6, y + radius * math.sin(angle)
        radius += step
