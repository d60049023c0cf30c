"""Text cells a spreadsheet opens: the formula escape every writer applies, and its inverse for our own files.

Text starting with = + - @ tab or CR is a formula (or becomes one) in Excel, LibreOffice and Google Sheets (OWASP
CSV injection); a leading ' makes it text. Reading one of our own outputs back (an assignments.csv given as
`--current`, `--alignment` or to `compare`) takes the ' off again, so names round-trip.
"""

from __future__ import annotations

from typing import Any

#: Text starting with one of these is a formula (or becomes one) in a spreadsheet.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value: Any) -> Any:
    """A leading ' on formula-like text; anything else is returned as it is. The one place this is decided."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def unescape_formula(value: Any) -> Any:
    """`escape_formula` undone: "'=x" -> "=x"; other text (a name like "'Doc's'" included) is left alone."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value
