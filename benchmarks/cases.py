"""Case store, case list and case page latency at 10,000 reports (issue 13).

The batch: N reports (default 10,000) made from FDA's example messages, as in
``benchmarks/e2b.py`` (each copy with its own C.1.1, C.1.8.1 and N.2.r.1); every third copy's
suspect drug is renamed KYMRIAH and every seventh YESCARTA, so that a sponsor's scope holds
some of the cases, and 200 cases are recorded as submitted to a regulator (half of them
acknowledged), so that a reviewer's scope and the submitted clock have work to do.

One process (``run.measure``: wall time and peak RSS of that process, imports included) reads
the batch, then times in-process (``time.perf_counter`` wall and ``time.process_time`` CPU):

- add        ``CaseStore.add`` of all the reports into a new DuckDB file (per report);
- list       ``case_list`` page 1 and page 50 (100 rows a page; page 50 only where the scope
             holds that many) as an administrator, a Kymriah sponsor's safety scientist and a
             regulator reviewer (median of 5 calls each, after one warm-up call);
- case page  ``case_detail`` of 5 cases in the administrator's scope (median).

Every list and page call also writes its audit entry to the SQLite operational store, as the
web and API do. ``--src`` runs another checkout's ``src`` (e.g. the commit before a change) on
the same batch, so that before and after are measured on the same data and machine.

Usage: python benchmarks/cases.py [--reports 10000] [--label after] [--src PATH]
       [--output benchmarks/cases_results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from e2b import build_batch
from run import WORK, machine, measure

HERE = Path(__file__).resolve().parent

CODE = """
import inspect, json, statistics, sys, tempfile, time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from cgtvigil.cases import Reference, case_detail, case_list, record_submissions
from cgtvigil.ingest import read_e2b
from cgtvigil.model import Code
from cgtvigil.store import (CaseStore, Scope, StoredReport, load_products, load_safety_info, load_topics,
                            operational_engine, session_factory)

def timed(fn):
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c

QUICK = len(sys.argv) > 2 and sys.argv[2] == "quick"

def median_of(fn, n=5):
    if QUICK:
        n = 1  # one cold call (the old rule took minutes of CPU per call at 10,000 reports)
    else:
        fn()  # warm-up
    runs = [timed(fn)[1:] for _ in range(n)]
    return {"wall_ms": round(statistics.median(r[0] for r in runs) * 1000, 2),
            "cpu_ms": round(statistics.median(r[1] for r in runs) * 1000, 2)}

b = read_e2b(Path(sys.argv[1]))
reports = []
for i, r in enumerate(b.loaded):
    case = r.case
    name = "KYMRIAH" if i % 3 == 0 else ("YESCARTA" if i % 7 == 0 else None)
    if name:
        drugs = tuple(d.model_copy(update={"name": name}) if d.suspect else d for d in case.drugs)
        case = case.model_copy(update={"drugs": drugs})
    reports.append(StoredReport(case, "e2b", r.file, r.sha256, r.xpath, r.importer))
topics = load_topics()
ref = Reference(products=load_products(), rsi=load_safety_info(topics=topics), topics=topics)
kwargs = {}
try:
    from cgtvigil.cases import case_indexer
    kwargs["index"] = case_indexer(ref)
except ImportError:
    pass  # before the change: no index stored at add time
out = {"reports": len(reports)}
with tempfile.TemporaryDirectory() as d:
    db = Path(d) / "cases.duckdb"
    with CaseStore(db, **kwargs) as store:
        n, s, cpu = timed(lambda: store.add(reports, []))
    out["add"] = {"stored": n, "wall_s": round(s, 3), "cpu_s": round(cpu, 3),
                  "wall_ms_per_report": round(s * 1000 / n, 3), "cpu_ms_per_report": round(cpu * 1000 / n, 3)}
    engine = operational_engine(f"sqlite:///{Path(d) / 'op.db'}")
    now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    with session_factory(engine)() as session:
        sent = [r.case for r in reports[:200]]
        record_submissions(session, sent, receiver="ZZFDA", batch_id="B1", actor="bench", at=now - timedelta(days=3))
        session.commit()
        scopes = {"administrator": Scope(actor="adm", cases=frozenset()),
                  "sponsor (Kymriah)": Scope(actor="sp", cases=frozenset({"kymriah"})),
                  "regulator reviewer": Scope(actor="reg", public_cases=True)}
        out["list"] = {}
        if QUICK:
            scopes.pop("sponsor (Kymriah)")
        for who, scope in scopes.items():
            if QUICK:
                first = None
                row = {"page_1": median_of(lambda scope=scope: case_list(db, session, scope, ref, today=now.date(),
                                                                        now=now, page=1))}
                out["list"][who] = row
                continue
            first = case_list(db, session, scope, ref, today=now.date(), now=now, page=1)
            def page(p, scope=scope):
                return case_list(db, session, scope, ref, today=now.date(), now=now, page=p)
            row = {"in_scope": first.total, "page_1": median_of(lambda: page(1))}
            if first.total > 49 * 100:
                row["page_50"] = median_of(lambda: page(50))
            out["list"][who] = row
        ids = [r.case.case_id for r in reports[:: max(1, len(reports) // 5)]][: 1 if QUICK else 5]
        pages = [median_of(lambda i=i: case_detail(db, session, scopes["administrator"], ref, i, today=now.date(),
                                                    now=now), n=3) for i in ids]
        out["case_page"] = {"cases": len(ids), "wall_ms": statistics.median(p["wall_ms"] for p in pages),
                            "cpu_ms": statistics.median(p["cpu_ms"] for p in pages)}
    engine.dispose()
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reports", type=int, default=10_000)
    ap.add_argument("--label", default="after")
    ap.add_argument("--src", type=Path, default=None, help="another checkout's src folder (PYTHONPATH)")
    ap.add_argument("--output", type=Path, default=HERE / "cases_results.json")
    ap.add_argument("--quick", action="store_true", help="one cold call each (administrator, reviewer, one case page)")
    args = ap.parse_args()
    WORK.mkdir(exist_ok=True)
    batch = WORK / f"e2b_batch_{args.reports}.xml"
    if not batch.exists():
        build_batch(args.reports, batch)
    if args.src is not None:
        os.environ["PYTHONPATH"] = str(args.src.resolve())
    run = {
        "label": args.label,
        "src": str(args.src) if args.src else "this checkout",
        "load_average_at_start": Path("/proc/loadavg").read_text().split()[:3],
    }
    r = measure(CODE, str(batch), *(["quick"] if args.quick else []))
    if "output" in r:
        r.update(json.loads(str(r.pop("output"))))
    run |= r
    run["load_average_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    results = json.loads(args.output.read_text()) if args.output.exists() else {}
    results["machine"] = machine()
    results.setdefault("runs", {})[args.label] = run
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    if "error" in run:
        print(f"failed: {run['error']}", file=sys.stderr)
        sys.exit(1)
    add = run["add"]
    print(f"{args.label}: {run['reports']} reports; process {run['seconds']} s, peak RSS {run['peak_rss_mb']} MB")
    print(f"{'add':28s} {add['wall_ms_per_report']:>9} ms/report wall {add['cpu_ms_per_report']:>9} ms/report CPU")
    print(f"{'list (who, page)':28s} {'in scope':>9} {'wall ms':>9} {'CPU ms':>9}")
    for who, row in run["list"].items():
        for page in ("page_1", "page_50"):
            if page in row:
                n = row.get("in_scope", "-")
                print(f"{who + ', ' + page:28s} {n!s:>9} {row[page]['wall_ms']:>9} {row[page]['cpu_ms']:>9}")
    cp = run["case_page"]
    print(f"{'case page (median of 5)':28s} {'':>9} {cp['wall_ms']:>9} {cp['cpu_ms']:>9}")


if __name__ == "__main__":
    main()
