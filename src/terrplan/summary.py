"""The run's result as one frozen, typed object: summary.json, the report, the plans and the workbook render from it.

`RunSummary` is built once, after the solve (`write.run_summary`), and never changed: what a run adds (band
violations, territories in pieces) is given when it is built. Nested figures from the solver stages (contiguity,
rules, reps, ...) are kept as read-only mappings; `as_dict()` turns everything back into plain JSON data, and
`to_json()` is summary.json, byte for byte.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from pathlib import Path


def json_text(data: Any) -> str:
    """Valid JSON whatever the figures: NaN and infinity (which json.dumps would write bare) become null."""
    return json.dumps(_finite(data), indent=2, sort_keys=True, default=_jsonable, allow_nan=False) + "\n"


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, set):
        return _finite(sorted(value, key=str))
    return str(value)


def frozen(value: Any) -> Any:
    """`value` made read-only all the way down: mappings become mapping proxies, lists tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: frozen(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(frozen(item) for item in value)
    return value


def thawed(value: Any) -> Any:
    """The plain JSON data of a `frozen` value: dicts and lists again."""
    if isinstance(value, Mapping):
        return {key: thawed(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [thawed(item) for item in value]
    return value


@dataclass(frozen=True)
class Solve:
    """What the solver stages report; the optional parts are None when a run has none (and left out of the
    JSON)."""

    status: str
    lower_bound: float | None = None
    gap: float | None = None
    solver_rounds: int | None = None
    split_groups: tuple[str, ...] | None = None  # keep-together groups too big for any territory
    contiguity: Mapping[str, Any] | None = None
    remote_regions: tuple[Mapping[str, Any], ...] | None = None
    rules: Mapping[str, Any] | None = None  # how the alignment keeps the lock and forbid rules
    objective_parts: Mapping[str, float] | None = None  # travel and disruption, when moves are priced
    units: int | None = None  # units solved, when accounts were grouped
    pricing: Mapping[str, Any] | None = None  # the move cost that kept a redesign inside its budget
    reps: Mapping[str, Any] | None = None  # rep homes against their territories
    refresh: Mapping[str, Any] | None = None  # a refresh's figures
    checks_failed: int | None = None  # evaluate's failed checks

    @classmethod
    def of(cls, fields: Mapping[str, Any]) -> Solve:
        """From the solver stages' figures by name; a name this class does not know is an error, so no figure
        silently drops out of summary.json."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(fields) - names)
        if unknown:
            raise ValueError(f"summary: unknown solver figure(s) {unknown}")
        return cls(**{key: frozen(value) for key, value in fields.items()})

    def as_dict(self) -> dict[str, Any]:
        out = {"status": self.status, "lower_bound": self.lower_bound, "gap": self.gap}
        for item in dataclasses.fields(self)[3:]:
            value = getattr(self, item.name)
            if value is not None:
                out[item.name] = thawed(value)
        return out


@dataclass(frozen=True)
class Inputs:
    """The files read (path and sha256 each) and what became of the account rows."""

    files: tuple[Mapping[str, str], ...]
    used: int  # accounts used
    rejected_rows: int  # rows set aside (a row with several problems counts once)
    counts: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))  # rows left out, matches, ...

    def accounts(self) -> dict[str, Any]:
        """summary.json's `accounts`."""
        return {"used": self.used, "rejected_rows": self.rejected_rows, **thawed(self.counts)}


@dataclass(frozen=True)
class Bands:
    """Each balance metric's index figures against its band: `primary` (with territories_in_band), then `each`
    in config order."""

    primary: Mapping[str, Any]
    each: tuple[Mapping[str, Any], ...]


DISRUPTION_KEYS = (
    "moved_accounts",
    "moved_accounts_share",
    "moved_potential",
    "moved_potential_share",
    "accounts_in_both",
    "territory_match",
)


@dataclass(frozen=True)
class Disruption:
    """The new alignment against the current one, as `compare` found it: its figures, and the moves and changes
    it counted (moves.csv and changes.csv; the report's Changes)."""

    moved_accounts: int
    moved_accounts_share: float
    moved_potential: float
    moved_potential_share: float
    accounts_in_both: int
    territory_match: Mapping[str, str]  # new territory -> the current one it continues
    # account_id, from_territory, to_territory, matched_to, potential, segment; None when read without moves.csv
    moves: pd.DataFrame | None = field(default=None, compare=False, repr=False)
    changes: pd.DataFrame | None = field(default=None, compare=False, repr=False)  # per current territory

    @classmethod
    def of(
        cls, figures: Mapping[str, Any], moves: pd.DataFrame | None = None, changes: pd.DataFrame | None = None
    ) -> Disruption:
        """From a comparison's figures (rounded to 6 decimals, as summary.json keeps them) and frames."""
        values = {key: frozen(_rounded(figures[key])) for key in DISRUPTION_KEYS}
        return cls(**values, moves=moves, changes=changes)

    def as_dict(self) -> dict[str, Any]:
        return {key: thawed(getattr(self, key)) for key in DISRUPTION_KEYS}


def _rounded(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value


@dataclass(frozen=True)
class RunSummary:
    """One run's result. `config` is the resolved config the run used (`Config.as_dict`, evaluate's sized to the
    alignment), read-only."""

    version: str
    seed: int
    config: Mapping[str, Any]
    inputs: Inputs
    solve: Solve
    objective: float  # rounded to 6 decimals
    runtime_s: float  # rounded to the millisecond
    territories: int
    bands: Bands
    disruption: Disruption | None = None
    band_violations: tuple[str, ...] | None = None  # written, then exit 6: outside a band not proven impossible
    territories_not_contiguous: int | None = None  # in band, yet in pieces (locks blocked the repair)

    @property
    def status(self) -> str:
        return self.solve.status

    @property
    def lower_bound(self) -> float | None:
        return self.solve.lower_bound

    @property
    def gap(self) -> float | None:
        return self.solve.gap

    def as_dict(self) -> dict[str, Any]:
        """summary.json as plain data."""
        out: dict[str, Any] = {
            "terrplan_version": self.version,
            "seed": self.seed,
            "inputs": thawed(self.inputs.files),
            "config": thawed(self.config),
            **self.solve.as_dict(),
            "objective": self.objective,
            "runtime_s": self.runtime_s,
            "accounts": self.inputs.accounts(),
            "territories": self.territories,
            "balance": thawed(self.bands.primary),
            "balances": thawed(self.bands.each),
        }
        if self.disruption is not None:
            out["disruption"] = self.disruption.as_dict()
        if self.band_violations is not None:
            out["band_violations"] = list(self.band_violations)
        if self.territories_not_contiguous is not None:
            out["territories_not_contiguous"] = self.territories_not_contiguous
        return out

    def to_json(self) -> str:
        """summary.json."""
        return json_text(self.as_dict())

    @property
    def units_by(self) -> str:
        """What the territories are built from: 'account', 'zip' or 'county' (units.by)."""
        return str((self.config.get("units") or {}).get("by"))

    @property
    def segments(self) -> tuple[Mapping[str, Any], ...]:
        """The size segments (name, share, calls_per_year, minutes_per_call), in config order."""
        return tuple(self.config.get("segments") or ())

    @property
    def opportunities(self) -> tuple[Mapping[str, Any], ...]:
        """scoring.opportunities: each opportunity segment's call plan and tactics."""
        return tuple((self.config.get("scoring") or {}).get("opportunities") or ())

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], moves: pd.DataFrame | None = None, changes: pd.DataFrame | None = None
    ) -> RunSummary:
        """From summary.json's data (what `as_dict` gives); `moves` and `changes` (moves.csv and changes.csv) go
        with its disruption."""
        rest = dict(data)
        top = {key: rest.pop(key, None) for key in _TOP_KEYS}
        accounts = dict(top["accounts"])
        used, rejected = accounts.pop("used"), accounts.pop("rejected_rows")
        change = top["disruption"]
        violations = top["band_violations"]
        return cls(
            version=top["terrplan_version"],
            seed=top["seed"],
            config=frozen(top["config"]),
            inputs=Inputs(frozen(top["inputs"]), used, rejected, frozen(accounts)),
            solve=Solve.of(rest),
            objective=top["objective"],
            runtime_s=top["runtime_s"],
            territories=top["territories"],
            bands=Bands(frozen(top["balance"]), frozen(top["balances"])),
            disruption=None if change is None else Disruption.of(change, moves, changes),
            band_violations=None if violations is None else tuple(violations),
            territories_not_contiguous=top["territories_not_contiguous"],
        )

    @classmethod
    def read(cls, folder: Path) -> RunSummary:
        """An output folder's summary.json, with its moves.csv and changes.csv when it has them."""
        data = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        text = {column: str for column in ("account_id", "from_territory", "to_territory", "matched_to", "territory")}
        frames = [
            pd.read_csv(folder / name, dtype=text, keep_default_na=False, na_values=[""])
            if (folder / name).is_file()
            else None
            for name in ("moves.csv", "changes.csv")
        ]
        return cls.from_dict(data, *frames)


_TOP_KEYS = (
    "terrplan_version",
    "seed",
    "inputs",
    "config",
    "objective",
    "runtime_s",
    "accounts",
    "territories",
    "balance",
    "balances",
    "disruption",
    "band_violations",
    "territories_not_contiguous",
)
