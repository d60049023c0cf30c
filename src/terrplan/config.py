"""The YAML config as frozen, validated dataclasses.

Every section is a dataclass; `load_config` walks the YAML against them, so an unknown key is rejected with the
closest valid name, a wrong type names its dotted path, and all problems are reported at once.
Paths in the config are relative to the config file.

The YAML is read strictly: anchors and aliases are refused (an alias bomb fails at its first anchor, before anything
is expanded), a key given twice in one mapping is an error naming both lines, and where the config expects text
(codes, names, periods, every mapping key) a plain scalar keeps its source text, so `01402` stays '01402' rather than
YAML 1.1's octal 770, and `1:30` stays '1:30' rather than the sexagesimal 90. NaN and infinity are refused everywhere.
"""

from __future__ import annotations

import codecs
import dataclasses
import datetime
import math
import os
import reprlib
import types
import typing
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from terrplan.errors import ConfigError, Finding, closest

# -- sections ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountColumns:
    """Our field -> the column that holds it in the accounts file.

    Unset fields fall back to a column with our standard name when the file has one (see `read.STANDARD_NAMES`);
    a column named here must exist.
    """

    id: str | None = None
    name: str | None = None
    type: str | None = None
    specialty: str | None = None
    address: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    lat: str | None = None
    lon: str | None = None
    system: str | None = None
    territory: str | None = None
    county: str | None = None  # 5-digit county FIPS; county units use it instead of the ZIP's county


#: Fields an account row has after reading (usable in units.keep_together).
ACCOUNT_FIELDS = (
    "system", "address", "zip", "city", "state", "type", "specialty", "name", "territory",
    "facility",  # the affiliated hospital or ASC (inputs.affiliations)
)  # fmt: skip


@dataclass(frozen=True)
class VolumeColumns:
    account: str | None = None
    code: str | None = None
    volume: str | None = None
    period: str | None = None
    # A column with each row's year (multi-year volumes); only when mapped, never found by a standard name (CMS's
    # ASC file has a 'Year' column that is a period, not a year of volumes).
    year: str | None = None


#: How a data file is read: auto picks DuckDB for Parquet and for large files (read.use_duckdb, the one place
#: deciding), duckdb always scans with DuckDB, pandas always with the row-by-row reader.
Engine = Literal["auto", "duckdb", "pandas"]


@dataclass(frozen=True)
class VolumeFile:
    """One file of multi-year volumes and the year its rows count for (null: the 4-digit year in its name)."""

    path: str = ""
    year: int | None = None


@dataclass(frozen=True)
class AccountsInput:
    path: str = ""
    columns: AccountColumns = field(default_factory=AccountColumns)
    encoding: str = "utf-8"
    # A long file (e.g. CMS Part B: one row per provider x code) repeats each account; take its first row.
    one_row_per_account: bool = True
    # lat/lon farther than this from the account's ZIP centroid are counted, warned about and listed in
    # location_warnings.csv (null: no check).
    zip_mismatch_km: float | None = 100.0
    engine: Engine = "auto"


@dataclass(frozen=True)
class VolumesInput:
    # One file, or a glob ('partb_*.csv'): several files, each a year (the 4-digit year in its name).
    path: str = ""
    columns: VolumeColumns = field(default_factory=VolumeColumns)
    encoding: str = "utf-8"
    # Keep only these periods (blank = all).
    periods: tuple[str, ...] = ()
    # A wide file: one volume column per code, {column: code}; then columns.code and columns.volume are unused.
    wide: dict[str, str] = field(default_factory=dict)
    # Values that mean "no data" (e.g. CMS's N/A for suppressed cells): left out and counted, not errors.
    missing: tuple[str, ...] = ()
    # Two rows of one account x code (x period): 'error' reports them; 'sum' adds them up.
    duplicates: Literal["error", "sum"] = "error"
    # Multi-year volumes: files with their years (instead of path; `inputs.volumes: [{path, year}, ...]` is short
    # for `files:`). With several years the volumes carry a `year` column and potential uses `year` (null: the latest).
    files: tuple[VolumeFile, ...] = ()
    year: int | None = None
    engine: Engine = "auto"


@dataclass(frozen=True)
class RepColumns:
    id: str | None = None
    name: str | None = None
    zip: str | None = None
    lat: str | None = None
    lon: str | None = None
    fte: str | None = None
    territory: str | None = None


@dataclass(frozen=True)
class RepsInput:
    """The rep roster: one row per territory's rep (a row without a name is a vacancy)."""

    path: str = ""
    columns: RepColumns = field(default_factory=RepColumns)
    encoding: str = "utf-8"


# -- scoring factors (issue 14): each optional; absent, potential is sum(volume x weight) as before ------------


@dataclass(frozen=True)
class Growth:
    """Trend of each account's potential over the years of inputs.volumes (a `year` column): the median of the
    annualised rates between every pair of years, each pair over the accounts present in both (CMS leaves out
    cells under 11, so a missing year is missing, not zero; one dip year moves the median little)."""

    plan_year: int | None = None  # the year forecast; null: plans.year, else the latest year of volumes + 1
    min_years: int = 2  # an account seen in fewer years takes its ZIP's trend, else the national one
    # An account's own rate weighs as many pairs of years against the nation's trend (terrplan.factors.growth).
    shrink: float = 3.0
    min_rate: float = -0.5  # annual rates are clipped to [min_rate, max_rate]
    max_rate: float = 1.0
    in_potential: bool = True  # false: growth columns are reported, potential is not scaled by them


@dataclass(frozen=True)
class CompetitionColumns:
    """Columns of a competitive-landscape file: the account (id, or NPI) or name (+ first name) and ZIP, the
    manufacturer, and its strength (a share, units or payments)."""

    account: str | None = None
    name: str | None = None
    first_name: str | None = None
    zip: str | None = None
    manufacturer: str | None = None
    strength: str | None = None


@dataclass(frozen=True)
class Competition:
    """Who else holds each account. competitor_share = competitors' strength / all manufacturers' strength at the
    account (own included); competitive_factor = 1 - (1 - winnable) x competitor_share."""

    path: str = ""
    # landscape: our CSV (columns below); open_payments: a CMS Open Payments general-payment file as published.
    format: Literal["landscape", "open_payments"] = "landscape"
    columns: CompetitionColumns = field(default_factory=CompetitionColumns)
    # open_payments without name columns: the recipients file (Physician_Profile_ID, names, Recipient_Zip_Code).
    roster: str | None = None
    encoding: str = "utf-8"
    # amount: units or payments, turned into shares of the account's total; share: each manufacturer's share of
    # the account (0-1) as given, the rest held by no one.
    strength: Literal["amount", "share"] = "amount"
    company: str = ""  # our own manufacturer, as the file names it (its first words: 'Medtronic' is Medtronic USA)
    competitors: tuple[str, ...] = ()  # only these count as competitors (blank: every other manufacturer)
    natures: tuple[str, ...] = ()  # open_payments: only these natures of payment (blank: all)
    winnable: float = 0.5  # share of a competitor's hold counted as winnable
    dominant: float = 0.5  # competitor_share from which an account is a 'convert' opportunity
    # Name + ZIP matching reads the accounts' names from these columns of the accounts file (first name separate
    # for people: 'John A.' and 'JOHN' match; blank: the accounts' name column as a whole).
    account_first_name: str | None = None
    account_last_name: str | None = None


@dataclass(frozen=True)
class Adoption:
    """Each account's adoption of the technology, from a column of the accounts file or a file of its own."""

    path: str | None = None  # a CSV with the account id and the column; null: the accounts file
    id_column: str | None = None  # the account id column of that file (null: the accounts' id column)
    column: str = "adoption"
    # file value -> adopter / trialist / non-adopter (e.g. {"Y": adopter, "N": non-adopter}); values already
    # naming a class need no entry.
    values: dict[str, Literal["adopter", "trialist", "non-adopter"]] = field(default_factory=dict)
    factors: dict[str, float] = field(
        default_factory=lambda: {"adopter": 1.0, "trialist": 0.8, "non-adopter": 0.6, "unknown": 1.0}
    )
    encoding: str = "utf-8"


@dataclass(frozen=True)
class Opportunity:
    """The call plan and tactics of an opportunity segment; unset calls or minutes keep the size segment's."""

    name: Literal["expand", "convert", "develop"]
    calls_per_year: float | None = None
    minutes_per_call: float | None = None
    activities: tuple[str, ...] = ()


@dataclass(frozen=True)
class AffiliationColumns:
    account: str | None = None  # the physician's NPI (an account id); default column: npi
    facility: str | None = None  # the hospital's or ASC's id; default column: facility_id
    facility_name: str | None = None  # default column: facility_name, when present


@dataclass(frozen=True)
class AffiliationsInput:
    """Physician -> hospital/ASC: each account gets its first listed facility (column `facility`), which
    units.keep_together: [facility] keeps with the facility's own account."""

    path: str = ""
    columns: AffiliationColumns = field(default_factory=AffiliationColumns)
    encoding: str = "utf-8"


@dataclass(frozen=True)
class Inputs:
    accounts: AccountsInput = field(default_factory=AccountsInput)
    volumes: VolumesInput | None = None
    reps: RepsInput | None = None
    affiliations: AffiliationsInput | None = None
    # What to do with rows that cannot be used: stop (exit 3, list them all) or reject (write rejects.csv, go on).
    on_bad_rows: Literal["stop", "reject"] = "stop"


@dataclass(frozen=True)
class ProcedureGroup:
    name: str
    codes: tuple[str, ...]
    weight: float = 1.0


@dataclass(frozen=True)
class Scoring:
    """potential = sum(volume x weight). A code pattern is exact ('27447'), a prefix ('274*') or a range
    ('27440-27447'); groups name a list of patterns sharing one weight. The first matching rule wins:
    `weights` first, then `groups` in order, then `default_weight`."""

    weights: dict[str, float] = field(default_factory=dict)
    groups: tuple[ProcedureGroup, ...] = ()
    default_weight: float = 0.0
    # Optional factors: potential = sum(volume x weight) x growth_factor x competitive_factor x adoption_factor.
    growth: Growth | None = None
    competition: Competition | None = None
    adoption: Adoption | None = None
    opportunities: tuple[Opportunity, ...] = ()  # expand / convert / develop: call plan and activities of each
    market_size: bool = False  # territories.csv gains population, population 65+ and market_index


@dataclass(frozen=True)
class Segment:
    name: str
    # Accounts are ranked by potential; this tier takes the next `share` of cumulative potential.
    share: float
    calls_per_year: float
    minutes_per_call: float


DEFAULT_SEGMENTS = (
    Segment("A", 0.5, 24, 45),
    Segment("B", 0.3, 12, 30),
    Segment("C", 0.2, 4, 20),
)


#: units.remote_gap_km's default: measured on the national ZCTAs and the CMS hospitals, 200-500 km find the same
#: regions (Puerto Rico with the Virgin Islands, Hawaii, Alaska); 100-150 km also cut off desert hospitals of Nevada
#: and Texas, and at 1,000 km Alaska joins the mainland.
DEFAULT_REMOTE_GAP_KM = 300.0


@dataclass(frozen=True)
class Units:
    """What the optimizer moves: single accounts or whole ZIPs; accounts sharing a value in a keep-together
    column (e.g. system) always move as one."""

    by: Literal["account", "zip", "county"] = "account"
    keep_together: tuple[str, ...] = ()
    # A group too big for any territory's band: 'error' stops with its name; 'split' lets its accounts move
    # separately (each such group is named in the log and summary.json).
    oversize: Literal["error", "split"] = "error"
    # Units cut off from the rest by a gap wider than this (Hawaii, Alaska, Puerto Rico, island groups) form a
    # remote region, kept whole in one territory when it fits, else given whole territories of its own and at most
    # one shared with the mainland (terrplan.regions). null: no remote regions.
    remote_gap_km: float | None = DEFAULT_REMOTE_GAP_KM
    # With units of one account (by: account), more accounts than this are solved on ZIP units and then refined
    # account by account (the alignment stays per account; see pipeline.unit_spec). null: never.
    aggregate_above: int | None = 50_000


@dataclass(frozen=True)
class Balance:
    """One balance metric and its band per territory: within target x (1 +/- tolerance), the target being the mean
    territory scaled by FTE, and/or explicit limits per FTE (e.g. workload at most 1,600 hours per FTE: max_per_fte).
    With both, a territory meets both. Neither given: tolerance 0.05."""

    metric: Literal["potential", "workload", "accounts"] = "potential"
    tolerance: float | None = None
    min_per_fte: float | None = None
    max_per_fte: float | None = None

    def __post_init__(self) -> None:
        if self.tolerance is None and self.min_per_fte is None and self.max_per_fte is None:
            object.__setattr__(self, "tolerance", 0.05)  # today's default band, ±5 %


class Balances(tuple):
    """territories.balance: one or more Balance, the first the primary metric (the objective's balance figures,
    the log's first index). `metric` and `tolerance` are the primary's, as when balance was a single mapping."""

    __slots__ = ()

    @property
    def primary(self) -> Balance:
        return self[0]

    @property
    def metric(self) -> str:
        return self[0].metric

    @property
    def tolerance(self) -> float | None:
        return self[0].tolerance


@dataclass(frozen=True)
class Territories:
    # Territories: from the roster when centres are rep homes, else this many (default 10).
    count: int | None = None
    # free: the optimizer places centres, then reps are matched to territories; rep_homes: one territory per
    # roster row, centred on the rep's home, its targets scaled by FTE.
    centres: Literal["free", "rep_homes"] = "free"
    # One Balance, or a list of them (the first is the primary metric); always a Balances after loading.
    balance: tuple[Balance, ...] = field(default_factory=lambda: Balances((Balance(),)))
    # Objective weight: distance is weighted by this per account.
    objective_weight: Literal["potential", "workload", "accounts"] = "potential"
    # Hard limits on the number of accounts per territory, on top of the balance band.
    min_accounts: int | None = None
    max_accounts: int | None = None
    # Free centres with a roster of one rep per territory: territory t is roster row t's, and every km from the
    # rep's home to the centre costs this x the territory's target share of the objective weight (0: no home term;
    # reps are then matched to territories after the solve).
    rep_home_weight: float = 0.15
    # A rep whose home lies farther than this from their territory's nearest account is warned about.
    rep_home_warn_km: float = 50.0

    def __post_init__(self) -> None:
        if not isinstance(self.balance, Balances):
            object.__setattr__(self, "balance", Balances(self.balance))


@dataclass(frozen=True)
class Solver:
    seed: int = 0
    # Seconds. The iteration caps below normally end a run first, so results repeat; a run the clock cuts may not.
    time_limit: float = 60.0
    candidates: int = 30  # nearest centres per account in the assignment step
    # Location-allocation runs from different seeds; null: by size, 12 on large instances up to 200 on small ones
    # (solve.auto_starts), so a small instance spends more of its budget searching.
    starts: int | None = None
    # Subgradient steps of the lower bound per unit of effort (never fewer than this): more gives a tighter gap, slower
    bound_iterations: int = 300
    # Search effort after the first solution: sweeps of the large-neighbourhood search, each re-solving every
    # territory's neighbourhood once, and the bound's steps above. More effort never gives a worse alignment nor a
    # lower bound; 0 turns the search off.
    effort: float = 1.0
    # On two or more cores a run may use a second process (the bound's beside the search, or half the starts): false
    # where every core already has a run of its own (several runs at once). The results are the same either way.
    second_process: bool = True


@dataclass(frozen=True)
class Contiguity:
    """Every territory one connected piece over an adjacency graph (needs units.by: zip or county)."""

    graph: str | None = None  # a ZIP adjacency JSON ({"27601": [...]}) or the Census county_adjacency.txt
    # queen: areas touching at a single point are neighbours (the Census county file's convention);
    # rook: only areas sharing a stretch of border (the usual districting rule).
    neighbours: Literal["queen", "rook"] = "queen"


@dataclass(frozen=True)
class Disruption:
    """The alignment in force now and what changing it costs.

    With a current alignment and no move cost, `optimize` refreshes: it repairs the current alignment with the
    fewest moves. With a move cost it redesigns, paying that cost for every account that changes territory; a
    budget then caps what may move (the cost is raised until the design fits in it).
    """

    current: str | None = None  # 'accounts' (their current-territory column) or a CSV of account_id, territory
    budget: float | None = None  # at most this share of potential may change territory (e.g. 0.10)
    budget_accounts: int | None = None  # at most this many accounts may change territory
    budget_per_territory: float | None = None  # at most this share of each current territory's potential may leave
    # Redesign: moving an account costs as much as this many km of its weighted travel (0: refresh instead).
    move_cost_km: float = 0.0
    # Refresh: an account whose location moved farther than this since the current alignment (or that lies this
    # far beyond its current territory's reach) is reassigned and reported as relocated (null: never).
    relocated_km: float | None = 100.0


@dataclass(frozen=True)
class Rules:
    """Locks and forbidden pairs, and a distance limit.

    The rules file has columns territory, rule (lock or forbid) and account_id or zip (a ZIP rule covers every
    account in that ZIP). Territory names are the roster's, else the current alignment's, else T01, T02, ...
    """

    path: str | None = None
    max_distance_km: float | None = None  # no account farther than this from its territory centre (rep home)


@dataclass(frozen=True)
class Hierarchy:
    """Territories grouped into districts, districts into regions (1 = no level)."""

    districts: int = 1
    regions: int = 1
    tolerance: float = 0.15  # each district / region within its mean x (1 +/- tolerance)


@dataclass(frozen=True)
class Sizing:
    """`terrplan size`: how many territories the workload needs."""

    hours_per_fte: float = 1600.0  # selling time per full-time rep per year (calls plus travel)
    travel_speed_kmh: float = 50.0  # average road speed for turning distance into travel hours
    calls_per_trip: float = 4.0  # calls a rep makes per round trip from the territory centre
    k_min: int | None = None  # range of K to tabulate; default: around the K the workload needs
    k_max: int | None = None


@dataclass(frozen=True)
class Plans:
    """What the per-territory plans and the report need beyond the alignment."""

    goal: float = 0.0  # national goal, a whole number (procedures, units or dollars), split by potential share
    goal_unit: str = "procedures"
    year: int | None = None  # the plan year; null: the start date's year
    start: str | None = None  # first day of Q1 (ISO date, 2027-01-01); null: January 1 of `year` (neither: undated)
    quarters: tuple[float, ...] = (0.25, 0.25, 0.25, 0.25)  # share of the year's goal in each quarter
    review_days: int = 14  # each quarterly review this many days after the quarter ends
    reviewer: str = "district manager"  # who reviews each plan with its rep
    new_account_share: float = 0.1  # share of the target list to win as new accounts (without adoption data)
    activities: dict[str, dict[str, float]] = field(default_factory=dict)  # segment -> activity -> per account/year
    vacancy_neighbours: int = 3  # at most this many neighbouring territories cover a vacancy
    top_accounts: int = 25  # accounts in each plan's target list
    far_account_km: float = 150.0  # accounts farther than this from the centre are flagged as a risk


def _plans_findings(p: Plans, file: str) -> list[Finding]:
    """The plan year, start date, quarters and the rest of `plans:`, each with its key and a hint."""
    out: list[Finding] = []

    def need(key: str, value: Any, ok: bool, message: str, hint: str) -> None:
        if not ok:
            out.append(Finding(file, message, key=key, value=_show(value), hint=hint))

    if p.goal >= 0:  # a negative goal is reported with the other limits
        need("plans.goal", p.goal, float(p.goal).is_integer(), "must be a whole number",
             "the national goal in whole units or dollars, e.g. 36000; it is split into whole units")  # fmt: skip
    if p.year is not None:
        need("plans.year", p.year, 1900 <= p.year <= 2200, "must be a year from 1900 to 2200", "e.g. 2027")
    if p.start is not None:
        try:
            datetime.date.fromisoformat(p.start)
        except ValueError:
            need("plans.start", p.start, False, "not a date", "the plan's first day as YYYY-MM-DD, e.g. 2027-01-01")
    shares = p.quarters
    need("plans.quarters", list(shares), len(shares) == 4 and all(q >= 0 for q in shares)
         and abs(sum(shares) - 1) < 1e-6, "must be four shares, none negative, adding up to 1",
         "the share of the year's goal in each quarter, e.g. [0.25, 0.25, 0.25, 0.25]")  # fmt: skip
    need("plans.review_days", p.review_days, 0 <= p.review_days <= 90, "must be from 0 to 90",
         "days after a quarter's end until its review, e.g. 14")  # fmt: skip
    need("plans.reviewer", p.reviewer, bool(p.reviewer.strip()), "must not be blank", "e.g. district manager")
    need("plans.new_account_share", p.new_account_share, 0 <= p.new_account_share <= 1,
         "must be a fraction in [0, 1]", "0.1: win a tenth of the target list as new accounts")  # fmt: skip
    need("plans.vacancy_neighbours", p.vacancy_neighbours, p.vacancy_neighbours >= 1, "must be 1 or more",
         "how many neighbouring territories may cover a vacancy, e.g. 3")  # fmt: skip
    for segment, activities in p.activities.items():
        for name, count in activities.items():
            need(f"plans.activities.{_key(segment)}.{_key(name)}", count, count >= 0, "must not be negative",
                 "how many per account and year, e.g. {A: {demos: 2, in-services: 1}}")  # fmt: skip
    return out


@dataclass(frozen=True)
class Output:
    dir: str = "out"
    report: bool = True  # report.html, plans/, GeoJSON and the workbook beside the CSVs
    # Text cells starting with = + - @ tab or CR get a leading ' in CSVs and the workbook (OWASP CSV injection);
    # false writes raw values, for pipelines that need them.
    escape_formulas: bool = True
    pdf: bool = False  # report.pdf too (with report: true): a cover, a page per district and per territory


@dataclass(frozen=True)
class Config:
    inputs: Inputs = field(default_factory=Inputs)
    scoring: Scoring = field(default_factory=Scoring)
    segments: tuple[Segment, ...] = DEFAULT_SEGMENTS
    territories: Territories = field(default_factory=Territories)
    units: Units = field(default_factory=Units)
    solver: Solver = field(default_factory=Solver)
    hierarchy: Hierarchy = field(default_factory=Hierarchy)
    disruption: Disruption = field(default_factory=Disruption)
    rules: Rules = field(default_factory=Rules)
    contiguity: Contiguity = field(default_factory=Contiguity)
    plans: Plans = field(default_factory=Plans)
    sizing: Sizing = field(default_factory=Sizing)
    output: Output = field(default_factory=Output)
    # `terrplan sweep`'s section, kept as written: terrplan.sweep.grid reads and checks it (no part of a run).
    sweep: dict[str, Any] | None = None
    # Directory the config was read from; relative paths resolve against it. Not a YAML key.
    base_dir: str = field(default=".", metadata={"internal": True})

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the config file ('-' stays '-')."""
        if path == "-":
            return Path("-")
        candidate = Path(path).expanduser()
        return Path(os.path.normpath(candidate if candidate.is_absolute() else Path(self.base_dir) / candidate))

    def as_dict(self) -> dict[str, Any]:
        """The resolved config, for summary.json; one balance metric stays a mapping, as it was before lists."""
        data = dataclasses.asdict(self)
        data.pop("base_dir")
        data.pop("sweep")
        balance = list(data["territories"]["balance"])
        data["territories"]["balance"] = balance[0] if len(balance) == 1 else balance
        return data


# -- loading ----------------------------------------------------------------------------------------------------

#: A value shown in a finding is cut to this many characters, so no message can explode.
SHOW_LIMIT = 80


class _Plain:
    """A plain YAML scalar that YAML 1.1 resolved to something other than text (a bool, a date), with its source."""

    __slots__ = ("text", "value")

    def __init__(self, value: Any, text: str):
        self.value = value
        self.text = text

    def __repr__(self) -> str:
        return self.text


class _PlainInt(int):
    """An int read from a plain scalar; `text` is the scalar as written (`01402`, not 770)."""

    text: str


class _PlainFloat(float):
    """A float read from a plain scalar; `text` is the scalar as written."""

    text: str


class _AliasRefused(Exception):
    def __init__(self, line: int):
        super().__init__(line)
        self.line = line


_RESOLVED_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("int", "float", "bool", "timestamp")}


class _ConfigLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases and keeps every plain scalar's text."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _AliasRefused(event.start_mark.line + 1)
        return super().compose_node(parent, index)

    def construct_object(self, node, deep=False):
        if isinstance(node, yaml.ScalarNode) and node.tag in _RESOLVED_TAGS:
            try:
                value = super().construct_object(node, deep)
            except (ValueError, OverflowError, IndexError, KeyError, AttributeError):
                return node.value  # e.g. `0b_`, `2025-13-45`, a 5,000-digit number or `!!int x`: it is text
            if isinstance(value, bool) or not isinstance(value, int | float):
                return _Plain(value, node.value)
            plain = _PlainInt(value) if isinstance(value, int) else _PlainFloat(value)
            plain.text = node.value
            return plain
        return super().construct_object(node, deep)

    def construct_mapping(self, node, deep=False):
        if not isinstance(node, yaml.MappingNode):
            return super().construct_mapping(node, deep)
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            # Every mapping key in the config is text: a scalar key is taken as written.
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else self.construct_object(key_node, deep)
            if not isinstance(key, Hashable):
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, "found unhashable key", key_node.start_mark
                )
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _duplicate_keys(root: yaml.Node | None) -> list[tuple[str, int, int]]:
    """Keys given twice in one mapping, as (dotted key, first line, repeated line); PyYAML keeps the last silently."""
    out: list[tuple[str, int, int]] = []
    stack: list[tuple[yaml.Node | None, str]] = [(root, "")]
    while stack:
        node, where = stack.pop()
        if isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                dotted = f"{where}.{_key(key_node.value)}" if where else _key(key_node.value)
                line = key_node.start_mark.line + 1
                if key_node.value in seen:
                    out.append((dotted, seen[key_node.value], line))
                else:
                    seen[key_node.value] = line
                stack.append((value_node, dotted))
    return sorted(out, key=lambda item: item[2])


def _value(value: Any) -> Any:
    """The resolved value of a scalar (a bool or date from YAML 1.1 unwrapped)."""
    return value.value if isinstance(value, _Plain) else value


def _text(value: Any) -> str:
    """A scalar as text: a plain YAML scalar's source text, else str()."""
    if isinstance(value, _Plain | _PlainInt | _PlainFloat):
        return value.text
    return str(value)


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxdict, _SHORT.maxlist, _SHORT.maxstring, _SHORT.maxother = 2, 4, 6, 40, 40


def _cut(text: str, limit: int = SHOW_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _show(value: Any) -> str:
    """A value for a finding: a scalar's text, a short sketch of a list or mapping, at most SHOW_LIMIT characters."""
    if not isinstance(value, str | int | float | _Plain) and value is not None:  # a list, mapping, set, bytes...
        return _cut(_SHORT.repr(value))
    if value is None:
        return "nothing"
    if type(value) is float and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # 0, not 0.0: as the user most likely wrote it
    return _cut(_text(value))


def _key(key: Any) -> str:
    """A mapping key for a dotted path: its text, control characters escaped, cut short."""
    text = _text(key)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return _cut(text, 40)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> Config:
    """Read and validate a YAML config; `overrides` maps dotted keys (e.g. 'solver.seed') to values that win.

    Everything is checked before any input is read; all problems are reported at once (ConfigError, exit 3).
    """
    path = Path(path)
    raw, duplicates = _read_yaml(path)
    findings = [
        Finding(
            str(path),
            f"duplicate key (first on line {first})",
            line=line,
            key=key,
            hint="YAML keeps only the last value silently; remove one of them",
        )
        for key, first, line in duplicates
    ]
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        kind = type(_value(raw)).__name__
        raise ConfigError(f"{path}: expected a mapping of sections at the top level, got {kind}")
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value)
    built: list[Finding] = []
    config = _build(Config, raw, str(path), "", built)
    findings.extend(built)
    if config is not None:
        config = dataclasses.replace(config, base_dir=str(path.parent.resolve()))
        # A key that failed to read kept its default; a check that involves it would only repeat the problem.
        failed = [f.key for f in built if f.key]
        findings.extend(f for f in _check_semantics(config, str(path)) if not _overlaps(f.key, failed))
    if findings:
        cli_keys = set(overrides or {})
        findings = [_mark_cli(f, cli_keys) for f in findings]
        raise ConfigError(f"{path}: the config has {len(findings)} problem(s)", findings)
    return config


def _read_yaml(path: Path) -> tuple[Any, list[tuple[str, int, int]]]:
    """The parsed YAML document and the duplicate keys seen, or a ConfigError saying why the file cannot be used."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: the config path is a folder, not a file") from None
    except OSError as exc:
        if path.is_dir():  # some systems say "permission denied" for a folder
            raise ConfigError(f"{path}: the config path is a folder, not a file") from None
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte {exc.start})") from None
    loader = None
    try:
        loader = _ConfigLoader(text)  # checks for unprintable characters already
        root = loader.get_single_node()
        duplicates = _duplicate_keys(root)
        return (loader.construct_document(root) if root is not None else None), duplicates
    except _AliasRefused as exc:
        raise ConfigError(
            f"{path}:{exc.line}: config uses YAML aliases (&anchor / *alias); write the values out"
        ) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigError(f"{path}:{line}: not valid YAML: {exc.reason} (character U+{exc.character:04X})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {_cut(str(getattr(exc, 'problem', exc)), 200)}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def _overlaps(key: str | None, failed: list[str]) -> bool:
    """Whether `key` is one of `failed`, inside one, or holds one."""
    if key is None:
        return False
    for other in failed:
        if key == other or key.startswith((f"{other}.", f"{other}[")) or other.startswith((f"{key}.", f"{key}[")):
            return True
    return False


def _mark_cli(finding: Finding, cli_keys: set[str]) -> Finding:
    """Say so when the value came from a command-line flag rather than the file."""
    if finding.key not in cli_keys:
        return finding
    note = "this value came from the command line"
    return dataclasses.replace(finding, hint=f"{finding.hint}; {note}" if finding.hint else note)


def _set_dotted(raw: dict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = raw
    for key in parents:
        if node.get(key) is None:
            node[key] = {}
        node = node[key]
        if isinstance(node, list) and node:  # a list of balance metrics: the flag sets the first (primary) one
            node = node[0]
        if not isinstance(node, dict):  # the section itself is wrong; that is reported, the flag cannot apply
            return
    node[leaf] = value


def _build(cls: type, raw: Any, file: str, where: str, findings: list[Finding]) -> Any:
    """Turn a YAML mapping into dataclass `cls`, appending a Finding for each problem.

    A key whose value is wrong keeps its default, so the rest can still be checked; a dataclass missing a required
    key (or with a wrong one) is None.
    """
    if not isinstance(raw, dict):
        findings.append(Finding(file, "expected a mapping", key=where or "(top)", value=_show(raw)))
        return None
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    kwargs: dict[str, Any] = {}
    failed: set[str] = set()
    for key, value in raw.items():
        key = _text(key)
        dotted = f"{where}.{_key(key)}" if where else _key(key)
        if key not in known:
            close = closest(_cut(key, 200), list(known))
            hint = f"did you mean '{close}'?" if close else f"valid keys here: {', '.join(known)}"
            findings.append(Finding(file, "unknown config key", key=dotted, hint=hint))
            continue
        before = len(findings)
        coerced = _coerce(hints[key], value, file, dotted, findings)
        if len(findings) == before or coerced is not None:  # a section or list keeps the parts that were fine
            kwargs[key] = coerced
        else:
            failed.add(key)
    missing = [
        name
        for name, f in known.items()
        if name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    for name in missing:
        if name not in failed:
            findings.append(Finding(file, "required key is missing", key=f"{where}.{name}" if where else name))
    if missing:
        return None
    try:
        return cls(**kwargs)
    except TypeError as exc:  # not expected: every value was coerced
        findings.append(Finding(file, str(exc), key=where))
        return None


#: Lists of these also accept a single mapping, meaning a one-item list (territories.balance).
_MAPPING_AS_LIST = (Balance,)
#: These sections also accept a list, meaning {key: list} (inputs.volumes as a list of {path, year} files).
_LIST_AS_MAPPING: dict[type, str] = {VolumesInput: "files"}


def _coerce(hint: Any, value: Any, file: str, where: str, findings: list[Finding]) -> Any:
    """`value` as type `hint`, appending a Finding (and returning None) when it is not one.

    A list or mapping drops the items that are wrong and keeps the rest, so they can still be checked.
    """
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, file, where, findings)
    if dataclasses.is_dataclass(hint):
        if isinstance(value, list) and hint in _LIST_AS_MAPPING:
            value = {_LIST_AS_MAPPING[hint]: value}
        return _build(hint, value, file, where, findings)
    if origin is Literal:
        choice = value if isinstance(value, dict | list) or value is None else _text(value)
        if choice not in args:
            close = closest(_show(value), [str(a) for a in args])
            hint_text = f"did you mean '{close}'?" if close else f"choose one of: {', '.join(map(str, args))}"
            findings.append(Finding(file, "not an allowed value", key=where, value=_show(value), hint=hint_text))
            return None
        return choice
    if origin is tuple:
        if isinstance(value, dict) and args[0] in _MAPPING_AS_LIST:
            built = _coerce(args[0], value, file, where, findings)  # findings keep the mapping's own key
            return () if built is None else (built,)
        if isinstance(value, str | int | float | _Plain):
            value = [value]
        if not isinstance(value, list):
            findings.append(Finding(file, "expected a list", key=where, value=_show(value)))
            return None
        items = (_coerce(args[0], item, file, f"{where}[{i}]", findings) for i, item in enumerate(value))
        return tuple(item for item in items if item is not None)
    if origin is dict:
        if not isinstance(value, dict):
            findings.append(Finding(file, "expected a mapping", key=where, value=_show(value)))
            return None
        items = {_text(k): _coerce(args[1], v, file, f"{where}.{_key(k)}", findings) for k, v in value.items()}
        return {k: v for k, v in items.items() if v is not None}
    if hint is bool:
        if not isinstance(_value(value), bool):
            findings.append(Finding(file, "expected true or false", key=where, value=_show(value)))
            return None
        return _value(value)
    if hint in (int, float):
        return _number(hint, value, file, where, findings)
    if hint is str:
        if value is None or isinstance(value, dict | list):
            findings.append(Finding(file, "expected text", key=where, value=_show(value)))
            return None
        return _text(value)
    return value


def _number(hint: type, value: Any, file: str, where: str, findings: list[Finding]) -> int | float | None:
    """A finite int or float, or None with a Finding."""
    number = _value(value)
    if isinstance(number, bool) or not isinstance(number, int | float):
        try:
            if isinstance(number, dict | list) or number is None:
                raise ValueError
            number = hint(str(number).strip())
        except ValueError:
            findings.append(Finding(file, f"expected a number ({hint.__name__})", key=where, value=_show(value)))
            return None
    if isinstance(number, float) and not math.isfinite(number):
        findings.append(
            Finding(
                file,
                "expected a finite number",
                key=where,
                value=_show(value),
                hint="NaN and infinity are not allowed; give an ordinary number",
            )
        )
        return None
    if hint is float:
        try:
            return float(number)
        except OverflowError:
            findings.append(Finding(file, "the number is too large", key=where, value=_show(value)))
            return None
    if isinstance(number, float) and not number.is_integer():
        findings.append(Finding(file, "expected a whole number", key=where, value=_show(value)))
        return None
    if abs(number) >= 2**63:  # e.g. a long YAML sexagesimal: no count or seed is this big, and str() would fail
        findings.append(Finding(file, "the number is too large", key=where, value=_show(value)))
        return None
    return int(number)


def _check_semantics(config: Config, file: str) -> list[Finding]:
    out: list[Finding] = []
    t = config.territories
    if t.count is not None and t.count < 1:
        out.append(Finding(file, "need at least 1 territory", key="territories.count", value=_show(t.count)))
    out.extend(_check_balance(t.balance, file))
    if t.min_accounts is not None and t.max_accounts is not None and t.min_accounts > t.max_accounts:
        out.append(
            Finding(
                file,
                "min_accounts is above max_accounts",
                key="territories.min_accounts",
                value=f"{t.min_accounts} > {t.max_accounts}",
            )
        )
    if t.centres == "rep_homes" and config.inputs.reps is None:
        out.append(
            Finding(
                file,
                "centres at rep homes need a rep roster",
                key="territories.centres",
                hint="add inputs.reps: {path: reps.csv}, or use centres: free",
            )
        )
    parts = [(i, column) for i, spec in enumerate(config.units.keep_together) for column in spec.split("+")]
    for i, column in parts:
        if column not in ACCOUNT_FIELDS:
            close = closest(column, list(ACCOUNT_FIELDS))
            out.append(
                Finding(
                    file,
                    "not an account field",
                    key=f"units.keep_together[{i}]",
                    value=_show(column),
                    hint=f"did you mean '{close}'?" if close else f"one of: {', '.join(ACCOUNT_FIELDS)}",
                )
            )
    if config.contiguity.graph and config.units.by == "account":
        out.append(
            Finding(
                file,
                "contiguity needs area units",
                key="contiguity.graph",
                hint="set units.by: zip (with a ZIP graph) or units.by: county (with the county graph)",
            )
        )
    budget = config.disruption.budget
    if budget is not None and not 0 <= budget <= 1:
        out.append(
            Finding(
                file,
                "the budget is a share of potential in [0, 1]",
                key="disruption.budget",
                value=_show(budget),
                hint="0.10 lets at most 10 % of potential change territory",
            )
        )
    share = config.disruption.budget_per_territory
    if share is not None and not 0 <= share <= 1:
        out.append(Finding(file, "a share in [0, 1]", key="disruption.budget_per_territory", value=_show(share)))
    if config.disruption.budget_accounts is not None and config.disruption.budget_accounts < 0:
        out.append(Finding(file, "must not be negative", key="disruption.budget_accounts",
                           value=_show(config.disruption.budget_accounts)))  # fmt: skip
    if config.disruption.move_cost_km < 0:
        out.append(Finding(file, "must not be negative", key="disruption.move_cost_km",
                           value=_show(config.disruption.move_cost_km)))  # fmt: skip
    limit = config.rules.max_distance_km
    if limit is not None and limit <= 0:
        out.append(Finding(file, "must be positive", key="rules.max_distance_km", value=_show(limit)))
    h = config.hierarchy
    if h.districts < 1 or h.regions < 1 or h.regions > h.districts:
        out.append(
            Finding(
                file,
                "need 1 <= regions <= districts",
                key="hierarchy",
                value=f"districts {h.districts}, regions {h.regions}",
            )
        )
    if t.count is not None and h.districts > t.count:
        out.append(
            Finding(
                file,
                "more districts than territories",
                key="hierarchy.districts",
                value=_show(h.districts),
                hint=f"use at most {t.count} districts",
            )
        )
    if not config.inputs.accounts.path:
        out.append(Finding(file, "required key is missing", key="inputs.accounts.path"))
    if config.solver.time_limit <= 0:
        out.append(Finding(file, "must be positive", key="solver.time_limit", value=_show(config.solver.time_limit)))
    if not config.segments:
        out.append(Finding(file, "need at least one segment", key="segments"))
    total_share = sum(s.share for s in config.segments)
    if config.segments and abs(total_share - 1.0) > 1e-6:
        out.append(
            Finding(
                file,
                "segment shares must add up to 1",
                key="segments",
                value=f"{total_share:g}",
                hint="each share is the slice of cumulative potential the tier covers, e.g. 0.5, 0.3, 0.2",
            )
        )
    for i, seg in enumerate(config.segments):
        for name in ("share", "calls_per_year", "minutes_per_call"):
            value = getattr(seg, name)
            if value < 0:
                out.append(Finding(file, "must not be negative", key=f"segments[{i}].{name}", value=_show(value)))
    out.extend(_check_volume_files(config, file))
    out.extend(_check_limits(config, file))
    out.extend(_check_factors(config, file))
    return out


def _check_volume_files(config: Config, file: str) -> list[Finding]:
    """inputs.volumes: a path or files (not both), each file with a path, years plausible."""
    spec = config.inputs.volumes
    if spec is None:
        return []
    out: list[Finding] = []
    if spec.path and spec.files:
        out.append(Finding(file, "give either path or files, not both", key="inputs.volumes.files",
                           hint="files lists each year's file: [{path: partb_2020.csv, year: 2020}, ...]"))  # fmt: skip
    for i, item in enumerate(spec.files):
        if not item.path:
            out.append(Finding(file, "required key is missing", key=f"inputs.volumes.files[{i}].path"))
    years = [(f"inputs.volumes.files[{i}].year", item.year) for i, item in enumerate(spec.files)]
    for key, year in [*years, ("inputs.volumes.year", spec.year)]:
        if year is not None and not 1900 <= year <= 2200:
            out.append(Finding(file, "not a plausible year", key=key, value=_show(year), hint="e.g. 2021"))
    return out


def _check_balance(balance: Balances, file: str) -> list[Finding]:
    """Each balance metric once, a tolerance in [0, 1), limits per FTE not negative and in order."""
    out: list[Finding] = []
    if not balance:
        out.append(Finding(file, "need at least one balance metric", key="territories.balance",
                           hint="e.g. balance: {metric: potential, tolerance: 0.05}"))  # fmt: skip
    seen: set[str] = set()
    for i, item in enumerate(balance):
        key = "territories.balance" if len(balance) == 1 else f"territories.balance[{i}]"
        if item.metric in seen:
            out.append(Finding(file, "metric listed twice", key=f"{key}.metric", value=_show(item.metric),
                               hint="give each metric one entry, with its tolerance and limits together"))  # fmt: skip
        seen.add(item.metric)
        if item.tolerance is not None and not 0 <= item.tolerance < 1:
            out.append(
                Finding(
                    file,
                    "tolerance must be a fraction in [0, 1)",
                    key=f"{key}.tolerance",
                    value=_show(item.tolerance),
                    hint="0.05 means every territory within ±5 % of the mean",
                )
            )
        for name in ("min_per_fte", "max_per_fte"):
            value = getattr(item, name)
            if value is not None and value < 0:
                out.append(Finding(file, "must not be negative", key=f"{key}.{name}", value=_show(value)))
        low, high = item.min_per_fte, item.max_per_fte
        if low is not None and high is not None and 0 <= high < low:
            out.append(Finding(file, "min_per_fte is above max_per_fte", key=f"{key}.min_per_fte",
                               value=f"{_show(low)} > {_show(high)}"))  # fmt: skip
    return out


#: Seeds are whole numbers in [0, 2**32), the range every numpy generator accepts.
SEED_LIMIT = 2**32

_PATH_KEYS = (
    "inputs.accounts.path",
    "inputs.volumes.path",
    "inputs.reps.path",
    "rules.path",
    "contiguity.graph",
    "disruption.current",
    "output.dir",
)
_ENCODING_KEYS = ("inputs.accounts.encoding", "inputs.volumes.encoding", "inputs.reps.encoding")


def _dotted(config: Config, key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        node = getattr(node, part, None)
    return node


def _check_limits(config: Config, file: str) -> list[Finding]:
    """Numbers outside the range where they mean something, unusable encodings and paths."""
    out: list[Finding] = []

    def need(key: str, value: Any, ok: bool, message: str, hint: str | None = None) -> None:
        if value is not None and not ok:
            out.append(Finding(file, message, key=key, value=_show(value), hint=hint))

    s = config.solver
    need("solver.seed", s.seed, 0 <= s.seed < SEED_LIMIT, f"must be from 0 to {SEED_LIMIT - 1}",
         "the seed picks the random starts; any value in range repeats exactly")  # fmt: skip
    need("solver.candidates", s.candidates, s.candidates >= 1, "must be 1 or more",
         "how many nearest centres each account may join, e.g. 30")  # fmt: skip
    need("solver.starts", s.starts, s.starts is None or s.starts >= 1, "must be 1 or more",
         "how many runs from different random starts, e.g. 12 (null: by the instance's size)")  # fmt: skip
    need("solver.bound_iterations", s.bound_iterations, s.bound_iterations >= 0, "must be 0 or more",
         "subgradient steps of the lower bound, e.g. 300")  # fmt: skip
    need("solver.effort", s.effort, 0 <= s.effort <= 1000, "must be from 0 to 1000",
         "sweeps of the neighbourhood search, e.g. 1 (0: off); more effort never gives a worse result")  # fmt: skip
    z = config.sizing
    for name, example in (("hours_per_fte", 1600), ("travel_speed_kmh", 50), ("calls_per_trip", 4)):
        value = getattr(z, name)
        need(f"sizing.{name}", value, value > 0, "must be positive", f"e.g. {example}")
    for name in ("k_min", "k_max"):
        value = getattr(z, name)
        need(f"sizing.{name}", value, value is not None and value >= 1, "must be 1 or more",
             "a number of territories; null picks a range around the need")  # fmt: skip
    if z.k_min is not None and z.k_max is not None and 1 <= z.k_max < z.k_min:
        out.append(Finding(file, "k_min is above k_max", key="sizing.k_min", value=f"{z.k_min} > {z.k_max}"))
    p = config.plans
    need("plans.goal", p.goal, p.goal >= 0, "must not be negative", "the national goal, 0 for none")
    out.extend(_plans_findings(p, file))
    need("plans.top_accounts", p.top_accounts, p.top_accounts >= 0, "must not be negative",
         "accounts in each plan's target list, e.g. 25 (0 for none)")  # fmt: skip
    need("plans.far_account_km", p.far_account_km, p.far_account_km > 0, "must be positive", "e.g. 150")
    sc = config.scoring
    weight_hint = "a weight scales a code's volume; 0 leaves the code out"
    for code, weight in sc.weights.items():
        need(f"scoring.weights.{_key(code)}", weight, weight >= 0, "must not be negative", weight_hint)
    for i, group in enumerate(sc.groups):
        need(f"scoring.groups[{i}].weight", group.weight, group.weight >= 0, "must not be negative", weight_hint)
    need("scoring.default_weight", sc.default_weight, sc.default_weight >= 0, "must not be negative", weight_hint)
    t = config.territories
    for name in ("min_accounts", "max_accounts"):
        value = getattr(t, name)
        need(f"territories.{name}", value, value is not None and value >= 0, "must not be negative")
    need("territories.rep_home_weight", t.rep_home_weight, t.rep_home_weight >= 0, "must not be negative",
         "e.g. 0.15; 1 prices a km from home to centre like a km of every trip; 0 for none")  # fmt: skip
    need("territories.rep_home_warn_km", t.rep_home_warn_km, t.rep_home_warn_km > 0, "must be positive",
         "e.g. 50")  # fmt: skip
    tol = config.hierarchy.tolerance
    need("hierarchy.tolerance", tol, 0 <= tol < 1, "tolerance must be a fraction in [0, 1)",
         "0.15 means every district and region within ±15 % of its mean")  # fmt: skip
    km = config.inputs.accounts.zip_mismatch_km
    need("inputs.accounts.zip_mismatch_km", km, km is not None and km > 0, "must be positive",
         "e.g. 100, or null for no check")  # fmt: skip
    km = config.disruption.relocated_km
    need("disruption.relocated_km", km, km is not None and km > 0, "must be positive",
         "e.g. 100, or null to never reassign an account for moving")  # fmt: skip
    km = config.units.remote_gap_km
    need("units.remote_gap_km", km, km is not None and km > 0, "must be positive",
         f"e.g. {DEFAULT_REMOTE_GAP_KM:g}, or null for no remote regions")  # fmt: skip
    above = config.units.aggregate_above
    need("units.aggregate_above", above, above is not None and above >= 1, "must be at least 1",
         "e.g. 50000, or null to solve on single accounts at any size")  # fmt: skip
    for key in _ENCODING_KEYS:
        encoding = _dotted(config, key)
        if encoding is not None:
            try:
                codecs.lookup(encoding)
            except (LookupError, ValueError):
                out.append(Finding(file, "unknown encoding", key=key, value=_show(encoding),
                                   hint="e.g. utf-8, or cp1252 for files saved by older Excel versions"))  # fmt: skip
    for key in _PATH_KEYS:
        value = _dotted(config, key)
        if isinstance(value, str) and "\x00" in value:
            out.append(Finding(file, "a path cannot contain a NUL character", key=key, value=_show(value)))
    return out


ADOPTION_CLASSES = ("adopter", "trialist", "non-adopter", "unknown")


def _check_factors(config: Config, file: str) -> list[Finding]:
    """The scoring factors' numbers in range, their files named, facility grouping only with affiliations."""
    out: list[Finding] = []

    def need(key: str, value: Any, ok: bool, message: str, hint: str | None = None) -> None:
        if not ok:
            out.append(Finding(file, message, key=key, value=_show(value), hint=hint))

    sc = config.scoring
    if sc.growth is not None:
        g = sc.growth
        need("scoring.growth.min_years", g.min_years, g.min_years >= 1, "must be 1 or more",
             "years an account needs for a trend of its own, e.g. 2")  # fmt: skip
        need("scoring.growth.shrink", g.shrink, g.shrink >= 0, "must not be negative",
             "pairs of years the national trend weighs in an account's rate, e.g. 3 (0: its own)")  # fmt: skip
        need("scoring.growth.min_rate", g.min_rate, -1 < g.min_rate <= g.max_rate,
             "must be above -1 and at most max_rate", "e.g. -0.5 (a halving per year)")  # fmt: skip
        if g.plan_year is not None:
            need("scoring.growth.plan_year", g.plan_year, 1900 <= g.plan_year <= 2200, "not a plausible year",
                 "e.g. 2023, or null for the year after the latest volumes")  # fmt: skip
    if sc.competition is not None:
        c = sc.competition
        need("scoring.competition.path", c.path, bool(c.path), "required key is missing",
             "the competitive-landscape CSV or the Open Payments file")  # fmt: skip
        need("scoring.competition.winnable", c.winnable, 0 <= c.winnable <= 1, "a share in [0, 1]",
             "0.5 counts half of a competitor's hold as winnable")  # fmt: skip
        need("scoring.competition.dominant", c.dominant, 0 < c.dominant <= 1, "a share in (0, 1]",
             "0.5: accounts where competitors hold half or more are 'convert' opportunities")  # fmt: skip
    if sc.adoption is not None:
        for name, factor in sc.adoption.factors.items():
            key = f"scoring.adoption.factors.{_key(name)}"
            need(key, name, name in ADOPTION_CLASSES, "not an adoption class", f"one of: {', '.join(ADOPTION_CLASSES)}")
            need(key, factor, factor >= 0, "must not be negative", "e.g. 0.6")
    seen: set[str] = set()
    for i, opportunity in enumerate(sc.opportunities):
        key = f"scoring.opportunities[{i}]"
        need(f"{key}.name", opportunity.name, opportunity.name not in seen, "opportunity listed twice",
             "give each of expand, convert, develop one entry")  # fmt: skip
        seen.add(opportunity.name)
        for name in ("calls_per_year", "minutes_per_call"):
            value = getattr(opportunity, name)
            need(f"{key}.{name}", value, value is None or value >= 0, "must not be negative")
    affiliations = config.inputs.affiliations
    if affiliations is not None:
        need("inputs.affiliations.path", affiliations.path, bool(affiliations.path), "required key is missing",
             "a CSV of physician NPI and facility id")  # fmt: skip
    for i, spec in enumerate(config.units.keep_together):
        need(f"units.keep_together[{i}]", spec, "facility" not in spec.split("+") or affiliations is not None,
             "keeping accounts with their facility needs inputs.affiliations",
             "add inputs.affiliations: {path: affiliations.csv}")  # fmt: skip
    return out
