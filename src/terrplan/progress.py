"""Progress and messages for people and log collectors, always on stderr.

A terminal gets rich styling and a spinner while solving; a pipe or cron gets plain lines; `--quiet` keeps only
warnings and errors; `--log-json` turns every line into one JSON object (event, level, message, fields).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

from rich.console import Console


class Reporter:
    def __init__(self, quiet: bool = False, log_json: bool = False):
        self.quiet = quiet
        self.log_json = log_json
        self.console = Console(stderr=True, highlight=False) if sys.stderr.isatty() and not log_json else None

    def info(self, event: str, message: str, **fields: Any) -> None:
        if not self.quiet:
            self._emit("info", event, message, fields)

    def warn(self, event: str, message: str, **fields: Any) -> None:
        self._emit("warning", event, message, fields)

    def error(self, event: str, message: str, **fields: Any) -> None:
        self._emit("error", event, message, fields)

    @contextlib.contextmanager
    def status(self, message: str) -> Iterator[None]:
        """A spinner on a terminal while a long step runs; nothing elsewhere."""
        if self.console is not None and not self.quiet:
            with self.console.status(message):
                yield
        else:
            yield

    def _emit(self, level: str, event: str, message: str, fields: dict[str, Any]) -> None:
        if self.log_json:
            record = {"level": level, "event": event, "message": message, **fields}
            sys.stderr.write(json.dumps(record, default=str, sort_keys=True) + "\n")
        elif self.console is not None:
            style = {"info": "", "warning": "yellow", "error": "bold red"}[level]
            prefix = "" if level == "info" else f"{level}: "
            self.console.print(f"{prefix}{message}", style=style, markup=False)
        else:
            prefix = "" if level == "info" else f"{level}: "
            sys.stderr.write(f"{prefix}{message}\n")
        sys.stderr.flush()
