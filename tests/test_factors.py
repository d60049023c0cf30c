"""Scoring factors (issue 14): each on a tiny instance whose numbers are worked out by hand in the comments."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, SHARED, TINY_CONFIG, Tiny, invoke, requires_shared

from terrplan.config import Competition, Growth, Scoring, Segment, load_config
from terrplan.errors import InputError
from terrplan.factors.affiliations import affiliated_surgeons
from terrplan.factors.competition import account_competition, read_competition
from terrplan.factors.growth import account_growth, group_rates
from terrplan.factors.market import territory_people, zip_people
from terrplan.factors.names import AMBIGUOUS, MATCHED, UNMATCHED, match, person_key, zip5
from terrplan.factors.territory import ACCOUNT_COLUMNS
from terrplan.score import score_accounts

# -- growth --------------------------------------------------------------------------------------------------------

YEARS = np.array([2018, 2020, 2021])
# A: 100 -> 81 (the 2020 dip) -> 121. Pairs: 2018-20 0.81^(1/2)-1 = -0.1; 2018-21 1.21^(1/3)-1 = 0.06560;
#    2020-21 121/81-1 = 0.49383. Median 0.06560 (the dip moves it little).
# B: 2018 suppressed (no row), 50 -> 60: one pair, +20 %.
# C: only 2021 (same ZIP as A): too few years, the ZIP's trend = A's (the only account of the ZIP with a pair).
# D: only 2021, a ZIP of its own: the national trend: pairs over accounts present in both years:
#    2018-20 A: 81/100 -> -0.1; 2018-21 A: 1.21 -> 0.06560; 2020-21 A+B: 181/131 - 1 = 0.38168. Median 0.06560.
MATRIX = np.array([[100, 81, 121], [np.nan, 50, 60], [np.nan, np.nan, 40], [np.nan, np.nan, 10]], dtype=float)
ZIPS = np.array(["27710", "27607", "27710", "28203"])
A_RATE = 1.21 ** (1 / 3) - 1


def test_growth_by_hand_with_a_dip_year_and_a_suppressed_cell():
    spec = Growth(plan_year=2023, shrink=0)  # each account's own trend alone
    growth = account_growth(MATRIX, YEARS, ZIPS, spec)
    assert growth["growth_rate"].to_numpy() == pytest.approx([A_RATE, 0.2, A_RATE, A_RATE])
    assert list(growth["growth_source"]) == ["account", "account", "zip", "national"]
    # Two years ahead of 2021: (1 + rate)^2.
    assert growth["growth_factor"].to_numpy() == pytest.approx([(1 + A_RATE) ** 2, 1.44, *[(1 + A_RATE) ** 2] * 2])
    # shrink 3: B's one pair weighs 1 against the nation's 3: r = (0.2 + 3 x 0.0656) / 4 = 0.0992; its trend level
    # in 2021 is the median (mean of two) of 50 x (1 + r) and 60, so its factor is that / 60 x (1 + r)^2.
    shrunk = account_growth(MATRIX, YEARS, ZIPS, Growth(plan_year=2023, shrink=3))
    r = (0.2 + 3 * A_RATE) / 4
    assert shrunk["growth_rate"].to_numpy() == pytest.approx([A_RATE, r, A_RATE, A_RATE])
    assert shrunk["growth_factor"].iloc[1] == pytest.approx((50 * (1 + r) + 60) / 2 / 60 * (1 + r) ** 2)
    national = group_rates(MATRIX, YEARS, np.zeros(4, dtype=np.int64), 1)[0]
    assert national == pytest.approx(A_RATE)
    # A missing year altogether (no 2019 column) is no pair; a group never seen twice has no trend of its own.
    assert math.isnan(group_rates(MATRIX[2:3], YEARS, np.zeros(1, dtype=np.int64), 1)[0])


def test_growth_rates_are_clipped():
    growth = account_growth(np.array([[10.0, np.nan, 100.0]]), YEARS, np.array(["27710"]), Growth(max_rate=0.5))
    assert growth["growth_rate"].iloc[0] == 0.5  # 10 -> 100 in 3 years is +115 %/yr, clipped


def test_score_with_growth_scales_the_latest_years_potential():
    accounts = pd.DataFrame({"account_id": ["A", "B"], "zip": ["27710", "27607"]})
    volumes = pd.DataFrame(
        {
            "account_id": ["A", "A", "A", "A", "B", "B"],
            "code": ["17311", "17311", "17311", "17312", "17311", "17311"],
            "volume": [100.0, 81.0, 111.0, 25.0, 50.0, 60.0],  # A 2021: 111 + 25 x 0.4 = 121 weighted
            "year": [2018, 2020, 2021, 2021, 2020, 2021],
        }
    )
    scoring = Scoring(weights={"17311": 1.0, "17312": 0.4}, growth=Growth(plan_year=2022, shrink=0))
    latest = volumes.loc[volumes["year"] == 2021]  # what read.volumes_of_year gives potential
    scored = score_accounts(accounts, latest, scoring, (Segment("A", 1.0, 10, 30),), history=volumes)
    assert scored["volume"].tolist() == [136.0, 60.0]  # the latest year only
    assert scored["base_potential"].tolist() == [121.0, 60.0]
    assert scored["potential_2018"].isna().tolist() == [False, True]  # B's 2018 is unknown, not 0
    assert scored["growth_rate"].to_numpy() == pytest.approx([A_RATE, 0.2])
    assert scored["potential"].to_numpy() == pytest.approx([121 * (1 + A_RATE), 72.0])
    assert scored["forecast"].to_numpy() == pytest.approx([136 * (1 + A_RATE), 72.0])


# -- name + ZIP matching -------------------------------------------------------------------------------------------


def test_name_and_zip_matching_never_guesses():
    ids = np.array(["N1", "N2", "N3", "N4"], dtype=object)
    keys = np.array([person_key("John A.", "O'Brien"), person_key("Mary", "Smith-Jones"),
                     person_key("Ann", "Lee"), person_key("ANN", "LEE")], dtype=object)  # fmt: skip
    zips = np.array(["52242", "50309", "50010", "50010"], dtype=object)
    rows = [
        ("JOHN", "OBRIEN", "52242"),  # case, punctuation, middle initial: N1
        ("john j", "o'brien jr.", "52242-1009"),  # ZIP+4 and a suffix: N1
        ("Mary", "SMITH JONES", "50309"),  # hyphen vs space: N2
        ("Ann", "Lee", "50010"),  # two accounts share name and ZIP: refused
        ("John", "OBrien", "52240"),  # right name, other ZIP: never joined
        ("Jon", "OBrien", "52242"),  # other first name: unmatched
    ]
    found, status = match(ids, keys, zips, np.array([person_key(f, last) for f, last, _ in rows], dtype=object),
                          np.array([zip5(z) for _, _, z in rows], dtype=object))  # fmt: skip
    assert list(found) == ["N1", "N1", "N2", "", "", ""]
    assert list(status) == [MATCHED, MATCHED, MATCHED, AMBIGUOUS, UNMATCHED, UNMATCHED]


OP_HEADER = (
    "Physician_Profile_ID,Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_Name,"
    "Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_State,Applicable_Manufacturer_or_Applicable_GPO_Making_"
    "Payment_ID,Total_Amount_of_Payment_USDollars,Date_of_Payment,Form_of_Payment_or_Transfer_of_Value,Record_ID,"
    "Nature_of_Payment_or_Transfer_of_Value,Name_of_Third_Party_Entity_Receiving_Payment_or_Transfer_of_Value,"
    "Name_of_Associated_Covered_Drug_or_Biological1,Name_of_Associated_Covered_Drug_or_Biological2,"
    "Contextual_Information\n"
)
ROSTER = """Physician_First_Name,Physician_Middle_Name,Physician_Last_Name,Recipient_Zip_Code,Physician_Profile_ID
JOHN,J,CALLAGHAN,52242-1009,11
ANN,,LEE,50010,12
PAT,,NOBODY,50011,13
"""


def test_open_payments_payments_become_shares(tmp_path):
    # John Callaghan (account 111): Medtronic $300 + Medtronic Vascular $100 (one competitor, 'Medtronic'),
    # our company (Acme) $100, food only from Stryker: with natures = [Consulting Fee, Food and Beverage], all
    # count. competitor_share = 400 / 500 = 0.8; factor = 1 - 0.5 x 0.8 = 0.6. Ann Lee's two accounts: ambiguous.
    rows = [
        ("11", "Medtronic USA, Inc.", "300.00", "Consulting Fee"),
        ("11", "Medtronic Vascular, Inc.", "100", "Food and Beverage"),
        ("11", "Acme Devices LLC", "100", "Consulting Fee"),
        ("11", "Stryker Corporation", "50", "Education"),  # left out by the natures
        ("12", "Stryker Corporation", "70", "Consulting Fee"),  # Ann Lee: ambiguous
        ("13", "Stryker Corporation", "30", "Consulting Fee"),  # unmatched
    ]
    body = "".join(f'{p},"{m}",MN,1,{a},01/07/2015,Cash,{i},{n},,,,\n' for i, (p, m, a, n) in enumerate(rows))
    (tmp_path / "op.csv").write_text(OP_HEADER + body)
    (tmp_path / "roster.csv").write_text(ROSTER)
    accounts = pd.DataFrame(
        {
            "account_id": ["111", "222", "333"],
            "name": ["Callaghan", "Lee", "Lee"],
            "zip": ["52242", "50010", "50010"],
            "first_name": ["John", "Ann", "Ann"],
            "last_name": ["Callaghan", "Lee", "Lee"],
        }
    )
    spec = Competition(path="op.csv", format="open_payments", roster="roster.csv", company="Acme",
                       competitors=("Medtronic", "Stryker"), natures=("Consulting Fee", "Food and Beverage"))  # fmt: skip
    holds = read_competition(spec, tmp_path / "op.csv", tmp_path / "roster.csv", accounts)
    assert holds.report["competition_rows"] == 5  # the Education row is left out by nature
    assert (holds.report["competition_matched_rows"], holds.report["competition_ambiguous_rows"]) == (3, 1)
    assert holds.report["competition_unmatched_rows"] == 1
    assert holds.report["competition_match_rate"] == 0.6
    assert (holds.report["competition_recipients"], holds.report["competition_matched_recipients"]) == (3, 1)
    result = account_competition(holds.rows, spec, accounts["account_id"])
    assert result["competitor"].tolist() == ["Medtronic", "", ""]
    assert result["competitor_share"].tolist() == pytest.approx([0.8, 0, 0])
    assert result["own_share"].tolist() == pytest.approx([0.2, 0, 0])
    assert result["competitive_factor"].tolist() == pytest.approx([0.6, 1, 1])


# -- market size -----------------------------------------------------------------------------------------------------


def test_market_size_counts_every_zip_of_the_states_once():
    # Two accounts far apart in NC (one state given, one from its ZIP): every NC ZIP goes to the nearer one, so the two sums are NC's population.
    people = territory_people(np.array([35.99, 35.20]), np.array([-78.90, -80.84]), np.array(["NC", ""]),
                              np.array(["27710", "28203"]), np.array([0, 1]), 2)  # fmt: skip
    nc = zip_people().query("state == 'NC'")
    assert people["population"].sum() == pytest.approx(nc["population"].sum(), abs=2)
    assert people["population_65"].sum() == pytest.approx(nc["population_65"].sum(), abs=2)
    assert (people["population"] > 0).all()


# -- the whole formula through the CLI -------------------------------------------------------------------------------

LANDSCAPE = """account_id,name,zip,manufacturer,strength
A1,,,Medtronic,300
A1,,,OurCo,100
,Rex Surgery,27607-1234,Stryker,50
,"REX SURGERY, .",27607,Medtronic,50
,Nobody Clinic,27607,Stryker,10
"""
AFFILIATIONS = """npi,facility_id,facility_name
A3,A1,Duke Ortho
A4,A1,Duke Ortho
"""
FACTOR_CONFIG = """inputs:
  accounts: {path: accounts.csv}
  volumes: {path: volumes.csv}
  affiliations: {path: affiliations.csv}
scoring:
  weights: {"27447": 1, "27130": 1}
  competition: {path: landscape.csv, company: OurCo, winnable: 0.5, dominant: 0.5}
  adoption: {column: adoption, values: {"Y": adopter, "N": non-adopter}}
  opportunities:
    - {name: convert, calls_per_year: 30, minutes_per_call: 60, activities: [competitive demo]}
  market_size: true
units: {keep_together: [facility]}
territories:
  count: 2
  balance: {metric: potential, tolerance: 0.25}
solver: {seed: 3, time_limit: 20}
output: {dir: out}
"""


def _factor_case(tiny: Tiny) -> None:
    accounts = (tiny.dir / "accounts.csv").read_text().splitlines()
    adoption = {"A1": "Y", "B1": "N"}
    lines = [accounts[0] + ",adoption"] + [f"{line},{adoption.get(line.split(',')[0], '')}" for line in accounts[1:]]
    tiny.write("accounts.csv", "\n".join(lines) + "\n")
    tiny.write("landscape.csv", LANDSCAPE)
    tiny.write("affiliations.csv", AFFILIATIONS)
    tiny.write("config.yaml", FACTOR_CONFIG)


def test_every_factor_is_a_column_and_potential_is_their_product(tiny: Tiny):
    _factor_case(tiny)
    result = invoke("optimize", str(tiny.config), "--no-report")
    assert result.exit_code == 0, result.stderr
    rows = pd.read_csv(tiny.out / "assignments.csv", dtype={"account_id": str}, keep_default_na=False)
    rows = rows.set_index("account_id")
    # A1: Medtronic 300 vs our 100: competitor_share 0.75, factor 1 - 0.5 x 0.75 = 0.625; an adopter (1.0).
    # A2 (by name + ZIP+4, case and punctuation): Stryker 50 + Medtronic 50: share 1, factor 0.5; the tie goes to
    # the first name. B1: non-adopter, 0.6. The unmatched Nobody Clinic row joins nothing.
    expected = {"A1": 150 * 0.625, "A2": 80 * 0.5, "A3": 40, "A4": 30, "B1": 140 * 0.6, "B2": 90, "B3": 40, "B4": 30}
    assert rows["potential"].to_dict() == pytest.approx(expected)
    product = rows["base_potential"] * rows["competitive_factor"] * rows["adoption_factor"]
    assert (product - rows["potential"]).abs().max() < 1e-9  # an analyst re-derives potential from the row
    assert rows.loc["A1", "competitor"] == "Medtronic" and rows.loc["A2", "competitor"] == "Medtronic"
    assert rows["opportunity"].to_dict() == {"A1": "convert", "A2": "convert", "A3": "develop", "A4": "develop",
                                             "B1": "develop", "B2": "develop", "B3": "develop", "B4": "develop"}  # fmt: skip
    assert rows.loc["A1", "workload_hours"] == 30  # convert's call plan: 30 calls x 60 minutes
    assert rows.loc[["A1", "A3", "A4"], "facility"].tolist() == ["A1", "A1", "A1"]
    assert rows.loc[["A1", "A3", "A4"], "territory"].nunique() == 1  # kept with their hospital
    surgeons = affiliated_surgeons(rows.reset_index())  # the plans' list of a hospital's affiliated physicians
    assert surgeons[["facility", "account_id", "volume"]].values.tolist() == [["A1", "A3", 40], ["A1", "A4", 30]]
    territories = pd.read_csv(tiny.out / "territories.csv")
    nc = zip_people().query("state == 'NC'")
    assert territories["population"].sum() == pytest.approx(nc["population"].sum(), abs=2)
    assert {"population_65", "market_index", "competitor_share", "top_competitor"} <= set(territories.columns)
    summary = json.loads((tiny.out / "summary.json").read_text())["accounts"]
    assert (summary["competition_rows"], summary["competition_matched_rows"]) == (5, 4)
    assert summary["competition_match_rate"] == 0.8
    assert (summary["competition_recipients"], summary["competition_matched_recipients"]) == (3, 2)  # A1, Rex


@pytest.mark.parametrize(
    ("name", "text", "where", "hint"),
    [
        ("landscape.csv", LANDSCAPE.replace("300", "lots"), "landscape.csv:2: column 'strength'", "0 or more"),
        ("landscape.csv", LANDSCAPE.replace("OurCo,100", ",100"), "landscape.csv:3: column 'manufacturer'", "name"),
        ("affiliations.csv", AFFILIATIONS.replace("A3,A1", ",A1"), "affiliations.csv:2: column 'npi'", "physician"),
        ("affiliations.csv", "doctor,facility_id\nA3,A1\n", "affiliations.csv:1", "name the column"),
        ("accounts.csv", None, "accounts.csv:3: column 'adoption'", "scoring.adoption.values"),
    ],
)
def test_bad_factor_files_stop_before_any_work(tiny: Tiny, name, text, where, hint):
    _factor_case(tiny)
    if text is None:  # an adoption value no class names
        text = (
            (tiny.dir / "accounts.csv")
            .read_text()
            .replace("Rex Surgery,ASC,27607,,,,T1,", "Rex Surgery,ASC,27607,,,,T1,maybe")
        )
    tiny.write(name, text)
    result = invoke("optimize", str(tiny.config), "--no-report")
    assert result.exit_code == 3
    assert where in result.stderr and hint in result.stderr and "Traceback" not in result.stderr
    assert not tiny.out.exists()  # nothing written


def test_no_factor_no_new_column(tiny: Tiny):
    result = invoke("optimize", str(tiny.config), "--no-report")
    assert result.exit_code == 0
    header = (tiny.out / "assignments.csv").read_text().splitlines()[0].split(",")
    territories = (tiny.out / "territories.csv").read_text().splitlines()[0].split(",")
    assert not set(ACCOUNT_COLUMNS) & set(header) and "population" not in territories
    with pytest.raises(InputError):  # and a factor file that is not there is a clear error
        read_competition(Competition(path="x.csv"), tiny.dir / "x.csv", None, pd.DataFrame())


GROWTH_CONFIG = """inputs:
  accounts: {path: accounts.csv}
  volumes: {path: volumes.csv, columns: {year: year}}
scoring:
  weights: {"27447": 1, "27130": 1}
  growth: {plan_year: 2026}
territories:
  count: 2
  balance: {metric: potential, tolerance: 0.05}
solver: {seed: 3, time_limit: 20}
output: {dir: out}
"""


def test_growth_through_the_cli_from_a_year_column(tiny: Tiny):
    # Every account's 2025 volume is 1.21 x its 2023 volume: +10 %/yr; 2026 is one year on: potential x 1.1.
    lines = (tiny.dir / "volumes.csv").read_text().splitlines()
    rows = [line.rsplit(",", 1)[0] for line in lines[1:]]
    older = [f"{row.rsplit(',', 1)[0]},{float(row.rsplit(',', 1)[1]) / 1.21},2023" for row in rows]
    tiny.write(
        "volumes.csv", "account_id,code,volume,year\n" + "\n".join([*older, *(f"{r},2025" for r in rows)]) + "\n"
    )
    tiny.write("config.yaml", GROWTH_CONFIG)
    result = invoke("optimize", str(tiny.config), "--no-report")
    assert result.exit_code == 0, result.stderr
    assignments = pd.read_csv(tiny.out / "assignments.csv")
    assert assignments["growth_rate"].to_numpy() == pytest.approx(0.1, abs=1e-4)
    assert assignments["potential"].to_numpy() == pytest.approx(
        assignments["base_potential"].to_numpy() * 1.1, abs=1e-4
    )
    base = assignments["base_potential"].to_numpy()
    assert assignments["potential_2023"].to_numpy() == pytest.approx(base / 1.21, abs=1e-4)  # CSVs keep 4 decimals
    territories = pd.read_csv(tiny.out / "territories.csv")
    assert territories["growth_rate"].to_numpy() == pytest.approx(0.1, abs=1e-4)
    assert territories["forecast"].sum() == pytest.approx(600 * 1.1, abs=1e-3)


def test_growth_without_years_is_a_config_error(tiny: Tiny):
    tiny.write("config.yaml", GROWTH_CONFIG.replace(", columns: {year: year}", ""))
    result = invoke("optimize", str(tiny.config), "--no-report")
    assert result.exit_code == 3
    assert "scoring.growth" in result.stderr and "year" in result.stderr and not tiny.out.exists()


@requires_shared
def test_iowa_open_payments_match_the_mohs_providers_by_name_and_zip():
    # 25 Iowa Mohs providers of 2021; the payments (2,048 Iowa physicians) have no NPI. Love, Wilson, Angeloni, Bean
    # and Ceilley match on first + last name and ZIP; Harlan and Ducharme have a payments roster ZIP other than
    # their 2021 practice ZIP and are left unmatched rather than guessed.
    payments = SHARED / "data" / "open-payments-iowa-2013-2015"
    providers = pd.read_csv(ROOT / "data" / "iowa" / "partb_mohs_2021_ia.csv", dtype=str).drop_duplicates("Rndrng_NPI")
    accounts = pd.DataFrame(
        {
            "account_id": providers["Rndrng_NPI"],
            "name": providers["Rndrng_Prvdr_Last_Org_Name"],
            "zip": providers["Rndrng_Prvdr_Zip5"],
            "first_name": providers["Rndrng_Prvdr_First_Name"].fillna(""),
            "last_name": providers["Rndrng_Prvdr_Last_Org_Name"],
        }
    )
    spec = Competition(path="p", format="open_payments", roster="r")
    holds = read_competition(spec, payments / "ia_general_payments_2013_2015.csv",
                             payments / "ia_paid_physicians_roster.csv", accounts)  # fmt: skip
    names = set(accounts.set_index("account_id").loc[holds.rows["account_id"].unique(), "name"])
    assert names == {"Love", "Wilson", "Angeloni", "Bean", "Ceilley"}
    assert holds.report["competition_rows"] == 126_084
    assert holds.report["competition_matched_recipients"] == 5 and holds.report["competition_ambiguous_rows"] == 0


def test_bad_open_payments_rows_name_file_line_and_column(tmp_path):
    body = '11,"Medtronic USA, Inc.",MN,1,300.00,01/07/2015,Cash,1,Consulting Fee,,,,\n11,Stryker,MI,2,-5,01/07/2015,Cash,2,Food,,,,\n'
    (tmp_path / "op.csv").write_text(OP_HEADER + body)
    (tmp_path / "roster.csv").write_text(ROSTER + "JOHN,,SMITH,52242,11\n")  # profile 11 twice
    spec = Competition(path="op.csv", format="open_payments", roster="roster.csv")
    accounts = pd.DataFrame({"account_id": ["1"], "name": ["X"], "zip": ["52242"]})
    with pytest.raises(InputError) as bad_amount:
        read_competition(spec, tmp_path / "op.csv", tmp_path / "roster.csv", accounts)
    assert "op.csv:3: column 'Total_Amount_of_Payment_USDollars'" in str(bad_amount.value)
    (tmp_path / "op.csv").write_text(OP_HEADER + body.replace("-5", "5"))
    with pytest.raises(InputError) as twice:
        read_competition(spec, tmp_path / "op.csv", tmp_path / "roster.csv", accounts)
    assert "roster.csv:2: column 'Physician_Profile_ID': profile id listed twice" in str(twice.value)


def test_adoption_file_of_its_own(tiny: Tiny):
    tiny.write("adoption.csv", "npi,installed\nA1,yes\nB2,no\nB3,\n")  # B3 blank: mapped; A2 absent: unknown
    tiny.write("config.yaml", TINY_CONFIG_WITH_ADOPTION)
    result = invoke("optimize", str(tiny.config), "--no-report")
    assert result.exit_code == 0, result.stderr
    rows = pd.read_csv(tiny.out / "assignments.csv", keep_default_na=False).set_index("account_id")
    assert rows.loc[["A1", "B2", "B3", "A2"], "adoption"].tolist() == [
        "adopter",
        "non-adopter",
        "non-adopter",
        "unknown",
    ]
    assert rows.loc[["A1", "B2", "A2"], "opportunity"].tolist() == ["expand", "develop", "develop"]
    assert rows.loc["B2", "potential"] == pytest.approx(90 * 0.5)  # the config's non-adopter factor
    tiny.write("adoption.csv", "account,installed\nA1,yes\n")  # no id column the config or a standard name gives
    shutil.rmtree(tiny.out)
    result = invoke("optimize", str(tiny.config), "--no-report")
    assert result.exit_code == 3 and "adoption.csv:1" in result.stderr and "scoring.adoption.id_column" in result.stderr
    assert not tiny.out.exists()


TINY_CONFIG_WITH_ADOPTION = TINY_CONFIG.replace(
    '  weights: {"27447": 1, "27130": 1}\n',
    '  weights: {"27447": 1, "27130": 1}\n'
    "  adoption:\n"
    "    path: adoption.csv\n"
    "    column: installed\n"
    '    values: {"yes": adopter, "no": non-adopter, "": non-adopter}\n'
    "    factors: {non-adopter: 0.5}\n",
).replace("tolerance: 0.05", "tolerance: 0.25")


@pytest.mark.parametrize(
    "name", ["cms-partb-mohs-2021-plan", "iowa-mohs-competition", "cms-inpatient-drg-nc-2012-adoption"]
)
def test_factor_configs_are_valid(name):
    config = load_config(ROOT / "configs" / f"{name}.yaml")
    sc = config.scoring
    assert sc.growth or sc.competition or sc.adoption
    assert sc.market_size


def test_people_named_whole_match_accounts_named_whole(tmp_path):
    # The accounts carry one name ("John Smith"); the landscape gives first and last name apart: both are keyed
    # as the whole name (a middle initial then counts: 'John A Smith' is another key, left unmatched).
    (tmp_path / "land.csv").write_text(
        "first_name,name,zip,manufacturer,strength\nJohn,SMITH,27601,Medtronic,1\nJohn A,Smith,27601,Medtronic,1\n"
    )
    accounts = pd.DataFrame({"account_id": ["S1"], "name": ["John Smith"], "zip": ["27601"]})
    holds = read_competition(Competition(path="land.csv"), tmp_path / "land.csv", None, accounts)
    assert holds.rows["account_id"].tolist() == ["S1"]
    assert holds.report["competition_unmatched_rows"] == 1


def test_open_payments_with_npi_match_by_npi(tmp_path):
    # Files from program year 2016 on carry Covered_Recipient_NPI: no name matching, no roster needed.
    header = "Covered_Recipient_NPI," + OP_HEADER
    rows = '1111111111,11,"Stryker Corporation",MI,1,80,01/07/2017,Cash,1,Consulting Fee,,,,\n'
    rows += '2222222222,12,"Stryker Corporation",MI,1,20,01/07/2017,Cash,2,Consulting Fee,,,,\n'
    (tmp_path / "op.csv").write_text(header + rows)
    accounts = pd.DataFrame({"account_id": ["1111111111"], "name": ["X"], "zip": ["52242"]})
    holds = read_competition(Competition(path="op.csv", format="open_payments"), tmp_path / "op.csv", None, accounts)
    assert holds.rows[["account_id", "strength"]].values.tolist() == [["1111111111", 80.0]]
    assert holds.report["competition_match_rate"] == 0.5 and holds.report["competition_matched_strength_share"] == 0.8


def test_open_payments_rows_without_an_npi_match_by_name_and_zip(tmp_path):
    # CMS leaves Covered_Recipient_NPI blank for some recipients: those rows go through the roster's name + ZIP.
    header = "Covered_Recipient_NPI," + OP_HEADER
    rows = '1111111111,99,"Stryker Corporation",MI,1,80,01/07/2017,Cash,1,Consulting Fee,,,,\n'
    rows += ',11,"Medtronic USA, Inc.",MN,1,20,01/07/2017,Cash,2,Consulting Fee,,,,\n'  # John Callaghan, no NPI
    (tmp_path / "op.csv").write_text(header + rows)
    (tmp_path / "roster.csv").write_text(ROSTER)
    accounts = pd.DataFrame(
        {
            "account_id": ["1111111111", "222"],
            "name": ["Smith", "Callaghan"],
            "zip": ["50010", "52242"],
            "first_name": ["Jo", "John"],
            "last_name": ["Smith", "Callaghan"],
        }
    )
    spec = Competition(path="op.csv", format="open_payments", roster="roster.csv")
    holds = read_competition(spec, tmp_path / "op.csv", tmp_path / "roster.csv", accounts)
    assert sorted(holds.rows[["account_id", "strength"]].values.tolist()) == [["1111111111", 80.0], ["222", 20.0]]
    assert holds.report["competition_match_rate"] == 1.0
