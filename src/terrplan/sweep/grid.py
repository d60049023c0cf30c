"""The grid: `--grid KEY=V1,V2,...` axes, each scenario's resolved config, and its content address.

A key is a dotted config key (`territories.count`) or one of optimize's flags (`k`, `tolerance`, `move-cost`,
`budget`, `current`, `seed`, `time-limit`, `accounts`, `volumes`, `reps` for the roster). Lists of entries are
addressed by position or by name: `territories.balance.1.tolerance` or `territories.balance.workload.tolerance`
(an entry's `metric`), `segments.A.calls_per_year` (an entry's `name`); `territories.balance.tolerance` is the
primary metric's, as `--tolerance` is. Values are a comma-separated list, or for numbers a range `MIN:MAX[:STEP]`
(both ends included): `territories.count=40:60:5` is 40, 45, 50, 55, 60. `null` unsets a key. Paths in values are
relative to the working directory, as optimize's flags are.

Every scenario is the base config with its values set, checked by `load_config` like any config. A value that is
wrong on its own (`territories.count=abc`) stops the sweep before any work (exit 3, naming the key and value); values
fine alone but not together (min_accounts above max_accounts) make that scenario a failed row.

A scenario's id is the sha256 of its resolved config (every default filled in, paths absolute), the sha256 of every
input file it reads and terrplan's version: the same scenario in any sweep, whatever its folder, has the same id.
"""

from __future__ import annotations

import copy
import dataclasses
import glob
import hashlib
import itertools
import json
import types
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from terrplan import __version__
from terrplan.config import Balance, Config, load_config
from terrplan.errors import EXIT_USAGE, ConfigError, Finding, InputError, TerrplanError, closest

#: optimize's flags (without dashes) -> the config key they set.
ALIASES = {
    "k": "territories.count",
    "territories": "territories.count",
    "tolerance": "territories.balance.tolerance",
    "seed": "solver.seed",
    "time-limit": "solver.time_limit",
    "move-cost": "disruption.move_cost_km",
    "budget": "disruption.budget",
    "current": "disruption.current",
    "accounts": "inputs.accounts.path",
    "volumes": "inputs.volumes.path",
    "reps": "inputs.reps.path",
}

#: Keys that hold a path: relative to the working directory when given in --grid, absolute in a scenario's config.
PATH_KEYS = (
    "inputs.accounts.path",
    "inputs.volumes.path",
    "inputs.reps.path",
    "rules.path",
    "contiguity.graph",
    "disruption.current",
)

#: The keys of the config's sweep section.
SECTION_KEYS = ("grid", "workers", "cluster", "ship_inputs")

_BOOLEANS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}

#: A range may not expand to more values than this (a typo such as 1:100000 stops at once).
MAX_VALUES = 10_000


class GridError(TerrplanError):
    """A --grid argument that cannot be read: its syntax or an unknown key (exit 2, usage)."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class Axis:
    """One axis of the grid (a --grid argument or a key of sweep.grid): a config key and its values."""

    origin: str  # where it was given, for messages: "--grid 'k=2:4'" or "config.yaml: key 'sweep.grid.k'"
    key: str  # the config key (flags resolved), the results table's column
    path: tuple[str | int, ...]  # where in the config mapping, list entries by position
    values: tuple[Any, ...]  # text for load_config to read and check, a bool, or None
    flag: bool = True  # given on the command line (else in the config's sweep section)


@dataclass(frozen=True)
class Settings:
    """Where a sweep runs: the sweep section's workers, cluster and ship_inputs, with the flags' winning."""

    workers: int | None
    cluster: str | None
    ship_inputs: bool


@dataclass(frozen=True)
class Scenario:
    """One point of the grid: its values, and its config or why there is none."""

    values: tuple[Any, ...]  # one per axis, as the config resolves it
    id: str
    config: Config | None
    error: ConfigError | None = None


def parse_axes(specs: list[str] | tuple[str, ...], base: Config, file: str | Path = "config") -> list[Axis]:
    """The grid against the base config: the keys of its sweep.grid section (in the file's order, values relative
    to the config file) then the --grid arguments, keys located, values split and ranges expanded. A --grid key the
    section has too replaces the section's values (the command line wins)."""
    data = config_data(base)
    given = [*_section_grid(base, str(file)), *_flag_grid(specs)]
    axes: list[Axis] = []
    for origin, name, items, folder in given:
        key = ALIASES.get(name, name)
        if key.split(".")[0] == "sweep":
            raise GridError(f"{origin}: the sweep section says how to sweep; it is no scenario's setting")
        path, hint = _locate(data, key, origin)
        axis = Axis(origin, key, path, _values(items, hint, key, origin, folder), flag=folder is None)
        same = [i for i, other in enumerate(axes) if other.key == key]
        if same and axes[same[0]].flag == axis.flag:
            raise GridError(f"{origin}: the key {key} is already on the grid; give each key once")
        if same:
            axes[same[0]] = axis
        else:
            axes.append(axis)
    return axes


def sweep_settings(config: Config, file: str | Path, workers: int | None, cluster: str | None,
                   ship_inputs: bool | None) -> Settings:  # fmt: skip
    """The sweep section's workers, cluster and ship_inputs, each replaced by its flag when given (not None);
    --workers runs locally whatever sweep.cluster says, --cluster on the cluster whatever sweep.workers says.
    Every problem of the section at once: GridError (exit 2) naming the file, key and value."""
    section = config.sweep or {}
    file = str(file)
    problems: list[Finding] = []
    for key in section:
        if key not in SECTION_KEYS:
            close = closest(str(key), list(SECTION_KEYS))
            hint = f"did you mean 'sweep.{close}'?" if close else f"the sweep section's keys: {', '.join(SECTION_KEYS)}"
            problems.append(Finding(file, "unknown config key", key=f"sweep.{key}", hint=hint))
    grid = section.get("grid")
    if grid is not None and not isinstance(grid, dict):
        example = "e.g. grid: {territories.count: '11:13', tolerance: [0.05, 0.1]}"
        problems.append(Finding(file, "expected a mapping of config keys to values", key="sweep.grid",
                                value=_cut(grid), hint=example))  # fmt: skip
    given_workers = section.get("workers")
    if given_workers is not None and (not _whole(given_workers) or int(str(given_workers)) < 1):
        problems.append(Finding(file, "expected a whole number, 1 or more", key="sweep.workers",
                                value=_cut(given_workers), hint="scenarios run at once here, e.g. 4"))  # fmt: skip
        given_workers = None
    given_cluster = section.get("cluster")
    if given_cluster is not None and (not isinstance(given_cluster, str) or "://" not in given_cluster):
        problems.append(Finding(file, "expected a Dask scheduler's address", key="sweep.cluster",
                                value=_cut(given_cluster), hint="e.g. tcp://scheduler.example.org:8786"))  # fmt: skip
        given_cluster = None
    given_ship = section.get("ship_inputs")
    ship = _BOOLEANS.get(str(given_ship).lower()) if given_ship is not None else False
    if ship is None:
        why = "true sends the inputs to a cluster's workers; false: they read them at a shared path"
        problems.append(Finding(file, "expected true or false", key="sweep.ship_inputs", value=_cut(given_ship),
                                hint=why))  # fmt: skip
    if given_workers is not None and given_cluster is not None and workers is None and cluster is None:
        problems.append(Finding(file, "workers and cluster exclude each other", key="sweep.workers",
                                hint="the cluster has its own workers: keep one of the two"))  # fmt: skip
    if problems:
        raise GridError(f"{file}: the sweep section has {len(problems)} problem(s)", problems)
    if workers is not None or cluster is not None:
        given_workers, given_cluster = workers, cluster
    return Settings(
        int(str(given_workers)) if given_workers is not None else None,
        given_cluster,
        bool(ship) if ship_inputs is None else ship_inputs,
    )


def _section_grid(config: Config, file: str) -> list[tuple[str, str, list[str | None], Path | None]]:
    """sweep.grid as (origin, key, values, the folder its paths are relative to): a value is a list, or text read
    as --grid reads it (commas, MIN:MAX[:STEP])."""
    grid = (config.sweep or {}).get("grid")
    out: list[tuple[str, str, list[str | None], Path | None]] = []
    for name, value in grid.items() if isinstance(grid, dict) else []:
        origin = f"{file}: key 'sweep.grid.{name}'"
        if isinstance(value, list):
            if not value or any(isinstance(item, dict | list) for item in value):
                raise GridError(f"{origin}: expected a list of values, or text such as '11:13' or '0.05,0.1'")
            items: list[str | None] = [None if item is None else _as_written(item) for item in value]
        elif value is None or isinstance(value, dict):
            raise GridError(f"{origin}: expected a list of values, or text such as '11:13' or '0.05,0.1'")
        else:
            items = [part.strip() for part in _as_written(value).split(",")]
        out.append((origin, str(name), items, Path(config.base_dir)))
    return out


def _flag_grid(specs: list[str] | tuple[str, ...]) -> list[tuple[str, str, list[str | None], Path | None]]:
    """The --grid arguments as (origin, key, values, None): values relative to the working directory."""
    out: list[tuple[str, str, list[str | None], Path | None]] = []
    for spec in specs:
        name, sep, text = spec.partition("=")
        name = name.strip().lstrip("-")
        origin = f"--grid {spec!r}"
        if not sep or not name or not text.strip():
            raise GridError(f"{origin}: expected KEY=V1,V2,... (e.g. territories.count=11:13)")
        out.append((origin, name, [part.strip() for part in text.split(",")], None))
    return out


def _as_written(value: Any) -> str:
    """A YAML scalar as the file has it: 11:13 unquoted is YAML 1.1's base-60 number 673, but its text is a range."""
    return str(getattr(value, "text", value))


def _whole(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or str(value).strip().isdigit()


def _cut(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:59] + "…"


def scenarios(base_path: Path, base: Config, axes: list[Axis], hashes: dict[Path, str]) -> list[Scenario]:
    """Every combination of the axes' values (the first axis varies slowest), each a config checked as a whole.

    A value that makes the config invalid on its own stops here (ConfigError, exit 3, every such value named);
    combinations that are invalid only together become scenarios with their error. `hashes`: each input file's
    sha256, filled in as scenarios name files (a missing file stops here: InputError, exit 3)."""
    data = config_data(base)
    problems: list[Finding] = []
    alone: list[list[Any]] = []  # each value as the config resolves it (3, not '3'), for the table's columns
    for axis in axes:
        alone.append([])
        for value in axis.values:
            try:
                alone[-1].append(_get(config_data(_load(base_path, _with(data, [(axis.path, value)]))), axis.path))
            except ConfigError as exc:
                problems.extend(_blamed(exc, f"--grid {axis.key}={_shown(value)}"))
    if problems:
        raise ConfigError(f"{len(problems)} grid value(s) make the config invalid", problems)
    out = []
    for picks in itertools.product(*(range(len(axis.values)) for axis in axes)):
        changed = _with(data, [(axis.path, axis.values[j]) for axis, j in zip(axes, picks, strict=True)])
        shown = tuple(alone[i][j] for i, j in enumerate(picks))
        try:
            config = _load(base_path, changed)
        except ConfigError as exc:  # fine alone, not together: a failed row, the sweep goes on
            digest = hashlib.sha256(json.dumps(changed, sort_keys=True).encode()).hexdigest()[:16]
            out.append(Scenario(shown, digest, None, exc))
            continue
        hash_inputs(config, hashes)
        out.append(Scenario(shown, scenario_id(config, hashes), config))
    return out


def config_data(config: Config) -> dict[str, Any]:
    """The config as plain JSON data (lists, not tuples), territories.balance always a list, without the sweep
    section (how to sweep is no part of a scenario: a scenario's config and id are the same whatever ran it)."""
    data = json.loads(json.dumps(config.as_dict()))  # as_dict leaves the sweep section out
    balance = data["territories"]["balance"]
    data["territories"]["balance"] = balance if isinstance(balance, list) else [balance]
    return data


def standalone(config: Config, output: Path | None = None) -> dict[str, Any]:
    """The config as data whose paths are absolute, so it reads the same from any folder; `output`: output.dir."""
    data = config_data(config)
    for node, leaf, _ in path_slots(data):
        value = node.get(leaf)
        if value not in (None, "", "-", "accounts"):
            node[leaf] = str(config.resolve(value))
    data["output"]["dir"] = str(output) if output is not None else None
    return data


def with_paths(data: dict[str, Any], paths: dict[str, str]) -> dict[str, Any]:
    """A copy of config data (as `standalone` gives it) with each input path found in `paths` replaced."""
    out = copy.deepcopy(data)
    for node, leaf, _ in path_slots(out):
        if node.get(leaf) in paths:
            node[leaf] = paths[node[leaf]]
    return out


def path_slots(data: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str, str]]:
    """(mapping, key, dotted key) of every file path in config data: PATH_KEYS (a section the data lacks gives an
    empty mapping), and every `path` under inputs (affiliations, volumes.files entries...) and every `path` and
    `roster` under scoring (the competition and adoption files)."""
    for key in PATH_KEYS:
        *parents, leaf = key.split(".")
        node = data
        for part in parents:
            node = node.get(part) or {}
        yield node, leaf, key
    stack: list[tuple[Any, str]] = [(data.get("scoring"), "scoring"), (data.get("inputs"), "inputs")]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            for name, value in node.items():
                if name in ("path", "roster") and f"{where}.{name}" not in PATH_KEYS:
                    yield node, name, f"{where}.{name}"
                elif isinstance(value, dict | list):
                    stack.append((value, f"{where}.{name}"))
        elif isinstance(node, list):
            stack.extend((item, f"{where}.{i}") for i, item in enumerate(node))


def input_files(config: Config) -> list[tuple[str, Path]]:
    """(key, absolute path) of every input file the config reads, a glob's files each (sorted); stdin ('-') is
    refused: a sweep reads its inputs once per scenario."""
    out = []
    for node, leaf, key in path_slots(config_data(config)):
        value = node.get(leaf)
        if value in (None, "", "accounts"):
            continue
        if value == "-":
            raise InputError(
                "a sweep cannot read stdin",
                [Finding("config", "reads stdin ('-')", key=key, hint="each scenario reads its inputs: give a file")],
            )
        path = config.resolve(value)
        if glob.has_magic(str(path)):
            out.extend((key, Path(match)) for match in sorted(glob.glob(str(path))))
        else:
            out.append((key, path))
    return out


def check_shippable(configs: Iterable[Config | None]) -> None:
    """GridError (exit 2) when a config reads a glob of files: --ship-inputs sends each file on its own path."""
    for config in configs:
        for node, leaf, key in path_slots(config_data(config)) if config is not None else []:
            if glob.has_magic(str(node.get(leaf) or "")):
                raise GridError(
                    "--ship-inputs cannot send a glob of files",
                    [Finding("config", "is a glob", key=key, value=str(node[leaf]),
                             hint="list the files (inputs.volumes: [{path, year}, ...]) or use --shared-inputs")],
                )  # fmt: skip


def scenario_id(config: Config, hashes: dict[Path, str], job: dict[str, Any] | None = None) -> str:
    """16 hex digits of the sha256 of the resolved config (output.dir left out), the inputs' sha256 and terrplan's
    version; `job`: what is run on it when that is not optimize (a K of size: {"size_k": 11})."""
    data = standalone(config)
    data["output"].pop("dir")
    inputs = {str(path): hashes[path] for _, path in input_files(config)}
    content = {"config": data, "inputs": inputs, "terrplan": __version__} | ({"job": job} if job else {})
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def hash_inputs(config: Config, hashes: dict[Path, str]) -> None:
    """Each input file's sha256 into `hashes`, each file read once (a missing file: InputError, exit 3)."""
    for key, path in input_files(config):
        if path not in hashes:
            hashes[path] = _hash_input(key, path)


def _hash_input(key: str, path: Path) -> str:
    """An input file's sha256, read once per sweep; exit 3 naming the key when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise InputError(
            f"cannot read an input of the sweep: {path}",
            [Finding(str(path), exc.strerror or str(exc), key=key, hint="every scenario reads it: check the path")],
        ) from None
    return digest.hexdigest()


def band_text(config: Config) -> str:
    """Each balance metric's band: 'potential ±5%, workload ±15% / max 1600 per FTE'."""
    parts = []
    for balance in config.territories.balance:
        limits = [f"±{balance.tolerance * 100:g}%"] if balance.tolerance is not None else []
        if balance.min_per_fte is not None:
            limits.append(f"min {balance.min_per_fte:g} per FTE")
        if balance.max_per_fte is not None:
            limits.append(f"max {balance.max_per_fte:g} per FTE")
        parts.append(f"{balance.metric} {' / '.join(limits)}")
    return ", ".join(parts)


# -- keys -------------------------------------------------------------------------------------------------------


def _locate(data: dict[str, Any], key: str, where_given: str) -> tuple[tuple[str | int, ...], Any]:
    """Where `key` is in the config data, and the type its value has; GridError for a key the config lacks."""
    parts = key.split(".")
    hint: Any = Config
    node: Any = data
    path: list[str | int] = []
    i = 0
    while i < len(parts):
        part = parts[i]
        hint = _unwrap(hint)
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if dataclasses.is_dataclass(hint):
            names = [f.name for f in dataclasses.fields(hint) if not f.metadata.get("internal")]
            if part not in names:
                close = closest(part, names)
                where = ".".join(parts[:i]) or "the top level"
                fix = f"did you mean '{'.'.join([*parts[:i], close])}'?" if close else f"one of {', '.join(names)}"
                raise GridError(f"{where_given}: unknown config key {key} ({part!r} is not a key of {where}); {fix}")
            hint = typing.get_type_hints(hint)[part]
            node = node.get(part) if isinstance(node, dict) else None
            path.append(part)
        elif origin is tuple and args and dataclasses.is_dataclass(args[0]):
            items = node if isinstance(node, list) else []
            index = _entry(items, part)
            primary = args[0] is Balance and part in {f.name for f in dataclasses.fields(Balance)}
            if index is None and primary:
                index, i = 0, i - 1  # balance.tolerance: the primary metric's, as --tolerance sets it
            elif index is None:
                names = [str(item.get("metric") or item.get("name") or n) for n, item in enumerate(items)]
                where = ".".join(parts[:i])
                raise GridError(f"{where_given}: {where} has no entry {part!r}; entries: {', '.join(names)} "
                                f"(by position from 0 or by name)")  # fmt: skip
            hint, node = args[0], items[index]
            path.append(index)
        elif origin is dict:  # scoring.weights, volumes.wide: any key
            hint, node = args[1], None
            path.append(part)
        else:
            raise GridError(f"{where_given}: {'.'.join(parts[:i])} is a value, not a section: no key {part!r} in it")
        i += 1
    inner = _unwrap(hint)
    nested = typing.get_args(inner)[0] if typing.get_origin(inner) is tuple and typing.get_args(inner) else None
    if dataclasses.is_dataclass(inner) or typing.get_origin(inner) is dict or dataclasses.is_dataclass(nested):
        raise GridError(f"{where_given}: {key} is a section; put one of its keys on the grid")
    return tuple(path), hint


def _entry(items: list[Any], part: str) -> int | None:
    """A list entry by position or by its metric or name."""
    if part.isdigit():
        return int(part) if int(part) < len(items) else None
    for index, item in enumerate(items):
        if isinstance(item, dict) and part in (item.get("metric"), item.get("name")):
            return index
    return None


def _unwrap(hint: Any) -> Any:
    """X from X | None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return inner[0] if len(inner) == 1 else hint
    return hint


# -- values -----------------------------------------------------------------------------------------------------


def _values(items: list[str | None], hint: Any, key: str, origin: str, folder: Path | None) -> tuple[Any, ...]:
    """The values as load_config will read them; `folder`: what relative paths are relative to (None: the working
    directory)."""
    inner = _unwrap(hint)
    numeric = inner in (int, float)
    out: list[Any] = []
    for item in items:
        if item is None or item.lower() in ("null", "~"):
            out.append(None)
        elif not item:
            raise GridError(f"{origin}: an empty value; separate values with single commas")
        elif numeric and ":" in item:
            out.extend(_range(item, inner, origin))
        elif inner is bool and item.lower() in _BOOLEANS:
            out.append(_BOOLEANS[item.lower()])
        elif key in PATH_KEYS and item not in ("-", "accounts"):
            out.append(str(((folder or Path.cwd()) / Path(item).expanduser()).resolve()))
        else:
            out.append(item)  # load_config reads it as the key's type and says what is wrong
    if len(out) > MAX_VALUES:
        raise GridError(f"{origin}: {len(out):,} values, more than {MAX_VALUES:,}")
    seen = [json.dumps(value) for value in out]
    twice = sorted({value for value in seen if seen.count(value) > 1})
    if twice:
        raise GridError(f"{origin}: the value {json.loads(twice[0])!r} is given twice")
    return tuple(out)


def _range(item: str, kind: type, spec: str) -> list[str]:
    """MIN:MAX[:STEP] with both ends included, in exact decimal steps (0.03:0.05:0.01 is 0.03, 0.04, 0.05)."""
    parts = item.split(":")
    bad = GridError(f"{spec}: {item!r} is not a range MIN:MAX[:STEP] with MIN <= MAX and STEP > 0")
    if len(parts) not in (2, 3):
        raise bad
    try:
        low, high, step = (Decimal(part.strip()) for part in (*parts, "1")[:3])
    except InvalidOperation:
        raise bad from None
    if not all(x.is_finite() for x in (low, high, step)) or step <= 0 or high < low:
        raise bad
    if kind is int and not all(x == x.to_integral_value() for x in (low, high, step)):
        raise GridError(f"{spec}: {item!r} is a range of whole numbers here")
    count = int((high - low) / step) + 1
    if count > MAX_VALUES:
        raise GridError(f"{spec}: {item!r} has {count:,} values, more than {MAX_VALUES:,}")
    return [_decimal_text(low + i * step) for i in range(count)]


def _decimal_text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _shown(value: Any) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


# -- configs ----------------------------------------------------------------------------------------------------


def _with(data: dict[str, Any], changes: list[tuple[tuple[str | int, ...], Any]]) -> dict[str, Any]:
    """A copy of the config data with each path set to its value (a missing section, e.g. inputs.reps, made)."""
    out = copy.deepcopy(data)
    for path, value in changes:
        node: Any = out
        for part in path[:-1]:
            if isinstance(node, dict) and node.get(part) is None:
                node[part] = {}
            node = node[part]
        node[path[-1]] = value
    return out


def _get(data: dict[str, Any], path: tuple[str | int, ...]) -> Any:
    node: Any = data
    for part in path:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return None
    return node


def _load(base_path: Path, data: dict[str, Any]) -> Config:
    """The base config file with every section replaced by `data`'s: paths stay relative to the base config."""
    return load_config(base_path, {section: value for section, value in data.items()})


def _blamed(error: ConfigError, where: str) -> list[Finding]:
    """The config's findings, each saying which grid value caused it."""
    findings = error.problems or [Finding(where, error.message)]
    return [dataclasses.replace(finding, file=where, hint=finding.hint) for finding in findings]
