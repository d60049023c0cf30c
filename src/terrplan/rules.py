"""Rules from the config and the rules file -> per-account arrays -> the optimizer's per-unit `model.Rules`.

Territories have names here (the roster's, else the current alignment's, else T01, T02, ...), so a lock can say
"T03". Accounts that move together (keep-together groups, ZIP or county units) share their rules: a unit is
locked where any member is locked, forbidden where any member is, and pays the move costs of its members.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from terrplan.config import Config
from terrplan.errors import Finding, InfeasibleError, InputError, closest
from terrplan.geo import normalize_zip
from terrplan.model import Rules
from terrplan.read import read_table

RULE_KINDS = ("lock", "forbid")


@dataclass(frozen=True)
class AccountRules:
    """Rules per account; territory indices point into `names`."""

    names: tuple[str, ...]
    locked: np.ndarray  # (accounts,) territory index or -1
    forbidden: np.ndarray  # (p, 2) account, territory
    home: np.ndarray  # (accounts,) current territory index or -1
    move_cost: np.ndarray  # (accounts,) objective cost of moving the account out of its home
    max_distance: float

    def for_accounts(self, k: int) -> Rules:
        """The rules of the account-level problem."""
        codes = self.forbidden[:, 0] * k + self.forbidden[:, 1] if len(self.forbidden) else np.zeros(0)
        return Rules(self.locked, codes, self.max_distance, self.home, self.move_cost)

    def for_units(self, of_account: np.ndarray, unit_labels: list[str], account_ids: np.ndarray) -> Rules:
        """Each unit takes its members' rules; two different locks in one unit are an error that names both."""
        n_units, k = len(unit_labels), len(self.names)
        locked = np.full(n_units, -1, dtype=np.int64)
        first_lock = np.full(n_units, -1, dtype=np.int64)
        clashes: list[Finding] = []
        for account in np.flatnonzero(self.locked >= 0):
            unit, t = int(of_account[account]), int(self.locked[account])
            if locked[unit] < 0:
                locked[unit], first_lock[unit] = t, account
            elif locked[unit] != t:
                other = int(first_lock[unit])
                clashes.append(
                    Finding(
                        "rules",
                        f"{unit_labels[unit]} moves as one, but {account_ids[other]} is locked to "
                        f"{self.names[locked[unit]]} and {account_ids[account]} to {self.names[t]}",
                        value=str(account_ids[account]),
                        hint="lock both to one territory, or take one out of the keep-together group",
                    )
                )
        if clashes:
            raise InfeasibleError("locks conflict with accounts that move together", clashes)
        forbidden = (
            np.unique(of_account[self.forbidden[:, 0]] * k + self.forbidden[:, 1]) if len(self.forbidden) else []
        )
        home, cost = _unit_homes(of_account, self.home, self.move_cost, n_units, k)
        return Rules(locked, np.asarray(forbidden), self.max_distance, home, cost)


def _unit_homes(
    of_account: np.ndarray, home: np.ndarray, cost: np.ndarray, n_units: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """A unit's home is where most of its members' move cost lives; leaving it costs those members' share (the
    others move whatever the unit does, so their cost is a constant the optimizer can ignore)."""
    has = home >= 0
    per = np.zeros((n_units, k))
    np.add.at(per, (of_account[has], home[has]), cost[has] + 1e-12)
    unit_home = np.where(per.max(axis=1) > 0, per.argmax(axis=1), -1)
    unit_cost = np.where(unit_home >= 0, per.max(axis=1), 0.0)
    return unit_home.astype(np.int64), unit_cost


def territory_names(reps: pd.DataFrame | None, current_labels: tuple[str, ...] | None, k: int) -> tuple[str, ...]:
    """The roster's territory names (roster order), else the current alignment's, else T01..Tk."""
    if reps is not None and len(reps) == k:
        names = reps["territory"]
        if (names != "").all() and names.is_unique:
            return tuple(names)
    if current_labels is not None and len(current_labels) == k:
        return tuple(current_labels)
    width = max(2, len(str(k)))
    return tuple(f"T{i + 1:0{width}d}" for i in range(k))


def account_rules(
    config: Config,
    accounts: pd.DataFrame,
    names: tuple[str, ...],
    current: np.ndarray | None,
    weights: np.ndarray,
) -> AccountRules:
    """Per-account rules. `current`: each account's current territory index into `names` (-1: none)."""
    n = len(accounts)
    locked = np.full(n, -1, dtype=np.int64)
    forbidden = np.zeros((0, 2), dtype=np.int64)
    if config.rules.path:
        locked, forbidden = _read_rules(config.resolve(config.rules.path), accounts, names)
    home = current if current is not None else np.full(n, -1, dtype=np.int64)
    move_cost = np.where(home >= 0, config.disruption.move_cost_km * weights, 0.0)
    limit = config.rules.max_distance_km
    return AccountRules(names, locked, forbidden, home, move_cost, np.inf if limit is None else float(limit))


def _read_rules(path: Path, accounts: pd.DataFrame, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Lock and forbid rows of the rules file, every bad row reported at once."""
    table = read_table(path)
    frame = table.frame
    header = list(frame.columns)
    findings = [
        Finding(table.name, f"missing required column '{column}'", line=1, hint=_COLUMNS_HINT)
        for column in ("territory", "rule")
        if column not in header
    ]
    if "account_id" not in header and "zip" not in header:
        findings.append(Finding(table.name, "needs an account_id or a zip column", line=1, hint=_COLUMNS_HINT))
    if findings:
        raise InputError(f"{table.name}: not a rules file", findings)
    index = {name: i for i, name in enumerate(names)}
    ids = pd.Series(np.arange(len(accounts)), index=accounts["account_id"].to_numpy())
    by_zip = pd.Series(np.arange(len(accounts))).groupby(accounts["zip"].to_numpy()).agg(list)
    n = len(accounts)
    locked = np.full(n, -1, dtype=np.int64)
    lock_line = np.zeros(n, dtype=np.int64)
    pairs: list[tuple[int, int]] = []
    for row, line in zip(frame.itertuples(index=False), table.lines, strict=True):
        record = row._asdict()
        bad = _check_row(record, index, ids, by_zip, names)
        if bad is not None:
            column, value, message, hint = bad
            findings.append(Finding(table.name, message, line=int(line), column=column, value=value, hint=hint))
            continue
        members = _members(record, ids, by_zip)
        t = index[record["territory"].strip()]
        if record["rule"].strip().lower() == "forbid":
            pairs.extend((int(a), t) for a in members)
            continue
        for a in members:
            if locked[a] >= 0 and locked[a] != t:
                findings.append(
                    Finding(
                        table.name,
                        f"account {accounts['account_id'].iat[a]} is already locked to {names[locked[a]]} "
                        f"(line {lock_line[a]})",
                        line=int(line),
                        column="territory",
                        value=record["territory"],
                        hint="an account can be locked to one territory only",
                    )
                )
            locked[a], lock_line[a] = t, line
    clash = [(a, t) for a, t in pairs if locked[a] == t]
    for a, t in clash:
        findings.append(
            Finding(
                table.name,
                f"account {accounts['account_id'].iat[a]} is both locked to and forbidden in {names[t]}",
                value=str(accounts["account_id"].iat[a]),
                hint="drop one of the two rules",
            )
        )
    if findings:
        raise InputError(f"{table.name}: {len(findings)} rule(s) cannot be used", findings)
    forbidden = np.array(sorted(set(pairs)), dtype=np.int64).reshape(-1, 2)
    return locked, forbidden


_COLUMNS_HINT = "a rules file has columns account_id (or zip), territory, rule (lock or forbid)"


def _check_row(record: dict, index: dict, ids: pd.Series, by_zip: pd.Series, names: tuple[str, ...]):
    """(column, value, message, hint) of the first problem in a rules row, or None."""
    rule = str(record.get("rule", "")).strip().lower()
    if rule not in RULE_KINDS:
        return "rule", record.get("rule", ""), "unknown rule", "use lock or forbid"
    territory = str(record.get("territory", "")).strip()
    if territory not in index:
        near = _same_number(territory, names) or closest(territory, list(names))
        hint = f"did you mean '{near}'?" if near else f"territories are {', '.join(names[:12])}"
        return "territory", territory, "unknown territory", hint
    account = str(record.get("account_id", "") or "").strip()
    zip_code = str(record.get("zip", "") or "").strip()
    if account:
        if account not in ids.index:
            return "account_id", account, "not among the usable accounts", "check the id, or see rejects.csv"
        return None
    if zip_code:
        if normalize_zip(zip_code) not in by_zip.index:
            return "zip", zip_code, "no account in this ZIP", "check the ZIP"
        return None
    return "account_id", "", "names neither an account nor a ZIP", _COLUMNS_HINT


def _same_number(text: str, names: tuple[str, ...]) -> str | None:
    """The name with the same prefix and number, padding aside ('T1' -> 'T01'), if there is one."""
    match = re.fullmatch(r"(\D*)0*(\d+)", text)
    if match is None:
        return None
    for name in names:
        other = re.fullmatch(r"(\D*)0*(\d+)", name)
        if other is not None and other.groups() == match.groups():
            return name
    return None


def _members(record: dict, ids: pd.Series, by_zip: pd.Series) -> list[int]:
    account = str(record.get("account_id", "") or "").strip()
    if account:
        return [int(ids[account])]
    return [int(a) for a in by_zip[normalize_zip(str(record["zip"]).strip())]]


def rule_figures(rules: AccountRules, territory: np.ndarray, distance: np.ndarray) -> dict[str, int]:
    """How the alignment (territory index and distance to its centre, per account) keeps the rules."""
    locked = rules.locked >= 0
    figures = {
        "locked_accounts": int(locked.sum()),
        "locks_kept": int((territory[locked] == rules.locked[locked]).sum()),
        "forbidden_pairs": len(rules.forbidden),
        "forbidden_kept": int((territory[rules.forbidden[:, 0]] != rules.forbidden[:, 1]).sum()),
    }
    if np.isfinite(rules.max_distance):
        figures["beyond_max_distance"] = int((distance > rules.max_distance + 1e-9).sum())
    return figures
