"""Fast start: the command line loads without the solver stack, and every command has its --help.

Deterministic, not timed: what is imported is checked, not how long it takes (the timing is in README.md's
"Fast start" note, measured with `python -X importtime` and repeated runs).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from terrplan.cli import main

HEAVY = ("ortools", "sklearn", "scipy", "pandas", "numpy")


def _loaded_after(code: str) -> list[str]:
    """The heavy top-level packages in sys.modules after `code` runs in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    return [name for name in json.loads(out.stdout.splitlines()[-1]) if name in HEAVY]


def test_importing_the_command_line_loads_no_solver_stack():
    assert _loaded_after("import terrplan.cli") == []


def test_help_loads_no_solver_stack():
    # click's --help exits: the probe catches it so the modules can be listed afterwards
    code = "from terrplan.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    assert _loaded_after(code) == []
    code = "from terrplan.cli import main\ntry:\n    main(['optimize', '--help'])\nexcept SystemExit:\n    pass"
    assert _loaded_after(code) == []


def test_help_through_the_program_prints_every_command():
    out = subprocess.run(
        [sys.executable, "-m", "terrplan", "--help"], capture_output=True, text=True, check=True, timeout=120
    )
    for name in main.commands:
        assert name in out.stdout
    assert out.stderr == ""


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_command_has_help_with_an_example(name):
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert f"terrplan {name}" in result.output  # the usage line
    assert "Example: terrplan" in result.output  # DESIGN.md §6: `terrplan <cmd> --help` shows an example
    assert "Exit codes:" in result.output


def test_validate_loads_no_clustering_and_no_report(tiny):
    """validate reads and checks (pandas, SciPy's KD-trees, OR-Tools' max-flow feasibility check), but neither
    seeds a solve (scikit-learn) nor renders a report."""
    code = (
        "from terrplan.cli import main\n"
        f"try:\n    main(['validate', {str(tiny.config)!r}, '-q'])\nexcept SystemExit as done:\n"
        "    assert not done.code, done.code\n"
        "import sys\nassert 'terrplan.report' not in sys.modules and 'terrplan.hierarchy' not in sys.modules"
    )
    assert "sklearn" not in _loaded_after(code)
