"""The FAERS ingest through pyarrow's CSV reader (the fast path, for blocks of lines whose
every line is a record as it stands) and through the repairing reader alone
(``fast_path=False``) gives the same store, table by table, and the same import report: on
the real samples in ``shared/data/faers`` (2017Q2 zip and folder, legacy AERS 2004Q1, the
2012Q4 header quirks), on a synthetic quarter with a Deleted list, and on hostile copies of
the 2017Q2 sample (every kind of damage the repairing reader handles, several at once). The
blocks are made small (4 KiB) so that one member mixes both paths.

Expected counts are the sample's README row counts (DEMO 100, DRUG 328, REAC 286, OUTC 75,
RPSR 2, THER 142, INDI 232) and the lines each hostile edit adds (as in
``tests/faults/test_faers_hostile.py``)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import cgtvigil.ingest._delimited as delimited
from cgtvigil.screening import ImportReport, ingest_faers
from cgtvigil.store import FaersStore, load_products
from cgtvigil.synth import SynthConfig, generate_faers

README = {"demo": 100, "drug": 328, "reac": 286, "outc": 75, "rpsr": 2, "ther": 142, "indi": 232}
_NOT_COMPARED = {"imported_at"}  # the time of the ingest


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """4 KiB blocks, and a count of the blocks each path read (in all, and per member as
    ``<path>:fast`` and ``<path>:repairing``)."""
    monkeypatch.setattr(delimited, "CHUNK_BYTES", 4096)
    seen = {"fast": 0, "repairing": 0}
    parse_fast = delimited.DelimitedReader._parse_fast

    def counted(self: delimited.DelimitedReader, block: bytes, start: int) -> delimited.DelimitedBatch | None:
        out = parse_fast(self, block, start)
        kind = "fast" if out is not None else "repairing"
        seen[kind] += 1
        seen[f"{self._name}:{kind}"] = seen.get(f"{self._name}:{kind}", 0) + 1
        return out

    monkeypatch.setattr(delimited.DelimitedReader, "_parse_fast", counted)
    return seen


def _store_content(store: FaersStore) -> dict[str, list[dict[str, Any]]]:
    tables = [r[0] for r in store.con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
    content = {}
    for table in tables:
        cols = [
            r[0]
            for r in store.con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index", [table]
            ).fetchall()
            if r[0] not in _NOT_COMPARED
        ]
        content[table] = store.query(f"SELECT {', '.join(cols)} FROM {table} ORDER BY ALL").to_pylist()
    return content


def _both(
    tmp_path: Path, seen: dict[str, int], *paths: Path
) -> tuple[dict[str, list[dict[str, Any]]], ImportReport, ImportReport]:
    """Ingest ``paths`` with and without the fast path; the stores and reports must be equal.
    Returns the store's content and both reports."""
    out = []
    for fast in (True, False):
        before = dict(seen)
        with FaersStore(tmp_path / f"{'fast' if fast else 'repairing'}.duckdb") as store:
            report = ingest_faers(list(paths), store, load_products(), fast_path=fast)
            out.append((_store_content(store), report))
        if fast:
            assert seen["fast"] > before["fast"], "the fast path read no block"
        else:
            assert seen == before, "fast_path=False offered a block to pyarrow"
    (fast_content, fast_report), (slow_content, slow_report) = out
    assert fast_content.keys() == slow_content.keys()
    for table in fast_content:
        assert fast_content[table] == slow_content[table], table
    assert fast_report.to_dict() == slow_report.to_dict()
    return fast_content, fast_report, slow_report


def test_real_samples_give_the_same_store(tmp_path: Path, shared: Path, small_blocks: dict[str, int]) -> None:
    faers = shared / "faers"
    pair = faers / "faers_2017q2_aers_2004q1"
    content, report, _ = _both(
        tmp_path,
        small_blocks,
        pair / "faers_ascii_2017q2.zip",
        pair / "aers_ascii_2004q1.zip",
        faers / "faers_2012q4_header_quirks",
    )
    assert len(content["demo"]) == 100 + 100 + 9 and len(content["drug"]) == 328 + 386 + 10
    assert report.cases["cases_after_dedup"] == 209
    assert small_blocks["repairing"] == 0  # every line of the real samples is a record as it stands


def test_a_synthetic_quarter_with_deletions_gives_the_same_store(tmp_path: Path, small_blocks: dict[str, int]) -> None:
    synth = generate_faers(
        tmp_path / "synth",
        load_products(),
        SynthConfig(reports_per_quarter=1500, quarters=("2024Q1", "2024Q2"), seed=7),
    )
    content, report, _ = _both(tmp_path, small_blocks, *synth.zips)
    assert len(content["demo"]) == 3000 and content["deleted_case"] and report.cases["cases"] < 3000
    assert report.cases["deleted_cases"] > 0


def _hostile_quarter(sample: Path, dst: Path) -> Path:
    """The 2017Q2 folder with damage in every member (see the test's docstring)."""
    shutil.copytree(sample, dst)

    def edit(name: str, change: Any) -> None:
        path = dst / name
        path.write_bytes(change(path.read_bytes()))

    def demo(data: bytes) -> bytes:
        lines = data.split(b"\n")
        f2, f3, f4 = (lines[k].split(b"$") for k in (1, 2, 3))
        f2[0] = b" " + f2[0] + b" "  # a key with spaces: trimmed
        f3[0] = b"1" * 26  # KEY_OUT_OF_RANGE
        f4[2] = b"notanumber"  # BAD_VERSION
        good = lines[5].split(b"$")
        too_many = b"$".join([*good[:11], b"NAME$WITH$DOLLARS", *good[12:]])
        broken = b"$".join([b"999" + good[0][3:], b"999" + good[1][3:], *good[2:11], b"LINE ONE"])
        broken += b"\n" + b"CONTINU\xe9D$" + b"$".join(good[12:])  # split record with a cp1252 byte
        lines[1:4] = [b"$".join(f) for f in (f2, f3, f4)]
        body = b"\n".join([*lines[:-1], too_many, b"", broken]) + b"\n"
        return body.replace(b"\n", b"\r\n")  # CRLF line breaks throughout

    edit("DEMO17Q2.txt", demo)
    edit("DRUG17Q2.txt", lambda d: d.replace(b"\n", b"\r"))  # CR-only line breaks
    # REAC: a record over 3 lines (repaired), one over 40 (beyond the cap), 2,000 without '$',
    # a lone CR inside a field, a line over the 1 MiB limit, then 3,000 good lines
    edit(
        "REAC17Q2.txt",
        lambda d: (
            d.replace(b"Pyrexia", b"Pyr\rexia", 1)
            + b"997$887$Cytokine\nrelease\nsyndrome$\n"
            + b"999$888$Pyr"
            + b"\nx" * 38
            + b"\nexia$\n"
            + b"".join(b"%d\t%d\tPyrexia\t\n" % (100000000 + i, 1000000 + i) for i in range(2000))
            + b"0" * (3 << 20)
            + b"\n123$456$Fever$\n"
            + b"".join(b"%d$%d$Fever$\n" % (200000000 + i, 2000000 + i) for i in range(3000))
        ),
    )
    edit("OUTC17Q2.txt", lambda d: d.replace(b"\n", b"\n\xef\xbb\xbf", 1))  # a BOM on the first data line
    (dst / "RPSR17Q2.txt").write_bytes(b"")  # a zero-byte member
    edit("THER17Q2.txt", lambda d: d.replace(b"\n", b"$\n", 40))  # a trailing '$' on some lines
    edit("INDI17Q2.txt", lambda d: d[: len(d) // 2] + b"\xff\xfe" + d[len(d) // 2 :])  # bytes not UTF-8
    return dst


def test_hostile_input_gives_the_same_store(tmp_path: Path, faers_samples: Path, small_blocks: dict[str, int]) -> None:
    folder = _hostile_quarter(faers_samples / "faers_2017q2", tmp_path / "faers_ascii_2017q2")
    content, report, _ = _both(tmp_path, small_blocks, folder)
    by = {f.table: f for f in report.files}
    for f in report.files:
        assert f.read == f.loaded + f.quarantined, f.table
    assert by["demo"].quarantine_reasons == {
        "KEY_OUT_OF_RANGE": 1,
        "BAD_VERSION": 1,
        "TOO_MANY_FIELDS": 1,
        "BLANK_LINE": 1,
    }
    # 100 lines, 2 quarantined for their keys; + 3 bad lines and a record over 2 lines (loaded)
    assert by["demo"].loaded == 100 - 2 + 2 and by["demo"].encodings == {"utf-8": 103, "cp1252": 1}
    assert by["drug"].loaded == README["drug"] and by["drug"].warnings == {"CR_LINE_ENDINGS": 1}
    assert by["reac"].quarantine_reasons == {"TOO_FEW_FIELDS": 40 + 2000, "LINE_TOO_LONG": 1}
    assert by["reac"].loaded == README["reac"] + 3 + 1 + 3000
    assert sum(r["pt"] == "Pyr\rexia" for r in content["reac"]) == 1  # a lone CR in an LF file is a character
    assert by["rpsr"].status == "empty" and by["ther"].loaded == README["ther"]
    assert by["indi"].encodings.get("cp1252", 0) + by["indi"].encodings.get("latin-1", 0) == 1
    assert by["outc"].quarantine_reasons == {"BAD_KEY": 1}  # the BOM is kept: the key is not a number
    assert any(r["raw"].startswith("\ufeff") and r["line"] == 2 for r in content["quarantine"])
    assert any(r["reason"] == "BAD_VERSION" and r["raw"].endswith("\r") for r in content["quarantine"])
    assert [r["pt"] for r in content["reac"] if r["primaryid"] == "997"] == ["Cytokine\nrelease\nsyndrome"]
    reac = f"{folder}:REAC17Q2.txt"
    assert small_blocks[f"{reac}:fast"] > 0 and small_blocks[f"{reac}:repairing"] > 0  # one member, both paths
