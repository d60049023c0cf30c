"""Shared fixtures: a tiny hand-checkable account universe (our `OkSmall`) and CLI runners."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from terrplan.cli import main

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"

# Eight accounts in two clusters (Raleigh-Durham and Charlotte, NC); two territories balance exactly:
# 300 potential each side when every code weighs 1.
TINY_ACCOUNTS = """account_id,name,type,zip,lat,lon,system,current_territory
A1,Duke Ortho,Hospital,27710,,,Duke,T1
A2,Rex Surgery,ASC,27607,,,,T1
A3,Wake Joint,Practice,27610,,,,T1
A4,Cary Knee,Practice,27518,,,,T1
B1,Carolinas Medical,Hospital,28203,35.2039,-80.8391,Atrium,T2
B2,Mercy Ortho,ASC,28207,,,,T2
B3,Matthews Hip,Practice,28105,,,,T2
B4,Concord Bone,Practice,28025,,,,T1
"""
TINY_VOLUMES = """account_id,code,volume,period
A1,27447,150,2025
A2,27130,80,2025
A3,27447,40,2025
A4,27130,30,2025
B1,27447,140,2025
B2,27130,90,2025
B3,27447,40,2025
B4,27130,30,2025
"""
TINY_CONFIG = """inputs:
  accounts: {path: accounts.csv}
  volumes: {path: volumes.csv}
scoring:
  weights: {"27447": 1, "27130": 1}
territories:
  count: 2
  balance: {metric: potential, tolerance: 0.05}
solver: {seed: 3, time_limit: 20}
output: {dir: out}
"""


@dataclass
class Tiny:
    """A tiny case in a temp dir: edit a file, run the CLI, read the outputs."""

    dir: Path

    @property
    def config(self) -> Path:
        return self.dir / "config.yaml"

    @property
    def out(self) -> Path:
        return self.dir / "out"

    def write(self, name: str, text: str | bytes) -> Path:
        path = self.dir / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path


@pytest.fixture
def tiny(tmp_path: Path) -> Tiny:
    case = Tiny(tmp_path)
    case.write("accounts.csv", TINY_ACCOUNTS)
    case.write("volumes.csv", TINY_VOLUMES)
    case.write("config.yaml", TINY_CONFIG)
    return case


def invoke(*args: str, input: str | bytes | None = None):
    """Run the CLI in-process (click's CliRunner); stderr is kept apart from stdout."""
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def run_cli(*args: str, input: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the installed CLI as a real subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "terrplan", *args], input=input, capture_output=True, cwd=cwd or ROOT, timeout=600
    )


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> Path:
    """The sample (configs/sample.yaml) optimized once per session, with its report, to its iteration caps: the
    output folder. The report and plan tests read it. The 600-s limit is a safety cap: beside another test worker
    the sample's starts take longer than a quarter of 120 s, and the clock would cut them (see test_sample)."""
    out = tmp_path_factory.mktemp("sample") / "out"
    result = invoke("optimize", str(ROOT / "configs" / "sample.yaml"), "-o", str(out), "--time-limit", "600", "-q")
    assert result.exit_code == 0, result.output
    return out


requires_shared = pytest.mark.skipif(
    not (SHARED / "data").is_dir(), reason="../shared (CMS data) is not beside the checkout"
)
