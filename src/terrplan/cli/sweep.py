"""`terrplan sweep`: many optimize runs over a grid of config values, one results table, the trade-off frontier."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from terrplan.child import usable_cores
from terrplan.cli import EXIT_CODES_HELP, common_options, config_overrides, handle_errors, main
from terrplan.progress import Reporter

if TYPE_CHECKING:
    from terrplan.sweep.grid import Settings


@main.command(
    name="sweep",
    epilog="Example: terrplan sweep configs/sample.yaml --grid current=accounts --grid k=11:13 "
    "--grid tolerance=0.05,0.1 --grid move-cost=10,30,100 --workers 2 --report\n\n"
    "Frontier CSV on stdout: terrplan sweep configs/sample.yaml --grid k=11:13 -o - -q\n\n" + EXIT_CODES_HELP,
)
@common_options
@click.option(
    "--grid",
    multiple=True,
    metavar="KEY=V1,V2,...",
    help="A config key (territories.count, territories.balance.workload.tolerance, ...) or optimize flag (k, "
    "tolerance, move-cost, budget, current, seed, time-limit, reps) and its values, or MIN:MAX[:STEP] for numbers. "
    "Repeat for more keys: every combination is a scenario. Adds to the config's sweep.grid; a key both give takes "
    "the flag's values.",
)
@click.option("-d", "--dir", "directory", help="The sweep folder (default: output.dir with '-sweep' appended).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Scenarios run at once on this machine (default: sweep.workers, else the cores this process may use). "
    "Overrides sweep.cluster.",
)
@click.option(
    "--cluster",
    metavar="tcp://HOST:8786",
    help="Run the scenarios on this Dask distributed scheduler (overrides sweep.cluster and sweep.workers); its "
    "workers must see the sweep folder at the same path.",
)
@click.option(
    "--ship-inputs/--shared-inputs",
    "ship_inputs",
    default=None,
    help="With a cluster: send the input files to the workers (each checks their sha256), or let them read the "
    "inputs at the driver's paths on a shared file system (default: sweep.ship_inputs, else shared).",
)
@click.option("--report", "page", is_flag=True, help="Write frontier.html: the trade-off charts, linked to reports.")
@click.option("-o", "--output", help="Also write the frontier CSV to this file, or '-' for stdout.")
@handle_errors
def sweep_command(
    config_path,
    accounts,
    volumes,
    quiet,
    log_json,
    grid,
    directory,
    workers,
    cluster,
    ship_inputs,
    page,
    output,
    report: Reporter,
) -> None:
    """Run optimize for every combination of the grid's values, each into its own output folder, and gather their
    figures in results.parquet. A rerun skips the scenarios already done; an interrupted sweep resumes."""
    from terrplan.sweep import default_folder, plan_sweep, run_sweep
    from terrplan.sweep.grid import check_shippable, sweep_settings
    from terrplan.write import check_output_file, csv_text, write_file

    check_placement(workers, cluster, ship_inputs)
    plan = plan_sweep(config_path, config_overrides(accounts=accounts, volumes=volumes), grid)
    settings = sweep_settings(plan.config, config_path, workers, cluster, ship_inputs)
    check_shipping(ship_inputs, settings)
    shipping = settings.ship_inputs and settings.cluster is not None
    if shipping:
        check_shippable(scenario.config for scenario in plan.scenarios)
    folder = directory if directory is not None else default_folder(plan.config)
    if output not in (None, "-"):
        check_output_file(output, [config_path])
    count = len(plan.scenarios)
    workers = settings.workers or usable_cores()
    where = f"{settings.cluster}{' (inputs shipped)' if shipping else ''}" if settings.cluster else None
    where = where or f"{workers} local worker(s)"
    report.info("sweep", f"{count} scenario(s) on {where}; folder {folder}", scenarios=count, directory=str(folder))

    def progress(done: int, total: int, scenario: str, row: dict[str, Any]) -> None:
        code = row["exit_code"]
        why = f": {row['message'].splitlines()[0]}" if code and row.get("message") else ""
        report.info(
            "scenario",
            f"[{done}/{total}] {scenario}: {row.get('status') or 'failed'}, exit {code}{why}",
            scenario=scenario,
            exit_code=code,
        )

    def retry(why: str) -> None:
        report.warn("retry", why)

    swept = run_sweep(plan, folder, workers, settings.cluster, page, progress, retry, shipping)
    table = swept.table
    failed = int((table["exit_code"] != 0).sum())
    if failed:
        report.warn("failed", f"{failed} scenario(s) without a result: see results.parquet's exit_code and message")
    if output == "-":
        sys.stdout.write(csv_text(swept.frontier, plan.config.output.escape_formulas))
        sys.stdout.flush()
    elif output is not None:
        write_file(output, csv_text(swept.frontier, plan.config.output.escape_formulas))
    report.info(
        "swept",
        f"{len(table)} scenario(s): {swept.ran} run now, {swept.reused} done before; "
        f"{int(table['pareto'].sum())} Pareto-optimal; wrote {swept.directory / 'results.parquet'}",
        ran=swept.ran,
        reused=swept.reused,
        directory=str(swept.directory),
    )


def check_placement(workers: int | None, cluster: str | None, ship_inputs: bool | None) -> None:
    """The flags that say where scenarios run, checked before any work (exit 2)."""
    if workers is not None and cluster is not None:
        raise click.UsageError("--workers and --cluster exclude each other: the cluster has its own workers")
    if ship_inputs and workers is not None:
        raise click.UsageError("--ship-inputs sends the inputs to a cluster's workers: it goes with --cluster")


def check_shipping(ship_inputs: bool | None, settings: Settings) -> None:
    """--ship-inputs given where no cluster runs the scenarios (exit 2): the flag would do nothing."""
    if ship_inputs and settings.cluster is None:
        raise click.UsageError("--ship-inputs sends the inputs to a cluster's workers: give --cluster (or "
                               "sweep.cluster in the config)")  # fmt: skip
