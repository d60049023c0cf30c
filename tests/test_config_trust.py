"""The YAML config and command-line values are checked completely before anything is read: one broken config per
defect, each pinned to its message and exit 3, and random YAML never gives anything but a Config or a ConfigError."""

from __future__ import annotations

import string
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from conftest import invoke, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terrplan.config import Config, load_config
from terrplan.errors import ConfigError

BAD_INPUT = 3
BASE = "inputs:\n  accounts: {path: accounts.csv}\n"

# Nine levels of nine: 387,420,489 'lol's once expanded (PyYAML stringifying it took 2.4 GB and then hung).
ALIAS_BOMB = BASE + "lol: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
for _level, (_name, _ref) in enumerate(zip("bcdefghi", "abcdefgh", strict=True)):
    ALIAS_BOMB += f"lol{_level}: &{_name} [" + ", ".join([f"*{_ref}"] * 9) + "]\n"
ALIAS_BOMB += "scoring: {weights: *i}\n"


def problems(tmp_path: Path, text: str | bytes, overrides: dict | None = None) -> list[str]:
    """Every finding load_config reports for this config, with its path shortened to config.yaml."""
    return [line.replace(str(tmp_path / "config.yaml"), "config.yaml") for line in findings(tmp_path, text, overrides)]


def findings(tmp_path: Path, text: str | bytes, overrides: dict | None = None) -> list[str]:
    error = config_error(tmp_path, text, overrides)
    assert error.problems, str(error)
    return [str(finding) for finding in error.problems]


def config_error(tmp_path: Path, text: str | bytes, overrides: dict | None = None) -> ConfigError:
    path = tmp_path / "config.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    assert info.value.exit_code == BAD_INPUT
    return info.value


def fails_in_cli(tiny, *args: str) -> str:
    result = invoke(*args)
    assert result.exit_code == BAD_INPUT, result.stderr
    assert "Traceback" not in result.stderr
    assert not tiny.out.exists()
    return result.stderr


# -- YAML safety ------------------------------------------------------------------------------------------------


def test_an_alias_bomb_fails_fast_at_its_first_anchor(tmp_path):
    started = time.perf_counter()
    error = config_error(tmp_path, ALIAS_BOMB)
    assert time.perf_counter() - started < 2
    assert str(error) == (
        f"{tmp_path / 'config.yaml'}:3: config uses YAML aliases (&anchor / *alias); write the values out"
    )


def test_an_alias_bomb_through_the_cli_is_exit_3_with_a_short_message(tmp_path):
    (tmp_path / "config.yaml").write_text(ALIAS_BOMB)
    proc = run_cli("validate", str(tmp_path / "config.yaml"))
    stderr = proc.stderr.decode()
    assert proc.returncode == BAD_INPUT, stderr
    assert "config.yaml:3: config uses YAML aliases (&anchor / *alias); write the values out" in stderr
    assert "Traceback" not in stderr
    assert len(stderr) < 500


def test_a_single_alias_is_refused_too(tmp_path):
    text = BASE + "territories: &t {count: 2}\n"
    assert str(config_error(tmp_path, text)).endswith(
        "config.yaml:3: config uses YAML aliases (&anchor / *alias); write the values out"
    )


def test_a_duplicate_key_names_both_lines(tmp_path):
    text = BASE + "territories:\n  count: 2\n  balance: {tolerance: 0.05}\n  count: 3\n"
    assert problems(tmp_path, text) == [
        "config.yaml:6: key 'territories.count': duplicate key (first on line 4)\n"
        "    hint: YAML keeps only the last value silently; remove one of them"
    ]


def test_a_duplicate_section_and_a_duplicate_code_are_both_reported(tmp_path):
    text = BASE + "scoring:\n  weights: {'27447': 1, 27447: 2}\nscoring: {}\n"
    assert problems(tmp_path, text) == [
        "config.yaml:4: key 'scoring.weights.27447': duplicate key (first on line 4)\n"
        "    hint: YAML keeps only the last value silently; remove one of them",
        "config.yaml:5: key 'scoring': duplicate key (first on line 3)\n"
        "    hint: YAML keeps only the last value silently; remove one of them",
    ]


def test_a_long_value_is_cut_short_in_the_message(tmp_path):
    text = BASE + "territories: {count: " + "x" * 10_000 + "}\n"
    assert problems(tmp_path, text) == [
        "config.yaml: key 'territories.count': expected a number (int) (got '" + "x" * 79 + "…')"
    ]


def test_a_huge_list_where_a_mapping_belongs_is_sketched_not_printed(tmp_path):
    text = BASE + "solver: [" + ", ".join(["lol"] * 5000) + "]\n"
    assert problems(tmp_path, text) == [
        "config.yaml: key 'solver': expected a mapping (got \"['lol', 'lol', 'lol', 'lol', 'lol', 'lol', ...]\")"
    ]


def test_deep_nesting_is_bad_yaml_not_a_crash(tmp_path):
    error = config_error(tmp_path, BASE + "solver: " + "[" * 5000 + "]" * 5000 + "\n")
    assert str(error) == f"{tmp_path / 'config.yaml'}: not valid YAML: nested too deeply"


def test_a_nul_character_names_its_line(tmp_path):
    error = config_error(tmp_path, BASE + "output: {dir: o\x00ut}\n")
    assert str(error) == (
        f"{tmp_path / 'config.yaml'}:3: not valid YAML: special characters are not allowed (character U+0000)"
    )


def test_an_explicit_tag_that_does_not_fit_is_read_as_text(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(BASE + "plans: {goal_unit: !!int x}\nscoring: {groups: [{name: !!bool maybe, codes: [!!int ]}]}\n")
    config = load_config(path)
    assert (config.plans.goal_unit, config.scoring.groups[0].name, config.scoring.groups[0].codes) == ("x", "maybe", ("",))


# -- codes and keys as text -------------------------------------------------------------------------------------


def test_codes_keep_their_leading_zeros_and_their_text(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        BASE
        + "  volumes: {path: v.csv, periods: [2025, 1:30, 2025-01-01], wide: {Total: 01402}, missing: [-999, no]}\n"
        + "scoring:\n  weights: {01402: 1, 1:30: 2, 0x1F: 3}\n  groups:\n"
        + "    - {name: yes, codes: [0140, 2025-13-45, 0b_, 1e3], weight: 0.5}\n"
        + "segments:\n  - {name: 1, share: 1, calls_per_year: 4, minutes_per_call: 20}\n"
        + "plans: {goal_unit: 5}\n"
    )
    config = load_config(path)
    assert config.scoring.weights == {"01402": 1.0, "1:30": 2.0, "0x1F": 3.0}
    assert config.scoring.groups[0].codes == ("0140", "2025-13-45", "0b_", "1e3")
    assert config.scoring.groups[0].name == "yes"
    assert config.inputs.volumes.periods == ("2025", "1:30", "2025-01-01")
    assert config.inputs.volumes.wide == {"Total": "01402"}
    assert config.inputs.volumes.missing == ("-999", "no")
    assert config.segments[0].name == "1"
    assert config.plans.goal_unit == "5"


def test_numbers_still_read_as_numbers(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(BASE + "solver: {seed: 0x10, time_limit: 1_000, candidates: '7'}\nplans: {goal: 1.5e3}\n")
    config = load_config(path)
    assert (config.solver.seed, config.solver.time_limit, config.solver.candidates) == (16, 1000.0, 7)
    assert config.plans.goal == 1500.0
    assert type(config.solver.seed) is int and type(config.solver.time_limit) is float


# -- numbers ----------------------------------------------------------------------------------------------------


def test_solver_candidates_zero(tmp_path):
    assert problems(tmp_path, BASE + "solver: {candidates: 0}\n") == [
        "config.yaml: key 'solver.candidates': must be 1 or more (got '0')\n"
        "    hint: how many nearest centres each account may join, e.g. 30"
    ]


def test_solver_starts_zero(tmp_path):
    assert problems(tmp_path, BASE + "solver: {starts: 0}\n") == [
        "config.yaml: key 'solver.starts': must be 1 or more (got '0')\n"
        "    hint: how many runs from different random starts, e.g. 12 (null: by the instance's size)"
    ]


def test_hours_per_fte_zero(tmp_path):
    assert problems(tmp_path, BASE + "sizing: {hours_per_fte: 0}\n") == [
        "config.yaml: key 'sizing.hours_per_fte': must be positive (got '0')\n    hint: e.g. 1600"
    ]


def test_an_infinite_weight(tmp_path):
    assert problems(tmp_path, BASE + "scoring: {weights: {'27447': .inf}}\n") == [
        "config.yaml: key 'scoring.weights.27447': expected a finite number (got '.inf')\n"
        "    hint: NaN and infinity are not allowed; give an ordinary number"
    ]


def test_a_negative_weight(tmp_path):
    assert problems(tmp_path, BASE + "scoring: {weights: {'27447': -1}, default_weight: -0.5}\n") == [
        "config.yaml: key 'scoring.weights.27447': must not be negative (got '-1')\n"
        "    hint: a weight scales a code's volume; 0 leaves the code out",
        "config.yaml: key 'scoring.default_weight': must not be negative (got '-0.5')\n"
        "    hint: a weight scales a code's volume; 0 leaves the code out",
    ]


def test_nan_anywhere_in_the_file(tmp_path):
    assert problems(tmp_path, BASE + "solver: {time_limit: .nan}\nrules: {max_distance_km: .NaN}\n") == [
        "config.yaml: key 'solver.time_limit': expected a finite number (got '.nan')\n"
        "    hint: NaN and infinity are not allowed; give an ordinary number",
        "config.yaml: key 'rules.max_distance_km': expected a finite number (got '.NaN')\n"
        "    hint: NaN and infinity are not allowed; give an ordinary number",
    ]


def test_infinity_where_a_whole_number_belongs(tmp_path):
    assert problems(tmp_path, BASE + "territories: {count: .inf}\n") == [
        "config.yaml: key 'territories.count': expected a finite number (got '.inf')\n"
        "    hint: NaN and infinity are not allowed; give an ordinary number"
    ]


def test_a_boolean_is_not_a_number(tmp_path):
    assert problems(tmp_path, BASE + "solver: {starts: yes}\n") == [
        "config.yaml: key 'solver.starts': expected a number (int) (got 'yes')"
    ]


def test_every_limit_is_reported_at_once(tmp_path):
    text = (
        BASE
        + "solver: {seed: 4294967296, bound_iterations: -1}\n"
        + "sizing: {travel_speed_kmh: -5, calls_per_trip: 0, k_min: 6, k_max: 4}\n"
        + "plans: {goal: -1, top_accounts: -2, far_account_km: 0}\n"
        + "territories: {min_accounts: -1}\n"
        + "hierarchy: {tolerance: 1}\n"
        + "disruption: {relocated_km: 0}\n"
        + "scoring: {groups: [{name: g, codes: ['1'], weight: -2}]}\n"
        + "segments: [{name: A, share: 1, calls_per_year: -4, minutes_per_call: 20}]\n"
    )
    assert problems(tmp_path, text.replace("accounts.csv}", "accounts.csv, zip_mismatch_km: -1}")) == [
        "config.yaml: key 'segments[0].calls_per_year': must not be negative (got '-4')",
        "config.yaml: key 'solver.seed': must be from 0 to 4294967295 (got '4294967296')\n"
        "    hint: the seed picks the random starts; any value in range repeats exactly",
        "config.yaml: key 'solver.bound_iterations': must be 0 or more (got '-1')\n"
        "    hint: subgradient steps of the lower bound, e.g. 300",
        "config.yaml: key 'sizing.travel_speed_kmh': must be positive (got '-5')\n    hint: e.g. 50",
        "config.yaml: key 'sizing.calls_per_trip': must be positive (got '0')\n    hint: e.g. 4",
        "config.yaml: key 'sizing.k_min': k_min is above k_max (got '6 > 4')",
        "config.yaml: key 'plans.goal': must not be negative (got '-1')\n    hint: the national goal, 0 for none",
        "config.yaml: key 'plans.top_accounts': must not be negative (got '-2')\n"
        "    hint: accounts in each plan's target list, e.g. 25 (0 for none)",
        "config.yaml: key 'plans.far_account_km': must be positive (got '0')\n    hint: e.g. 150",
        "config.yaml: key 'scoring.groups[0].weight': must not be negative (got '-2')\n"
        "    hint: a weight scales a code's volume; 0 leaves the code out",
        "config.yaml: key 'territories.min_accounts': must not be negative (got '-1')",
        "config.yaml: key 'hierarchy.tolerance': tolerance must be a fraction in [0, 1) (got '1')\n"
        "    hint: 0.15 means every district and region within ±15 % of its mean",
        "config.yaml: key 'inputs.accounts.zip_mismatch_km': must be positive (got '-1')\n"
        "    hint: e.g. 100, or null for no check",
        "config.yaml: key 'disruption.relocated_km': must be positive (got '0')\n"
        "    hint: e.g. 100, or null to never reassign an account for moving",
    ]


def test_type_errors_and_limits_come_together(tmp_path):
    text = BASE + "solver: {time_limit: .inf, seed: -1, candidates: 0}\nterritories: {count: two}\nhierarchy: {districts: 3}\n"
    assert problems(tmp_path, text) == [
        "config.yaml: key 'solver.time_limit': expected a finite number (got '.inf')\n"
        "    hint: NaN and infinity are not allowed; give an ordinary number",
        "config.yaml: key 'territories.count': expected a number (int) (got 'two')",
        "config.yaml: key 'solver.seed': must be from 0 to 4294967295 (got '-1')\n"
        "    hint: the seed picks the random starts; any value in range repeats exactly",
        "config.yaml: key 'solver.candidates': must be 1 or more (got '0')\n"
        "    hint: how many nearest centres each account may join, e.g. 30",
    ]


def test_an_unknown_encoding_is_caught_before_reading(tmp_path):
    assert problems(tmp_path, "inputs:\n  accounts: {path: a.csv, encoding: utf-9}\n") == [
        "config.yaml: key 'inputs.accounts.encoding': unknown encoding (got 'utf-9')\n"
        "    hint: e.g. utf-8, or cp1252 for files saved by older Excel versions"
    ]


# -- command-line values arrive through load_config -------------------------------------------------------------


def test_command_line_nan_is_named_as_coming_from_the_command_line(tmp_path):
    overrides = {"solver.time_limit": float("nan"), "disruption.move_cost_km": float("inf"), "solver.seed": -1}
    assert problems(tmp_path, BASE, overrides) == [
        "config.yaml: key 'solver.time_limit': expected a finite number (got 'nan')\n"
        "    hint: NaN and infinity are not allowed; give an ordinary number; this value came from the command line",
        "config.yaml: key 'disruption.move_cost_km': expected a finite number (got 'inf')\n"
        "    hint: NaN and infinity are not allowed; give an ordinary number; this value came from the command line",
        "config.yaml: key 'solver.seed': must be from 0 to 4294967295 (got '-1')\n"
        "    hint: the seed picks the random starts; any value in range repeats exactly; "
        "this value came from the command line",
    ]


def test_a_flag_for_a_broken_section_does_not_crash(tmp_path):
    assert problems(tmp_path, BASE + "solver: 5\n", {"solver.seed": 1}) == [
        "config.yaml: key 'solver': expected a mapping (got '5')"
    ]


def test_seed_minus_one_on_the_command_line(tiny):
    stderr = fails_in_cli(tiny, "optimize", str(tiny.config), "-q", "--seed", "-1")
    assert "key 'solver.seed': must be from 0 to 4294967295 (got '-1')" in stderr


def test_time_limit_nan_on_the_command_line(tiny):
    stderr = fails_in_cli(tiny, "optimize", str(tiny.config), "-q", "--time-limit", "nan")
    assert "key 'solver.time_limit': expected a finite number (got 'nan')" in stderr
    assert "this value came from the command line" in stderr


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-5"])
def test_size_checks_its_time_limit_like_optimize(tiny, value):
    stderr = fails_in_cli(tiny, "size", str(tiny.config), "-q", "--time-limit", value)
    assert "key 'solver.time_limit': " in stderr and f"(got '{value}')" in stderr


def test_move_cost_nan_on_the_command_line(tiny):
    stderr = fails_in_cli(tiny, "optimize", str(tiny.config), "-q", "--current", "accounts", "--move-cost", "nan")
    assert "key 'disruption.move_cost_km': expected a finite number (got 'nan')" in stderr


def test_tolerance_nan_on_the_command_line(tiny):
    stderr = fails_in_cli(tiny, "evaluate", str(tiny.config), "-q", "--tolerance", "nan")
    assert "key 'territories.balance.tolerance': expected a finite number (got 'nan')" in stderr


def test_config_limits_through_validate(tiny):
    tiny.write("config.yaml", tiny.config.read_text().replace("time_limit: 20}", "time_limit: 20, starts: 0}"))
    stderr = fails_in_cli(tiny, "validate", str(tiny.config))
    assert "key 'solver.starts': must be 1 or more (got '0')" in stderr


# -- the file itself --------------------------------------------------------------------------------------------


def test_a_folder_as_config(tmp_path):
    folder = tmp_path / "config.yaml"
    folder.mkdir()
    with pytest.raises(ConfigError) as info:
        load_config(folder)
    assert str(info.value) == f"{folder}: the config path is a folder, not a file"
    assert info.value.exit_code == BAD_INPUT


def test_a_config_that_is_not_utf8_names_the_line(tmp_path):
    error = config_error(tmp_path, (BASE + "plans: {goal_unit: procédures}\n").encode("cp1252"))
    assert str(error) == f"{tmp_path / 'config.yaml'}:3: not UTF-8 text (byte 64)"


# -- random input -----------------------------------------------------------------------------------------------

_TOKENS = [
    "inputs", "accounts", "path", "scoring", "weights", "groups", "codes", "solver", "seed", "time_limit",
    "territories", "count", "balance", "tolerance", "segments", "name", "share", "sizing", "k_min", "k_max",
    "hours_per_fte", "plans", "goal_unit", "volumes", "wide", "missing", "periods", "hierarchy", "contiguity",
    "units", "by", "disruption", "output", "dir", "report", "encoding", "utf-9",
    ":", ": ", "- ", "-", "\n", "\n  ", "\n    ", "  ", "{", "}", "[", "]", ", ", "'", '"', "#", "? ", "|", ">",
    "&a ", "*a", "<<: ", "!!int ", "!!str ", "!!python/object:os.system ", "!foo ", "%YAML 1.1\n", "---\n", "...",
    ".nan", ".inf", "-.inf", "0140", "01402", "1:30", "0x1F", "0b_", "2025-13-45", "1e999", "1_000", "-1", "0",
    "yes", "no", "~", "null", "true", "1.5", "\t", "\x00", "\x0b", "\ufeff", "é", "27447", "potential", "zip",
    "!!bool ", "!!float ", "!!timestamp ", "!!set ", "!!omap ", "!!binary ", "!!null ", "!!map ", "!!seq ",
]  # fmt: skip
_yamlish = st.lists(st.one_of(st.sampled_from(_TOKENS), st.text(string.printable, max_size=5)), max_size=60).map(
    "".join
)

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["0140", "1:30", "potential", "zip", "rep_homes", "sum", "queen", "reject"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(_TOKENS[:37]), inner, max_size=4)
    ),
    max_leaves=12,
)
_documents = st.dictionaries(
    st.sampled_from([f.name for f in Config.__dataclass_fields__.values()] + ["bogus"]),
    st.one_of(_values, st.dictionaries(st.sampled_from(_TOKENS[:37]), _values, max_size=5)),
    max_size=6,
)


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder) / "config.yaml"


def loads_or_config_error(path: Path, data: bytes, overrides: dict | None = None) -> None:
    path.write_bytes(data)
    try:
        config = load_config(path, overrides)
    except ConfigError as error:
        assert error.exit_code == BAD_INPUT
        assert len(str(error)) < 20_000
    else:
        assert isinstance(config, Config)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_yamlish)
def test_random_yamlish_text_is_a_config_or_a_config_error(scratch, text):
    loads_or_config_error(scratch, text.encode("utf-8"))


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=200))
def test_random_bytes_are_a_config_or_a_config_error(scratch, data):
    loads_or_config_error(scratch, data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=_documents, time_limit=st.floats(allow_nan=True, allow_infinity=True))
def test_random_sections_are_a_config_or_a_config_error(scratch, document, time_limit):
    data = yaml.safe_dump(document, allow_unicode=True).encode("utf-8")
    loads_or_config_error(scratch, data, {"solver.time_limit": time_limit, "solver.seed": 1})
