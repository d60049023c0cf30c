"""Text inside SVG and HTML: escaped, and without the control characters XML 1.0 forbids.

The readers keep a control character inside a field (a vertical tab is FileMaker's in-cell line break), and a
standalone .svg file or fpdf2's SVG parser refuses the whole drawing for one of them; `html.escape` leaves them in.
"""

from __future__ import annotations

import html
import re

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def escape(text: object) -> str:
    """`html.escape` of the text without XML's forbidden characters (tab, line feed and carriage return stay)."""
    return html.escape(_NOT_XML.sub("", str(text)))
