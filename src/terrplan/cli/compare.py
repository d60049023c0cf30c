"""`terrplan compare`: two alignments side by side, territories matched before moves are counted."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from terrplan.cli import EXIT_CODES_HELP, handle_errors, main

if TYPE_CHECKING:
    from terrplan.compare import Comparison
    from terrplan.progress import Reporter


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
@handle_errors
def compare_command(a, b, output, as_json, quiet, report) -> None:
    """Compare two alignments (output folders of optimize/evaluate, or CSVs with account_id and territory).

    B's territories are matched to A's by the largest shared potential before moves are counted, so
    renamed territories do not count as moves.
    """
    from terrplan.compare import compare, load_side
    from terrplan.write import check_output_file, csv_text, json_text, write_file

    if output == "-" and as_json:
        raise click.UsageError("stdout takes either the moves CSV (-o -) or --json, not both")
    if output not in (None, "-"):
        check_output_file(output, (a, b))
    result = compare(load_side(Path(a)), load_side(Path(b)))
    fig = result.figures
    if not quiet:
        _print_comparison(result, report)
    if as_json:
        sys.stdout.write(json_text(fig))
    if output == "-":
        sys.stdout.write(csv_text(result.moves))
    elif output is not None:
        write_file(Path(output), csv_text(result.moves))


def _print_comparison(result: Comparison, report: Reporter) -> None:
    from rich.console import Console
    from rich.table import Table

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
