"""Adoption: each account's use of the technology (adopter / trialist / non-adopter), from a column of the
accounts file or a file of its own, and the factor the config gives that class."""

from __future__ import annotations

import numpy as np
import pandas as pd

from terrplan.config import ADOPTION_CLASSES, Adoption
from terrplan.errors import Finding
from terrplan.factors.csvfile import TextTable, bad_rows


def _fold(value: str) -> str:
    return value.strip().lower().replace("_", "-").replace(" ", "-")


def account_adoption(spec: Adoption, table: TextTable, id_column: str, account_ids: pd.Series) -> pd.DataFrame:
    """adoption and adoption_factor per account. A value is mapped by `values` (case-insensitive), else taken when
    it names a class ('Non adopter' is non-adopter); blank (unless mapped) or absent: unknown. Other values, or one
    account given two classes, are errors naming file, line and column."""
    column = table.column(spec.column, (spec.column,), "scoring.adoption.column")
    mapping = {_fold(c).replace("-", ""): c for c in ADOPTION_CLASSES}
    mapping.update({_fold(k): v for k, v in spec.values.items()})  # the user's values win over the class names
    raw = table.frame[column].fillna("").astype(str)
    folded = raw.map(_fold)
    mapping.setdefault("", "unknown")  # a blank is unknown unless `values` maps it ("": non-adopter)
    classes = folded.map(lambda v: mapping.get(v, mapping.get(v.replace("-", ""), "")))
    findings = [
        Finding(table.name, "not an adoption class", line=int(line), column=column, value=value,
                hint=f"one of {', '.join(ADOPTION_CLASSES[:3])}, or map it in scoring.adoption.values")
        for line, value in zip(table.lines[(classes == "").to_numpy()], raw[classes == ""], strict=True)
    ]  # fmt: skip
    ids = table.frame[id_column].fillna("").astype(str).str.strip()
    frame = pd.DataFrame({"account_id": ids, "adoption": classes, "line": table.lines})
    frame = frame.loc[(classes != "") & (ids != "")]
    first = frame.drop_duplicates("account_id")
    clash = frame.merge(first, on="account_id", suffixes=("", "_first"))
    clash = clash.loc[clash["adoption"] != clash["adoption_first"]]
    findings.extend(
        Finding(table.name, f"account given two adoption classes (line {first_line}: {was})", line=int(line),
                column=column, value=now, hint="give each account one class")
        for line, now, first_line, was in clash[["line", "adoption", "line_first", "adoption_first"]].itertuples(
            index=False
        )
    )  # fmt: skip
    bad_rows(table.name, findings)
    adoption = first.set_index("account_id")["adoption"].reindex(account_ids.to_numpy()).fillna("unknown")
    defaults = {"adopter": 1.0, "trialist": 0.8, "non-adopter": 0.6, "unknown": 1.0}
    factors = {**defaults, **spec.factors}
    return pd.DataFrame(
        {
            "adoption": adoption.to_numpy(dtype=object),
            "adoption_factor": np.array([factors[a] for a in adoption], dtype=float),
        }
    )
