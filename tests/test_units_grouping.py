"""Units: keep-together groups move as one; ZIP units put every account of a ZIP in one territory."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_ACCOUNTS, TINY_CONFIG, invoke

from terrplan.config import Units, load_config
from terrplan.model import Members, Problem, objective
from terrplan.pipeline import account_level, load_accounts, prepare
from terrplan.solve import SolveParams, solve
from terrplan.units import make_units


def test_groups_chain_through_shared_keys():
    accounts = pd.DataFrame(
        {
            "account_id": ["a", "b", "c", "d", "e"],
            "zip": ["00001", "00001", "00002", "00003", "00004"],
            "system": ["", "S", "S", "", ""],
            "lat": [1.0, 1.0, 2.0, 3.0, 4.0],
            "lon": [0.0] * 5,
            "potential": [1.0, 2.0, 3.0, 4.0, 5.0],
            "workload_hours": [1.0] * 5,
        }
    )
    by_zip = make_units(accounts, Units(by="zip", keep_together=("system",)), accounts["potential"].to_numpy())
    # a-b share a ZIP, b-c share a system: one unit of three; d and e alone.
    assert by_zip.of_account.tolist() == [0, 0, 0, 1, 2]
    assert by_zip.frame["potential"].tolist() == [6.0, 4.0, 5.0]
    assert by_zip.frame["unit"].tolist() == ["the unit of ZIP 00001 (3 accounts)", "ZIP 00003", "ZIP 00004"]
    # The unit sits at its members' potential-weighted mean: (1*1 + 2*1 + 3*2) / 6 = 1.5.
    assert np.isclose(by_zip.frame["lat"].iloc[0], 1.5)
    single = make_units(accounts, Units(), accounts["potential"].to_numpy())
    assert single.trivial and single.of_account.tolist() == [0, 1, 2, 3, 4]


def test_keep_together_keeps_a_health_system_in_one_territory(tiny):
    # Tie Mercy (B2, Charlotte) to Duke's system: the pair must share a territory even though it is far apart.
    tiny.write("accounts.csv", TINY_ACCOUNTS.replace("Mercy Ortho,ASC,28207,,,,", "Mercy Ortho,ASC,28207,,,Duke,"))
    tiny.write(
        "config.yaml", TINY_CONFIG.replace("tolerance: 0.05", "tolerance: 0.5") + "units: {keep_together: [system]}\n"
    )
    result = invoke("optimize", str(tiny.config), "-q", "--no-report")
    assert result.exit_code == 0, result.stderr
    assignments = pd.read_csv(tiny.out / "assignments.csv").set_index("account_id")
    assert assignments.loc["A1", "territory"] == assignments.loc["B2", "territory"]
    summary = json.loads((tiny.out / "summary.json").read_text())
    assert summary["units"] == 7  # 8 accounts, two of them one unit
    assert summary["lower_bound"] <= summary["objective"] + 1e-6


def test_a_group_too_big_for_any_territory_is_named(tiny):
    tiny.write("accounts.csv", TINY_ACCOUNTS.replace(",,,,T1\nA4", ",,,Duke,T1\nA4"))  # A3 joins Duke: 190 of 600
    tiny.write("config.yaml", TINY_CONFIG.replace("  count: 2", "  count: 4") + "units: {keep_together: [system]}\n")
    result = invoke("optimize", str(tiny.config), "-q")
    assert result.exit_code == 4
    assert "the unit of A1 (2 accounts) alone holds potential 190 (31.7 % of the total)" in result.stderr


def test_unknown_keep_together_field_suggests_one(tiny):
    tiny.write("config.yaml", TINY_CONFIG + "units: {keep_together: [sytem]}\n")
    result = invoke("optimize", str(tiny.config), "-q")
    assert result.exit_code == 3
    assert "key 'units.keep_together[0]': not an account field (got 'sytem')" in result.stderr
    assert "hint: did you mean 'system'?" in result.stderr


def test_validate_checks_groups_the_way_optimize_does(tiny):
    tiny.write("accounts.csv", TINY_ACCOUNTS.replace(",,,,T1\nA4", ",,,Duke,T1\nA4"))
    tiny.write("config.yaml", TINY_CONFIG.replace("  count: 2", "  count: 4") + "units: {keep_together: [system]}\n")
    result = invoke("validate", str(tiny.config))
    assert result.exit_code == 4
    assert "the unit of A1 (2 accounts) alone holds potential 190" in result.stderr


def test_a_units_travel_is_the_sum_of_its_accounts_travel():
    # unit 0 holds accounts at (0, 0) weight 1 and (4, 0) weight 3; unit 1 is one account at (10, 0) weight 2
    members = Members.of_units(np.array([0, 0, 1]), np.array([[0.0, 0.0], [4.0, 0.0], [10.0, 0.0]]), np.ones(3), 2)
    members = Members(members.indptr, members.coords, np.array([1.0, 3.0]))
    problem = Problem(
        n_territories=1,
        weights=np.array([4.0, 2.0]),
        metrics=np.ones((1, 2)),
        metric_names=("accounts",),
        lower=np.zeros((1, 1)),
        upper=np.full((1, 1), np.inf),
        coords=np.array([[3.0, 0.0], [10.0, 0.0]]),  # unit 0 sits at its accounts' weighted mean
        geometry="euclidean",
        members=members,
    )
    assert members.indptr.tolist() == [0, 2, 2]  # a one-account unit keeps no member list
    # to its own site (3, 0): 1 x 3 + 3 x 1 = 6, where its centroid would say 0; to (10, 0): 1 x 10 + 3 x 6
    assert problem.travel(np.array([0, 0, 1]), np.array([0, 1, 0])).tolist() == [1 * 3 + 3 * 1, 28.0, 14.0]
    matrix = problem.travel_matrix(np.arange(2), np.arange(2))
    assert matrix.tolist() == [[6.0, 28.0], [14.0, 0.0]]
    assert problem.member_spread().tolist() == [6.0, 0.0]


def test_the_optimizer_prices_a_group_by_its_accounts_own_travel(tiny):
    tiny.write("accounts.csv", TINY_ACCOUNTS.replace("Mercy Ortho,ASC,28207,,,,", "Mercy Ortho,ASC,28207,,,Duke,"))
    tiny.write(
        "config.yaml", TINY_CONFIG.replace("tolerance: 0.05", "tolerance: 0.5") + "units: {keep_together: [system]}\n"
    )
    config = load_config(tiny.config)
    loaded = load_accounts(config)
    prepared = prepare(loaded, config)
    assert prepared.problem.member_spread().max() > 0  # the group's accounts are apart: its centroid would err
    result = solve(prepared.problem, SolveParams(time_limit_s=10.0))
    by_account = account_level(prepared.units, prepared.problem, result.alignment, loaded.accounts, config, None)
    assert result.objective == pytest.approx(objective(*by_account), rel=1e-12)
    assert result.lower_bound is not None and result.lower_bound <= result.objective + 1e-6
