"""The report package on real CLI outputs: GeoJSON read back with shapely, report.html rendered in headless
Chromium, byte-for-byte determinism, and the per-territory plans of the tiny case."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, TINY_ACCOUNTS, TINY_CONFIG, TINY_VOLUMES, invoke
from openpyxl import load_workbook
from shapely.geometry import Point, shape
from test_maps import assert_no_overlap, check_shapes, label_boxes, screenshot

from terrplan.config import Plans
from terrplan.report import report_files
from terrplan.report.palette import rgb, tint
from terrplan.summary import RunSummary

TEXT_COLUMNS = {"account_id": str, "zip": str, "territory": str, "current_territory": str, "centre_account_id": str}
REPS = "rep_id,name,home_zip,fte,territory\nR1,Rae Raleigh,27601,1.0,T01\nR2,Cal Charlotte,28202,0.5,T02\n"


def _outputs(out: Path) -> tuple[pd.DataFrame, pd.DataFrame, RunSummary]:
    assignments = pd.read_csv(out / "assignments.csv", dtype=TEXT_COLUMNS, keep_default_na=False, na_values=[""])
    territories = pd.read_csv(out / "territories.csv", dtype=TEXT_COLUMNS)
    return assignments, territories, RunSummary.read(out)


@pytest.fixture(scope="module")
def tiny_outputs(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame, RunSummary]:
    case = tmp_path_factory.mktemp("tiny")
    (case / "accounts.csv").write_text(TINY_ACCOUNTS)
    (case / "volumes.csv").write_text(TINY_VOLUMES)
    (case / "config.yaml").write_text(TINY_CONFIG)
    result = invoke("optimize", str(case / "config.yaml"), "-o", str(case / "out"), "-q")
    assert result.exit_code == 0, result.output
    return _outputs(case / "out")


@pytest.fixture(scope="module")
def sample_outputs(sample_run: Path) -> tuple[pd.DataFrame, pd.DataFrame, RunSummary]:
    """The 3,000-account sample (12 territories, many accounts sharing a ZIP centroid), solved once per session to
    its iteration caps (conftest.sample_run): a solve the clock cuts (8 s under load) left territories in scattered
    pieces the map tests rightly refuse."""
    return _outputs(sample_run)


def _sample_reps() -> pd.DataFrame:
    return pd.read_csv(ROOT / "data" / "samples" / "reps.csv", dtype={"home_zip": str})


# -- (a) GeoJSON ------------------------------------------------------------------------------------------------


def _check_geojson(files: dict, assignments: pd.DataFrame) -> int:
    """Valid polygons, RFC 7946 shape, and every account inside its territory's polygon. Returns how many
    accounts sit at a location shared with another territory (which can lie in only one of the polygons)."""
    territories = json.loads(files["territories.geojson"])
    accounts = json.loads(files["accounts.geojson"])
    assert territories["type"] == accounts["type"] == "FeatureCollection"
    polygons = {}
    for feature in territories["features"]:
        geometry = shape(feature["geometry"])
        assert geometry.geom_type in {"Polygon", "MultiPolygon"}
        assert geometry.is_valid, feature["id"]
        assert not geometry.is_empty, feature["id"]
        for part in getattr(geometry, "geoms", [geometry]):
            assert part.exterior.is_ccw, f"{feature['id']}: exterior ring must be counter-clockwise (RFC 7946)"
        assert feature["properties"]["territory"] == feature["id"]
        assert {"accounts", "potential", "potential_index", "workload_hours", "color"} <= set(feature["properties"])
        polygons[feature["id"]] = geometry
    assert sorted(polygons) == sorted(assignments["territory"].unique())
    for a, b in zip(sorted(polygons), sorted(polygons)[1:], strict=False):
        # Shared borders meet up to the 6-decimal grid: a split location's wedge adds a vertex on its cell's edge
        # that the neighbouring cell lacks, and snapping it leaves slivers under 1e-6° wide (tens of m²).
        assert polygons[a].intersection(polygons[b]).area < 1e-7, f"{a} and {b} overlap"
    for text in (files["territories.geojson"], files["accounts.geojson"]):
        assert not re.search(r"\d\.\d{7,}", text), "coordinates are rounded to 6 decimals"

    located = assignments.assign(lon6=assignments["lon"].round(6), lat6=assignments["lat"].round(6))
    at_location = located.groupby(["lon6", "lat6"])["territory"].agg(set)
    by_id = {f["id"]: f for f in accounts["features"]}
    assert len(by_id) == len(assignments)
    shared = 0
    for row in located.itertuples():
        feature = by_id[row.account_id]
        lon, lat = feature["geometry"]["coordinates"]
        assert (lon, lat) == (row.lon6, row.lat6), "points are [lon, lat]"
        assert feature["properties"]["territory"] == row.territory
        point = Point(lon, lat)
        territories_here = at_location[(row.lon6, row.lat6)]
        if len(territories_here) == 1:
            assert polygons[row.territory].contains(point), f"{row.account_id} is outside {row.territory}"
        else:
            shared += 1
            assert any(polygons[t].contains(point) for t in territories_here), row.account_id
    return shared


def test_geojson_tiny_polygons_valid_and_hold_their_accounts(tiny_outputs):
    assignments, territories, summary = tiny_outputs
    files = report_files(assignments, territories, summary, Plans())
    assert _check_geojson(files, assignments) == 0


def test_geojson_duplicate_locations(tiny_outputs):
    """Two accounts of one territory at one ZIP, and one location shared by both territories."""
    assignments, territories, summary = tiny_outputs
    edited = assignments.copy()
    a2 = edited.index[edited["account_id"] == "A2"][0]
    for account, source in (("A4", a2), ("B4", a2)):  # A4 joins A2's location (same territory); so does B4
        row = edited.index[edited["account_id"] == account][0]
        edited.loc[row, ["lat", "lon", "zip"]] = edited.loc[source, ["lat", "lon", "zip"]].to_numpy()
    files = report_files(edited, territories, summary, Plans())
    assert _check_geojson(files, edited) == 3  # A2, A4 (T01) and B4 (T02) share one point; T01 holds it
    props = {f["id"]: f["properties"] for f in json.loads(files["territories.geojson"])["features"]}
    assert props["T02"]["shared_locations"] == 1 and props["T01"]["shared_locations"] == 0


def test_geojson_sample(sample_outputs):
    assignments, territories, summary = sample_outputs
    files = report_files(assignments, territories, summary, Plans(), _sample_reps())
    shared = _check_geojson(files, assignments)
    # Accounts placed at their ZIP's centre share points; balancing workload beside potential splits more of those
    # points between territories (365 accounts of 3,000, against 207 with potential alone).
    assert shared < len(assignments) * 0.15


# -- (b) the report in a real browser ---------------------------------------------------------------------------


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def _screenshot(html: str, tmp_path: Path) -> list[tuple[int, int, int]]:
    browser = _browser()
    if browser is None:
        pytest.skip("no Chromium found (install Debian's chromium; .ci/run does where it can)")
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    png = tmp_path / "shot.png"
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={png}",
        "--window-size=1366,768",
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, timeout=120)
    assert png.exists(), done.stderr.decode(errors="replace")[-2000:]
    from PIL import Image

    image = Image.open(io.BytesIO(png.read_bytes())).convert("RGB")
    assert image.size == (1366, 768)
    return list(zip(*(band.tobytes() for band in image.split()), strict=True))


def _count_near(pixels: list[tuple[int, int, int]], colour: tuple[int, int, int], tolerance: int = 2) -> int:
    r, g, b = colour
    return sum(
        1 for p in pixels if abs(p[0] - r) <= tolerance and abs(p[1] - g) <= tolerance and abs(p[2] - b) <= tolerance
    )


def test_report_renders_map_and_chart_in_chromium(sample_outputs, tmp_path):
    assignments, territories, summary = sample_outputs
    files = report_files(assignments, territories, summary, Plans(goal=50000), _sample_reps())
    features = json.loads(files["territories.geojson"])["features"]
    colours = {f["id"]: f["properties"]["color"] for f in features}
    assert len(set(colours.values())) == 12
    pixels = _screenshot(files["report.html"], tmp_path)
    fills = {}
    for label, colour in colours.items():
        # Polygons are filled with an opaque tint of the territory colour; the balance bars and the account dots
        # use the full colour.
        fills[label] = _count_near(pixels, rgb(tint(colour)))
        assert fills[label] >= 10, f"{label}: {fills[label]} pixels of its map fill {tint(colour)}"
        assert _count_near(pixels, rgb(colour)) >= 60, f"{label}: its colour {colour} is missing"
    # Together the fills cover a good part of the map's box (~780x600 px at this window size): the main panel is
    # fitted to the five states' shape and shares the box with the dense-area inset and the legend; neighbouring
    # states without accounts, the sea, dots and labels cover the rest (74k px measured).
    assert sum(fills.values()) >= 0.1 * 780 * 600, fills
    # The band strip of the balance chart.
    assert _count_near(pixels, rgb("#e4e9f2")) >= 2000


def test_sample_maps_in_chromium(sample_outputs, tmp_path):
    """The sample on real geography: shapes on land holding their accounts; in the browser no two labels overlap,
    every territory is labelled on the overview and each rep's home carries the rep's name; the dense metro has an
    inset; every plan has its map. Screenshots of the report and of one territory's map are kept (paths printed)."""
    assignments, territories, summary = sample_outputs
    reps = _sample_reps()
    files = report_files(assignments, territories, summary, Plans(goal=50000), reps)
    figures = check_shapes(files["territories.geojson"], assignments)
    print(f"sample shapes: {figures}")
    page = files["report.html"]
    assert re.search(r'data-panel="Dense area \((NY|NJ)', page) and '<path class="states"' in page
    assert page.count('<figure class="territory-map">') == len(territories)
    boxes = label_boxes(page, tmp_path)
    assert_no_overlap(boxes)
    overview = {text for svg, text, *_ in boxes if svg == 0}
    assert set(territories["territory"]) <= overview
    named = reps.loc[reps["name"].fillna("").str.strip() != ""]
    for rep in named.itertuples():
        assert f"{rep.name} ({rep.territory})" in overview, rep.name
    screenshot(page, tmp_path, "sample-report")
    first = sorted(name for name in files if name.endswith(".svg"))[0]
    svg = files[first]
    screenshot(f"<!DOCTYPE html><html><body style='margin:0'>{svg}</body></html>", tmp_path, "sample-territory")


def test_report_is_self_contained(tiny_outputs):
    assignments, territories, summary = tiny_outputs
    html = report_files(assignments, territories, summary, Plans())["report.html"]
    assert "<script" not in html and "<link" not in html and "url(" not in html and "src=" not in html
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) <= {"http://www.w3.org/2000/svg"}
    for needle in (summary.status, "lower bound", "gap", "@media print", 'id="changes"', 'id="plan-T01"', "<svg"):
        assert needle in html


def test_sample_changes_reps_and_targets(sample_outputs):
    """Moves follow summary.json's territory match (so they agree with its disruption figures); reps come from
    the territory table; with FTE-sized territories the targets follow the potential share alone."""
    assignments, territories, summary = sample_outputs
    files = report_files(assignments, territories, summary, Plans(goal=50000), _sample_reps())
    html = files["report.html"]
    moved = summary.disruption.moved_accounts
    assert f"{moved:,} of 3,000 accounts move" in html
    assert f"holding {summary.disruption.moved_potential:,.1f} potential" in html
    book = load_workbook(io.BytesIO(files["workbook.xlsx"]), read_only=True)
    assert len(list(book["Changes"].values)) == moved + 1
    assert html.count("<rect x=", html.index('class="homes"')) >= 1
    targets = _targets(files)
    assert sum(targets.values()) == 50000  # whole procedures by largest remainder: they add up to the goal
    total = territories["potential"].sum()
    for row in territories.itertuples():
        assert abs(targets[f"plans/{row.territory}.md"] - 50000 * row.potential / total) < 1
        assert f"Rep: {row.rep_name} ({row.rep_id})" in files[f"plans/{row.territory}.md"]


# -- (c) determinism --------------------------------------------------------------------------------------------


def test_same_inputs_give_identical_bytes(tiny_outputs):
    assignments, territories, summary = tiny_outputs
    reps = pd.read_csv(io.StringIO(REPS), dtype={"home_zip": str})
    first = report_files(assignments, territories, summary, Plans(goal=1000), reps)
    second = report_files(
        assignments.copy(),
        territories.copy(),
        RunSummary.from_dict(json.loads(summary.to_json()), summary.disruption.moves, summary.disruption.changes),
        Plans(goal=1000),
        reps,
    )
    assert list(first) == list(second)
    for name in first:
        assert first[name] == second[name], name
    assert isinstance(first["workbook.xlsx"], bytes)
    expected = ["report.html", "territories.geojson", "accounts.geojson", "workbook.xlsx"]
    expected += ["plans/T01.md", "plans/T02.md", "plans/T01.svg", "plans/T02.svg"]
    assert sorted(first) == sorted(expected)


def test_workbook_sheets(tiny_outputs):
    assignments, territories, summary = tiny_outputs
    data = report_files(assignments, territories, summary, Plans())["workbook.xlsx"]
    book = load_workbook(io.BytesIO(data), read_only=True)
    assert book.sheetnames == [
        "Territories", "Assignments", "Changes", "Target lists", "Plans", "Vacancy cover", "Summary"
    ]  # fmt: skip
    rows = list(book["Assignments"].values)
    assert list(rows[0])[:2] == ["Account ID", "Name"] and len(rows) == len(assignments) + 1
    summary_keys = {row[0] for row in book["Summary"].values}
    assert {"status", "objective", "lower_bound", "gap", "balance.min_index"} <= summary_keys
    assert "runtime_s" not in summary_keys
    moves = list(book["Changes"].values)
    assert moves[0] == (
        "Account ID", "Name", "From territory", "From territory (now)", "To territory", "Segment", "Potential"
    )  # fmt: skip
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert b"2000-01-01T00:00:00Z" in archive.read("docProps/core.xml")
    # Without a current alignment there is no Changes sheet and no change map.
    blank = assignments.assign(current_territory="")
    files = report_files(blank, territories, dataclasses.replace(summary, disruption=None), Plans())
    sheets = load_workbook(io.BytesIO(files["workbook.xlsx"])).sheetnames
    assert sheets == ["Territories", "Assignments", "Target lists", "Plans", "Vacancy cover", "Summary"]
    assert 'id="changes"' not in files["report.html"]


# -- (d) plans --------------------------------------------------------------------------------------------------


def _targets(files: dict) -> dict[str, float]:
    found = {}
    for name, text in files.items():
        if name.startswith("plans/") and name.endswith(".md"):  # beside each plan: its map, plans/<name>.svg
            match = re.search(r"Target: \*\*([\d,]+) procedures\*\*", text)
            assert match, name
            found[name] = float(match.group(1).replace(",", ""))
    return found


def test_tiny_plans(tiny_outputs):
    assignments, territories, summary = tiny_outputs
    files = report_files(assignments, territories, summary, Plans(goal=1000, top_accounts=3, far_account_km=40))
    # Equal potential (300 each): the goal splits in half.
    assert _targets(files) == {"plans/T01.md": 500.0, "plans/T02.md": 500.0}
    raleigh = files["plans/T01.md"]
    assert "## Definition" in raleigh and "- Accounts: 4" in raleigh
    assert "- ZIPs (4): 27518, 27607, 27610, 27710" in raleigh
    assert "Durham County, NC" in raleigh and "Wake County, NC" in raleigh
    table = re.findall(r"^\| (\d) \| (\w+) \|", raleigh, flags=re.M)
    assert table == [("1", "A1"), ("2", "A2"), ("3", "A3")]  # top 3 by potential: 150, 80, 40
    assert (
        "| 1 | A1 | Duke Ortho | 27710 | A | Hospital | 24 | 150 | 150.0 | 0.0 |" in raleigh
    )  # segment A: 24 calls/year
    assert "- Workload: 31.3 hours/year" in raleigh
    assert "The top 3 accounts hold 90.0 % of the territory's potential." in raleigh  # 270 / 300
    assert "1 account(s) are farther than 40 km from the centre" in raleigh  # A3 at 44.2 km
    for heading in ("## Objectives", "## Target list", "## Workload and travel", "## KPIs to track", "## Risks"):
        assert heading in raleigh
    assert "calls made against plan" in raleigh
    assert 'id="plan-T02"' in files["report.html"]

    # With reps: targets weighted by FTE (1.0 and 0.5) still add up to the goal.
    reps = pd.read_csv(io.StringIO(REPS), dtype={"home_zip": str})
    with_reps = report_files(assignments, territories, summary, Plans(goal=1000), reps)
    targets = _targets(with_reps)
    assert targets == {"plans/T01.md": 667.0, "plans/T02.md": 333.0}
    assert sum(targets.values()) == 1000
    assert "Rep: Rae Raleigh (R1), home ZIP 27601, 1.00 FTE" in with_reps["plans/T01.md"]
    assert 'class="homes"' in with_reps["report.html"]

    # No goal: the share only.
    no_goal = report_files(assignments, territories, summary, Plans())["plans/T01.md"]
    assert "This territory holds 50.0 % of total potential (300.0). No national goal is set" in no_goal
