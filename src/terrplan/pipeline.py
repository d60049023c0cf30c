"""The steps shared by `optimize` and `validate`: read, locate and score accounts, collecting findings."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from terrplan.adjacency import read_graph
from terrplan.budget import TimeBudget
from terrplan.config import Config
from terrplan.config import Units as UnitsSpec
from terrplan.contiguity import add_empty_areas
from terrplan.errors import ConfigError, Finding, InputError
from terrplan.factors.combine import account_factors
from terrplan.factors.combine import enabled as factors_enabled
from terrplan.geo import zip_table
from terrplan.model import Alignment, Members, Problem
from terrplan.problem import build_problem, metric_values, territory_fte
from terrplan.read import (
    LOCATION_WARNING_COLUMNS,
    Table,
    read_accounts,
    read_alignment,
    read_reps,
    read_volumes,
    volume_sources,
    volumes_of_year,
)
from terrplan.regions import RegionPlan, keep_whole
from terrplan.reps import rep_homes
from terrplan.rules import AccountRules, account_rules, territory_names
from terrplan.score import score_accounts, top_codes
from terrplan.solve import check_feasible
from terrplan.solve.centres import recentre
from terrplan.solve.refine import refine
from terrplan.units import Units, group_key, make_units


@dataclass(frozen=True)
class Loaded:
    accounts: pd.DataFrame  # located and scored, one row per usable account
    findings: tuple[Finding, ...]  # rows that could not be used
    inputs: tuple[dict[str, str], ...]  # path and sha256 of each input file
    reps: pd.DataFrame | None = None  # the roster, located, when the config names one
    counts: dict[str, int] = field(default_factory=dict)  # rows left out that are not defects (blank, N/A)
    # usable accounts whose lat/lon lie far from their ZIP's centre: read.LOCATION_WARNING_COLUMNS
    location_warnings: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=LOCATION_WARNING_COLUMNS))
    # the usable volume rows (account_id, code, volume, period, + an int `year` when they span years: all years)
    volumes: pd.DataFrame = field(default_factory=pd.DataFrame)


def rows_affected(findings: tuple[Finding, ...] | list[Finding]) -> int:
    """Rows behind the findings: a row (file and line) with several problems counts once."""
    return len({(f.file, f.line) if f.line is not None else id(f) for f in findings})


def load_accounts(config: Config, on_stage: Callable[[str], None] | None = None) -> Loaded:
    """Read accounts and volumes, score them; bad rows stop the run or are set aside per `on_bad_rows`.
    `on_stage` (progress) hears "score" when the reading is done."""
    accounts_path = config.resolve(config.inputs.accounts.path)
    read = read_accounts(config.inputs.accounts, accounts_path)
    accounts, findings = read.accounts, list(read.findings)
    counts = {"empty_rows_skipped": read.empty_rows, "missing_volume_values": 0}
    inputs = [_fingerprint(accounts_path)]
    volumes = pd.DataFrame({"account_id": [], "code": [], "volume": [], "period": []})
    if config.inputs.volumes is not None:
        if not config.inputs.volumes.path and not config.inputs.volumes.files:
            raise ConfigError(
                "inputs.volumes.path is missing",
                [Finding("config", "required key is missing", key="inputs.volumes.path")],
            )
        sources = volume_sources(config.inputs.volumes, config.resolve)
        volumes_read = read_volumes(
            config.inputs.volumes, sources, accounts["account_id"], read.rejected_ids, config.scoring
        )
        volumes = volumes_read.volumes
        seen = set(findings)  # one file for accounts and volumes: a broken row is reported by both readers
        findings.extend(f for f in volumes_read.findings if f not in seen)
        counts["missing_volume_values"] = volumes_read.missing
        if volumes_read.other_years_unknown:  # summary.json: only when volumes span years (single files as before)
            counts["other_year_rows_of_unknown_accounts"] = volumes_read.other_years_unknown
        inputs.extend(_fingerprint(s.path) for s in sources if s.path != accounts_path)
    if findings and config.inputs.on_bad_rows == "stop":
        raise InputError(
            f"{rows_affected(findings)} row(s) cannot be used (to set them aside in rejects.csv and go on, "
            "set inputs.on_bad_rows: reject)",
            findings,
        )
    if accounts.empty:
        raise InputError("no usable accounts", findings)
    reps = None
    if config.inputs.reps is not None:
        reps_path = config.resolve(config.inputs.reps.path)
        reps = read_reps(config.inputs.reps, reps_path)
        inputs.append(_fingerprint(reps_path))
    if config.scoring.growth is not None and "year" not in volumes:
        raise ConfigError(
            "scoring.growth needs volumes of several years",
            [Finding("config", "the volumes have no year", key="scoring.growth",
                     hint="give inputs.volumes a list of {path, year}, a glob of yearly files or a year column")],
        )  # fmt: skip
    factors = account_factors(config, accounts) if factors_enabled(config) else None
    if factors is not None:  # the match report of a competition file goes to summary.json's accounts
        counts.update(factors.report)
        inputs.extend(_fingerprint(path) for path in factors.files)
    # several years: potential is the chosen year's (inputs.volumes.year, null: the latest); `volumes` keeps all
    potential_volumes = volumes_of_year(volumes, config.inputs.volumes.year if config.inputs.volumes else None)
    columns = factors.columns if factors is not None else None
    scoring = config.scoring
    if scoring.growth is not None and scoring.growth.plan_year is None and config.plans.year is not None:
        scoring = dataclasses.replace(scoring, growth=dataclasses.replace(scoring.growth, plan_year=config.plans.year))
    if on_stage is not None:
        on_stage("score")
    scored = score_accounts(accounts, potential_volumes, scoring, config.segments, columns, history=volumes)
    _check_potential(scored, potential_volumes, config)
    counts["rejected_rows"] = rows_affected(findings)  # summary.json: rows, not findings (a row may have several)
    return Loaded(scored, tuple(findings), tuple(inputs), reps, counts, read.location_warnings, volumes)


def _check_potential(scored: pd.DataFrame, volumes: pd.DataFrame, config: Config) -> None:
    """Total potential 0 while potential balances the territories or weighs the distances: exit 3 before the solve,
    with the codes that carry the volume and the weights they got."""
    balanced = [balance.metric for balance in config.territories.balance]
    uses = [
        key
        for key, value in (
            ("territories.balance.metric", "potential" if "potential" in balanced else balanced[0]),
            ("territories.objective_weight", config.territories.objective_weight),
        )
        if value == "potential"
    ]
    total = float(scored["potential"].sum())
    if not uses or total > 0:
        return
    switch = "or balance on accounts (territories.balance.metric and objective_weight: accounts)"
    if volumes.empty:
        message = "no volume rows were read"
        hint = f"set inputs.volumes to a file with volume per account and code, {switch}"
    else:
        codes = top_codes(volumes, config.scoring)
        shown = ", ".join(f"{code} ({volume:,.0f}, weight {weight:g})" for code, volume, weight in codes)
        message = f"every account scores 0: codes with most volume: {shown}"
        if sum(volume for _, volume, _ in codes) > 0:
            hint = f"give these codes a weight in scoring.weights (or set scoring.default_weight), {switch}"
        else:
            hint = f"every volume is 0: check the volume column, {switch}"
    raise InputError(
        f"total potential is {total:,.6g}, but {' and '.join(uses)} {'are' if len(uses) == 2 else 'is'} potential",
        [Finding("config", message, key="scoring.weights", hint=hint)],
    )


def _fingerprint(path: Path) -> dict[str, str]:
    if str(path) == "-":
        return {"path": "-", "sha256": ""}
    with path.open("rb") as handle:  # in blocks: a claims file of gigabytes never sits in memory
        return {"path": str(path), "sha256": hashlib.file_digest(handle, "sha256").hexdigest()}


@dataclass(frozen=True)
class GivenAlignment:
    """An alignment read from a file (or the accounts' current territory), matched to the loaded accounts."""

    territory: np.ndarray  # index into labels per account; -1 where the account is unassigned
    labels: tuple[str, ...]  # territory names, sorted
    findings: tuple[Finding, ...]  # failed checks: unassigned, twice-assigned or unknown accounts
    # Alignment rows naming accounts that are not among the usable accounts (gone, or set aside in rejects.csv):
    # account_id, territory, line and the file's other columns, in file order.
    departed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["account_id", "territory", "line"]))


UNKNOWN_ACCOUNT = "alignment names an account that is not among the usable accounts"


def match_alignment(accounts: pd.DataFrame, table: Table | None) -> GivenAlignment:
    """Check an alignment against the accounts: every account assigned exactly once, no unknown ids.

    Without a table, the accounts' own current-territory column is the alignment."""
    findings: list[Finding] = []
    if table is None:
        name, frame = (
            "accounts (current territory)",
            accounts[["account_id", "territory"]].assign(line=accounts["line"]),
        )
    else:
        name, frame = table.name, table.frame.assign(line=table.lines)
        if "account_id" not in frame:
            frame, zip_findings = _by_zip(name, frame, accounts)
            findings.extend(zip_findings)
    frame = frame.loc[frame["territory"] != ""]
    duplicated = frame["account_id"].duplicated(keep="first")
    first_line = frame.groupby("account_id")["line"].transform("min")
    for row, first in zip(frame.loc[duplicated].itertuples(), first_line[duplicated], strict=True):
        findings.append(
            Finding(
                name,
                f"account assigned twice (first on line {first})",
                line=int(row.line),
                column="account_id",
                value=row.account_id,
                hint="each account belongs to one territory",
            )
        )
    frame = frame.loc[~duplicated]
    known = frame["account_id"].isin(accounts["account_id"])
    for row in frame.loc[~known].itertuples():
        findings.append(
            Finding(
                name,
                UNKNOWN_ACCOUNT,
                line=int(row.line),
                column="account_id",
                value=row.account_id,
                hint="check the id, or see rejects.csv for accounts set aside",
            )
        )
    mapping = dict(zip(frame.loc[known, "account_id"], frame.loc[known, "territory"], strict=True))
    assigned = accounts["account_id"].map(mapping).fillna("")
    for row in accounts.loc[(assigned == "").to_numpy()].itertuples():
        findings.append(
            Finding(
                name,
                "account is not assigned to any territory",
                value=row.account_id,
                hint="every account needs a territory",
            )
        )
    labels = tuple(sorted(set(assigned) - {""}))
    index = {label: i for i, label in enumerate(labels)}
    territory = np.array([index.get(label, -1) for label in assigned], dtype=np.int64)
    departed = frame.loc[~known].reset_index(drop=True)
    return GivenAlignment(territory, labels, tuple(findings), departed)


def _by_zip(name: str, frame: pd.DataFrame, accounts: pd.DataFrame) -> tuple[pd.DataFrame, list[Finding]]:
    """A ZIP -> territory alignment as account rows: every account of a listed ZIP gets the ZIP's territory."""
    findings = [
        Finding(name, "ZIP assigned twice", line=int(row.line), column="zip", value=row.zip,
                hint="each ZIP belongs to one territory")
        for row in frame.loc[frame["zip"].duplicated(keep="first")].itertuples()
    ]  # fmt: skip
    frame = frame.drop_duplicates("zip", keep="first")
    rows = accounts[["account_id", "zip"]].merge(frame[["zip", "territory", "line"]], on="zip", how="inner")
    return rows, findings


def alignment_centres(problem: Problem, territory: np.ndarray) -> np.ndarray:
    """Centres of a given alignment: each territory's weighted 1-median, as the optimizer would place them."""
    first_member = np.full(problem.n_territories, -1, dtype=np.int64)
    for unit, t in enumerate(territory):
        if first_member[t] < 0:
            first_member[t] = unit
    return recentre(problem, territory, first_member)


def account_level(
    units: Units,
    problem: Problem,
    alignment: Alignment,
    accounts: pd.DataFrame,
    config: Config,
    reps: pd.DataFrame | None,
    rules: AccountRules | None = None,
    time_budget: TimeBudget | None = None,
) -> tuple[Problem, Alignment]:
    """The unit solution seen account by account: each account in its unit's territory, distances measured from
    the account itself to the territory's centre (a fixed site at the centre unit's location). Its objective is the
    accounts' travel (and disruption): the rep-home term steers the solve but is reported apart (summary's reps).

    Units made for size alone (`Members.apart`, see `unit_spec`) are then refined account by account
    (solve.refine): an account near a border may go to a nearer centre while the bands hold, as far as `time_budget`
    allows (a solve before it keeps `refine_seconds` for it, see `refines`)."""
    if units.trivial:
        return dataclasses.replace(problem, homes=None), alignment
    by_account = build_problem(accounts, config, reps)
    centres = problem.site_coords()[alignment.centres]
    account_rules_ = rules.for_accounts(problem.n_territories) if rules is not None else None
    fixed = dataclasses.replace(by_account, fixed_sites=centres, rules=account_rules_)
    territory = alignment.territory[units.of_account]
    if refines(problem):
        territory = refine(fixed, territory, time_budget)
    return fixed, Alignment(territory, np.arange(problem.n_territories))


def refines(problem: Problem) -> bool:
    """Whether `account_level` refines the solve of `problem` account by account (ZIP units made for size alone)."""
    return problem.members is not None and problem.members.apart


@dataclass(frozen=True)
class Prepared:
    """The optimizer's input for a config: units (accounts or groups of them), their problem, the graph, and the
    rules (with the territory names they fix) when the config has any."""

    units: Units
    problem: Problem
    graph: dict[str, set[str]] | None
    rules: AccountRules | None = None
    split_groups: tuple[str, ...] = ()  # keep-together groups split because no territory could hold them
    remote_regions: tuple[RegionPlan, ...] = ()  # what each remote region got (units.remote_gap_km)


def use_current(loaded: Loaded, current: str) -> Loaded:
    """The accounts with their current territory from `current` ('accounts': their own column, else a CSV of
    account_id, territory); accounts the file does not name have none."""
    if current == "accounts":
        return loaded
    given = match_alignment(loaded.accounts, read_alignment(Path(current)))
    labels = np.array([*given.labels, ""], dtype=object)
    accounts = loaded.accounts.assign(territory=labels[given.territory])
    return with_input(dataclasses.replace(loaded, accounts=accounts), Path(current))


def with_input(loaded: Loaded, path: Path) -> Loaded:
    """`loaded` with one more input file (path and sha256 in summary.json's inputs), e.g. the --current file."""
    return dataclasses.replace(loaded, inputs=(*loaded.inputs, _fingerprint(path)))


def prepare(
    loaded: Loaded, config: Config, current: str | None = None, time_budget: TimeBudget | None = None
) -> Prepared:
    """Units from the accounts (groups, areas, and empty areas when contiguity asks for them), then the problem
    with its rules; its necessary conditions are checked here so `validate` and `optimize` say the same.

    `current`: set when the accounts' current territory (see `use_current`) is the alignment in force, which the
    disruption cost prices leaving."""
    weights = metric_values(loaded.accounts, config.territories.objective_weight)
    spec = unit_spec(config, loaded.accounts)
    units = make_units(loaded.accounts, spec, weights)
    split: tuple[str, ...] = ()
    if config.units.oversize == "split" and config.units.keep_together:
        grouped = build_problem(units.frame, config, loaded.reps)
        units, split = _split_oversize(loaded.accounts, units, grouped, config, weights, spec)
    contiguity = config.contiguity
    graph = read_graph(config.resolve(contiguity.graph), contiguity.neighbours) if contiguity.graph else None
    if graph is not None:
        units = add_empty_areas(units, config.units.by, graph, set(loaded.accounts["state"]))
    problem = build_problem(units.frame, config, loaded.reps)
    if not units.trivial:  # units of several accounts: travel is measured per account, as the outputs report it
        coords = loaded.accounts[["lat", "lon"]].to_numpy(dtype=float)
        # ZIP units made for size alone (see unit_spec) let their accounts go apart after the solve (account_level),
        # unless keep-together groups or rules per account tie accounts to their units
        apart = spec is not config.units and not config.units.keep_together and not _has_rules(config, current)
        members = Members.of_units(units.of_account, coords, weights, problem.n_units, apart=apart)
        problem = dataclasses.replace(problem, members=members)
    if config.territories.centres == "free":  # a roster row per territory: its centre is priced by the rep's home
        fte = territory_fte(loaded.reps, problem.n_territories)
        homes = rep_homes(loaded.reps, weights, fte, config.territories.rep_home_weight)
        problem = dataclasses.replace(problem, homes=homes)
    rules = _rules(loaded, config, problem.n_territories, weights, current)
    if rules is not None:  # empty areas (contiguity) are units without accounts: they carry no rule
        ids = loaded.accounts["account_id"].to_numpy()
        problem = dataclasses.replace(problem, rules=rules.for_units(units.of_account, list(units.frame["unit"]), ids))
    names = rules.names if rules is not None else None
    check_feasible(problem, list(units.frame["unit"]), what="territories", territory_names=names)
    states = _unit_states(loaded.accounts, units, problem)
    problem, remote = keep_whole(problem, config.units.remote_gap_km, states, config.solver.seed, time_budget)
    return Prepared(units, problem, graph, rules, split, remote)


def _unit_states(accounts: pd.DataFrame, units: Units, problem: Problem) -> np.ndarray:
    """Each unit's state (its first account's, else that of the account's ZIP; blank for empty areas), to name
    remote regions."""
    blank = pd.Series("", index=accounts.index)
    given = accounts["state"].fillna("").astype(str).str.strip() if "state" in accounts else blank
    if "zip" in accounts:
        by_zip = zip_table()["state"].reindex(accounts["zip"].fillna("").astype(str)).fillna("").astype(str)
        given = given.where(given != "", by_zip.to_numpy())
    states = np.full(problem.n_units, "", dtype=object)
    first = np.unique(units.of_account, return_index=True)[1]
    states[units.of_account[first]] = given.to_numpy()[first]
    return states.astype(str)


def _split_oversize(
    accounts: pd.DataFrame, units: Units, problem: Problem, config: Config, weights: np.ndarray, by: UnitsSpec
) -> tuple[Units, tuple[str, ...]]:
    """Units again (as `by` makes them) with every keep-together group that exceeds the largest band maximum let
    loose."""
    too_big = (problem.metrics > problem.upper.max(axis=1, keepdims=True) + 1e-9).any(axis=0)
    grouped = too_big & (units.frame["accounts"].to_numpy() > 1)
    if not grouped.any():
        return units, ()
    loose = grouped[units.of_account]
    names: set[str] = set()
    for spec in config.units.keep_together:
        key = group_key(accounts, spec)  # blank where the account is in no group
        for a in np.flatnonzero(loose & (key != "")):
            names.add(" + ".join(str(accounts[column].iat[a]).strip() for column in spec.split("+")))
    if not names:  # too big as an area (ZIP, county), not as a group: nothing to split
        return units, ()
    return make_units(accounts, by, weights, loose), tuple(sorted(names))


def unit_spec(config: Config, accounts: pd.DataFrame) -> UnitsSpec:
    """What the solve moves: the config's units, or ZIP units when units are single accounts and there are more than
    units.aggregate_above of them (accounts without a ZIP stay units of their own). The solver's memory and time
    grow with its units, and a nation's accounts sit in about 33,000 ZIPs: 300,000 single-account units at K = 500
    took 10.5 GB and overran a 60 s limit by 82 % (docs/benchmarks.md, scale)."""
    above = config.units.aggregate_above
    if config.units.by != "account" or above is None or len(accounts) <= above or "zip" not in accounts:
        return config.units
    return dataclasses.replace(config.units, by="zip")


def _has_rules(config: Config, current: str | None) -> bool:
    """Whether the config sets rules per account (see `_rules`): accounts then stay with their units."""
    priced = config.disruption.move_cost_km > 0 and current is not None
    return bool(config.rules.path or config.rules.max_distance_km is not None or priced)


def _rules(loaded: Loaded, config: Config, k: int, weights: np.ndarray, current: str | None) -> AccountRules | None:
    """The config's rules per account, or None when it sets none (territories then get names after solving)."""
    priced = config.disruption.move_cost_km > 0 and current is not None
    if not _has_rules(config, current):
        return None
    home = None
    labels: tuple[str, ...] | None = None
    if priced:
        given = match_alignment(loaded.accounts, None)
        labels = given.labels
    names = territory_names(loaded.reps, labels, k)
    if priced:
        index = {name: i for i, name in enumerate(names)}
        home = np.array([index.get(given.labels[t], -1) if t >= 0 else -1 for t in given.territory], dtype=np.int64)
    return account_rules(config, loaded.accounts, names, home, weights)
