"""Name + ZIP matching of people and organisations named in a file to accounts, never guessing.

A key is the name reduced to letters: case, punctuation and spacing do not count ("O'Brien" is OBRIEN), and for a
person only the first word of the first name counts, so a middle name or initial ("John A.", "JOHN") does not
either. Suffixes (Jr, III, MD) are dropped. The ZIP is its first 5 digits (ZIP+4 agrees with ZIP). A row whose key
and ZIP match exactly one account is matched; two or more accounts is ambiguous and refused; none is unmatched.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from terrplan.geo import normalize_zip

#: Words after a name that are not part of it (generational suffixes, degrees).
SUFFIXES = frozenset({"JR", "SR", "II", "III", "IV", "MD", "DO", "PHD", "DDS", "DPM", "PA", "NP", "RN"})

MATCHED, UNMATCHED, AMBIGUOUS = "matched", "unmatched", "ambiguous"


def _words(text: str) -> list[str]:
    """Upper-case words of letters and digits; apostrophes and dots join ("O'Brien" -> OBRIEN, "St." -> ST)."""
    return re.sub(r"[^A-Z0-9 ]", "", re.sub(r"[-,/&]", " ", str(text).upper())).split()


def person_key(first: str, last: str) -> str:
    """FIRST|LAST: the first name's first word, the last name's words joined, suffixes dropped ('' if either is
    missing: a person without both names is never matched)."""
    first_words = [w for w in _words(first) if w not in SUFFIXES]
    last_words = [w for w in _words(last) if w not in SUFFIXES]
    if not first_words or not last_words:
        return ""
    return f"{first_words[0]}|{''.join(last_words)}"


def name_key(name: str) -> str:
    """An organisation's (or a whole person's) name as one key of its words, suffixes dropped."""
    return " ".join(w for w in _words(name) if w not in SUFFIXES)


def zip5(value: object) -> str:
    """The 5-digit ZIP, or '' when the value is no ZIP."""
    return normalize_zip(value) or ""


def match(
    account_ids: np.ndarray, account_keys: np.ndarray, account_zips: np.ndarray, keys: np.ndarray, zips: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each (key, zip) row: the one account with that key and ZIP, and the row's status (matched /
    unmatched / ambiguous); the account is '' unless matched."""
    table = pd.DataFrame({"key": account_keys, "zip": account_zips, "account_id": account_ids})
    table = table.loc[(table["key"] != "") & (table["zip"] != "")]
    counts = table.groupby(["key", "zip"], sort=False)["account_id"].agg(["first", "size"])
    rows = pd.MultiIndex.from_arrays([keys, zips])
    found = counts.reindex(rows)
    size = found["size"].fillna(0).to_numpy()
    status = np.where(size == 1, MATCHED, np.where(size > 1, AMBIGUOUS, UNMATCHED)).astype(object)
    matched = np.where(size == 1, found["first"].fillna("").to_numpy(dtype=object), "")
    return matched.astype(object), status
