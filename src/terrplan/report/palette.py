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


def colours(territories: list[str], neighbours: dict[str, set[str]] | None = None) -> dict[str, str]:
    """Territory label -> colour. Without `neighbours`, in the given (sorted) order. With them (territories whose
    shapes share a border), a greedy graph colouring over the first len(territories) palette colours: territories
    in order of most neighbours first (then label), each taking the unused colour farthest in CIELAB from its
    coloured neighbours' (ties: the earlier palette colour). Deterministic; every territory keeps its own colour."""
    if not neighbours:
        return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(territories)}
    pool = [PALETTE[i % len(PALETTE)] for i in range(len(territories))]
    lab = {colour: _lab(colour) for colour in pool}
    order = sorted(territories, key=lambda name: (-len(neighbours.get(name, ())), name))
    chosen: dict[str, str] = {}
    free = list(dict.fromkeys(pool))  # repeated colours (over 50 territories) are offered once, then reused
    for name in order:
        near = [lab[chosen[other]] for other in sorted(neighbours.get(name, ())) if other in chosen]
        options = free or list(dict.fromkeys(pool))
        best = max(options, key=lambda c: (min((_delta(lab[c], n) for n in near), default=0.0), -pool.index(c)))
        chosen[name] = best
        if best in free:
            free.remove(best)
    return {name: chosen[name] for name in territories}


def _lab(colour: str) -> tuple[float, float, float]:
    """sRGB hex -> CIELAB (D65)."""

    def linear(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb(colour))
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    fx, fy, fz = f(x), f(y), f(z)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def _delta(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    return sum((p - q) ** 2 for p, q in zip(a, b, strict=True)) ** 0.5


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def tint(colour: str, amount: float = TINT) -> str:
    """The colour mixed with white: `amount` of the colour, the rest white."""
    return "#{:02x}{:02x}{:02x}".format(*(round(255 - amount * (255 - c)) for c in rgb(colour)))
