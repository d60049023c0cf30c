"""The account-level refinement draws from the run's time budget: with none left it returns the unit alignment as it
is (a valid alignment, every band as the solve left it); with enough it refines as without a clock."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from terrplan import pipeline
from terrplan.budget import TimeBudget
from terrplan.config import load_config
from terrplan.model import Alignment, bands_hold, objective
from terrplan.solve import SolveParams, solve
from terrplan.solve.refine import refine, refine_seconds

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import scale  # noqa: E402  (benchmarks/scale.py: the seeded universe generator)


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    """2,000 accounts of the scale generator on ZIP units, solved; the account-level problem and the unit
    alignment seen per account."""
    folder = scale.write_universe(
        tmp_path_factory.mktemp("refine"), 2000, 7, k=12, time_limit_s=30, extra="units: {aggregate_above: 1000}\n"
    )
    config = load_config(folder / "config.yaml")
    loaded = pipeline.load_accounts(config)
    prepared = pipeline.prepare(loaded, config)
    assert pipeline.refines(prepared.problem)
    result = solve(prepared.problem, SolveParams(20.0, 0, starts=1, bound_iterations=0, swaps=False, effort=0.0))
    accounts_problem, _ = pipeline.account_level(
        prepared.units, prepared.problem, result.alignment, loaded.accounts, config, None, prepared.rules,
        TimeBudget.of(0.0),
    )  # fmt: skip
    return accounts_problem, result.alignment.territory[prepared.units.of_account]


def test_a_spent_budget_returns_the_unit_alignment_as_it_is(solved) -> None:
    problem, whole = solved
    assert np.array_equal(refine(problem, whole, TimeBudget.of(0.0)), whole)
    assert bands_hold(problem, whole)


def test_with_time_enough_the_refinement_is_the_one_without_a_clock(solved) -> None:
    problem, whole = solved
    free = refine(problem, whole)
    timed = refine(problem, whole, TimeBudget.of(600.0))
    assert np.array_equal(free, timed)
    assert not np.array_equal(free, whole)  # it did refine: some border account moved
    centres = np.arange(problem.n_territories)
    assert objective(problem, Alignment(timed, centres)) <= objective(problem, Alignment(whole, centres))


def test_the_time_kept_for_refinement_grows_with_the_accounts() -> None:
    assert refine_seconds(0) == 0
    assert 5.0 <= refine_seconds(1_000_000) <= 15.0  # measured 7 s at 1M accounts, K = 500, on a loaded machine
    assert refine_seconds(300_000) == pytest.approx(0.3 * refine_seconds(1_000_000))


def test_keep_holds_back_half_of_what_is_left_or_what_reading_spent() -> None:
    budget = TimeBudget.of(40.0)
    assert budget.keep(1.0).deadline == pytest.approx(budget.deadline - 1.0, abs=0.05)  # a small run: its estimate
    assert budget.keep(100.0).deadline == pytest.approx(budget.deadline - 20.0, abs=0.05)  # half of what is left
    # a run that spent 30 s reading may keep as much for writing, up to 80 % of what is left
    assert budget.keep(100.0, spent=30.0).deadline == pytest.approx(budget.deadline - 30.0, abs=0.05)
    assert budget.keep(100.0, spent=60.0).deadline == pytest.approx(budget.deadline - 32.0, abs=0.05)
    assert budget.keep(25.0, spent=60.0).deadline == pytest.approx(budget.deadline - 25.0, abs=0.05)
