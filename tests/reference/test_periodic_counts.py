"""PBRER summary tabulations against an independent count.

The reference is written here without cgtvigil's store or SQL: the quarterly FAERS text files
are read with the standard ``csv`` module straight from the zips, each case keeps its latest
version (highest ``caseversion``, then the later quarter), cases on a quarter's DELETE list are
dropped, a case belongs to a product when a PS or SS drug's ``drugname`` or ``prod_ai``
normalises to one of the product's names, a case is serious when the OUTC file has a row for
its version and fatal when that row is DE, and the interval is by ``init_fda_dt``. The data are
two SYNTHETIC quarters from ``cgtvigil synth faers`` (seeded, CAR-T products planted at
openFDA-calibrated rates)."""

from __future__ import annotations

import csv
import io
import zipfile
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest

from cgtvigil.model import normalise_name
from cgtvigil.reports import PeriodicSpec, collect_events, tabulate
from cgtvigil.screening import ingest_faers
from cgtvigil.store import FaersStore, load_products, load_topics
from cgtvigil.synth import SynthConfig, generate_faers

SPEC = PeriodicSpec(
    kind="pbrer", products=("kymriah", "yescarta"), interval_start=date(2024, 4, 1), data_lock_point=date(2024, 5, 31)
)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    tmp = tmp_path_factory.mktemp("periodic")
    result = generate_faers(
        tmp / "zips", load_products(), SynthConfig(reports_per_quarter=1500, quarters=("2024Q1", "2024Q2"))
    )
    db = tmp / "faers.duckdb"
    with FaersStore(db) as store:
        ingest_faers(result.zips, store, load_products())
    return result.zips, db


def _table(z: zipfile.ZipFile, prefix: str) -> list[dict[str, str]]:
    name = next(n for n in z.namelist() if Path(n).name.upper().startswith(prefix))
    return list(csv.DictReader(io.StringIO(z.read(name).decode("utf-8")), delimiter="$"))


def _reference(zips: list[Path]) -> dict[tuple[str, str], dict[str, set[str]]]:
    names = {normalise_name(n): p.id for p in load_products().products for n in p.names()}
    versions: dict[str, tuple[int, str, str]] = {}  # caseid -> (version, quarter, primaryid)
    deleted: set[str] = set()
    tables: dict[str, dict[str, list[dict[str, str]]]] = defaultdict(lambda: defaultdict(list))
    received: dict[tuple[str, str], str] = {}
    for path in zips:
        quarter = path.stem[-6:]
        with zipfile.ZipFile(path) as z:
            for row in _table(z, "DEMO"):
                key = (int(row["caseversion"]), quarter, row["primaryid"])
                received[(row["primaryid"], quarter)] = row["init_fda_dt"]
                if row["caseid"] not in versions or key > versions[row["caseid"]]:
                    versions[row["caseid"]] = key
            for table in ("DRUG", "REAC", "OUTC"):
                for row in _table(z, table):
                    tables[table][f"{row['primaryid']}|{quarter}"].append(row)
            for n in z.namelist():
                if Path(n).name.upper().startswith("DELETE"):
                    deleted |= {line.strip() for line in z.read(n).decode().splitlines() if line.strip()}
    cells: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for caseid, (_, quarter, primaryid) in versions.items():
        if caseid in deleted:
            continue
        key = f"{primaryid}|{quarter}"
        products = {
            names.get(normalise_name(d[f]))
            for d in tables["DRUG"][key]
            if d["role_cod"].strip().upper() in ("PS", "SS")
            for f in ("drugname", "prod_ai")
        } & set(SPEC.products)
        if not products:
            continue
        t = received[(primaryid, quarter)]
        day = date(int(t[:4]), int(t[4:6]), int(t[6:8]))
        if day > SPEC.data_lock_point:
            continue
        outcomes = [o["outc_cod"].strip().upper() for o in tables["OUTC"][key]]
        serious, fatal = bool(outcomes), "DE" in outcomes
        for reaction in tables["REAC"][key]:
            pt = reaction["pt"].strip().upper()
            cell = cells[(pt, "serious" if serious else "non_serious")]
            cell["cumulative"].add(caseid)
            if day >= SPEC.interval_start:
                cell["interval"].add(caseid)
            if fatal:
                cells[(pt, "fatal")]["cumulative"].add(caseid)
                if day >= SPEC.interval_start:
                    cells[(pt, "fatal")]["interval"].add(caseid)
    return cells


def test_pbrer_counts_equal_an_independent_count(synthetic: tuple[list[Path], Path]) -> None:
    zips, db = synthetic
    events, inputs = collect_events(db, SPEC, load_products(), load_topics())
    assert [i.kind for i in inputs] == ["faers-store"]
    rows = tabulate(events, SPEC)
    ours: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for e in events:  # by PT over every topic and source, as the reference counts
        if e.received is None or e.received > SPEC.data_lock_point:
            continue
        for col in ("serious" if e.serious else "non_serious", *(("fatal",) if e.fatal else ())):
            ours[(e.pt, col)]["cumulative"].add(e.case_id.removeprefix("FAERS:"))
            if e.received >= SPEC.interval_start:
                ours[(e.pt, col)]["interval"].add(e.case_id.removeprefix("FAERS:"))
    reference = _reference(zips)
    assert sum(len(c["cumulative"]) for c in reference.values()) > 50  # the products are really there
    assert {k: dict(v) for k, v in ours.items()} == {k: dict(v) for k, v in reference.items()}
    # the tabulation rows add up to the same distinct cases per PT and topic
    crs = [r for r in rows if r.topic == "crs" and r.pt == "CYTOKINE RELEASE SYNDROME"]
    assert sum(r.cumulative_serious for r in crs) == len(
        reference[("CYTOKINE RELEASE SYNDROME", "serious")]["cumulative"]
    )
    assert all(r.source.startswith("FAERS: ") for r in rows)
