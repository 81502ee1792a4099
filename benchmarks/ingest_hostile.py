"""Ingest time and peak memory on hostile FAERS quarters (review 2026-12-reliability D5).

Each case is the real 2017Q2 sample (``shared/data/faers/faers_2017q2_aers_2004q1``) with its
REAC member replaced by hostile content, written by streaming (nothing large is built in
memory); each ingest runs in its own process (``run.measure``: wall time and peak RSS of that
process, imports included) into a new DuckDB store, through ``ingest_faers``.

- clean          the sample as it is (the baseline);
- no-dollar-N    REAC followed by N tab-delimited lines without ``$`` (the review's quadratic case:
                 5k/10k/20k lines took 7/23/88 s); all N lines are quarantined;
- long-line      a folder whose REAC holds one 2 GiB line without a newline (the review's zip-bomb
                 content, unzipped: 8.4 GB RSS then ArrowCapacityError);
- bomb-zip       the review's 2 MB zip with that 2 GiB member: refused by its compression ratio;
- lines-zip      the review's 6 MB zip of 2 GiB of 64-byte lines without ``$``: refused by ratio;
- lines-allowed  the same content at 256 MiB with the ratio limit lifted, so all 4.2M lines are
                 read and quarantined (written to the store in batches, as they are found).

Usage: python benchmarks/ingest_hostile.py [--output benchmarks/ingest_hostile_results.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import zipfile
from pathlib import Path

from run import WORK, machine, measure

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent.parent / "shared" / "data" / "faers" / "faers_2017q2_aers_2004q1" / "faers_2017q2"

INGEST = """
import json, sys, warnings
from pathlib import Path
from cgtvigil.errors import CgtVigilError
from cgtvigil.ingest import IngestLimits
from cgtvigil.screening import ingest_faers
from cgtvigil.store import FaersStore, load_products
warnings.simplefilter("ignore")
db = Path(sys.argv[2])
db.unlink(missing_ok=True)
limits = IngestLimits(max_ratio=float("inf")) if sys.argv[3] == "no-ratio-limit" else IngestLimits()
try:
    with FaersStore(db) as store:
        r = ingest_faers([Path(sys.argv[1])], store, load_products(), limits=limits)
    reac = next(f for f in r.files if f.table == "reac")
    print(json.dumps({"reac_read": reac.read, "reac_loaded": reac.loaded, "reac_quarantined": reac.quarantined,
                      "reasons": reac.quarantine_reasons}))
except CgtVigilError as exc:
    print(json.dumps({"refused": str(exc)[-160:]}))
"""

GIB = 1 << 30


def _lines_without_dollar(n: int) -> bytes:
    return b"".join(b"%d\t%d\tPyrexia\t\n" % (100000000 + i, 1000000 + i) for i in range(n))


def folder(name: str, write_reac) -> Path:  # type: ignore[no-untyped-def]
    out = WORK / "hostile" / name / "faers_ascii_2017q2"
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(SAMPLE, out)
    with (out / "REAC17Q2.txt").open("ab") as w:
        write_reac(w)
    return out


def zipped(name: str, write_reac) -> Path:  # type: ignore[no-untyped-def]
    out = WORK / "hostile" / name / "faers_ascii_2017q2.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for p in sorted(SAMPLE.iterdir()):
            if p.name != "REAC17Q2.txt":
                zf.writestr(f"ascii/{p.name}", p.read_bytes())
        with zf.open("ascii/REAC17Q2.txt", "w", force_zip64=True) as w:
            w.write((SAMPLE / "REAC17Q2.txt").read_bytes())
            write_reac(w)
    return out


def _repeat(block: bytes, total: int):  # type: ignore[no-untyped-def]
    def write(w) -> None:  # type: ignore[no-untyped-def]
        for _ in range(total // len(block)):
            w.write(block)

    return write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=HERE / "ingest_hostile_results.json")
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    zeros = b"0" * (16 << 20)
    lines = (b"0" * 63 + b"\n") * (1 << 18)
    cases: list[tuple[str, Path, str]] = [("clean", SAMPLE, "")]
    for n in (20_000, 80_000, 320_000):
        cases.append(
            (f"no-dollar-{n // 1000}k", folder(f"nd{n}", lambda w, n=n: w.write(_lines_without_dollar(n))), "")
        )
    cases.append(("long-line-2GiB", folder("long", _repeat(zeros, 2 * GIB)), ""))
    cases.append(("bomb-zip-2GiB", zipped("bomb", _repeat(zeros, 2 * GIB)), ""))
    cases.append(("lines-zip-2GiB", zipped("lines", _repeat(lines, 2 * GIB)), ""))
    cases.append(("lines-allowed-256MiB", zipped("lines256", _repeat(lines, GIB // 4)), "no-ratio-limit"))
    results: dict[str, object] = {"machine": machine(), "cases": []}
    for name, path, mode in cases:
        size = sum(p.stat().st_size for p in path.iterdir()) if path.is_dir() else path.stat().st_size
        row = {
            "case": name,
            "input_bytes": size,
            **measure(INGEST, str(path), str(WORK / "hostile.duckdb"), mode or "-"),
        }
        results["cases"].append(row)  # type: ignore[attr-defined]
        print(json.dumps(row), flush=True)
    shutil.rmtree(WORK / "hostile")  # the 2 GiB folder case
    args.output.write_text(json.dumps(results, indent=2))
    print()
    print(f"{'case':<22} {'input':>10} {'seconds':>8} {'peak RSS':>9}  outcome")
    for r in results["cases"]:  # type: ignore[attr-defined]
        out = json.loads(r["output"]) if r.get("output", "").startswith("{") else {"error": r.get("error")}
        what = (
            out.get("refused")
            or out.get("error")
            or f"REAC read {out['reac_read']:,}, quarantined {out['reac_quarantined']:,} {out['reasons']}"
        )
        mb = r["input_bytes"] / 1e6
        print(f"{r['case']:<22} {mb:>8.1f}MB {r['seconds']:>8.2f} {r['peak_rss_mb']:>7.0f}MB  {str(what)[:110]}")


if __name__ == "__main__":
    sys.exit(main())
