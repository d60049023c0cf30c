"""The steps shared by `optimize` and `validate`: read, locate and score accounts, collecting findings."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from terrplan.config import Config
from terrplan.errors import ConfigError, Finding, InputError
from terrplan.read import read_accounts, read_volumes
from terrplan.score import score_accounts


@dataclass(frozen=True)
class Loaded:
    accounts: pd.DataFrame  # located and scored, one row per usable account
    findings: tuple[Finding, ...]  # rows that could not be used
    inputs: tuple[dict[str, str], ...]  # path and sha256 of each input file


def load_accounts(config: Config) -> Loaded:
    """Read accounts and volumes, score them; bad rows stop the run or are set aside per `on_bad_rows`."""
    accounts_path = config.resolve(config.inputs.accounts.path)
    accounts, findings, rejected_ids = read_accounts(config.inputs.accounts, accounts_path)
    inputs = [_fingerprint(accounts_path)]
    volumes = pd.DataFrame({"account_id": [], "code": [], "volume": [], "period": []})
    if config.inputs.volumes is not None:
        if not config.inputs.volumes.path:
            raise ConfigError(
                "inputs.volumes.path is missing",
                [Finding("config", "required key is missing", key="inputs.volumes.path")],
            )
        volumes_path = config.resolve(config.inputs.volumes.path)
        volumes, volume_findings = read_volumes(
            config.inputs.volumes, volumes_path, accounts["account_id"], rejected_ids
        )
        findings.extend(volume_findings)
        if volumes_path != accounts_path:
            inputs.append(_fingerprint(volumes_path))
    if findings and config.inputs.on_bad_rows == "stop":
        raise InputError(
            f"{len(findings)} row(s) cannot be used (to set them aside in rejects.csv and go on, "
            "set inputs.on_bad_rows: reject)",
            findings,
        )
    if accounts.empty:
        raise InputError("no usable accounts", findings)
    scored = score_accounts(accounts, volumes, config.scoring, config.segments)
    return Loaded(scored, tuple(findings), tuple(inputs))


def _fingerprint(path: Path) -> dict[str, str]:
    if str(path) == "-":
        return {"path": "-", "sha256": ""}
    return {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
