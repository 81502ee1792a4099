"""E2B(R3) parse and write throughput (issue 13): reports per second and peak RSS.

The batch: N reports (default 10,000) made from FDA's example messages
(``shared/data/e2b_r3/instances/FAERS2022Scenario*.xml``), taken in turn, each copy with its own
C.1.1, C.1.8.1 and N.2.r.1, in one MCCI_IN200100UV01 file under ``benchmarks/work/``.
Each measurement runs in its own process (``run.measure``: wall time and peak RSS of that
process, imports included); the phase itself is also timed inside the process:

- parse      ``read_e2b`` of the batch file: safe parse (no DTD, limits), every report to the
             canonical model, counts reconciled;
- write      ``read_e2b`` then ``write_e2b_file`` of all the cases, streamed to a file (the
             write phase timed alone; the peak RSS includes the parsed cases);
- store      ``read_e2b`` then ``CaseStore.add`` of all the reports into a new DuckDB file (the
             store phase timed alone: insert, version kind and status of each case);
- validate   ``validate_e2b`` of the written batch against the ICH/HL7 XSDs (lxml).

Usage: python benchmarks/e2b.py [--reports 10000] [--output benchmarks/e2b_results.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lxml import etree
from run import WORK, machine, measure

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data" / "e2b_r3"
NS = "{urn:hl7-org:v3}"

PARSE = """
import json, sys, time
from pathlib import Path
from cgtvigil.ingest import read_e2b
t, c = time.perf_counter(), time.process_time()
b = read_e2b(Path(sys.argv[1]))
s, cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"reports": b.read, "loaded": len(b.loaded), "quarantined": len(b.quarantined), "phase_s": s,
                  "phase_cpu_s": cpu}))
"""

WRITE = """
import json, sys, time
from pathlib import Path
from cgtvigil.ingest import read_e2b
from cgtvigil.reports import write_e2b_file
b = read_e2b(Path(sys.argv[1]))
t, c = time.perf_counter(), time.process_time()
n = write_e2b_file(b.cases, Path(sys.argv[2]), batch_id="BENCH", sender="BENCH", receiver="ZZFDA")
s, cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"reports": n, "bytes": Path(sys.argv[2]).stat().st_size, "phase_s": s, "phase_cpu_s": cpu}))
"""

STORE = """
import json, sys, time, tempfile
from pathlib import Path
from cgtvigil.ingest import read_e2b
from cgtvigil.store import CaseStore, StoredReport
b = read_e2b(Path(sys.argv[1]))
reports = [StoredReport(r.case, "e2b", r.file, r.sha256, r.xpath, r.importer) for r in b.loaded]
with tempfile.TemporaryDirectory() as d, CaseStore(Path(d) / "cases.duckdb") as store:
    t, c = time.perf_counter(), time.process_time()
    n = store.add(reports, [])
    s, cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"reports": n, "phase_s": s, "phase_cpu_s": cpu}))
"""

VALIDATE = """
import json, sys, time
from pathlib import Path
from cgtvigil.reports import validate_e2b
xml = Path(sys.argv[1]).read_bytes()
t, c = time.perf_counter(), time.process_time()
problems = validate_e2b(xml, Path(sys.argv[2]))
s, cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"problems": len(problems), "phase_s": s, "phase_cpu_s": cpu}))
"""


def build_batch(n: int, path: Path) -> None:
    """Write a batch of ``n`` reports made from the FDA examples (one message in memory at a time)."""
    messages = []
    for f in sorted((SHARED / "instances").glob("FAERS2022Scenario*.xml")):
        messages.append(etree.parse(str(f)).getroot().find(NS + "PORR_IN049016UV"))
    head = etree.parse(str(SHARED / "instances" / "FAERS2022Scenario1.xml")).getroot()
    with path.open("wb") as out:
        out.write(
            b'<?xml version="1.0" encoding="UTF-8"?>\n<MCCI_IN200100UV01 xmlns="urn:hl7-org:v3" '
            b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ITSVersion="XML_1.0">\n'
        )
        for tag in ("id", "creationTime", "responseModeCode", "interactionId", "name"):
            out.write(etree.tostring(head.find(NS + tag)))
        for i in range(n):
            msg = messages[i % len(messages)]
            copy = etree.fromstring(etree.tostring(msg))
            copy.find(NS + "id").set("extension", f"BENCH-MSG-{i}")
            ie = copy.find(f"{NS}controlActProcess/{NS}subject/{NS}investigationEvent")
            for el in ie.findall(NS + "id"):
                el.set("extension", f"US-BENCH-{i:06d}")
            out.write(etree.tostring(copy))
        for tag in ("receiver", "sender"):
            out.write(etree.tostring(head.find(NS + tag)))
        out.write(b"</MCCI_IN200100UV01>\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reports", type=int, default=10_000)
    ap.add_argument("--output", type=Path, default=HERE / "e2b_results.json")
    args = ap.parse_args()
    WORK.mkdir(exist_ok=True)
    batch = WORK / f"e2b_batch_{args.reports}.xml"
    written = WORK / f"e2b_written_{args.reports}.xml"
    build_batch(args.reports, batch)
    results: dict[str, object] = {
        "machine": machine(),
        "load_average_at_start": Path("/proc/loadavg").read_text().split()[:3],
        "reports": args.reports,
        "batch_bytes": batch.stat().st_size,
    }
    for name, code, extra in (
        ("parse", PARSE, ()),
        ("write", WRITE, (str(written),)),
        ("store", STORE, ()),
        ("validate", VALIDATE, (str(SHARED / "schemas"),)),
    ):
        arg = str(written) if name == "validate" else str(batch)
        r = measure(code, arg, *extra)
        if "output" in r:
            r.update(json.loads(str(r.pop("output"))))
            r["reports_per_s"] = round(args.reports / float(r["phase_s"]), 1)
            r["reports_per_cpu_s"] = round(args.reports / float(r["phase_cpu_s"]), 1)
            r["phase_s"] = round(float(r["phase_s"]), 3)
            r["phase_cpu_s"] = round(float(r["phase_cpu_s"]), 3)
        results[name] = r
        print(f"{name:9s} {json.dumps(r)}", file=sys.stderr)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    cols = ("phase_s", "phase_cpu_s", "reports_per_s", "reports_per_cpu_s", "seconds", "peak_rss_mb")
    print(f"{'phase':9s} " + " ".join(f"{c:>17s}" for c in cols))
    for name in ("parse", "write", "store", "validate"):
        r = results[name]
        assert isinstance(r, dict)
        print(f"{name:9s} " + " ".join(f"{r.get(c, '-')!s:>17s}" for c in cols))


if __name__ == "__main__":
    main()
