"""Units: what the optimizer moves. One account each, or all accounts of a ZIP or county, with keep-together
groups merged.

Accounts that share a non-blank value in a keep-together column (e.g. `system`: all sites of one health system)
form one unit, so they always land in one territory. Units chain: with `by: zip`, a health system spanning two
ZIPs pulls both ZIPs into one unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from terrplan.config import Units as UnitsSpec
from terrplan.geo import county_of


@dataclass(frozen=True)
class Units:
    of_account: np.ndarray  # unit index per account
    frame: pd.DataFrame  # per unit: unit (label), lat, lon, potential, workload_hours, accounts
    areas: tuple[frozenset[str], ...] = ()  # per unit, the ZIPs or counties it covers (units.by zip / county)

    @property
    def trivial(self) -> bool:
        """One unit per account, in account order: the unit problem is the account problem."""
        return len(self.frame) == len(self.of_account) and not self.areas


def make_units(accounts: pd.DataFrame, spec: UnitsSpec, weights: np.ndarray, loose: np.ndarray | None = None) -> Units:
    """Group accounts into units; a unit sits at its members' weighted mean location (weights, e.g. potential).

    `loose` (bool per account): accounts whose keep-together groups are ignored (groups split as too big)."""
    area = _area_keys(accounts, spec.by)
    keys = [area] if area is not None else []
    for column in spec.keep_together:
        values = group_key(accounts, column)
        keys.append(np.where(loose, "", values) if loose is not None else values)
    of_account = _components(len(accounts), keys)
    # Number units by their first account so the order (and so every output) is stable.
    _, first = np.unique(of_account, return_index=True)
    order = np.argsort(first, kind="stable")
    relabel = np.empty_like(order)
    relabel[order] = np.arange(len(order))
    of_account = relabel[of_account]
    w = np.where(weights > 0, weights, 0.0) + 1e-9
    frame = pd.DataFrame(
        {
            "unit": area if area is not None else accounts["account_id"],
            "w": w,
            "wlat": w * accounts["lat"].to_numpy(),
            "wlon": w * accounts["lon"].to_numpy(),
            "potential": accounts["potential"].to_numpy(),
            "workload_hours": accounts["workload_hours"].to_numpy(),
            "accounts": 1,
            "of": of_account,
        }
    )
    grouped = frame.groupby("of", sort=True).agg(
        unit=("unit", "first"),
        w=("w", "sum"),
        wlat=("wlat", "sum"),
        wlon=("wlon", "sum"),
        potential=("potential", "sum"),
        workload_hours=("workload_hours", "sum"),
        accounts=("accounts", "sum"),
    )
    grouped["lat"] = grouped["wlat"] / grouped["w"]
    grouped["lon"] = grouped["wlon"] / grouped["w"]
    # Labels for messages: a group names its first account (or ZIP) and its size.
    prefix = {"zip": "ZIP ", "county": "county "}.get(spec.by, "")
    many = grouped["accounts"] > 1
    grouped["unit"] = prefix + grouped["unit"].astype(str)
    grouped.loc[many, "unit"] = (
        "the unit of " + grouped.loc[many, "unit"] + " (" + grouped.loc[many, "accounts"].astype(str) + " accounts)"
    )
    columns = ["unit", "lat", "lon", "potential", "workload_hours", "accounts"]
    areas: tuple[frozenset[str], ...] = ()
    if area is not None:
        per_unit = pd.Series(area).groupby(of_account).agg(frozenset)
        areas = tuple(per_unit.sort_index())
    return Units(of_account, grouped[columns].reset_index(drop=True), areas)


def group_key(accounts: pd.DataFrame, spec: str) -> np.ndarray:
    """Values of a keep-together column, or of several joined by '+' (e.g. address+zip: accounts sharing an
    address); blank when any part is blank."""
    parts = [accounts[column].astype(str).str.strip().str.upper() for column in spec.split("+")]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + "|" + part
    blank = np.logical_or.reduce([(part == "").to_numpy() for part in parts])
    return np.where(blank, "", joined.to_numpy())


def _area_keys(accounts: pd.DataFrame, by: str) -> np.ndarray | None:
    """The ZIP or county FIPS of each account when units are areas."""
    if by == "zip":
        return accounts["zip"].to_numpy().astype(str)
    if by == "county":
        return county_of(accounts["zip"], accounts["lat"].to_numpy(), accounts["lon"].to_numpy())
    return None


def _components(n: int, keys: list[np.ndarray]) -> np.ndarray:
    """Connected components of accounts linked by equal non-blank key values."""
    if not keys:
        return np.arange(n)
    rows, cols, offset = [], [], n
    for values in keys:
        text = pd.Series(values, dtype=str).fillna("").str.strip()
        present = (text != "").to_numpy()
        codes, _ = pd.factorize(text[present])
        rows.append(np.flatnonzero(present))
        cols.append(codes + offset)
        offset += int(codes.max(initial=-1)) + 1
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(r)), (r, c)), shape=(offset, offset))
    _, labels = connected_components(graph, directed=False)
    return labels[:n]
