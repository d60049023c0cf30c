"""Progress and messages for people and log collectors, always on stderr; the one place that decides how.

A run goes through stages (`STAGES`: read, score, solve, bound, search, report) and, while it solves, the solver
tells its best objective and bound as they improve (`Reporter.solver_progress`, passed into the solve as
`SolveParams.on_progress`). Where that goes depends on stderr and the flags:

- a terminal: a rich display on one line, redrawn in place: the stage, the time elapsed, a bar of the run's time
  budget used and what is left of it (an upper bound on the time to go: the budget caps the run), and the best
  objective and gap so far; messages print above it;
- `--log-json`: one JSON object per line, every one with an ISO-8601 UTC time (`ts`): the messages, an event
  `stage` per stage and events `progress` when the solver's best objective or bound improves, at most
  `PROGRESS_PER_S` a second per stage (a first bound at once; an improvement held back goes out when its stage
  ends);
- anything else (a pipe, cron): plain lines, a stage line per stage, no spinner and no escape codes;
- `--quiet`: nothing but warnings and errors, whatever stderr is.

Nothing here touches stdout or the output files, so what a run writes is the same with or without it.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import sys
import time
from collections.abc import Iterator
from typing import Any

STAGES = ("read", "score", "solve", "bound", "search", "report")
PROGRESS_PER_S = 4.0  # solver events a second at most, per stage (log collectors need a trend, not every step)


class Reporter:
    def __init__(self, quiet: bool = False, log_json: bool = False, started: float | None = None):
        self.quiet = quiet
        self.log_json = log_json
        self.console = _console() if sys.stderr.isatty() and not log_json else None
        self.started = time.perf_counter() if started is None else started  # the run's start (perf_counter)
        self.deadline: float | None = None  # the run's time budget's (perf_counter), once known
        self.stage_name: str | None = None
        self.detail = ""
        self.best: float | None = None
        self.bound: float | None = None
        self._sent = -math.inf  # when the last progress event went out
        self._pending = False  # an improvement not sent yet (too soon after the last): sent when the stage ends
        self._live: Any = None  # the rich display while stages run on a terminal

    # -- messages ---------------------------------------------------------------------------------------------

    def info(self, event: str, message: str, **fields: Any) -> None:
        if not self.quiet:
            self._emit("info", event, message, fields)

    def warn(self, event: str, message: str, **fields: Any) -> None:
        self._emit("warning", event, message, fields)

    def error(self, event: str, message: str, **fields: Any) -> None:
        self._emit("error", event, message, fields)

    # -- stages and the solver's progress ----------------------------------------------------------------------

    def budget(self, deadline: float) -> None:
        """The run's time budget ends at `deadline` (`budget.now()`'s clock): the display's time left."""
        self.deadline = deadline

    def stage(self, name: str, detail: str = "") -> None:
        """Stage `name` begins (one of STAGES); the one before it ends."""
        if name == self.stage_name:
            return
        if self._pending and self.log_json and not self.quiet:
            self._send_progress(time.perf_counter())  # the last improvement of the stage that ends
        self.stage_name, self.detail, self._sent = name, detail, -math.inf
        if self.quiet:
            return
        elapsed = time.perf_counter() - self.started
        if self.log_json:
            self._record("info", "stage", f"stage {name}", {"stage": name, "elapsed_s": round(elapsed, 3)})
        elif self.console is not None:
            self._show()
        else:
            sys.stderr.write(f"stage {name} at {elapsed:.1f} s{f': {detail}' if detail else ''}\n")
            sys.stderr.flush()

    def solver_progress(self, stage: str, objective: float, bound: float | None) -> None:
        """The solver's observer (`SolveParams.on_progress`): its phase, best objective and lower bound so far."""
        if stage in STAGES and stage != self.stage_name:
            self.stage(stage)
        first_bound = bound is not None and self.bound is None
        news = objective != self.best or (bound is not None and bound != self.bound)
        self.best = objective
        if bound is not None:
            self.bound = bound
        if self.quiet or not news:
            return
        if self._live is not None:
            self._show()
        if self.log_json:
            now = time.perf_counter()
            self._pending = True
            if first_bound or now - self._sent >= 1.0 / PROGRESS_PER_S:
                self._send_progress(now)

    def _send_progress(self, now: float) -> None:
        self._sent, self._pending = now, False
        fields = {"stage": self.stage_name, "objective": self.best, "bound": self.bound, "gap": self.gap()}
        fields["elapsed_s"] = round(now - self.started, 3)
        self._record("info", "progress", f"best objective {self.best:,.1f}", fields)

    def gap(self) -> float | None:
        """(best - bound) / best, when both are known."""
        if self.best is None or self.bound is None or not self.best:
            return None
        return max(self.best - self.bound, 0.0) / abs(self.best)

    @contextlib.contextmanager
    def status(self, message: str) -> Iterator[None]:
        """A long step within the stage: its message on the terminal's display while it runs."""
        previous, self.detail = self.detail, message
        if self._live is not None:
            self._show()
        try:
            yield
        finally:
            self.detail = previous

    def close(self) -> None:
        """End the terminal's display (the command is done or failed)."""
        if self._live is not None:
            live, self._live = self._live, None
            live.stop()

    # -- output ------------------------------------------------------------------------------------------------

    def _show(self) -> None:
        if self.console is None or self.quiet:
            return
        if self._live is None:
            self._live = _display(self)
            self._live.start()
        self._live.refresh()

    def _emit(self, level: str, event: str, message: str, fields: dict[str, Any]) -> None:
        if self.log_json:
            self._record(level, event, message, fields)
            return
        prefix = "" if level == "info" else f"{level}: "
        if self.console is not None:
            style = {"info": "", "warning": "yellow", "error": "bold red"}[level]
            self.console.print(f"{prefix}{message}", style=style, markup=False)  # above the display, if any
        else:
            sys.stderr.write(f"{prefix}{message}\n")
        sys.stderr.flush()

    def _record(self, level: str, event: str, message: str, fields: dict[str, Any]) -> None:
        record = {"ts": timestamp(), "level": level, "event": event, "message": message, **fields}
        sys.stderr.write(json.dumps(record, default=str, sort_keys=True) + "\n")
        sys.stderr.flush()

    # -- what the display shows --------------------------------------------------------------------------------

    def clock_text(self) -> str:
        elapsed = time.perf_counter() - self.started
        text = f"{_minutes(elapsed)} elapsed"
        if self.deadline is not None:
            text += f", at most {_minutes(max(self.deadline - time.perf_counter(), 0.0))} left"
        return text

    def best_text(self) -> str:
        if self.best is None:
            return ""
        gap = self.gap()
        # the solver's latest best; without its rep-home term (reported apart) it can rise a little between steps
        return f"objective {self.best:,.1f}" + (f", gap {gap:.2%}" if gap is not None else "")

    def budget_used(self) -> tuple[float, float]:
        """The budget's length and the part used, in seconds; (0, 0) before it is known."""
        if self.deadline is None:
            return 0.0, 0.0
        total = max(self.deadline - self.started, 1e-9)
        return total, min(time.perf_counter() - self.started, total)


def timestamp() -> str:
    """Now as ISO 8601 in UTC with milliseconds, e.g. 2026-11-30T13:25:01.042Z."""
    now = datetime.datetime.now(datetime.UTC)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _minutes(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def _console():
    from rich.console import Console  # rich loads only where a terminal shows it (`terrplan --help` stays fast)

    return Console(stderr=True, highlight=False)


def _display(reporter: Reporter):
    """A one-line rich display: spinner, stage and step, budget bar, clock, best objective and gap. Its columns
    read the reporter when drawn (4 times a second), so the clock moves between the solver's reports."""
    from rich.progress import Progress, ProgressColumn, SpinnerColumn
    from rich.progress_bar import ProgressBar
    from rich.text import Text

    class Stage(ProgressColumn):
        def render(self, task) -> Text:
            name = reporter.stage_name or ""
            return Text(f"{name}: {reporter.detail}" if reporter.detail else name, style="bold")

    class Budget(ProgressColumn):
        def render(self, task):
            total, used = reporter.budget_used()
            return ProgressBar(total=total, completed=used, width=20) if total else Text("")

    class Clock(ProgressColumn):
        def render(self, task) -> Text:
            return Text(reporter.clock_text())

    class Best(ProgressColumn):
        def render(self, task) -> Text:
            return Text(reporter.best_text(), style="cyan")

    progress = Progress(
        SpinnerColumn(),
        Stage(),
        Budget(),
        Clock(),
        Best(),
        console=reporter.console,
        transient=True,  # gone when the run ends: its last line is the result
        redirect_stdout=False,  # stdout carries the data (-o -): never through the display
        redirect_stderr=False,
        refresh_per_second=4,
    )
    progress.add_task("run", total=None)
    return progress
