"""A qualitative palette that stays distinguishable for up to 50 territories.

The first nine are Tableau 10 (minus its grey); the rest were chosen greedily, each the sRGB colour (grid step 17)
farthest in CIELAB from all chosen so far, among colours with 30 < L* < 82 and chroma > 30. The smallest pairwise
distance is ΔE ≈ 23. The list is fixed here, not computed at run time, so outputs repeat byte for byte everywhere.
Beyond 50 territories the colours repeat.
"""

from __future__ import annotations

PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#0000ff",
    "#ff22ff", "#115533", "#0055ee", "#aacc99", "#ffbb88", "#ff0077", "#886600", "#00dd00", "#8800aa", "#00ddaa",
    "#881155", "#ff22bb", "#bbbbff", "#ff7788", "#0088ff", "#ffbb00", "#dd77ff", "#883300", "#446600", "#99dd00",
    "#9933ff", "#114499", "#99dd77", "#992233", "#ff0000", "#eeaacc", "#339966", "#dd7744", "#bbaa55", "#00bbff",
    "#00dd77", "#aa0088", "#aa6688", "#dd9933", "#555522", "#664477", "#6644bb", "#dd4488", "#0022dd", "#77aa00",
)  # fmt: skip

#: How much of the territory colour a polygon fill keeps over white (fills are opaque tints, so prints match).
TINT = 0.35


def colours(territories: list[str]) -> dict[str, str]:
    """Territory label -> colour, in the given (sorted) order."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(territories)}


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def tint(colour: str, amount: float = TINT) -> str:
    """The colour mixed with white: `amount` of the colour, the rest white."""
    return "#{:02x}{:02x}{:02x}".format(*(round(255 - amount * (255 - c)) for c in rgb(colour)))
