"""Command line: click commands, progress on stderr, and the one place where errors become exit codes.

stdout carries data only (CSV with `-o -`); everything for people goes to stderr.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import time
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from terrplan import __version__
from terrplan.compare import Comparison, compare, disruption, load_side
from terrplan.config import Config, load_config
from terrplan.design import run_design
from terrplan.errors import EXIT_INTERNAL, CheckFailedError, Finding, InfeasibleError, InputError, TerrplanError
from terrplan.hierarchy import assign_hierarchy
from terrplan.metrics import Metrics, evaluate
from terrplan.model import Alignment
from terrplan.pipeline import Loaded, alignment_centres, load_accounts, match_alignment, prepare, use_current
from terrplan.problem import METRIC_COLUMNS, build_problem
from terrplan.progress import Reporter
from terrplan.read import read_alignment
from terrplan.refresh import run_refresh
from terrplan.report import report_files
from terrplan.sizing import k_range as sizing_k_range
from terrplan.sizing import needed_territories, recommended_k, size_table
from terrplan.write import csv_text, json_text, rejects_frame, write_files

EXIT_CODES_HELP = "Exit codes: 0 ok, 1 internal error, 2 usage, 3 bad input or config, 4 infeasible, 5 a check failed."


def _handle_errors(command):
    """Turn our errors into a message and exit code; anything else is an internal error (exit 1), no traceback
    unless TERRPLAN_DEBUG is set."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        report = Reporter(kwargs.get("quiet", False), kwargs.get("log_json", False))
        try:
            return command(*args, report=report, **kwargs)
        except TerrplanError as exc:
            report.error("failed", str(exc), exit_code=exc.exit_code, findings=[str(f) for f in exc.problems])
            sys.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("TERRPLAN_DEBUG"):
                raise
            report.error(
                "internal", f"internal error: {type(exc).__name__}: {exc}\n(set TERRPLAN_DEBUG=1 for a traceback)"
            )
            sys.exit(EXIT_INTERNAL)

    return wrapper


@click.group(epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="terrplan")
def main() -> None:
    """terrplan: balanced, compact sales territories with a proven quality gap."""


def _overrides(**flags: Any) -> dict[str, Any]:
    keys = {
        "seed": "solver.seed",
        "territories": "territories.count",
        "tolerance": "territories.balance.tolerance",
        "time_limit": "solver.time_limit",
        "write_report": "output.report",
        "budget": "disruption.budget",
        "move_cost": "disruption.move_cost_km",
        "accounts": "inputs.accounts.path",
        "volumes": "inputs.volumes.path",
    }
    out = {keys[name]: value for name, value in flags.items() if value is not None}
    # Paths given on the command line are relative to the working directory, not the config file.
    for key in ("inputs.accounts.path", "inputs.volumes.path"):
        if key in out and out[key] != "-":
            out[key] = str(Path(out[key]).resolve())
    return out


_common_options = [
    click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False)),
    click.option("--accounts", help="Accounts CSV ('-' for stdin); overrides inputs.accounts.path."),
    click.option("--volumes", help="Volumes CSV; overrides inputs.volumes.path."),
    click.option("-q", "--quiet", is_flag=True, help="No progress lines on stderr (warnings and errors still print)."),
    click.option("--log-json", is_flag=True, help="Every stderr line as a JSON object, for log collectors."),
]


def common_options(command):
    for option in reversed(_common_options):
        command = option(command)
    return command


@main.command(
    epilog="Example: terrplan optimize configs/sample.yaml -o out/sample\n\n"
    "Pipe: terrplan optimize configs/sample.yaml -o - -q | head\n\n" + EXIT_CODES_HELP
)
@common_options
@click.option("-o", "--output", help="Output directory, or '-' for the assignments CSV on stdout. Default: output.dir.")
@click.option("--seed", type=int, help="Random seed (overrides solver.seed).")
@click.option("-k", "--territories", type=int, help="Number of territories (overrides territories.count).")
@click.option("--tolerance", type=float, help="Balance band, e.g. 0.05 for ±5 % (overrides the config).")
@click.option("--time-limit", type=float, help="Solver time budget in seconds (overrides solver.time_limit).")
@click.option(
    "--report/--no-report",
    "write_report",
    default=None,
    help="Write report.html, plans/, GeoJSON and the workbook (overrides output.report).",
)
@click.option(
    "--current",
    help="Refresh instead of redesign: repair this alignment (CSV with account_id, territory; 'accounts' for the "
    "accounts' current territory column) with the fewest moves.",
)
@click.option("--budget", type=float, help="With --current: at most this share of potential may move (0.10 = 10 %).")
@click.option(
    "--move-cost",
    type=float,
    help="With --current: redesign, each moved account costing this many km of its weighted travel "
    "(overrides disruption.move_cost_km); 0 refreshes instead.",
)
@_handle_errors
def optimize(
    config_path,
    accounts,
    volumes,
    quiet,
    log_json,
    output,
    seed,
    territories,
    tolerance,
    time_limit,
    write_report,
    current,
    budget,
    move_cost,
    report,
) -> None:
    """Solve a balanced alignment; write the assignments, territories, summary, rejects and the report."""
    started = time.perf_counter()
    config = load_config(
        config_path,
        _overrides(
            seed=seed,
            territories=territories,
            tolerance=tolerance,
            time_limit=time_limit,
            write_report=write_report,
            budget=budget,
            move_cost=move_cost,
            accounts=accounts,
            volumes=volumes,
        ),
    )
    loaded = _load(config, report)
    current = _current_source(current, config)
    if current is not None and config.disruption.move_cost_km > 0:
        loaded = use_current(loaded, current)
    elif current is not None:
        table = None if current == "accounts" else read_alignment(Path(current))
        run = run_refresh(loaded, config, table)
        if run.failure is not None:
            raise run.failure
        metrics = _with_hierarchy(run.metrics, config)
        fields = {"status": "refreshed", "lower_bound": None, "gap": None, "refresh": run.figures}
        summary = _summary(config, loaded, metrics, fields, time.perf_counter() - started)
        _write_outputs(config, loaded, metrics, summary, output, report)
        report.info(
            "refreshed",
            f"refreshed: moved {run.figures['moved_share']:.1%} of potential (at least "
            f"{run.figures['needed_share_lower_bound']:.1%} had to move); every territory inside its band",
            **run.figures,
        )
        return
    design = run_design(loaded, config, current, report)
    result, units = design.result, design.prepared.units
    metrics = _with_hierarchy(design.metrics, config)
    if not metrics.all_in_band:
        raise _band_failure(metrics)
    fields = design.fields
    summary = _summary(config, loaded, metrics, fields, time.perf_counter() - started)
    _write_outputs(config, loaded, metrics, summary, output, report)
    gap = f"{result.gap:.2%}" if result.gap is not None else "n/a"
    bound = "n/a" if result.lower_bound is None else f"{result.lower_bound:,.1f}"
    quality = f"lower bound {bound}, gap {gap}"
    if not units.trivial:  # the bound holds for the unit problem, whose objective differs from the per-account one
        quality = f"units: objective {result.objective:,.1f}, {quality}"
    balance = metrics.balance
    report.info(
        "solved",
        f"{result.status}: objective {metrics.objective:,.1f}, {quality}; "
        f"{balance['metric']} index {balance['min_index']:.1f}-{balance['max_index']:.1f}; "
        f"{time.perf_counter() - started:.1f} s",
        **{key: summary[key] for key in ("status", "objective", "lower_bound", "gap", "runtime_s")},
    )


def _current_source(flag: str | None, config: Config) -> str | None:
    """'accounts' or an absolute path: the flag (relative to the working directory), else disruption.current
    (relative to the config)."""
    if flag is not None:
        return flag if flag == "accounts" else str(Path(flag).resolve())
    given = config.disruption.current
    return given if given in (None, "accounts") else str(config.resolve(given))


def _write_outputs(
    config: Config, loaded: Loaded, metrics: Metrics, summary: dict[str, Any], output: str | None, report: Reporter
) -> None:
    """All files to the output folder (atomically), or the assignments CSV to stdout for '-o -'."""
    files = _output_files(metrics, summary, loaded)
    target = output if output is not None else str(config.resolve(config.output.dir))
    if target == "-":
        sys.stdout.write(files["assignments.csv"])
        sys.stdout.flush()
        return
    if config.output.report:
        with report.status("writing the report…"):
            files.update(report_files(metrics.assignments, metrics.territories, summary, config.plans, loaded.reps))
    write_files(Path(target), files)
    shown = ", ".join(name for name in files if "/" not in name)
    report.info("wrote", f"wrote {len(files)} files to {target}: {shown}", directory=target, files=list(files))


def _with_hierarchy(metrics: Metrics, config: Config) -> Metrics:
    """district and region columns in both tables (D1/R1 when the config sets no hierarchy)."""
    column = METRIC_COLUMNS[config.territories.balance.metric]
    levels = assign_hierarchy(metrics.territories, column, config.hierarchy, config.solver.seed)
    territories = metrics.territories.merge(levels, on="territory", how="left")
    assignments = metrics.assignments.merge(levels, on="territory", how="left")
    return dataclasses.replace(metrics, territories=territories, assignments=assignments)


def _band_failure(metrics: Metrics) -> InfeasibleError:
    """The solver ended outside the band: name the territories and by how much (no files are written)."""
    findings = _band_findings(metrics)
    return InfeasibleError(
        f"no alignment found with every territory inside the band ({len(findings)} outside); widen the tolerance "
        "(--tolerance) or change the number of territories (-k)",
        findings,
    )


@main.command(epilog="Example: terrplan validate configs/sample.yaml\n\n" + EXIT_CODES_HELP)
@common_options
@_handle_errors
def validate(config_path, accounts, volumes, quiet, log_json, report) -> None:
    """Check the config and inputs without solving; report every problem found."""
    config = load_config(config_path, _overrides(accounts=accounts, volumes=volumes))
    loaded = _load(config, report)
    problem = prepare(loaded, config).problem
    report.info(
        "valid",
        f"ok: {len(loaded.accounts)} accounts, {problem.n_territories} territories; config and inputs are valid",
    )


@main.command(
    name="evaluate",
    epilog="Example: terrplan evaluate configs/sample.yaml -o out/current\n\n"
    "Example: terrplan evaluate configs/sample.yaml --alignment out/sample/assignments.csv\n\n" + EXIT_CODES_HELP,
)
@common_options
@click.option(
    "--alignment",
    help="CSV with account_id and territory ('-' for stdin), or an output folder of optimize. "
    "Default: the accounts' current territory column.",
)
@click.option(
    "-o",
    "--output",
    help="Write assignments.csv, territories.csv, summary.json here; '-' for territories.csv on stdout.",
)
@click.option("--tolerance", type=float, help="Balance band to check, e.g. 0.05 (overrides the config).")
@_handle_errors
def evaluate_command(config_path, accounts, volumes, quiet, log_json, alignment, output, tolerance, report) -> None:
    """Score any alignment with the metrics `optimize` reports, and check it.

    Exit 5 when an account is unassigned, assigned twice or unknown, or a territory is outside its band
    (the files are still written, so a cron job can alert and show why).
    """
    started = time.perf_counter()
    config = load_config(config_path, _overrides(accounts=accounts, volumes=volumes, tolerance=tolerance))
    loaded = _load(config, report)
    path = Path(alignment) if alignment else None
    folder = path if path is not None and path.is_dir() else None
    given = match_alignment(
        loaded.accounts, read_alignment(folder / "assignments.csv" if folder else path) if path else None
    )
    if not given.labels:
        raise InputError("the alignment assigns no account to a territory")
    assigned = given.territory >= 0
    scored = loaded.accounts.loc[assigned].reset_index(drop=True)
    sized = dataclasses.replace(
        config, territories=dataclasses.replace(config.territories, count=len(given.labels), centres="free")
    )
    problem = build_problem(scored, sized, fte=_label_fte(given.labels, folder, loaded.reps))
    territory = given.territory[assigned]
    metrics = evaluate(scored, problem, Alignment(territory, alignment_centres(problem, territory)), given.labels)
    metrics = _with_hierarchy(metrics, config)
    checks = list(given.findings) + _band_findings(metrics)
    solver = {"status": "evaluated", "lower_bound": None, "gap": None, "checks_failed": len(checks)}
    summary = _summary(sized, loaded, metrics, solver, time.perf_counter() - started)
    if output == "-":
        sys.stdout.write(csv_text(metrics.territories))
    elif output is not None:
        write_files(Path(output), _output_files(metrics, summary, loaded))
        report.info("wrote", f"wrote assignments.csv, territories.csv, summary.json, rejects.csv to {output}")
    balance = metrics.balance
    report.info(
        "evaluated",
        f"{len(given.labels)} territories, {int(assigned.sum())} accounts: objective {metrics.objective:,.1f}; "
        f"{balance['metric']} index {balance['min_index']:.1f}-{balance['max_index']:.1f} "
        f"(band {balance['band_low_index']:.1f}-{balance['band_high_index']:.1f}), "
        f"{balance['territories_in_band']} of {len(given.labels)} in band",
        objective=metrics.objective,
        **balance,
    )
    if checks:
        raise CheckFailedError(f"{len(checks)} check(s) failed", checks)


@main.command(
    name="compare",
    epilog="Example: terrplan compare out/current out/sample\n\n"
    "Moves as CSV: terrplan compare out/current out/sample -o - -q | head\n\n" + EXIT_CODES_HELP,
)
@click.argument("a", type=click.Path(exists=True))
@click.argument("b", type=click.Path(exists=True))
@click.option("-o", "--output", help="Write the moved accounts as CSV to this file ('-' for stdout).")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison figures as JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No table on stderr.")
@_handle_errors
def compare_command(a, b, output, as_json, quiet, report) -> None:
    """Compare two alignments (output folders of optimize/evaluate, or CSVs with account_id and territory).

    B's territories are matched to A's by the largest shared potential before moves are counted, so
    renamed territories do not count as moves.
    """
    if output == "-" and as_json:
        raise click.UsageError("stdout takes either the moves CSV (-o -) or --json, not both")
    result = compare(load_side(Path(a)), load_side(Path(b)))
    fig = result.figures
    if not quiet:
        _print_comparison(result, report)
    if as_json:
        sys.stdout.write(json_text(fig))
    if output == "-":
        sys.stdout.write(csv_text(result.moves))
    elif output is not None:
        write_files(Path(output).parent, {Path(output).name: csv_text(result.moves)})


def _print_comparison(result: Comparison, report: Reporter) -> None:
    fig = result.figures
    console = report.console or Console(stderr=True, highlight=False, width=120)
    table = Table(title="metrics", title_justify="left")
    table.add_column("")
    table.add_column("A: " + fig["a"], justify="right")
    table.add_column("B: " + fig["b"], justify="right")
    keys = sorted(set(fig["metrics"]["a"]) | set(fig["metrics"]["b"]))
    for key in keys:
        table.add_row(key, *(_fmt(fig["metrics"][side].get(key)) for side in ("a", "b")))
    console.print(table)
    console.print(
        f"moved: {fig['moved_accounts']} of {fig['accounts_in_both']} accounts ({fig['moved_accounts_share']:.1%}), "
        f"potential {fig['moved_potential']:,.1f} ({fig['moved_potential_share']:.1%}) after matching territories; "
        f"{fig['moved_by_name']} accounts change territory name"
    )
    if fig["only_in_a"] or fig["only_in_b"]:
        console.print(f"accounts only in A: {fig['only_in_a']}, only in B: {fig['only_in_b']}")
    top = result.changes.head(5)
    if len(top) and top["potential_changed"].iloc[0] > 0:
        console.print(
            "changed most: "
            + ", ".join(
                f"{r.territory} (-{r.potential_lost:,.0f}/+{r.potential_gained:,.0f})" for r in top.itertuples()
            )
        )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.1f}"
    return "" if value is None else str(value)


@main.command(
    name="size",
    epilog="Example: terrplan size configs/sample.yaml --capacity 1600 --k-range 6:14 > sizing.csv\n\n"
    + EXIT_CODES_HELP,
)
@common_options
@click.option("--capacity", type=float, help="Selling hours per FTE per year (overrides sizing.hours_per_fte).")
@click.option("--k-range", help="K values to tabulate as MIN:MAX (overrides sizing.k_min/k_max).")
@click.option("--time-limit", type=float, default=10.0, show_default=True, help="Solver seconds per K.")
@_handle_errors
def size_command(config_path, accounts, volumes, quiet, log_json, capacity, k_range, time_limit, report) -> None:
    """How many territories the workload needs: writes a CSV table per K (workload and travel per rep,
    utilisation, balance) to stdout and recommends the smallest K whose reps are not over capacity."""
    overrides = _overrides(accounts=accounts, volumes=volumes)
    if capacity is not None:
        overrides["sizing.hours_per_fte"] = capacity
    if k_range is not None:
        low, _, high = k_range.partition(":")
        if not (low.isdigit() and high.isdigit() and 0 < int(low) <= int(high)):
            raise click.BadParameter("expected MIN:MAX, e.g. 6:14", param_hint="--k-range")
        overrides["sizing.k_min"], overrides["sizing.k_max"] = int(low), int(high)
    config = load_config(config_path, overrides)
    loaded = _load(config, report)
    need = needed_territories(loaded.accounts, config)
    report.info(
        "need",
        f"call workload {loaded.accounts['workload_hours'].sum():,.0f} h at {config.sizing.hours_per_fte:,.0f} h per "
        f"FTE needs {need:.1f} FTE before travel",
        fte=need,
    )
    ks = sizing_k_range(loaded.accounts, config)
    table = size_table(loaded.accounts, config, ks, time_limit, lambda k: report.info("k", f"solving K = {k}", k=k))
    sys.stdout.write(csv_text(table))
    best = recommended_k(table)
    if best is None:
        report.warn("no-fit", f"no K in {ks.start}-{ks.stop - 1} keeps every rep within capacity; try a larger range")
    else:
        report.info(
            "recommended",
            f"recommended: {best} territories (smallest K with workload incl. travel within capacity)",
            k=best,
        )


def _label_fte(labels: tuple[str, ...], folder: Path | None, reps) -> np.ndarray | None:
    """FTE per territory name, so targets match what optimize used: from an output folder's territories.csv,
    else from the roster's territory column; None (equal targets) when neither names every territory."""
    if folder is not None and (folder / "territories.csv").exists():
        table = pd.read_csv(folder / "territories.csv", dtype={"territory": str})
        if "fte" in table:
            by_label = dict(zip(table["territory"], table["fte"], strict=True))
            if set(labels) <= set(by_label):
                return np.array([by_label[label] for label in labels], dtype=float)
    if reps is not None and set(labels) <= set(reps["territory"]):
        by_label = dict(zip(reps["territory"], reps["fte"], strict=True))
        return np.array([by_label[label] for label in labels], dtype=float)
    return None


def _band_findings(metrics: Metrics) -> list[Finding]:
    low, high = metrics.balance["band_low_index"], metrics.balance["band_high_index"]
    metric = metrics.balance["metric"]
    column = f"{metric}_index" if metric != "accounts" else None
    return [
        Finding(
            "territories",
            f"{row.territory} is outside the band" + (f": index {getattr(row, column):.1f}" if column else ""),
            hint=f"band {low:.1f}-{high:.1f}",
        )
        for row in metrics.territories.loc[~metrics.territories["in_band"]].itertuples()
    ]


def _load(config: Config, report: Reporter) -> Loaded:
    loaded = load_accounts(config)
    if loaded.findings:
        report.warn(
            "rejects",
            f"{len(loaded.findings)} row(s) set aside (see rejects.csv); first: {loaded.findings[0]}",
            rows=len(loaded.findings),
        )
    report.info(
        "read",
        f"read {len(loaded.accounts)} accounts, total potential {loaded.accounts['potential'].sum():,.1f}, "
        f"{int((loaded.accounts['potential'] > 0).sum())} with volume",
        accounts=len(loaded.accounts),
    )
    return loaded


def _summary(
    config: Config, loaded: Loaded, metrics: Metrics, solver: dict[str, Any], runtime_s: float
) -> dict[str, Any]:
    return {
        "terrplan_version": __version__,
        "seed": config.solver.seed,
        "inputs": list(loaded.inputs),
        "config": config.as_dict(),
        **solver,
        "objective": round(metrics.objective, 6),
        "runtime_s": round(runtime_s, 3),
        "accounts": {"used": len(loaded.accounts), "rejected_rows": len(loaded.findings), **loaded.counts},
        "territories": len(metrics.territories),
        "balance": metrics.balance,
    }


def _output_files(metrics: Metrics, summary: dict[str, Any], loaded: Loaded) -> dict[str, str | bytes]:
    """The CSVs and summary; with a current alignment also summary['disruption'], moves.csv and changes.csv."""
    files: dict[str, str | bytes] = {
        "assignments.csv": csv_text(metrics.assignments),
        "territories.csv": csv_text(metrics.territories),
    }
    change = disruption(metrics.assignments)
    if change is not None:
        fig = change.figures
        summary["disruption"] = {key: _rounded(fig[key]) for key in DISRUPTION_KEYS}
        files["moves.csv"] = csv_text(change.moves)
        files["changes.csv"] = csv_text(change.changes)
    files["summary.json"] = json_text(summary)
    files["rejects.csv"] = csv_text(rejects_frame(loaded.findings))
    return files


def _rounded(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value


DISRUPTION_KEYS = (
    "moved_accounts",
    "moved_accounts_share",
    "moved_potential",
    "moved_potential_share",
    "accounts_in_both",
    "territory_match",
)


__all__ = ["main"]
