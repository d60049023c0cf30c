"""Growth: the trend of potential over several years of volumes, and its forecast for the plan year.

The estimator, the same for an account, a ZIP, a territory and the nation: for every pair of years (a, b), the
annualised rate (S_b / S_a) ^ (1 / (b - a)) - 1, where S sums the group's accounts present in BOTH years (CMS
suppresses cells under 11 beneficiaries, so an account absent in a year is unknown there, not zero, and one
entering or leaving the file does not read as growth); the trend is the median of those rates (one dip year, like
2020, moves the median little: of 2018-2020, 2018-2021 and 2020-2021 the middle one wins).

One account's years are noisy, and a good last year both raises its rate and is the base the rate compounds on:
summed over the 2,825 Mohs providers of 2021, each provider's own trend puts 2023's potential 8-11 % above 2021's
while the nation's trend is +0.2 %/yr (regression to the mean). Two measures keep the forecast honest:
- credibility: an account's rate is (p x its own + shrink x the nation's) / (p + shrink), p its pairs of years;
- the trend line: the forecast compounds from the account's trend level in the base year (the median of its
  years, each carried to the base year at its rate), not from the base year's value alone.
On the Mohs providers (min_rate -0.3, max_rate 0.3): +8.1 % with min_years 2 and shrink 0, +3.5 % with shrink 3,
+2.6 % with min_years 3 and shrink 3 (configs/cms-partb-mohs-2021-plan.yaml).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from terrplan.config import Growth

#: Column prefix of each year's potential in assignments.csv (potential_2018, ...): blank where the account has
#: no volume row that year.
YEAR_PREFIX = "potential_"


def _pair_rates(matrix: np.ndarray, years: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Annualised rate per pair of years (rows) and group (columns), NaN where the pair has no positive sums."""
    rates = [np.full(n_groups, np.nan)]
    for a in range(len(years)):
        for b in range(a + 1, len(years)):
            both = ~np.isnan(matrix[:, a]) & ~np.isnan(matrix[:, b])
            first = np.bincount(groups[both], weights=matrix[both, a], minlength=n_groups)
            last = np.bincount(groups[both], weights=matrix[both, b], minlength=n_groups)
            ok = (first > 0) & (last > 0)
            rate = np.full(n_groups, np.nan)
            rate[ok] = (last[ok] / first[ok]) ** (1.0 / float(years[b] - years[a])) - 1.0
            rates.append(rate)
    return np.vstack(rates)


def group_rates(matrix: np.ndarray, years: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Trend per group (module notes); NaN for a group with no pair of years where it has positive sums.

    `matrix` is accounts x years with NaN where an account has no row that year; `groups` the group of each
    account (0..n_groups-1)."""
    return _median(_pair_rates(matrix, years, groups, n_groups))


def _median(stacked: np.ndarray) -> np.ndarray:
    out = np.full(stacked.shape[1], np.nan)
    has = (~np.isnan(stacked)).any(axis=0)
    out[has] = np.nanmedian(stacked[:, has], axis=0)
    return out


def account_growth(
    matrix: np.ndarray, years: np.ndarray, zips: np.ndarray, spec: Growth, base_year: int | None = None
) -> pd.DataFrame:
    """growth_rate, growth_source, zip_growth_rate and growth_factor per account (rows of `matrix`).

    An account seen in at least `min_years` years with a rate of its own keeps it, weighed with the nation's by
    `shrink` (module notes); else it takes its ZIP's, else the national trend (0 when even that has no pair of
    years). Rates are clipped to [min_rate, max_rate]. growth_factor = (trend level / base value) x (1 + rate) ^
    (plan year - `base_year`), `base_year` the potential's (default the latest): potential x growth_factor is the
    account's forecast potential."""
    n = len(matrix)
    pairs = _pair_rates(matrix, years, np.arange(n), n)
    own, counted = _median(pairs), (~np.isnan(pairs)).sum(axis=0)
    zip_codes, zip_group = np.unique(zips.astype(str), return_inverse=True)
    by_zip = group_rates(matrix, years, zip_group, len(zip_codes))[zip_group]
    national = group_rates(matrix, years, np.zeros(n, dtype=np.int64), 1)[0] if n else np.nan
    national = 0.0 if np.isnan(national) else national
    seen = (~np.isnan(matrix)).sum(axis=1)
    use_own = (seen >= spec.min_years) & ~np.isnan(own)
    use_zip = ~use_own & ~np.isnan(by_zip)
    blended = (counted * np.nan_to_num(own) + spec.shrink * national) / np.maximum(counted + spec.shrink, 1e-12)
    rate = np.where(use_own, blended, np.where(use_zip, by_zip, national))
    rate = np.clip(rate, spec.min_rate, spec.max_rate)
    source = np.where(use_own, "account", np.where(use_zip, "zip", "national"))
    latest = base_year if base_year is not None else int(years.max()) if len(years) else None
    horizon = plan_year(years, spec) - latest if latest is not None else 1
    return pd.DataFrame(
        {
            "growth_rate": rate,
            "growth_source": source,
            "zip_growth_rate": np.clip(np.where(np.isnan(by_zip), national, by_zip), spec.min_rate, spec.max_rate),
            "growth_factor": _level_ratio(matrix, years, rate, latest) * (1.0 + rate) ** horizon,
        }
    )


def _level_ratio(matrix: np.ndarray, years: np.ndarray, rate: np.ndarray, base_year: int | None) -> np.ndarray:
    """Trend level / value in the base year per account: each year's value carried to the base year at the
    account's rate, their median, over the base year's value; 1 where the account has no base-year value."""
    ratio = np.ones(len(matrix))
    if base_year is None or base_year not in years:
        return ratio
    base = matrix[:, int(np.flatnonzero(years == base_year)[0])]
    carried = matrix * (1.0 + rate[:, None]) ** (base_year - years[None, :]).astype(float)
    has = base > 0
    ratio[has] = np.nanmedian(carried[has], axis=1) / base[has]
    return ratio


def plan_year(years: np.ndarray, spec: Growth) -> int:
    """The year forecast: the config's, else the year after the latest volumes."""
    return spec.plan_year if spec.plan_year is not None else int(years.max()) + 1
