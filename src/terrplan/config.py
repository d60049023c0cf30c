"""The YAML config as frozen, validated dataclasses.

Every section is a dataclass; `load_config` walks the YAML against them, so an unknown key is rejected with the
closest valid name, a wrong type names its dotted path, and all problems are reported at once.
Paths in the config are relative to the config file.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
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
ACCOUNT_FIELDS = ("system", "address", "zip", "city", "state", "type", "specialty", "name", "territory")


@dataclass(frozen=True)
class VolumeColumns:
    account: str | None = None
    code: str | None = None
    volume: str | None = None
    period: str | None = None


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


@dataclass(frozen=True)
class VolumesInput:
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


@dataclass(frozen=True)
class Inputs:
    accounts: AccountsInput = field(default_factory=AccountsInput)
    volumes: VolumesInput | None = None
    reps: RepsInput | None = None
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


@dataclass(frozen=True)
class Units:
    """What the optimizer moves: single accounts or whole ZIPs; accounts sharing a value in a keep-together
    column (e.g. system) always move as one."""

    by: Literal["account", "zip", "county"] = "account"
    keep_together: tuple[str, ...] = ()
    # A group too big for any territory's band: 'error' stops with its name; 'split' lets its accounts move
    # separately (each such group is named in the log and summary.json).
    oversize: Literal["error", "split"] = "error"


@dataclass(frozen=True)
class Balance:
    metric: Literal["potential", "workload", "accounts"] = "potential"
    tolerance: float = 0.05  # each territory within mean x (1 +/- tolerance)


@dataclass(frozen=True)
class Territories:
    # Territories: from the roster when centres are rep homes, else this many (default 10).
    count: int | None = None
    # free: the optimizer places centres, then reps are matched to territories; rep_homes: one territory per
    # roster row, centred on the rep's home, its targets scaled by FTE.
    centres: Literal["free", "rep_homes"] = "free"
    balance: Balance = field(default_factory=Balance)
    # Objective weight: distance is weighted by this per account.
    objective_weight: Literal["potential", "workload", "accounts"] = "potential"
    # Hard limits on the number of accounts per territory, on top of the balance band.
    min_accounts: int | None = None
    max_accounts: int | None = None


@dataclass(frozen=True)
class Solver:
    seed: int = 0
    # Seconds. The iteration caps below normally end a run first, so results repeat; a run the clock cuts may not.
    time_limit: float = 60.0
    candidates: int = 30  # nearest centres per account in the assignment step
    starts: int = 12  # location-allocation runs from different seeds
    bound_iterations: int = 300  # subgradient steps of the lower bound: more gives a tighter gap, slower


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

    goal: float = 0.0  # national goal (e.g. procedures or revenue), split by territory potential share
    goal_unit: str = "procedures"
    top_accounts: int = 25  # accounts in each plan's target list
    far_account_km: float = 150.0  # accounts farther than this from the centre are flagged as a risk


@dataclass(frozen=True)
class Output:
    dir: str = "out"
    report: bool = True  # report.html, plans/, GeoJSON and the workbook beside the CSVs
    # Text cells starting with = + - @ tab or CR get a leading ' in CSVs and the workbook (OWASP CSV injection);
    # false writes raw values, for pipelines that need them.
    escape_formulas: bool = True


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
    # Directory the config was read from; relative paths resolve against it. Not a YAML key.
    base_dir: str = field(default=".", metadata={"internal": True})

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the config file ('-' stays '-')."""
        if path == "-":
            return Path("-")
        candidate = Path(path).expanduser()
        return Path(os.path.normpath(candidate if candidate.is_absolute() else Path(self.base_dir) / candidate))

    def as_dict(self) -> dict[str, Any]:
        """The resolved config, for summary.json."""
        data = dataclasses.asdict(self)
        data.pop("base_dir")
        return data


# -- loading ----------------------------------------------------------------------------------------------------


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> Config:
    """Read and validate a YAML config; `overrides` maps dotted keys (e.g. 'solver.seed') to values that win."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level, got {type(raw).__name__}")
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value)
    findings: list[Finding] = []
    config = _build(Config, raw, str(path), "", findings)
    if config is not None and not findings:
        config = dataclasses.replace(config, base_dir=str(path.parent.resolve()))
        findings.extend(_check_semantics(config, str(path)))
    if findings:
        raise ConfigError(f"{path}: the config has {len(findings)} problem(s)", findings)
    return config


def _set_dotted(raw: dict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = raw
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def _build(cls: type, raw: Any, file: str, where: str, findings: list[Finding]) -> Any:
    """Turn a YAML mapping into dataclass `cls`, appending a Finding for each problem."""
    if not isinstance(raw, dict):
        findings.append(Finding(file, "expected a mapping", key=where or "(top)", value=str(raw)))
        return None
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        dotted = f"{where}.{key}" if where else str(key)
        if key not in known:
            close = closest(str(key), list(known))
            hint = f"did you mean '{close}'?" if close else f"valid keys here: {', '.join(known)}"
            findings.append(Finding(file, "unknown config key", key=dotted, hint=hint))
            continue
        kwargs[key] = _coerce(hints[key], value, file, dotted, findings)
    missing = [
        name
        for name, f in known.items()
        if name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    for name in missing:
        findings.append(Finding(file, "required key is missing", key=f"{where}.{name}" if where else name))
    if missing:
        return None
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a None from a failed nested build; already reported
        if not findings:
            findings.append(Finding(file, str(exc), key=where))
        return None


def _coerce(hint: Any, value: Any, file: str, where: str, findings: list[Finding]) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, file, where, findings)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, file, where, findings)
    if origin is Literal:
        if value not in args:
            close = closest(str(value), [str(a) for a in args])
            hint_text = f"did you mean '{close}'?" if close else f"choose one of: {', '.join(map(str, args))}"
            findings.append(Finding(file, "not an allowed value", key=where, value=str(value), hint=hint_text))
        return value
    if origin is tuple:
        if isinstance(value, str | int | float):
            value = [value]
        if not isinstance(value, list):
            findings.append(Finding(file, "expected a list", key=where, value=str(value)))
            return ()
        return tuple(_coerce(args[0], item, file, f"{where}[{i}]", findings) for i, item in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            findings.append(Finding(file, "expected a mapping", key=where, value=str(value)))
            return {}
        return {str(k): _coerce(args[1], v, file, f"{where}.{k}", findings) for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            findings.append(Finding(file, "expected true or false", key=where, value=str(value)))
        return bool(value)
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            try:
                value = hint(str(value))
            except ValueError:
                findings.append(Finding(file, f"expected a number ({hint.__name__})", key=where, value=str(value)))
                return hint(0)
        if hint is int and float(value) != int(value):
            findings.append(Finding(file, "expected a whole number", key=where, value=str(value)))
        return hint(value)
    if hint is str:
        if isinstance(value, dict | list):
            findings.append(Finding(file, "expected text", key=where, value=str(value)))
            return ""
        return str(value)
    return value


def _check_semantics(config: Config, file: str) -> list[Finding]:
    out: list[Finding] = []
    t = config.territories
    if t.count is not None and t.count < 1:
        out.append(Finding(file, "need at least 1 territory", key="territories.count", value=str(t.count)))
    if not 0 <= t.balance.tolerance < 1:
        out.append(
            Finding(
                file,
                "tolerance must be a fraction in [0, 1)",
                key="territories.balance.tolerance",
                value=str(t.balance.tolerance),
                hint="0.05 means every territory within ±5 % of the mean",
            )
        )
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
                    value=column,
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
                value=str(budget),
                hint="0.10 lets at most 10 % of potential change territory",
            )
        )
    share = config.disruption.budget_per_territory
    if share is not None and not 0 <= share <= 1:
        out.append(Finding(file, "a share in [0, 1]", key="disruption.budget_per_territory", value=str(share)))
    if config.disruption.budget_accounts is not None and config.disruption.budget_accounts < 0:
        out.append(Finding(file, "must not be negative", key="disruption.budget_accounts",
                           value=str(config.disruption.budget_accounts)))  # fmt: skip
    if config.disruption.move_cost_km < 0:
        out.append(Finding(file, "must not be negative", key="disruption.move_cost_km",
                           value=str(config.disruption.move_cost_km)))  # fmt: skip
    limit = config.rules.max_distance_km
    if limit is not None and limit <= 0:
        out.append(Finding(file, "must be positive", key="rules.max_distance_km", value=str(limit)))
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
                value=str(h.districts),
                hint=f"use at most {t.count} districts",
            )
        )
    if not config.inputs.accounts.path:
        out.append(Finding(file, "required key is missing", key="inputs.accounts.path"))
    if config.solver.time_limit <= 0:
        out.append(Finding(file, "must be positive", key="solver.time_limit", value=str(config.solver.time_limit)))
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
        if seg.share < 0 or seg.calls_per_year < 0 or seg.minutes_per_call < 0:
            out.append(Finding(file, "share, calls and minutes must not be negative", key=f"segments[{i}]"))
    return out
