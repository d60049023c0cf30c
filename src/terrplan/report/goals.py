"""Goals in whole units that add up exactly, and the plan's calendar.

The national goal is split into whole units by largest remainder (Hamilton's method): each part gets the whole part
of its quota, and the units left over go to the largest fractions (the first part on a tie), so the parts always add
up to the whole. The same split takes a territory's goal to its segments, a segment's to its quarters, and the
calls and activities of a segment to its quarters.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def largest_remainder(total: int, weights: Sequence[float]) -> list[int]:
    """`total` whole units shared in proportion to `weights` (equally when they add up to 0); sums to `total`."""
    w = np.asarray(weights, dtype=np.float64)
    if len(w) == 0:
        return []
    if not (w > 0).any():
        w = np.ones(len(w))
    w = np.where(w > 0, w, 0.0)
    quota = total * w / w.sum()
    base = np.floor(quota + 1e-9).astype(np.int64)  # a quota of 2.9999999999 is 3, not 2 and a remainder
    left = int(total - base.sum())
    order = np.lexsort((np.arange(len(w)), -(quota - base)))  # largest fraction first, then the first part
    base[order[:left]] += 1
    return [int(v) for v in base]


@dataclass(frozen=True)
class Quarter:
    label: str  # Q1..Q4
    start: datetime.date | None  # None when the plan is undated (no plans.year or plans.start)
    end: datetime.date | None
    review: datetime.date | None  # the quarter's review: its end + plans.review_days

    def when(self, what: str = "end") -> str:
        """A date as YYYY-MM-DD, or the quarter's own words when the plan is undated."""
        value = getattr(self, what)
        if value is not None:
            return value.isoformat()
        return {"start": f"start of {self.label}", "end": f"end of {self.label}"}.get(what, f"{self.label} review")


def calendar(year: int | None, start: str | None, review_days: int) -> tuple[int | None, list[Quarter]]:
    """The plan year and its four quarters from `plans.start` (else January 1 of `plans.year`)."""
    first = datetime.date.fromisoformat(start) if start else (datetime.date(year, 1, 1) if year else None)
    if year is None and first is not None:
        year = first.year
    quarters = []
    for i in range(4):
        if first is None:
            quarters.append(Quarter(f"Q{i + 1}", None, None, None))
            continue
        begin, end = add_months(first, 3 * i), add_months(first, 3 * (i + 1)) - datetime.timedelta(days=1)
        quarters.append(Quarter(f"Q{i + 1}", begin, end, end + datetime.timedelta(days=review_days)))
    return year, quarters


def add_months(day: datetime.date, months: int) -> datetime.date:
    """The same day `months` later, at the month's last day where it is shorter (Jan 31 + 1 month: Feb 28)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    following = datetime.date(year + (month == 12), month % 12 + 1, 1)
    last = (following - datetime.timedelta(days=1)).day
    return datetime.date(year, month, min(day.day, last))
