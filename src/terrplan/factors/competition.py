"""Competition: which manufacturers hold each account, and how strongly.

Two inputs give rows of (recipient, manufacturer, strength): our landscape CSV (an account id or NPI, or a name and
ZIP) and CMS Open Payments general-payment files as published (strength: the payments; recipients by
Covered_Recipient_NPI where the file has it, else by name + ZIP, from its own name columns or a roster file).
Per account, competitor_share = Σ competitors' strength / Σ strength of every manufacturer counted (own included);
with `strength: share` the file's shares are taken as they are. competitive_factor = 1 - (1 - winnable) x
competitor_share: a competitor's hold counts `winnable` of what open ground does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from terrplan.config import Competition
from terrplan.errors import Finding
from terrplan.factors.csvfile import TextTable, bad_rows, read_text_table
from terrplan.factors.names import MATCHED, match, name_key, person_key, zip5

#: Open Payments general-payment columns (CMS's names).
OP_MANUFACTURER = "Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_Name"
OP_AMOUNT = "Total_Amount_of_Payment_USDollars"
OP_NATURE = "Nature_of_Payment_or_Transfer_of_Value"
OP_PROFILE = "Physician_Profile_ID"
OP_NPI = "Covered_Recipient_NPI"
OP_FIRST, OP_MIDDLE, OP_LAST, OP_ZIP = (
    "Physician_First_Name",
    "Physician_Middle_Name",
    "Physician_Last_Name",
    ("Recipient_Zip_Code"),
)


@dataclass(frozen=True)
class Holds:
    """Rows of (account_id, manufacturer, strength) matched to accounts, and the match report for summary.json."""

    rows: pd.DataFrame
    report: dict[str, float | int]


def read_competition(spec: Competition, path: Path, roster: Path | None, accounts: pd.DataFrame) -> Holds:
    """The competitive rows of `path` matched to `accounts` (account_id, zip, key: see names), every bad row
    reported at once."""
    table = read_text_table(path, spec.encoding)
    if spec.format == "open_payments":
        return _open_payments(spec, table, roster, accounts)
    return _landscape(spec, table, accounts)


def _landscape(spec: Competition, table: TextTable, accounts: pd.DataFrame) -> Holds:
    key = "scoring.competition.columns"
    cols = spec.columns
    account = table.column(cols.account, ("account_id", "npi"), f"{key}.account", required=False)
    name = table.column(cols.name, ("name", "last_name"), f"{key}.name", required=account is None)
    first = table.column(cols.first_name, ("first_name",), f"{key}.first_name", required=False)
    zip_column = table.column(cols.zip, ("zip", "zip_code"), f"{key}.zip", required=account is None)
    maker = table.column(cols.manufacturer, ("manufacturer", "company"), f"{key}.manufacturer")
    strength_column = table.column(
        cols.strength, ("strength", "share", "units", "payments", "amount"), f"{key}.strength"
    )
    frame = table.frame
    findings: list[Finding] = []
    strength = _strengths(table, strength_column, spec.strength, findings)
    blank_maker = frame[maker].str.strip() == ""
    findings.extend(
        Finding(
            table.name,
            "no manufacturer",
            line=int(line),
            column=maker,
            hint="name the manufacturer holding the account",
        )
        for line in table.lines[blank_maker.to_numpy()]
    )
    bad_rows(table.name, findings)
    ids = frame[account].str.strip().to_numpy(dtype=object) if account else np.full(len(frame), "", dtype=object)
    by_name = ids == ""
    matched = np.where(np.isin(ids, accounts["account_id"].to_numpy()), ids, "").astype(object)
    status = np.where(matched != "", MATCHED, "unmatched").astype(object)
    if by_name.any():
        if name is None or zip_column is None:
            missing = "name" if name is None else "zip"
            bad_rows(
                table.name,
                [
                    Finding(
                        table.name,
                        f"a row without an account id needs a {missing} column",
                        line=int(table.lines[by_name][0]),
                        column=account,
                        hint="give the account id, or name and ZIP columns",
                    )
                ],
            )
        keys = _row_keys(frame.loc[by_name, name], frame.loc[by_name, first] if first else None, accounts)
        zips = _each_distinct(frame.loc[by_name, zip_column].to_numpy(dtype=object), zip5)
        matched[by_name], status[by_name] = match(*_account_keys(accounts), keys, zips)
    rows = pd.DataFrame({"account_id": matched, "manufacturer": frame[maker].str.strip(), "strength": strength})
    recipients = ids.copy()
    if by_name.any():
        recipients[by_name] = keys + "|" + zips
    return Holds(rows.loc[status == MATCHED].reset_index(drop=True), _report(status, strength, recipients))


def _open_payments(spec: Competition, table: TextTable, roster: Path | None, accounts: pd.DataFrame) -> Holds:
    frame = table.frame
    key = "scoring.competition"
    maker = table.column(None, (OP_MANUFACTURER,), f"{key}.format")
    amount_column = table.column(None, (OP_AMOUNT,), f"{key}.format")
    findings: list[Finding] = []
    amount = _strengths(table, amount_column, "amount", findings)
    bad_rows(table.name, findings)
    keep = np.ones(len(frame), dtype=bool)
    if spec.natures:
        nature = table.column(None, (OP_NATURE,), f"{key}.natures")
        wanted = {n.strip().upper() for n in spec.natures}
        keep = frame[nature].str.strip().str.upper().isin(wanted).to_numpy()
    # Row by row: by NPI where the row has one; by name + ZIP where it has none (CMS leaves it blank for some
    # recipients) and names are at hand (the file's columns or a roster); else unmatched, and reported.
    npi = table.column(None, (OP_NPI,), key, required=False)
    ids = frame[npi].fillna("").str.strip().to_numpy(dtype=object) if npi is not None else np.full(len(frame), "")
    by_id = ids != ""
    known = np.isin(ids, accounts["account_id"].to_numpy())
    matched = np.where(by_id & known, ids, "").astype(object)
    status = np.where(by_id & known, MATCHED, "unmatched").astype(object)
    recipients = ids.astype(object)
    named = roster is not None or all(column in frame for column in (OP_FIRST, OP_LAST, OP_ZIP))
    if not by_id.all() and (named or not by_id.any()):  # no NPI at all and no names: the names' error says so
        names = _recipient_names(table, roster, spec.encoding)
        keys = _row_keys(names[OP_LAST], names[OP_FIRST], accounts)
        zips = _each_distinct(names[OP_ZIP].to_numpy(dtype=object), zip5)
        by_name, name_status = match(*_account_keys(accounts), keys, zips)
        rest = ~by_id
        matched[rest], status[rest] = np.asarray(by_name)[rest], np.asarray(name_status)[rest]
        recipients[rest] = np.asarray(keys + "|" + zips, dtype=object)[rest]
    status = np.where(keep, status, "left out")
    rows = pd.DataFrame({"account_id": matched, "manufacturer": frame[maker].str.strip(), "strength": amount})
    report = _report(status[keep], amount[keep], recipients[keep])
    return Holds(rows.loc[status == MATCHED].reset_index(drop=True), report)


def _recipient_names(table: TextTable, roster: Path | None, encoding: str) -> pd.DataFrame:
    """First name, last name and ZIP of each payment row: the file's own columns, else the roster's by profile id."""
    frame = table.frame
    if all(column in frame for column in (OP_FIRST, OP_LAST, OP_ZIP)):
        return frame[[OP_FIRST, OP_LAST, OP_ZIP]]
    key = "scoring.competition.roster"
    if roster is None:
        table.column(None, (OP_FIRST,), key)  # raises: no names and no roster
    people = read_text_table(roster, encoding)
    columns = [people.column(None, (name,), key) for name in (OP_PROFILE, OP_FIRST, OP_LAST, OP_ZIP)]
    people_frame = people.frame[columns].set_axis([OP_PROFILE, OP_FIRST, OP_LAST, OP_ZIP], axis=1)
    doubled = people_frame[OP_PROFILE].duplicated(keep=False)
    bad_rows(
        people.name,
        [
            Finding(
                people.name, "profile id listed twice", line=int(line), column=OP_PROFILE, hint="one row per physician"
            )
            for line in people.lines[doubled.to_numpy()]
        ],
    )
    profile = table.column(None, (OP_PROFILE,), key)
    joined = frame[[profile]].set_axis([OP_PROFILE], axis=1).merge(people_frame, on=OP_PROFILE, how="left")
    return joined.fillna("")


def _keys(names: pd.Series, first: pd.Series | None) -> np.ndarray:
    """Match keys: a person's (first + last name) when first names are given, else the whole name's."""
    if first is None:
        return _each_distinct(names.to_numpy(dtype=object), name_key)
    pairs = first.astype(str).to_numpy(dtype=object) + "\x1f" + names.astype(str).to_numpy(dtype=object)
    return _each_distinct(pairs, lambda pair: person_key(*pair.split("\x1f", 1)))


def _each_distinct(values: np.ndarray, function: Callable[[str], str]) -> np.ndarray:
    """function(value) per value, computed once per distinct value (a payments file repeats each recipient)."""
    distinct, inverse = np.unique(values.astype(str), return_inverse=True)
    return np.array([function(value) for value in distinct], dtype=object)[inverse] if len(values) else values


def _row_keys(names: pd.Series, first: pd.Series | None, accounts: pd.DataFrame) -> np.ndarray:
    """The rows' keys, made like the accounts' (`_account_keys`): a person's when both sides have first names,
    else the whole name ('John Smith' as one name when the accounts carry names whole)."""
    if first is None or "first_name" in accounts:
        return _keys(names, first)
    return _keys(first.fillna("").astype(str) + " " + names.fillna("").astype(str), None)


def _account_keys(accounts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, keys, ZIPs) of the accounts for `names.match`: first + last name when the accounts carry them (the
    config's account_first_name / account_last_name), else the account name as a whole."""
    if "first_name" in accounts:
        keys = _keys(accounts["last_name"], accounts["first_name"])
    else:
        keys = _keys(accounts["name"], None)
    return accounts["account_id"].to_numpy(dtype=object), keys, accounts["zip"].map(zip5).to_numpy(dtype=object)


def _strengths(table: TextTable, column: str, kind: str, findings: list[Finding]) -> np.ndarray:
    """The strength column as numbers: not negative, and at most 1 for shares; bad cells become findings."""
    text = table.frame[column].str.strip().str.replace(",", "", regex=False).str.lstrip("$")
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values < 0) | ((values > 1) if kind == "share" else False)
    hint = "a share of the account from 0 to 1" if kind == "share" else "a number of units or dollars, 0 or more"
    findings.extend(
        Finding(table.name, "not a valid strength", line=int(line), column=column, value=str(value), hint=hint)
        for line, value in zip(table.lines[bad], table.frame[column][bad], strict=True)
    )
    return np.where(bad, 0.0, values)


def _report(status: np.ndarray, strength: np.ndarray, recipients: np.ndarray) -> dict[str, float | int]:
    """Rows matched, unmatched and ambiguous, the match rate by rows and by strength, and recipients (an id, or
    name key + ZIP) seen and matched."""
    matched = status == MATCHED
    total = float(strength.sum())
    return {
        "competition_recipients": len(set(recipients)),
        "competition_matched_recipients": len(set(recipients[matched])),
        "competition_rows": len(status),
        "competition_matched_rows": int(matched.sum()),
        "competition_unmatched_rows": int((status == "unmatched").sum()),
        "competition_ambiguous_rows": int((status == "ambiguous").sum()),
        "competition_match_rate": round(float(matched.mean()), 6) if len(status) else 0.0,
        "competition_matched_strength_share": round(float(strength[matched].sum()) / total, 6) if total > 0 else 0.0,
    }


def account_competition(holds: pd.DataFrame, spec: Competition, account_ids: pd.Series) -> pd.DataFrame:
    """competitor, competitor_share, own_share and competitive_factor per account (no rows: greenfield, factor 1)."""
    rows = holds.assign(group=holds["manufacturer"].map(lambda m: _group(m, spec)))
    rows = rows.loc[rows["group"] != ""]
    by = rows.groupby(["account_id", "group"], sort=True)["strength"].sum().reset_index()
    own = by["group"] == _OWN
    total = by.groupby("account_id")["strength"].transform("sum")
    by["share"] = by["strength"] / total.where(total > 0, 1.0) if spec.strength == "amount" else by["strength"]
    rivals = by.loc[~own].sort_values(["account_id", "share", "group"], ascending=[True, False, True], kind="stable")
    ids = account_ids.to_numpy()
    competitor_share = rivals.groupby("account_id")["share"].sum().reindex(ids, fill_value=0.0).clip(upper=1.0)
    top = rivals.drop_duplicates("account_id").set_index("account_id")["group"].reindex(ids, fill_value="")
    own_share = by.loc[own].groupby("account_id")["share"].sum().reindex(ids, fill_value=0.0).clip(upper=1.0)
    share = competitor_share.to_numpy(dtype=float)
    return pd.DataFrame(
        {
            "competitor": top.to_numpy(dtype=object),
            "competitor_share": share,
            "own_share": own_share.to_numpy(dtype=float),
            "competitive_factor": 1.0 - (1.0 - spec.winnable) * share,
        }
    )


_OWN = "\x1fown"  # the group of our own company's rows: never a competitor's name


def _group(manufacturer: str, spec: Competition) -> str:
    """Our own company, the config's competitor name the manufacturer falls under, the manufacturer itself when
    the config lists none, or '' (not counted)."""
    key = name_key(manufacturer)
    if spec.company and _starts(key, name_key(spec.company)):
        return _OWN
    if not spec.competitors:
        return manufacturer
    for name in spec.competitors:
        if _starts(key, name_key(name)):
            return name
    return ""


def _starts(key: str, prefix: str) -> bool:
    """Whether `key` begins with the words of `prefix` ('MEDTRONIC USA INC' begins with 'MEDTRONIC')."""
    return bool(prefix) and (key == prefix or key.startswith(prefix + " "))


def match_line(report: dict[str, float | int]) -> str:
    """The match report in one line for the log."""
    return (
        f"competition: {report['competition_matched_rows']:,} of {report['competition_rows']:,} rows matched to "
        f"accounts ({report['competition_match_rate']:.1%}; {report['competition_matched_strength_share']:.1%} of the "
        f"strength), {report['competition_matched_recipients']:,} of {report['competition_recipients']:,} recipients; "
        f"{report['competition_unmatched_rows']:,} rows unmatched, {report['competition_ambiguous_rows']:,} ambiguous "
        "(refused: a name + ZIP of two accounts)"
    )
