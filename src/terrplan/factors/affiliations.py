"""Affiliations: physician (an account's NPI) -> hospital or ASC, for keep-together groups and the plans' lists
of each hospital's affiliated surgeons."""

from __future__ import annotations

import numpy as np
import pandas as pd

from terrplan.config import AffiliationsInput
from terrplan.errors import Finding
from terrplan.factors.csvfile import TextTable, bad_rows


def account_facilities(spec: AffiliationsInput, table: TextTable, account_ids: pd.Series) -> pd.DataFrame:
    """facility and facility_name per account: the first facility the file lists for it; a facility that is
    itself an account (a hospital by its id) carries its own id, so keep_together: [facility] keeps it with its
    surgeons. Accounts without one get ''."""
    key = "inputs.affiliations.columns"
    account = table.column(spec.columns.account, ("npi", "account_id"), f"{key}.account")
    facility = table.column(spec.columns.facility, ("facility_id", "facility", "ccn"), f"{key}.facility")
    name = table.column(spec.columns.facility_name, ("facility_name",), f"{key}.facility_name", required=False)
    frame = table.frame
    ids, facilities = frame[account].str.strip(), frame[facility].str.strip()
    bad_rows(
        table.name,
        [
            Finding(table.name, "no physician id", line=int(line), column=account,
                    hint="each row names a physician (NPI) and a facility id")
            for line in table.lines[((ids == "") & (facilities != "")).to_numpy()]
        ],
    )  # fmt: skip
    rows = pd.DataFrame({"account_id": ids, "facility": facilities,
                         "facility_name": frame[name].str.strip() if name else ""})  # fmt: skip
    rows = rows.loc[(ids != "") & (facilities != "")].drop_duplicates("account_id")
    names = rows.drop_duplicates("facility").set_index("facility")["facility_name"]
    own = pd.DataFrame({"account_id": names.index, "facility": names.index, "facility_name": names.to_numpy()})
    rows = pd.concat([rows, own.loc[~own["account_id"].isin(rows["account_id"])]])
    found = rows.set_index("account_id").reindex(account_ids.to_numpy()).fillna("")
    return pd.DataFrame(
        {
            "facility": found["facility"].to_numpy(dtype=object),
            "facility_name": found["facility_name"].to_numpy(dtype=object),
        }
    )


def affiliated_surgeons(assignments: pd.DataFrame) -> pd.DataFrame:
    """Per facility its affiliated accounts (the facility's own account left out), largest volume first:
    facility, facility_name, territory, account_id, name, volume, potential. Empty without affiliations."""
    columns = ["facility", "facility_name", "territory", "account_id", "name", "volume", "potential"]
    if "facility" not in assignments:
        return pd.DataFrame(columns=columns)
    rows = assignments.loc[(assignments["facility"] != "") & (assignments["facility"] != assignments["account_id"])]
    rows = rows.sort_values(["facility", "volume", "account_id"], ascending=[True, False, True], kind="stable")
    return rows[columns].reset_index(drop=True).assign(volume=lambda f: f["volume"].astype(np.float64))
