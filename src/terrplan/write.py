"""Files and reports: atomic writes, stable ordering, fixed number formats."""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from terrplan.errors import Finding

FLOAT_FORMAT = "%.4f"

REJECT_COLUMNS = ["file", "line", "column", "value", "reason", "hint"]


def csv_text(frame: pd.DataFrame) -> str:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    return buffer.getvalue()


def json_text(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=_jsonable) + "\n"


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, tuple | set):
        return list(value)
    return str(value)


def rejects_frame(findings: Iterable[Finding]) -> pd.DataFrame:
    rows = [
        {"file": f.file, "line": f.line, "column": f.column, "value": f.value, "reason": f.message, "hint": f.hint}
        for f in findings
    ]
    return pd.DataFrame(rows, columns=REJECT_COLUMNS).astype({"line": "Int64"})


def write_files(directory: Path, files: dict[str, str | bytes]) -> None:
    """Write every file to a temp name first, then rename them all: a failure leaves the old outputs intact.

    Names may contain '/' for files in subfolders (e.g. plans/T01.md); text is written as UTF-8.
    """
    staged: list[tuple[str, Path]] = []
    try:
        for name, content in files.items():
            final = directory / name
            final.parent.mkdir(parents=True, exist_ok=True)
            handle, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
            data = content.encode("utf-8") if isinstance(content, str) else content
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            staged.append((tmp, final))
        for tmp, final in staged:
            os.replace(tmp, final)
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
