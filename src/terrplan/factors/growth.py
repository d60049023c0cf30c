"""Growth: the trend of potential over several years of volumes, and its forecast for the plan year.

The estimator, the same for an account, a ZIP, a territory and the nation: for every pair of years (a, b), the
annualised rate (S_b / S_a) ^ (1 / (b - a)) - 1, where S sums the group's accounts present in BOTH years (CMS
suppresses cells under 11 beneficiaries, so an account absent in a year is unknown there, not zero, and one
entering or leaving the file does not read as growth); the trend is the median of those rates (one dip year, like
2020, moves the median little: of 2018-2020, 2018-2021 and 2020-2021 the middle one wins).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from terrplan.config import Growth

#: Column prefix of each year's potential in assignments.csv (potential_2018, ...): blank where the account has
#: no volume row that year.
YEAR_PREFIX = "potential_"


def group_rates(matrix: np.ndarray, years: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Trend per group (module notes); NaN for a group with no pair of years where it has positive sums.

    `matrix` is accounts x years with NaN where an account has no row that year; `groups` the group of each
    account (0..n_groups-1)."""
    rates = []
    for a in range(len(years)):
        for b in range(a + 1, len(years)):
            both = ~np.isnan(matrix[:, a]) & ~np.isnan(matrix[:, b])
            first = np.bincount(groups[both], weights=matrix[both, a], minlength=n_groups)
            last = np.bincount(groups[both], weights=matrix[both, b], minlength=n_groups)
            ok = (first > 0) & (last > 0)
            rate = np.full(n_groups, np.nan)
            rate[ok] = (last[ok] / first[ok]) ** (1.0 / float(years[b] - years[a])) - 1.0
            rates.append(rate)
    if not rates:
        return np.full(n_groups, np.nan)
    stacked = np.vstack(rates)
    out = np.full(n_groups, np.nan)
    has = (~np.isnan(stacked)).any(axis=0)
    out[has] = np.nanmedian(stacked[:, has], axis=0)
    return out


def account_growth(
    matrix: np.ndarray, years: np.ndarray, zips: np.ndarray, spec: Growth, base_year: int | None = None
) -> pd.DataFrame:
    """growth_rate, growth_source, zip_growth_rate and growth_factor per account (rows of `matrix`).

    An account seen in at least `min_years` years with a rate of its own keeps it; else it takes its ZIP's, else
    the national trend (0 when even that has no pair of years). Rates are clipped to [min_rate, max_rate]; the
    factor compounds the rate from `base_year` (the potential's; default the latest) to the plan year."""
    n = len(matrix)
    own = group_rates(matrix, years, np.arange(n), n)
    zip_codes, zip_group = np.unique(zips.astype(str), return_inverse=True)
    by_zip = group_rates(matrix, years, zip_group, len(zip_codes))[zip_group]
    national = group_rates(matrix, years, np.zeros(n, dtype=np.int64), 1)[0] if n else np.nan
    national = 0.0 if np.isnan(national) else national
    seen = (~np.isnan(matrix)).sum(axis=1)
    use_own = (seen >= spec.min_years) & ~np.isnan(own)
    use_zip = ~use_own & ~np.isnan(by_zip)
    rate = np.where(use_own, own, np.where(use_zip, by_zip, national))
    rate = np.clip(rate, spec.min_rate, spec.max_rate)
    source = np.where(use_own, "account", np.where(use_zip, "zip", "national"))
    latest = base_year if base_year is not None else int(years.max()) if len(years) else None
    horizon = plan_year(years, spec) - latest if latest is not None else 1
    return pd.DataFrame(
        {
            "growth_rate": rate,
            "growth_source": source,
            "zip_growth_rate": np.clip(np.where(np.isnan(by_zip), national, by_zip), spec.min_rate, spec.max_rate),
            "growth_factor": (1.0 + rate) ** horizon,
        }
    )


def plan_year(years: np.ndarray, spec: Growth) -> int:
    """The year forecast: the config's, else the year after the latest volumes."""
    return spec.plan_year if spec.plan_year is not None else int(years.max()) + 1
