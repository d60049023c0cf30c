"""The factors a config turns on, read and matched to the accounts: one frame of per-account columns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from terrplan.config import Config
from terrplan.errors import Finding, InputError
from terrplan.factors.adoption import account_adoption
from terrplan.factors.affiliations import account_facilities
from terrplan.factors.competition import account_competition, read_competition
from terrplan.factors.csvfile import TextTable, read_text_table
from terrplan.factors.market import zip_population


@dataclass(frozen=True)
class Factors:
    """Per-account factor columns (rows in the accounts' order), the match report, and the files read."""

    columns: pd.DataFrame
    report: dict[str, float | int] = field(default_factory=dict)
    files: tuple[Path, ...] = ()


def enabled(config: Config) -> bool:
    """Whether the config turns on any factor read here (growth is the scoring's own)."""
    sc = config.scoring
    return any((sc.competition, sc.adoption, sc.opportunities, sc.market_size, config.inputs.affiliations))


def account_factors(config: Config, accounts: pd.DataFrame) -> Factors:
    """competition, adoption, opportunity, facility and ZIP population columns, as the config asks."""
    sc = config.scoring
    ids = accounts["account_id"]
    parts: list[pd.DataFrame] = []
    report: dict[str, float | int] = {}
    files: list[Path] = []
    if sc.competition is not None:
        spec = sc.competition
        path = config.resolve(spec.path)
        roster = config.resolve(spec.roster) if spec.roster else None
        matchable = accounts[["account_id", "name", "zip"]]
        if spec.account_last_name:
            wanted = [spec.account_first_name or "", spec.account_last_name]
            names = _account_file_columns(config, wanted, "competition", ids)
            if spec.account_first_name:  # people: first + last name
                matchable = matchable.assign(first_name=names[0], last_name=names[1])
            else:  # one name column for the whole name
                matchable = matchable.assign(name=names[1])
        holds = read_competition(spec, path, roster, matchable)
        parts.append(account_competition(holds.rows, spec, ids))
        report.update(holds.report)
        files.extend(p for p in (path, roster) if p is not None)
    if sc.adoption is not None:
        spec_a = sc.adoption
        if spec_a.path:
            table = read_text_table(config.resolve(spec_a.path), spec_a.encoding)
            id_column = table.column(spec_a.id_column, ("account_id", "npi", "id"), "scoring.adoption.id_column")
            files.append(config.resolve(spec_a.path))
        else:
            table, id_column = _accounts_table(config, "adoption")
        parts.append(account_adoption(spec_a, table, id_column, ids))
    if config.inputs.affiliations is not None:
        spec_f = config.inputs.affiliations
        path = config.resolve(spec_f.path)
        parts.append(account_facilities(spec_f, read_text_table(path, spec_f.encoding), ids))
        files.append(path)
    if sc.market_size:
        parts.append(zip_population(accounts["zip"]))
    columns = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=range(len(accounts)))
    if sc.competition is not None or sc.adoption is not None or sc.opportunities:
        columns["opportunity"] = opportunity(columns, sc.competition.dominant if sc.competition else 1.0)
    return Factors(columns, report, tuple(files))


def opportunity(columns: pd.DataFrame, dominant: float) -> np.ndarray:
    """convert where competitors hold `dominant` or more, else expand an adopter (or where we hold a share),
    else develop (greenfield)."""
    n = len(columns)
    share = columns["competitor_share"].to_numpy() if "competitor_share" in columns else np.zeros(n)
    own = columns["own_share"].to_numpy() if "own_share" in columns else np.zeros(n)
    adopter = (columns["adoption"] == "adopter").to_numpy() if "adoption" in columns else np.zeros(n, dtype=bool)
    return np.where(share >= dominant, "convert", np.where(adopter | (own > 0), "expand", "develop")).astype(object)


def _accounts_table(config: Config, what: str) -> tuple[TextTable, str]:
    """The accounts file read again as text (a factor's column lives there), and its id column."""
    spec = config.inputs.accounts
    if spec.path == "-":
        raise InputError(
            f"scoring.{what} reads a column of the accounts file, which came from stdin",
            [Finding("config", "cannot read stdin twice", key=f"scoring.{what}",
                     hint=f"give the accounts as a file, or scoring.{what}.path a file of its own")],
        )  # fmt: skip
    table = read_text_table(config.resolve(spec.path), spec.encoding)
    return table, table.column(spec.columns.id, ("account_id", "id"), "inputs.accounts.columns.id")


def _account_file_columns(config: Config, columns: list[str], what: str, ids: pd.Series) -> list[np.ndarray]:
    """Columns of the accounts file per loaded account (its first row; '' for a column not given)."""
    table, id_column = _accounts_table(config, what)
    key = f"scoring.{what}.account_{{}}_name"
    found = [
        table.column(c, (c,), key.format(n)) if c else None for c, n in zip(columns, ("first", "last"), strict=True)
    ]
    first = table.frame.assign(_id=table.frame[id_column].str.strip()).drop_duplicates("_id").set_index("_id")
    return [
        first[c].reindex(ids.to_numpy()).fillna("").to_numpy(dtype=object) if c else np.full(len(ids), "")
        for c in found
    ]
