"""Maps on real geography: territory shapes clipped to US land, insets for far-off accounts, labels that never
overlap (measured in headless Chromium), colours over shared borders, county units, and the PDF deck.

A national fixture of 22 accounts (the lower 48, Alaska incl. both sides of the antimeridian, Hawaii, Puerto Rico,
Guam) goes through the real CLI once (`optimize --pdf`); the rest reads its files back."""

from __future__ import annotations

import html
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import ROOT
from shapely.geometry import Point, box, shape

from terrplan.config import Plans
from terrplan.report import report_files
from terrplan.report.boundaries import counties, states
from terrplan.report.labels import Placer
from terrplan.report.palette import _delta, _lab, colours, rgb, tint
from terrplan.report.shapes import neighbours, territory_shapes
from terrplan.summary import RunSummary

SCREENSHOTS = ROOT / "out" / "screenshots"
TEXT = {"account_id": str, "zip": str, "territory": str, "current_territory": str, "centre_account_id": str}
NATIONAL = """account_id,name,type,zip,lat,lon
L01,Los Angeles Ortho,Hospital,90012,34.0522,-118.2437
L02,San Francisco Joint,ASC,94103,37.7749,-122.4194
L03,Seattle Bone,Hospital,98101,47.6062,-122.3321
L04,Denver Spine,ASC,80202,39.7392,-104.9903
L05,Dallas Knee,Hospital,75201,32.7767,-96.797
L06,Chicago Hip,Hospital,60601,41.8781,-87.6298
L07,Atlanta Ortho,ASC,30303,33.749,-84.388
L08,Miami Joint,Hospital,33130,25.7617,-80.1918
L09,New York Bone,Hospital,10007,40.7128,-74.006
L10,Boston Spine,ASC,02108,42.3601,-71.0589
L11,Minneapolis Knee,Practice,55401,44.9778,-93.265
L12,Phoenix Hip,Practice,85004,33.4484,-112.074
K01,Anchorage Ortho,Hospital,99501,61.2181,-149.9003
K02,Fairbanks Joint,Practice,99701,64.8378,-147.7164
K03,Adak Clinic,Practice,99546,51.88,-176.658
K04,Shemya Clinic,Practice,99546,52.7233,174.1139
H01,Honolulu Bone,Hospital,96813,21.3069,-157.8583
H02,Hilo Spine,ASC,96720,19.7241,-155.0868
P01,San Juan Ortho,Hospital,00901,18.4655,-66.1057
P02,Ponce Joint,ASC,00716,18.0111,-66.6141
G01,Hagatna Bone,Hospital,96910,13.4757,144.7489
G02,Tamuning Knee,Practice,96913,13.4877,144.7814
"""
CONFIG = """inputs:
  accounts: {path: accounts.csv}
  volumes: {path: volumes.csv}
scoring:
  weights: {"27447": 1}
territories:
  count: 4
  balance: {metric: potential, tolerance: 0.5}
units: {remote_gap_km: null}   # far-off accounts may share territories with the mainland: shapes span regions
solver: {seed: 1, time_limit: 4, effort: 0}
output: {dir: out, pdf: true}
"""


def _read(out: Path) -> tuple[pd.DataFrame, pd.DataFrame, RunSummary]:
    assignments = pd.read_csv(out / "assignments.csv", dtype=TEXT, keep_default_na=False, na_values=[""])
    territories = pd.read_csv(out / "territories.csv", dtype=TEXT)
    return assignments, territories, RunSummary.read(out)


@pytest.fixture(scope="module")
def national(tmp_path_factory) -> Path:
    case = tmp_path_factory.mktemp("national")
    (case / "accounts.csv").write_text(NATIONAL)
    ids = [line.split(",")[0] for line in NATIONAL.splitlines()[1:]]
    volumes = "".join(f"{a},27447,{100 + 10 * (i % 5)},2025\n" for i, a in enumerate(ids))
    (case / "volumes.csv").write_text("account_id,code,volume,period\n" + volumes)
    (case / "config.yaml").write_text(CONFIG)
    done = subprocess.run(
        [sys.executable, "-m", "terrplan", "optimize", str(case / "config.yaml"), "-o", str(case / "out"), "-q"],
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return case / "out"


# -- GeoJSON on real geography ----------------------------------------------------------------------------------


def _land() -> shapely.Geometry:
    return shapely.union_all([area.geometry for area in states()])


def check_shapes(geojson: str, assignments: pd.DataFrame) -> dict[str, float]:
    """Valid polygons, no part wider than 180° of longitude, every account inside its own territory (the owner of a
    shared location strictly, the others within 100 m: their wedge of the location's cell starts there), little
    area off US land. Returns the measured figures."""
    features = json.loads(geojson)["features"]
    polygons = {f["id"]: shape(f["geometry"]) for f in features}
    for label, geometry in polygons.items():
        assert geometry.is_valid and not geometry.is_empty, label
        for part in shapely.get_parts(geometry):
            minx, _, maxx, _ = part.bounds
            assert maxx - minx <= 180.0, f"{label}: a polygon spans {maxx - minx:.1f}° of longitude"
    inside = strict = 0
    for row in assignments.itertuples():
        point = Point(round(row.lon, 6), round(row.lat, 6))
        own = polygons[row.territory]
        assert own.distance(point) < 0.001, f"{row.account_id} lies outside {row.territory}"
        inside += 1
        strict += bool(own.contains(point))
    total = sum(g.area for g in polygons.values())
    off_land = sum(g.difference(_land()).area for g in polygons.values()) / total
    assert off_land < 0.02, f"{off_land:.2%} of the territory area lies off US land"
    labels = sorted(polygons)
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            assert polygons[a].intersection(polygons[b]).area < 1e-7, f"{a} and {b} overlap"
    return {"inside": inside, "strict": strict, "off_land": off_land}


def test_national_geojson_on_land_and_antimeridian_safe(national):
    assignments, _, _ = _read(national)
    figures = check_shapes((national / "territories.geojson").read_text(), assignments)
    assert figures["strict"] == len(assignments)  # no shared locations here: every account strictly inside
    polygons = {
        f["id"]: shape(f["geometry"]) for f in json.loads((national / "territories.geojson").read_text())["features"]
    }
    guam = assignments.set_index("account_id").loc["G01", "territory"]
    assert any(part.bounds[0] > 140 for part in shapely.get_parts(polygons[guam]))  # Guam stays east of 180


def test_shared_location_is_split_not_claimed_twice():
    """Three accounts of two territories at one point: the point's cell is cut in two wedges, the bigger holder
    owns the point itself, the other's wedge starts 50 m away; the shapes do not overlap."""
    frame = pd.DataFrame(
        {
            "account_id": ["A", "B", "C", "D"],
            "lat": [40.7128, 40.7128, 40.7128, 40.9],
            "lon": [-74.006, -74.006, -74.006, -74.3],
            "territory": ["T1", "T1", "T2", "T2"],
            "potential": [50.0, 30.0, 20.0, 10.0],
        }
    )
    shapes = territory_shapes(frame)
    spot = Point(-74.006, 40.7128)
    assert shapes.polygons["T1"].contains(spot)
    assert 0 < shapes.polygons["T2"].distance(spot) < 0.001
    assert shapes.polygons["T1"].intersection(shapes.polygons["T2"]).area < 1e-9
    assert shapes.shared_locations == {"T1": 0, "T2": 1}


def test_county_units_are_their_county_outlines_and_counties_without_accounts_fill_the_state():
    frame = pd.DataFrame(
        {
            "account_id": ["A", "B", "C"],
            "lat": [35.78, 35.99, 35.23],
            "lon": [-78.64, -78.90, -80.84],
            "territory": ["T1", "T1", "T2"],
        }
    )
    areas = pd.Series(["37183", "37063", "37119"])  # Wake, Durham, Mecklenburg (NC)
    shapes = territory_shapes(frame, areas=areas)
    outlines = counties()
    wake_durham = shapely.union_all([outlines["37183"].geometry, outlines["37063"].geometry])
    assert wake_durham.difference(shapes.polygons["T1"]).area < 1e-6
    assert outlines["37119"].geometry.difference(shapes.polygons["T2"]).area < 1e-6
    # The other 97 NC counties have no account: each is drawn with one territory, so the state shows no holes.
    nc = shapely.union_all([area.geometry for fips, area in outlines.items() if fips.startswith("37")])
    drawn = shapely.union_all([shapes.polygons["T1"], shapes.polygons["T2"]])
    assert drawn.symmetric_difference(nc).area < 1e-6
    assert shapes.polygons["T1"].intersection(shapes.polygons["T2"]).area < 1e-9
    # Charlotte's neighbour Gaston borders T2's county only; Orange borders Durham (T1) only.
    assert shapes.polygons["T2"].contains(outlines["37071"].geometry.representative_point())
    assert shapes.polygons["T1"].contains(outlines["37135"].geometry.representative_point())



def test_a_county_split_between_territories_is_drawn_with_the_one_holding_most_potential_there():
    """A current alignment need not follow county units: Wake holds T1's large account and T3's small one."""
    frame = pd.DataFrame(
        {
            "account_id": ["A", "B", "C"],
            "lat": [35.78, 35.80, 35.23],
            "lon": [-78.64, -78.60, -80.84],
            "territory": ["T1", "T3", "T2"],
            "potential": [10.0, 1.0, 5.0],
        }
    )
    shapes = territory_shapes(frame, areas=pd.Series(["37183", "37183", "37119"]))
    wake = counties()["37183"].geometry
    assert wake.difference(shapes.polygons["T1"]).area < 1e-6
    assert shapes.polygons["T3"].is_empty

# -- colours and labels -----------------------------------------------------------------------------------------


def test_neighbours_get_distinct_far_apart_colours():
    """A 4x4 grid of square territories: bordering squares (incl. corners) get colours at least ΔE 20 apart, every
    territory its own colour, the same on every run."""
    grid = {f"T{r}{c}": box(c, r, c + 1, r + 1) for r in range(4) for c in range(4)}
    touching = neighbours(grid)
    assert touching["T11"] == {"T00", "T01", "T02", "T10", "T12", "T20", "T21", "T22"}
    chosen = colours(sorted(grid), touching)
    assert chosen == colours(sorted(grid), touching)
    assert len(set(chosen.values())) == len(grid)
    closest = min(_delta(_lab(chosen[a]), _lab(chosen[b])) for a in grid for b in touching[a])
    in_order = colours(sorted(grid))  # the old fixed order, for comparison
    assert closest >= 20 and closest > min(
        _delta(_lab(in_order[a]), _lab(in_order[b])) for a in grid for b in touching[a]
    )


def test_placer_never_overlaps_and_stays_inside():
    rng = np.random.default_rng(7)
    placer = Placer()
    frame = (0.0, 0.0, 400.0, 300.0)
    placed = 0
    for i in range(150):
        x, y = rng.uniform(0, 400), rng.uniform(0, 300)
        placed += placer.place(f"Territory {i}", (float(x), float(y)), frame, reach=120.0)
    assert placed == len(placer.boxes) > 40
    for i, a in enumerate(placer.boxes):
        assert a[0] >= 0 and a[1] >= 0 and a[2] <= 400 and a[3] <= 300
        for b in placer.boxes[i + 1 :]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])


# -- the report in a real browser -------------------------------------------------------------------------------

MEASURE = """<script>
window.addEventListener('load', () => {
  const out = [];
  document.querySelectorAll('svg.map').forEach((svg, i) => {
    svg.querySelectorAll('g.label').forEach(g => {
      const b = g.getBBox();
      out.push([i, g.querySelector('text').textContent, b.x, b.y, b.width, b.height]);
    });
  });
  const pre = document.createElement('pre');
  pre.id = 'boxes';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium found (install Debian's chromium; .ci/run does where it can)")


def _chromium(page: Path, tmp_path: Path, *flags: str) -> subprocess.CompletedProcess:
    command = [
        browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", *flags, page.as_uri(),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, timeout=120)


def label_boxes(page_html: str, tmp_path: Path) -> list[list]:
    """[svg index, text, x, y, width, height] of every map label, measured by Chromium (getBBox)."""
    page = tmp_path / "measure.html"
    page.write_text(page_html.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    done = _chromium(page, tmp_path, "--dump-dom", "--virtual-time-budget=5000")
    found = re.search(r'<pre id="boxes">(.*?)</pre>', done.stdout.decode(errors="replace"), re.S)
    assert found, done.stderr.decode(errors="replace")[-2000:]
    return json.loads(html.unescape(found.group(1)))


def assert_no_overlap(boxes: list[list]) -> None:
    for i, (svg, text, x, y, w, h) in enumerate(boxes):
        for other, text2, x2, y2, w2, h2 in boxes[i + 1 :]:
            if other != svg:
                continue
            dx = min(x + w, x2 + w2) - max(x, x2)
            dy = min(y + h, y2 + h2) - max(y, y2)
            assert dx <= 0.5 or dy <= 0.5, f"labels overlap in map {svg}: {text!r} and {text2!r}"


def screenshot(page_html: str, tmp_path: Path, name: str, size: str = "1366,900") -> list[tuple[int, int, int]]:
    """A PNG a person can look at (its path is printed), and its pixels."""
    page = tmp_path / f"{name}.html"
    page.write_text(page_html, encoding="utf-8")
    png = tmp_path / f"{name}.png"
    done = _chromium(page, tmp_path, f"--screenshot={png}", f"--window-size={size}")
    assert png.exists(), done.stderr.decode(errors="replace")[-2000:]
    kept = SCREENSHOTS / png.name  # pytest prunes old tmp folders: a copy stays in the (git-ignored) out/
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(png, kept)
    print(f"screenshot: {png} (kept as {kept})")
    from PIL import Image

    image = Image.open(io.BytesIO(png.read_bytes())).convert("RGB")
    return list(zip(*(band.tobytes() for band in image.split()), strict=True))


def near(pixels: list[tuple[int, int, int]], colour: str, tolerance: int = 2) -> int:
    r, g, b = rgb(colour)
    return sum(
        1 for p in pixels if abs(p[0] - r) <= tolerance and abs(p[1] - g) <= tolerance and abs(p[2] - b) <= tolerance
    )


def test_national_map_in_chromium(national, tmp_path):
    page = (national / "report.html").read_text()
    overview = page[page.index('<svg class="map"') : page.index("</svg>", page.index('<svg class="map"'))]
    assert {"Alaska", "Hawaii", "Puerto Rico", "Guam"} <= set(re.findall(r'data-panel="([^"]+)"', overview))
    outlines = re.findall(r'<path class="states" d="([^"]*)"', overview)
    assert outlines and sum(d.count("M") for d in outlines) > 100  # state outlines drawn in the panels
    boxes = label_boxes(page, tmp_path)
    territories = json.loads((national / "territories.geojson").read_text())["features"]
    labelled = {text for svg, text, *_ in boxes if svg == 0}
    assert {f["id"] for f in territories} <= labelled  # every territory is labelled on the overview
    assert_no_overlap(boxes)
    pixels = screenshot(page, tmp_path, "national")
    for feature in territories:
        colour = feature["properties"]["color"]
        assert near(pixels, tint(colour)) >= 30, f"{feature['id']}: its fill {tint(colour)} is missing"


# -- the PDF deck -----------------------------------------------------------------------------------------------


def test_pdf_deck_pages_and_bytes(national):
    from pypdf import PdfReader

    assignments, territories, summary = _read(national)
    written = (national / "report.pdf").read_bytes()
    reader = PdfReader(io.BytesIO(written))
    districts = territories["district"].nunique()
    assert len(reader.pages) == 1 + districts + len(territories)
    assert "Territory alignment" in reader.pages[0].extract_text()
    assert "Territory T01" in reader.pages[1 + districts].extract_text()
    again = report_files(assignments, territories, summary, Plans(), pdf=True)["report.pdf"]
    assert again == written  # the same inputs give the same bytes, in-process or through the CLI
    assert b"/CreationDate (D:20000101000000Z" in written or b"D:20000101" in written
    assert (national / "plans" / "T01.svg").read_text().startswith('<svg class="map"')


def test_pdf_names_outside_latin1(national):
    """Names are data: Latin-1 stays, other accents are dropped (ź -> z, Ł -> L), other scripts become '?', markup
    stays text."""
    from pypdf import PdfReader

    assignments, territories, summary = _read(national)
    top = assignments["potential"].idxmax()
    assignments.loc[top, "name"] = "Łódź <b>Zoë</b> 北京 Clinic"
    deck = report_files(assignments, territories, summary, Plans(), pdf=True)["report.pdf"]
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(deck)).pages)
    assert "Lódz <b>Zoë</b> ?? Clinic" in text.replace("\n", " ")
