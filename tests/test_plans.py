"""Territory plans (issue 14 item 7): the eight elements in every plan of the sample, goals in whole units that add
up to the national goal, the vacancy cover's balance recomputed from the accounts, and bad `plans:` values."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_ACCOUNTS, TINY_CONFIG, TINY_VOLUMES, run_cli
from openpyxl import load_workbook

from terrplan.report.goals import add_months, calendar, largest_remainder
from terrplan.report.plan_parts import activity_calendar, groups, tactic_lines, with_goals
from terrplan.report.plans import ELEMENTS
from terrplan.vacancy import vacancy_cover

TEXT = {"account_id": str, "zip": str, "territory": str, "current_territory": str, "centre_account_id": str}


def _read(out: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    assignments = pd.read_csv(out / "assignments.csv", dtype=TEXT, keep_default_na=False, na_values=[""])
    territories = pd.read_csv(out / "territories.csv", dtype=TEXT)
    plans = {p.stem: p.read_text(encoding="utf-8") for p in sorted((out / "plans").glob("*.md"))}
    return assignments, territories, plans


def _section(plan: str, title: str) -> str:
    """The text under `## title` up to the next `## ` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", plan, flags=re.M | re.S)
    assert match, f"no section {title!r}"
    return match.group(1)


def _table(text: str, first_heading: str) -> list[list[str]]:
    """The Markdown table whose header starts with `first_heading`, as rows of cells (header row excluded)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_heading} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def _whole(text: str) -> int:
    return int(text.replace(",", ""))


# -- the sample's plans (the run shared with test_report) ------------------------------------------------------


def test_every_sample_plan_holds_the_eight_elements(sample_run):
    assignments, territories, plans = _read(sample_run)
    assert sorted(plans) == sorted(territories["territory"])
    for label, plan in plans.items():
        assert "n/a" not in plan, label  # the sample sets a goal and a plan year
        for title in ELEMENTS:
            assert _section(plan, title).strip(), f"{label}: {title} is empty"
        definition = _section(plan, "Definition")
        assert re.search(r"^- States \(\d\): ", definition, flags=re.M)
        assert "- Segments: A " in definition and "- Key markets (counties by potential): " in definition
        objectives = _section(plan, "Objectives")
        assert "from 2027-01-01 to 2027-12-31" in objectives  # SMART: dated
        assert "measured as the procedures of its accounts" in objectives
        calendar_rows = _table(_section(plan, "Tactics and activity calendar"), "group")
        calls = {row[0]: _whole(row[-1]) for row in calendar_rows if row[1] == "calls"}
        mine = assignments.loc[assignments["territory"] == label]
        per_year = {"A": 24, "B": 12, "C": 4}  # configs/sample.yaml's segments
        assert calls == {f"segment {s}": n * int((mine["segment"] == s).sum()) for s, n in per_year.items()
                         if (mine["segment"] == s).any()}  # fmt: skip
        for row in calendar_rows:  # the quarters add up to the year
            assert sum(_whole(v) for v in row[3:7]) == _whole(row[7])
        kpis = {row[0]: row[1] for row in _table(_section(plan, "KPIs to track"), "KPI")}
        assert {"volume", "share of potential reached", "new accounts", "calls made against plan",
                "target accounts called"} <= set(kpis)  # fmt: skip
        timeline = _section(plan, "Timeline and milestones")
        for review in ("2027-04-14", "2027-07-14", "2027-10-14", "2028-01-14"):  # 14 days after each quarter
            assert f"| {review} | Q" in timeline
        assert "terrplan evaluate" in _section(plan, "Feedback and review")
        risks = _section(plan, "Risks and contingency")
        assert "Mitigation:" in risks and "concentration" in risks and "Competitive" in risks
        assert re.search(r"If the post falls vacant, \*\*\d+ accounts go to \d neighbouring territories", risks)


def test_sample_goals_add_up_to_the_national_goal(sample_run):
    """36,000 procedures (configs/sample.yaml): whole procedures per territory that add up exactly; within each
    plan, the segment x quarter table adds up to the territory's goal, row by row and column by column."""
    _, territories, plans = _read(sample_run)
    goals = {}
    for label, plan in plans.items():
        goals[label] = _whole(re.search(r"Target: \*\*([\d,]+) procedures\*\*", plan).group(1))
        rows = _table(_section(plan, "Objectives"), "segment")
        body, total = rows[:-1], rows[-1]
        assert total[0] == "total" and _whole(total[-1]) == goals[label]
        assert sum(_whole(r[-1]) for r in body) == goals[label]
        for q in range(1, 5):
            assert sum(_whole(r[q]) for r in body) == _whole(total[q])
        for row in body:
            assert sum(_whole(v) for v in row[1:5]) == _whole(row[5])
    assert sum(goals.values()) == 36000
    share = territories.set_index("territory")["potential"] / territories["potential"].sum()
    for label, goal in goals.items():  # largest remainder: each goal within one procedure of its exact share
        assert abs(goal - 36000 * share[label]) < 1


def test_sample_vacancy_cover_balance_recomputed_from_assignments(sample_run):
    """The workbook's Vacancy cover sheet moves exactly the vacant territory's accounts, and each absorbing
    territory's index after the move, recomputed from assignments.csv and territories.csv, is the one its plan
    reports."""
    assignments, territories, plans = _read(sample_run)
    book = load_workbook(io.BytesIO((sample_run / "workbook.xlsx").read_bytes()), read_only=True)
    assert {"Plans", "Vacancy cover"} <= set(book.sheetnames)
    sheet = list(book["Vacancy cover"].values)
    moves = pd.DataFrame(sheet[1:], columns=["vacant", "account_id", "to", "potential", "workload", "km"])
    plan_rows = pd.DataFrame(list(book["Plans"].values)[1:], columns=["territory", "section", "line"])
    assert set(plan_rows["section"]) >= set(ELEMENTS)
    by_territory = territories.set_index("territory")
    for label, plan in plans.items():
        mine = moves.loc[moves["vacant"] == label]
        own = assignments.loc[assignments["territory"] == label]
        assert sorted(mine["account_id"]) == sorted(own["account_id"])  # every account covered, once
        reported = _table(_section(plan, "Risks and contingency"), "territory")
        assert 1 <= len(reported) <= 3 and label not in {r[0] for r in reported}
        for row in reported:
            absorber = row[0]
            taken = own.loc[own["account_id"].isin(mine.loc[mine["to"] == absorber, "account_id"])]
            assert int(row[1]) == len(taken)
            for metric, index_column, after_cell in (("potential", "potential_index", 5),
                                                     ("workload_hours", "workload_index", 7)):  # fmt: skip
                held = assignments.loc[assignments["territory"] == absorber, metric].sum()
                target = by_territory.at[absorber, metric] * 100 / by_territory.at[absorber, index_column]
                after = (held + taken[metric].sum()) * 100 / target
                # printed to 0.1, from values the CSVs round to 4 decimals: within half a step and a little
                assert float(row[after_cell].replace(",", "")) == pytest.approx(after, abs=0.06)


# -- pieces, by hand --------------------------------------------------------------------------------------------


def test_largest_remainder_adds_up_and_is_hand_checked():
    assert largest_remainder(10, [1, 1, 1]) == [4, 3, 3]  # ties go to the first part
    assert largest_remainder(1000, [2, 1]) == [667, 333]
    assert largest_remainder(7, [0, 0]) == [4, 3]  # no weight: equal parts
    assert largest_remainder(5, [0.0, 1.0, 0.0]) == [0, 5, 0]
    assert largest_remainder(0, [3, 2]) == [0, 0]
    rng = np.random.default_rng(1)
    for _ in range(200):
        weights = rng.random(rng.integers(1, 30)) * rng.choice([1, 1e-6, 1e6])
        total = int(rng.integers(0, 10**7))
        parts = largest_remainder(total, weights)
        assert sum(parts) == total
        quota = total * weights / weights.sum()
        assert np.all(np.abs(np.array(parts) - quota) < 1)


def test_calendar_quarters_and_reviews():
    year, quarters = calendar(None, "2026-10-01", 10)  # a fiscal year from October
    assert year == 2026
    assert [(q.start.isoformat(), q.end.isoformat(), q.review.isoformat()) for q in quarters] == [
        ("2026-10-01", "2026-12-31", "2027-01-10"),
        ("2027-01-01", "2027-03-31", "2027-04-10"),
        ("2027-04-01", "2027-06-30", "2027-07-10"),
        ("2027-07-01", "2027-09-30", "2027-10-10"),
    ]
    assert add_months(pd.Timestamp("2027-01-31").date(), 1).isoformat() == "2027-02-28"
    assert calendar(None, None, 14)[1][0].when("review") == "Q1 review"  # undated: in the quarter's own words


def _frames(accounts: list[tuple[str, str, float, float, float]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(account_id, territory, lat, lon, potential) -> assignments and territories frames as `optimize` writes
    them (workload a tenth of potential; every territory's target is 100 potential and 10 hours)."""
    frame = pd.DataFrame(accounts, columns=["account_id", "territory", "lat", "lon", "potential"])
    frame["workload_hours"] = frame["potential"] / 10
    sums = frame.groupby("territory").agg(
        potential=("potential", "sum"), workload_hours=("workload_hours", "sum"), centre_lat=("lat", "mean"),
        centre_lon=("lon", "mean"),
    ).reset_index()  # fmt: skip
    sums["potential_index"] = sums["potential"]
    sums["workload_index"] = sums["workload_hours"] * 10
    return frame, sums


def test_vacancy_cover_hand_checked():
    """A (west) and B (east, 85 km away) hold 100 each; vacant V between them holds v1 and v2 (50 each) nearer A
    and v3 and v4 (30 each) nearer B. Nearest-first would give A 200 and B 160; the lowest highest index is 180 for
    both (each takes 80: a 50 and a 30), and of those the least travel gives A v1 and v3 (its nearer 50 and 30).
    The LP alone splits v2; the whole-account pass finds the balanced split."""
    accounts = [
        ("a1", "A", 40.0, -75.0, 60.0), ("a2", "A", 40.1, -75.0, 40.0),
        ("b1", "B", 40.0, -74.0, 60.0), ("b2", "B", 40.1, -74.0, 40.0),
        ("v1", "V", 40.0, -74.75, 50.0), ("v2", "V", 40.1, -74.6, 50.0),
        ("v3", "V", 40.0, -74.45, 30.0), ("v4", "V", 40.1, -74.3, 30.0),
    ]  # fmt: skip
    assignments, territories = _frames(accounts)
    cover = vacancy_cover(assignments, territories, "V")
    assert dict(zip(cover.moves["account_id"], cover.moves["to_territory"], strict=True)) == {
        "v1": "A", "v2": "B", "v3": "A", "v4": "B"
    }  # fmt: skip
    by = {a.territory: a for a in cover.absorbers}
    assert set(by) == {"A", "B"}
    for absorber in by.values():
        assert absorber.accounts == 2 and absorber.potential == 80.0
        assert absorber.index_before == {"potential": 100.0, "workload_hours": 100.0}
        assert absorber.index_after["potential"] == pytest.approx(180.0)
        assert absorber.index_after["workload_hours"] == pytest.approx(180.0)
    assert vacancy_cover(assignments.assign(territory="A"), territories.iloc[:1], "A") is None  # no one else


# -- config and the tiny case through the CLI --------------------------------------------------------------------


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    (tmp_path / "accounts.csv").write_text(TINY_ACCOUNTS)
    (tmp_path / "volumes.csv").write_text(TINY_VOLUMES)
    return tmp_path


def test_bad_plans_values_exit_3_with_key_and_hint(tiny_dir):
    """Bad `plans:` values stop before any input is read: exit 3 (bad config, src/terrplan/errors.py), each key
    named with its value and a hint, no traceback."""
    plans = (
        "plans: {goal: 1000.5, year: 3000, start: 2027-02-30, quarters: [0.5, 0.6], review_days: -1, "
        "new_account_share: 2, vacancy_neighbours: 0, reviewer: ' ', activities: {A: {demos: -1}}}\n"
    )
    (tiny_dir / "config.yaml").write_text(TINY_CONFIG + plans)
    result = run_cli("validate", str(tiny_dir / "config.yaml"))
    err = result.stderr.decode()
    assert result.returncode == 3, err
    assert "Traceback" not in err and "the config has 9 problem(s)" in err
    for key, value, hint in (
        ("plans.goal", "1000.5", "it is split into whole units"),
        ("plans.year", "3000", "e.g. 2027"),
        ("plans.start", "2027-02-30", "YYYY-MM-DD"),
        ("plans.quarters", "[0.5, 0.6]", "share of the year's goal in each quarter"),
        ("plans.review_days", "-1", "days after a quarter's end"),
        ("plans.new_account_share", "2", "a tenth of the target list"),
        ("plans.vacancy_neighbours", "0", "neighbouring territories"),
        ("plans.reviewer", " ", "district manager"),
        ("plans.activities.A.demos", "-1", "per account and year"),
    ):
        line = next(line for line in err.splitlines() if f"key '{key}'" in line)
        assert f"(got '{value}')" in line, line
        assert hint in err.split(line, 1)[1].splitlines()[1], key


def test_tiny_plan_undated_without_goal_still_has_every_element(tiny_dir):
    """No plans section at all: undated quarters, no goal, and still the eight elements (and no tenure, no
    competition: each said plainly). With affiliations, a target hospital lists its affiliated surgeons."""
    (tiny_dir / "affiliations.csv").write_text("npi,facility_id,facility_name\nA3,A1,Duke\nA4,A1,Duke\n")
    config = TINY_CONFIG.replace("  volumes: {path: volumes.csv}\n", "  volumes: {path: volumes.csv}\n"
                                 "  affiliations: {path: affiliations.csv}\n")  # fmt: skip
    (tiny_dir / "config.yaml").write_text(config)
    result = run_cli("optimize", str(tiny_dir / "config.yaml"), "-q")
    assert result.returncode == 0, result.stderr.decode()
    _, _, plans = _read(tiny_dir / "out")
    for plan in plans.values():
        for title in ELEMENTS:
            assert _section(plan, title).strip()
        assert "No national goal is set (plans.goal)" in plan
        assert "| end of Q1 | Q1 ends |" in plan and "| Q4 review | Q4 review with the district manager" in plan
        assert "no trend data" in plan and "Competitive exposure unknown" in plan
        assert ("| 1 | A1 |" in plan) == ("Affiliated surgeons of the target facilities" in plan)
        assert re.search(
            r"If the post falls vacant, \*\*4 accounts go to 1 neighbouring territory \(T0[12]\)\*\*", plan
        )
    duke = next(plan for plan in plans.values() if "| 1 | A1 |" in plan)
    rows = _table(_section(duke, "Affiliated surgeons of the target facilities"), "facility")
    assert [(r[0], r[1], r[2], r[5]) for r in rows] == [("A1", "Duke", "A3", "40"), ("A1", "Duke", "A4", "30")]


def test_opportunity_call_plans_replace_the_segments_and_goals_split_by_opportunity():
    """Accounts whose opportunity has a call plan (scoring.opportunities) are called by it, not by their size
    segment; each group's goal and quarters add up."""
    accounts = pd.DataFrame(
        {
            "potential": [60.0, 30.0, 10.0, 0.0],
            "segment": ["A", "A", "B", "B"],
            "opportunity": ["convert", "expand", "convert", "develop"],
        }
    )
    segments = [{"name": "A", "calls_per_year": 24}, {"name": "B", "calls_per_year": 12}]
    opportunities = [{"name": "convert", "calls_per_year": 18, "activities": ["competitive demo"]}, {"name": "expand"}]
    quarters = calendar(2027, None, 14)[1]
    by_segment = with_goals(groups(accounts, "segment", segments, {}, opportunities), 1001, (0.25,) * 4)
    by_opportunity = with_goals(
        groups(accounts, "opportunity", opportunities, {"convert": {"demos": 2}}), 1001, (0.25,) * 4
    )
    assert [(g.name, g.accounts, g.called, g.goal) for g in by_segment] == [("A", 2, 1, 901), ("B", 2, 1, 100)]
    assert [(g.name, g.goal) for g in by_opportunity] == [("convert", 701), ("expand", 300), ("develop", 0)]
    for g in by_segment + by_opportunity:
        assert sum(g.goal_by_quarter) == g.goal
    headings, rows = activity_calendar(by_segment + by_opportunity, quarters)
    assert headings[-1] == "year"
    assert [(r[0], r[1], r[-1]) for r in rows] == [
        ("segment A", "calls", "24"),  # the expand account only: convert's plan replaces A's for the other
        ("segment B", "calls", "12"),  # the develop account (develop has no call plan of its own)
        ("opportunity convert", "calls", "36"),
        ("opportunity convert", "demos", "4"),
    ]
    assert "competitive demo" in tactic_lines(by_opportunity, "procedures")[0]
