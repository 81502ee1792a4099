"""All of FAERS on one machine (issue 17 target 3): a SYNTHETIC FAERS history through every stage.

The history (``cgtvigil.synth.generate_history``: 2004Q1-2026Q2, about 22M reports at scale 1,
legacy AERS to 2012Q3, follow-up versions, deleted cases from 2019Q1) is generated once, one
quarter at a time, into ``benchmarks/work/history_<quarters>q_s<scale>/`` (not a stage; its
time and peak RSS are recorded but cached runs skip it). It holds the N quarters of the store
plus the next quarter of the timeline, the "new" quarter. Then each stage runs in its own
process (``run.measure``: wall time, CPU time user + sys, peak RSS of that process, imports
included), with the load average before and after:

- ingest        ``ingest_faers`` of the N quarters into a new store: parsing and loading, then
                the case rebuild (de-duplication) and the drug map, split by its checkpoints
                (time and RSS sampled every 0.1 s per step); reports/s over the whole call;
- dedup         ``rebuild_cases`` alone on the full store (the case view from every version);
- drugmap       ``refresh_drug_map`` alone (every distinct drugname/prod_ai pair mapped);
- screen_all    ``screen_store`` of every drug against every PT and topic (``products_only``
                off; PRR, ROR, IC, EBGM with the prior fitted on all pairs);
- screen_cgt    ``screen_store`` of the CAR-T products against PTs and topics (the default
                spec, what ``cgtvigil signals`` runs);
- incremental   the new quarter ingested into a copy of the full store (the copy is not
                timed), split by the checkpoints into its load, case rebuild and drug map;
- new_alone     the same new quarter into an empty store: what one quarter costs on its own;
- incremental_half  (unless ``--no-growth``) the same new quarter into a store of the first
                N/2 quarters (built by ``ingest_half``, also measured): how the cost of one
                quarter grows with the size of the store it is added to;
- quarter_at_scale_1  (only when named in ``--stages``) a 450,000-report quarter (2026Q2 at
                scale 1) generated on its own and ingested into an empty store: the load rate
                of a full-size quarter, for the extrapolation.

Usage: python benchmarks/faers_history.py [--quarters N] [--scale F] [--no-growth]
         [--src DIR] [--output benchmarks/faers_history_results.json]
  --quarters N  the first N quarters of the timeline (default: all 89 before the new one, 2026Q2)
  --scale F     reports per quarter times F (default 1: the full ~22M; 0.1 for 2.2M)
  --stages a,b  only these stages (default all but quarter_at_scale_1, a 450k-report quarter
                ingested alone); stages measured before and not repeated stay in the JSON
  --src DIR     run the stages against the cgtvigil package in DIR/src (e.g. a `git archive`
                of a commit while the working tree is being edited); recorded in the JSON
Disk: about 650 bytes of zip per report, plus the stores (see the JSON's ``disk``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import run
from run import WORK, machine

HERE = Path(__file__).resolve().parent

GENERATE = """
import json, sys, time
from pathlib import Path
from cgtvigil.store import load_products
from cgtvigil.synth import HistoryConfig, generate_history
cfg = HistoryConfig(quarters=int(sys.argv[2]), scale=float(sys.argv[3]))
if len(sys.argv) > 4:  # one quarter of today's size on its own: 2026Q2, 450,000 reports
    cfg = HistoryConfig(first_quarter="2026Q2", last_quarter="2026Q2", first_reports=450_000)
t = time.perf_counter()
def progress(message, i, n):
    print(f"{i}/{n} {message} {time.perf_counter() - t:.0f}s", file=sys.stderr, flush=True)
r = generate_history(Path(sys.argv[1]), load_products(), cfg, progress=progress)
print(json.dumps({"reports": r.reports, "cases": r.cases, "deleted_listed": r.deleted, "quarters": len(r.zips)}))
"""

LIMIT = """
import os
# --memory-limit: DuckDB's memory_limit on the store's connection (FaersStore(memory_limit=...),
# as the commands pass CGTVIGIL_DUCKDB_MEMORY_LIMIT); "none": DuckDB's default, 80 % of RAM;
# unset: the store's default (2GB since the store sets one; before that, DuckDB's)
_limit = os.environ.get("BENCH_DUCKDB_MEMORY_LIMIT", "")
LIMIT = {"memory_limit": None if _limit == "none" else _limit} if _limit else {}
"""

INGEST = (
    LIMIT
    + """
import json, os, sys, time, warnings
from pathlib import Path
from cgtvigil.screening import ingest_faers
from cgtvigil.store import FaersStore, load_products
warnings.simplefilter("ignore")
zips = [Path(p) for p in json.loads(Path(sys.argv[2]).read_text())]
import threading
marks, step, peak = {}, ["load"], {}
def rss_mb():
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
def sample():  # the peak RSS of each step, sampled every 0.1 s
    while True:
        peak[step[0]] = max(peak.get(step[0], 0), rss_mb())
        time.sleep(0.1)
threading.Thread(target=sample, daemon=True).start()
t0, c0 = time.perf_counter(), time.process_time()
def checkpoint(name):
    if name in ("dedup", "drugmap", "done"):
        marks[name] = (time.perf_counter() - t0, time.process_time() - c0)
        step[0] = name
with FaersStore(Path(sys.argv[1]), **LIMIT) as store:
    report = ingest_faers(zips, store, load_products(), checkpoint=checkpoint)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
demo = sum(f.loaded for f in report.files if f.table == "demo")
print(json.dumps({
    "reports_loaded": demo, **report.cases, "drug_map": sum(report.drug_mapping.values()),
    "phase_s": round(wall, 2), "phase_cpu_s": round(cpu, 2), "reports_per_s": round(demo / wall),
    "load_s": round(marks["dedup"][0], 2), "load_cpu_s": round(marks["dedup"][1], 2),
    "dedup_s": round(marks["drugmap"][0] - marks["dedup"][0], 2),
    "dedup_cpu_s": round(marks["drugmap"][1] - marks["dedup"][1], 2),
    "drugmap_s": round(marks["done"][0] - marks["drugmap"][0], 2),
    "drugmap_cpu_s": round(marks["done"][1] - marks["drugmap"][1], 2),
    "peak_rss_mb_by_step": {k: round(v) for k, v in peak.items()},
}))
"""
)

DEDUP = (
    LIMIT
    + """
import json, os, sys, time
from cgtvigil.store import FaersStore, rebuild_cases
with FaersStore(sys.argv[1], **LIMIT) as store:
    t, c = time.perf_counter(), time.process_time()
    counts = rebuild_cases(store)
print(json.dumps({**counts, "phase_s": round(time.perf_counter() - t, 2),
                  "phase_cpu_s": round(time.process_time() - c, 2)}))
"""
)

DRUGMAP = (
    LIMIT
    + """
import json, os, sys, time
from cgtvigil.screening import refresh_drug_map
from cgtvigil.store import FaersStore, load_products
with FaersStore(sys.argv[1], **LIMIT) as store:
    t, c = time.perf_counter(), time.process_time()
    counts = refresh_drug_map(store, load_products())
print(json.dumps({"pairs": sum(counts.values()), **counts, "phase_s": round(time.perf_counter() - t, 2),
                  "phase_cpu_s": round(time.process_time() - c, 2)}))
"""
)

SCREEN = (
    LIMIT
    + """
import json, os, sys, time, warnings
from cgtvigil.model import SignalSpec
from cgtvigil.screening import open_screen_store, screen_store
from cgtvigil.store import load_products, load_topics
warnings.simplefilter("ignore")
spec = SignalSpec(products_only=sys.argv[2] == "cgt")
with open_screen_store(sys.argv[1]) as store:
    if LIMIT:
        store.limit_memory(LIMIT["memory_limit"])
    t, c = time.perf_counter(), time.process_time()
    r = screen_store(store, spec, load_products(), load_topics())
levels = r.table.column("event_type").to_pylist()
print(json.dumps({"rows": r.table.num_rows, "pt_rows": levels.count("pt"), "topic_rows": levels.count("topic"),
                  "phase_s": round(time.perf_counter() - t, 2), "phase_cpu_s": round(time.process_time() - c, 2)}))
"""
)


def _load() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def _stage(name: str, code: str, *args: str, env: dict[str, str] | None = None) -> dict:
    before = _load()
    started = time.strftime("%H:%M:%S", time.gmtime())
    old = dict(os.environ)
    if env:
        os.environ.update(env)
    try:
        r = run.measure(code, *args)
    finally:
        os.environ.clear()
        os.environ.update(old)
    out: dict = {"stage": name, "started_utc": started, "load_before": before, "load_after": _load(), **r}
    if "output" in out:
        try:
            out.update(json.loads(str(out.pop("output"))))
        except json.JSONDecodeError:
            pass
    print(json.dumps(out), file=sys.stderr, flush=True)
    return out


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _store_size(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quarters", type=int, default=89, help="quarters in the store (the next one is the new quarter)"
    )
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--no-growth", action="store_true", help="skip the half-size store and its incremental ingest")
    parser.add_argument(
        "--memory-limit",
        help="DuckDB memory_limit on the store's connection in every stage, e.g. 1GB, or 'none' for DuckDB's "
        "default (80%% of RAM); default: the store's own (2GB, as CGTVIGIL_DUCKDB_MEMORY_LIMIT's default)",
    )
    parser.add_argument("--src", type=Path, help="run the stages with DIR/src first on PYTHONPATH")
    parser.add_argument("--stages", default="ingest,dedup,drugmap,screen_all,screen_cgt,incremental,new_alone,growth")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--report", action="store_true", help="only re-print the table and extrapolation of --output")
    args = parser.parse_args()
    tag = f"history_{args.quarters}q_s{args.scale:g}"
    folder = WORK / tag
    output = args.output or HERE / f"faers_history_results_{args.quarters}q_s{args.scale:g}.json"
    env = {"PYTHONPATH": str((args.src / "src").resolve())} if args.src else {}
    if args.memory_limit:
        env["BENCH_DUCKDB_MEMORY_LIMIT"] = args.memory_limit
        output = (
            args.output or HERE / f"faers_history_results_{args.quarters}q_s{args.scale:g}_mem{args.memory_limit}.json"
        )
    stages = set(args.stages.split(","))
    if args.report:
        results = json.loads(output.read_text())
        results["extrapolation"] = extrapolate(results)
        output.write_text(json.dumps(results, indent=2) + "\n")
        print_table(results)
        return
    WORK.mkdir(exist_ok=True)
    print(f"df before: {shutil.disk_usage(WORK).free / 1e9:.1f} GB free", file=sys.stderr)
    results: dict = {
        "machine": machine(),
        "quarters": args.quarters,
        "scale": args.scale,
        "src": str(args.src) if args.src else "working tree",
        "duckdb_memory_limit": args.memory_limit or "the store's default (2GB; DuckDB's 80% of RAM before it had one)",
        "src_commit": (args.src / "COMMIT").read_text().strip()
        if args.src and (args.src / "COMMIT").exists()
        else None,
        "commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=HERE).stdout.strip(),
        "stages": {},
    }
    manifest = folder / "synthetic_manifest.json"
    if not manifest.exists():
        # N + 1 quarters: the store's and the new one
        results["generate"] = _stage(
            "generate", GENERATE, str(folder), str(args.quarters + 1), str(args.scale), env=env
        )
    doc = json.loads(manifest.read_text())
    zips = [folder / q["path"] for q in doc["quarters"]]
    store_zips, new_zip = zips[: args.quarters], zips[args.quarters]
    half_zips = store_zips[: max(1, args.quarters // 2)]
    results["history"] = {
        "reports": sum(q["reports"] for q in doc["quarters"][: args.quarters]),
        "cases": sum(q["new_cases"] for q in doc["quarters"][: args.quarters]),
        "first": doc["quarters"][0]["quarter"],
        "last": doc["quarters"][args.quarters - 1]["quarter"],
        "new_quarter": {k: doc["quarters"][args.quarters][k] for k in ("quarter", "reports", "followups", "deleted")},
        "half_reports": sum(q["reports"] for q in doc["quarters"][: len(half_zips)]),
        "rows": {t: sum(q["rows"][t] for q in doc["quarters"][: args.quarters]) for t in doc["quarters"][0]["rows"]},
    }
    lists = {}
    for name, paths in (("store", store_zips), ("new", [new_zip]), ("half", half_zips)):
        lists[name] = folder / f"{name}_zips.json"
        lists[name].write_text(json.dumps([str(p) for p in paths]))
    db = folder / "history.duckdb"
    half = folder / "half.duckdb"
    copy = folder / "incremental.duckdb"
    if output.exists():  # keep the stages measured before that this run does not repeat
        before = json.loads(output.read_text())
        results["stages"] = {k: v for k, v in before.get("stages", {}).items() if k not in stages}
        if "generate" in before:
            results["generate"] = before["generate"]
    s = results["stages"]

    def fresh(path: Path) -> None:
        for p in path.parent.glob(path.name + "*"):
            p.unlink()

    if "ingest" in stages or not db.exists():
        stages.add("ingest")
        fresh(db)
        s["ingest"] = _stage("ingest", INGEST, str(db), str(lists["store"]), env=env)
    if "dedup" in stages:
        s["dedup"] = _stage("dedup", DEDUP, str(db), env=env)
    if "drugmap" in stages:
        s["drugmap"] = _stage("drugmap", DRUGMAP, str(db), env=env)
    if "screen_all" in stages:
        s["screen_all"] = _stage("screen_all", SCREEN, str(db), "all", env=env)
    if "screen_cgt" in stages:
        s["screen_cgt"] = _stage("screen_cgt", SCREEN, str(db), "cgt", env=env)
    if "incremental" in stages:
        fresh(copy)
        shutil.copyfile(db, copy)
        s["incremental"] = _stage("incremental", INGEST, str(copy), str(lists["new"]), env=env)
        s["incremental"]["store_reports_before"] = results["history"]["reports"]
        fresh(copy)
    if "new_alone" in stages:  # what one quarter costs on its own: the target for the incremental case
        alone = folder / "new_alone.duckdb"
        fresh(alone)
        s["new_alone"] = _stage("new_alone", INGEST, str(alone), str(lists["new"]), env=env)
        fresh(alone)
    if "quarter_at_scale_1" in stages:  # a 450,000-report quarter alone: the load of one quarter today
        one = WORK / "history_one_quarter_2026q2"
        if not (one / "synthetic_manifest.json").exists():
            _stage("generate_one", GENERATE, str(one), "1", "1", "one", env=env)
        alone = one / "alone.duckdb"
        (one / "zips.json").write_text(json.dumps([str(p) for p in sorted(one.glob("*.zip"))]))
        fresh(alone)
        s["quarter_at_scale_1"] = _stage("quarter_at_scale_1", INGEST, str(alone), str(one / "zips.json"), env=env)
        fresh(alone)
    if "growth" in stages and not args.no_growth:
        fresh(half)
        s["ingest_half"] = _stage("ingest_half", INGEST, str(half), str(lists["half"]), env=env)
        s["incremental_half"] = _stage("incremental_half", INGEST, str(half), str(lists["new"]), env=env)
        s["incremental_half"]["store_reports_before"] = results["history"]["half_reports"]
        fresh(half)
    results["disk"] = {"zips_bytes": sum(_size(z) for z in zips), "store_bytes": _store_size(db)}
    results["extrapolation"] = extrapolate(results)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)


def extrapolate(results: dict) -> dict:
    """From this run to the full history (``HistoryConfig()`` at scale 1, the 89 quarters before
    2026Q2), linear in reports, from the in-process phase times (the whole-process figures add
    the imports, about constant). The loads, the case rebuild and the counting are scans, sorts
    and hash aggregates: a sort or a hash table that spills to disk at the full size can make it
    slower than linear, so these are floors, not promises. The incremental quarter at scale 1 is
    k times larger and goes into a k times larger store: every part times k; its load depends
    on the quarter, its case rebuild and drug map grow with the store's reports (measured with
    the same quarter into two store sizes)."""
    from cgtvigil.synth import HistoryConfig

    full = sum(n for _, n in HistoryConfig().sizes()[:-1])
    have = results["history"]["reports"]
    k = full / have
    out: dict = {"full_reports": full, "measured_reports": have, "factor": round(k, 2)}
    for name in ("ingest", "dedup", "drugmap", "screen_all", "screen_cgt"):
        st = results["stages"].get(name, {})
        if "phase_s" in st:
            out[name] = {"phase_s": round(st["phase_s"] * k), "phase_cpu_s": round(st["phase_cpu_s"] * k)}
            out[name]["peak_rss_mb_measured"] = st["peak_rss_mb"]
    one = results["stages"].get("quarter_at_scale_1", {})
    if "load_cpu_s" in one and "ingest" in out:
        # small quarters pay a per-quarter cost (transaction, member set-up): the load of the
        # full history from the rate of a full-size quarter instead
        rate = one["reports_loaded"] / one["load_cpu_s"]
        out["ingest"]["load_cpu_s_at_the_rate_of_a_450k_quarter"] = round(full / rate)
        out["ingest"]["load_reports_per_cpu_s"] = {
            "this_run": round(have / results["stages"]["ingest"]["load_cpu_s"]),
            "450k_quarter": round(rate),
        }
    inc, half = results["stages"].get("incremental", {}), results["stages"].get("incremental_half", {})
    alone = results["stages"].get("new_alone", {})
    if "phase_s" in inc:
        # at scale 1 the new quarter and the store are both k times larger: every part times k
        out["incremental"] = {
            "phase_s": round(inc["phase_s"] * k),
            "phase_cpu_s": round(inc["phase_cpu_s"] * k),
            "parts_cpu_s": {p: round(inc[f"{p}_cpu_s"] * k) for p in ("load", "dedup", "drugmap")},
        }
        if "phase_s" in alone:
            out["incremental"]["cpu_ratio_to_the_quarter_alone"] = round(inc["phase_cpu_s"] / alone["phase_cpu_s"], 1)
            out["incremental"]["wall_ratio_to_the_quarter_alone"] = round(inc["phase_s"] / alone["phase_s"], 1)
    if "phase_s" in inc and "phase_s" in half:
        # the same quarter into two store sizes: what grows with the store
        n1, n2 = half["store_reports_before"], inc["store_reports_before"]
        out["incremental_growth"] = {
            part: {
                f"cpu_s_at_{n1}": half[f"{part}_cpu_s"],
                f"cpu_s_at_{n2}": inc[f"{part}_cpu_s"],
                "cpu_s_per_million_store_reports": round(
                    (inc[f"{part}_cpu_s"] - half[f"{part}_cpu_s"]) / (n2 - n1) * 1e6, 2
                ),
            }
            for part in ("load", "dedup", "drugmap")
        }
    return out


def print_table(results: dict) -> None:
    h = results["history"]
    print(
        f"\nSYNTHETIC FAERS history {h['first']}..{h['last']}: {h['reports']:,} reports, {h['cases']:,} cases "
        f"(scale {results['scale']:g}); new quarter {h['new_quarter']['quarter']} ({h['new_quarter']['reports']:,})"
    )
    head = ("stage", "wall s", "CPU s", "peak RSS MB", "phase s", "load before", "detail")
    print(f"{head[0]:17s} {head[1]:>8s} {head[2]:>8s} {head[3]:>11s} {head[4]:>8s} {head[5]:>12s}  {head[6]}")
    for name, st in results["stages"].items():
        if "error" in st:
            print(f"{name:17s} error: {st['error']}")
            continue
        detail = ""
        if "load_s" in st:
            detail = (
                f"load {st['load_s']} s, dedup {st['dedup_s']} s, drug map {st['drugmap_s']} s, "
                f"{st['reports_per_s']:,} reports/s"
            )
        elif "rows" in st:
            detail = f"{st['rows']:,} rows ({st['pt_rows']:,} PT, {st['topic_rows']:,} topic)"
        load = "/".join(f"{x:.1f}" for x in st["load_before"])
        print(
            f"{name:17s} {st['seconds']:>8.1f} {st['cpu_seconds']:>8.1f} {st['peak_rss_mb']:>11.0f} "
            f"{st.get('phase_s', 0):>8.1f} {load:>12s}  {detail}"
        )
    print(json.dumps(results["extrapolation"], indent=1))


if __name__ == "__main__":
    main()
