"""Exception types with exit codes, and a record for one row-level problem.

`cli` is the one place where these become exit codes; everything else raises them.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_BAD_INPUT = 3
EXIT_INFEASIBLE = 4
EXIT_CHECK_FAILED = 5
EXIT_NOT_FOUND = 6

#: How many row problems one error prints before summarising the rest.
REPORT_CAP = 20


def closest(name: str, options: list[str]) -> str | None:
    """The option most like `name` (case-insensitive), for 'did you mean' hints."""
    lowered = {option.lower(): option for option in options}
    match = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.5)
    return lowered[match[0]] if match else None


def interruption(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C (or SIGTERM) behind an error, if one caused it: a signal that lands while a compiled module
    loads (a solver module imported inside a command) comes out as that module's "ImportError: initialization
    failed", raised from the KeyboardInterrupt (pybind11)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


@dataclass(frozen=True)
class Finding:
    """One thing wrong with an input: where it is, what is there, what was expected, how to fix it."""

    file: str
    message: str
    line: int | None = None
    column: str | None = None
    value: str | None = None
    hint: str | None = None
    key: str | None = None  # a config key, for findings about the YAML rather than a data column

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.column is not None:
            where += f": column '{self.column}'"
        if self.key is not None:
            where += f": key '{self.key}'"
        text = f"{where}: {self.message}"
        if self.value is not None:
            text += f" (got {self.value!r})"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class TerrplanError(Exception):
    """Base class: carries an exit code and the findings behind it."""

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str, problems: list[Finding] | None = None):
        super().__init__(message)
        self.message = message
        self.problems = list(problems or [])

    def __str__(self) -> str:
        lines = [self.message]
        for problem in self.problems[:REPORT_CAP]:
            lines.append(f"  {problem}")
        hidden = len(self.problems) - REPORT_CAP
        if hidden > 0:
            lines.append(f"  ... and {hidden} more")
        return "\n".join(lines)


class InputError(TerrplanError):
    """A data file cannot be used as given (exit 3)."""

    exit_code = EXIT_BAD_INPUT


class ConfigError(TerrplanError):
    """The YAML config is invalid (exit 3)."""

    exit_code = EXIT_BAD_INPUT


class InfeasibleError(TerrplanError):
    """No alignment can satisfy the constraints; the message says why, with numbers (exit 4)."""

    exit_code = EXIT_INFEASIBLE


class NotFoundError(TerrplanError):
    """The search ended without an alignment inside every band, and the bands are not proven impossible: the best
    alignment found is written with status 'unknown' and its violations (exit 6)."""

    exit_code = EXIT_NOT_FOUND


class CheckFailedError(TerrplanError):
    """An alignment was scored and broke a check (exit 5)."""

    exit_code = EXIT_CHECK_FAILED
