"""Hostile and odd FAERS input (review 2026-12-reliability D2, D5, D12, D21, D22, D24; matrix
§1.2), built from the real 2017Q2 sample (``shared/data/faers/faers_2017q2_aers_2004q1``).

Expected counts are the sample's README row counts (DEMO 100, DRUG 328, REAC 286, OUTC 75,
RPSR 2, THER 142, INDI 232) and the lines each test adds. Hostile zips are written by
streaming, so nothing large is ever held in memory or on disk.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import pytest

from cgtvigil.errors import ArchiveError, IngestError, ParseError
from cgtvigil.ingest import IngestLimits
from cgtvigil.screening import ImportReport, ingest_faers
from cgtvigil.store import FaersStore, load_products

pytestmark = pytest.mark.faults

README = {"demo": 100, "drug": 328, "reac": 286, "outc": 75, "rpsr": 2, "ther": 142, "indi": 232}


@pytest.fixture
def sample(faers_samples: Path) -> Path:
    return faers_samples / "faers_2017q2"


def _copy(sample: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "faers_ascii_2017q2"
    shutil.copytree(sample, dst)
    return dst


def _ingest(tmp_path: Path, *paths: Path, limits: IngestLimits | None = None) -> tuple[FaersStore, ImportReport]:
    store = FaersStore(tmp_path / "s.duckdb")
    return store, ingest_faers(list(paths), store, load_products(), limits=limits)


def _count(store: FaersStore, sql: str) -> int:
    return int(store.query(sql).column(0)[0].as_py())


def _nothing_stored(tmp_path: Path) -> None:
    with FaersStore(tmp_path / "s.duckdb") as store:
        assert _count(store, "SELECT count(*) FROM source_file") == 0
        assert _count(store, "SELECT count(*) FROM demo") == 0


def _zip(
    sample: Path, out: Path, *, replace: dict[str, bytes] | None = None, method: int = zipfile.ZIP_DEFLATED
) -> Path:
    with zipfile.ZipFile(out, "w", method) as zf:
        for p in sorted(sample.iterdir()):
            zf.writestr(f"ascii/{p.name}", (replace or {}).get(p.name, p.read_bytes()))
    return out


# -- D2: line endings, giant headers, zero-byte members -------------------------------------


def test_cr_only_line_endings_are_line_breaks(tmp_path: Path, sample: Path) -> None:
    """Review D2 / matrix 2.19: DRUG with CR-only line endings loaded 0 of 328 records with
    status 'loaded' (one giant header). Now CR is a line break: all 328 load."""
    folder = _copy(sample, tmp_path)
    drug = folder / "DRUG17Q2.txt"
    drug.write_bytes(drug.read_bytes().replace(b"\n", b"\r"))
    store, report = _ingest(tmp_path, folder)
    f = next(f for f in report.files if f.table == "drug")
    assert (f.read, f.loaded, f.quarantined, f.status) == (328, 328, 0, "loaded")
    assert f.warnings == {"CR_LINE_ENDINGS": 1}
    assert _count(store, "SELECT count(*) FROM drug") == 328


def test_a_header_with_far_more_fields_than_any_layout_is_refused(tmp_path: Path, sample: Path) -> None:
    """Review D2: a header of 6,233 fields was taken as 6,221 unknown columns; now it is an
    error naming the file and line 1, and nothing of the quarter is stored."""
    folder = _copy(sample, tmp_path)
    drug = folder / "DRUG17Q2.txt"
    lines = drug.read_bytes().split(b"\n")
    drug.write_bytes(b"\n".join([lines[0] + b"$x" * 6000, *lines[1:]]))
    with pytest.raises(ParseError, match=r"DRUG17Q2.txt, line 1: the header has 6,0\d\d fields, far more"):
        _ingest(tmp_path, folder)
    _nothing_stored(tmp_path)


def test_a_zero_byte_member_loads_as_an_empty_table_with_a_warning(tmp_path: Path, sample: Path) -> None:
    """Review D21 / matrix 2.16: a 0-byte RPSR (the 5th member) was a hard error that left
    DEMO..OUTC committed and no case view. Now it loads as empty, with a warning, and the
    quarter is complete."""
    folder = _copy(sample, tmp_path)
    (folder / "RPSR17Q2.txt").write_bytes(b"")
    _, report = _ingest(tmp_path, folder)
    by = {f.table: f for f in report.files}
    assert (by["rpsr"].status, by["rpsr"].read, by["rpsr"].warnings) == ("empty", 0, {"EMPTY_FILE": 1})
    assert {t: by[t].loaded for t in README if t != "rpsr"} == {t: n for t, n in README.items() if t != "rpsr"}
    assert report.cases["cases"] == 100


def test_a_bad_later_header_stores_nothing(tmp_path: Path, sample: Path) -> None:
    """Review D21 / matrix 2.17: DRUG lacking `drugname` left DEMO committed. Every header is
    now checked before anything is written."""
    folder = _copy(sample, tmp_path)
    drug = folder / "DRUG17Q2.txt"
    drug.write_text(drug.read_text().replace("$drugname$", "$drug_name$", 1))
    with pytest.raises(ParseError, match="missing required column"):
        _ingest(tmp_path, folder)
    _nothing_stored(tmp_path)


# -- D5: bounded repair, line length, zip bombs ---------------------------------------------


def test_repair_joins_at_most_max_record_lines(tmp_path: Path, sample: Path) -> None:
    """Review D5 (the join loop scanned to the end of the chunk for every line without `$`):
    a record split over 40 physical lines is no longer joined (the cap is 32); each of its
    lines is quarantined. One split over 3 lines is still repaired. The review's 20,000 lines
    without `$` all end up quarantined."""
    folder = _copy(sample, tmp_path)
    reac = folder / "REAC17Q2.txt"
    text = reac.read_bytes()
    long_record = b"999$888$Pyr" + b"\nx" * 38 + b"\nexia$"  # 3 + 0 * 38 + 1 = 4 fields over 40 lines
    short_record = b"997$887$Cytokine\nrelease\nsyndrome$"  # 4 fields over 3 lines
    no_dollar = b"".join(b"%d\t%d\tPyrexia\t\n" % (100000000 + i, 1000000 + i) for i in range(20000))
    reac.write_bytes(text + short_record + b"\n" + long_record + b"\n" + no_dollar)
    store, report = _ingest(tmp_path, folder)
    f = next(f for f in report.files if f.table == "reac")
    assert f.read == 286 + 40 + 3 + 20000
    assert f.loaded == 286 + 3
    assert f.quarantine_reasons == {"TOO_FEW_FIELDS": 40 + 20000}
    assert store.query("SELECT pt FROM reac WHERE primaryid = '997'").to_pylist() == [
        {"pt": "Cytokine\nrelease\nsyndrome"}
    ]
    assert _count(store, "SELECT count(*) FROM quarantine") == 40 + 20000


def test_a_line_beyond_the_length_limit_is_quarantined_without_being_kept(tmp_path: Path, sample: Path) -> None:
    """Review D5 / matrix 2.3 (a 2 GiB line used 8.4 GB and ended in ArrowCapacityError): a
    line longer than the limit (here 1 MiB, the default, with a 3 MiB line) is quarantined as
    LINE_TOO_LONG keeping only its first kilobyte; the lines after it load."""
    folder = _copy(sample, tmp_path)
    reac = folder / "REAC17Q2.txt"
    lines = reac.read_bytes().split(b"\n")
    reac.write_bytes(b"\n".join([*lines[:10], b"0" * (3 << 20), *lines[10:]]))
    store, report = _ingest(tmp_path, folder)
    f = next(f for f in report.files if f.table == "reac")
    assert (f.read, f.loaded, f.quarantine_reasons) == (287, 286, {"LINE_TOO_LONG": 1})
    row = store.query("SELECT line, length(raw) AS n, raw FROM quarantine").to_pylist()[0]
    assert row["line"] == 11 and row["n"] < 1200 and "[3,145,728 bytes" in row["raw"]


def _bomb(sample: Path, out: Path, body: bytes, repeat: int) -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for p in sorted(sample.iterdir()):
            if p.name != "REAC17Q2.txt":
                zf.writestr(f"ascii/{p.name}", p.read_bytes())
        with zf.open("ascii/REAC17Q2.txt", "w", force_zip64=True) as w:
            w.write((sample / "REAC17Q2.txt").read_bytes())
            for _ in range(repeat):
                w.write(body)
    return out


@pytest.mark.parametrize("body", [b"0" * (1 << 20), (b"0" * 63 + b"\n") * (1 << 14)], ids=["no-newline", "no-dollar"])
def test_a_zip_bomb_is_refused_before_it_is_read(tmp_path: Path, sample: Path, body: bytes) -> None:
    """Review D5 / matrix 2.3-2.4 (a 6 MB zip of 2 GiB ran past 400 s): a member that
    decompresses far beyond its compressed size is refused by its declared sizes, at once.
    (64 MiB here; the review's 2 GiB bombs have the same ratio.)"""
    bomb = _bomb(sample, tmp_path / "faers_ascii_2017q2.zip", body, 64)
    with pytest.raises(ArchiveError, match=r"REAC17Q2.txt: the member decompresses [\d,]+ times its compressed size"):
        _ingest(tmp_path, bomb)
    _nothing_stored(tmp_path)


def test_the_decompressed_size_limit(tmp_path: Path, faers_samples: Path) -> None:
    """A member above ``max_member_bytes`` is refused before it is read (DRUG17Q2.txt is
    31,119 bytes, per `unzip -l`)."""
    with pytest.raises(ArchiveError, match=r"DRUG17Q2.txt: the member decompresses to 31,119 bytes, above the limit"):
        _ingest(tmp_path, faers_samples / "faers_ascii_2017q2.zip", limits=IngestLimits(max_member_bytes=20_000))
    _nothing_stored(tmp_path)


# -- D12 / D1: damaged and encrypted zips --------------------------------------------------


def _data_offset(path: Path, name: str) -> tuple[int, int]:
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    raw = path.read_bytes()
    h = info.header_offset
    n_name = int.from_bytes(raw[h + 26 : h + 28], "little")
    n_extra = int.from_bytes(raw[h + 28 : h + 30], "little")
    return h + 30 + n_name + n_extra, info.compress_size


@pytest.mark.parametrize(
    ("member", "method"), [("REAC17Q2.txt", zipfile.ZIP_DEFLATED), ("THER17Q2.txt", zipfile.ZIP_STORED)]
)
def test_a_damaged_member_is_one_error_and_the_fixed_zip_then_loads(
    tmp_path: Path, sample: Path, member: str, method: int
) -> None:
    """Review D12, D1 / matrix 2.21: corrupt deflate data in REAC (zlib.error) or a CRC error
    in a stored THER (BadZipFile) were tracebacks, left DEMO and DRUG committed, and the
    re-run said 'archive already loaded'. Now: one ArchiveError naming the member, nothing
    stored, and the good zip loads completely afterwards."""
    bad = _zip(sample, tmp_path / "faers_ascii_2017q2.zip", method=method)
    start, size = _data_offset(bad, f"ascii/{member}")
    data = bytearray(bad.read_bytes())
    for k in range(start + size // 3, start + size // 3 + 64):
        data[k] ^= 0x5A
    bad.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match=rf"ascii/{member}: the member is damaged"):
        _ingest(tmp_path, bad)
    _nothing_stored(tmp_path)
    good = _zip(sample, bad, method=method)  # the download repeated
    _, report = _ingest(tmp_path, good)
    assert {f.table: f.loaded for f in report.files} == README


def test_an_encrypted_zip_is_one_error(tmp_path: Path, sample: Path) -> None:
    """Review D12 / matrix 2.23: a password-protected zip gave a RuntimeError traceback. The
    encryption flag is set by hand in the local and central headers (zipfile cannot encrypt)."""
    path = _zip(sample, tmp_path / "faers_ascii_2017q2.zip", method=zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(sig)
        while at >= 0:
            data[at + off] |= 0x1
            at = data.find(sig, at + 4)
    path.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="is encrypted"):
        _ingest(tmp_path, path)


# -- D22: what is not read is listed ---------------------------------------------------------


def test_unrecognised_members_are_listed_in_the_report(tmp_path: Path, sample: Path) -> None:
    """Review D22 / matrix 2.1: `../../evil.txt`, a README and `DEMO17Q2.txt.bak` were
    ignored silently; they are now listed (and never extracted)."""
    path = tmp_path / "faers_ascii_2017q2.zip"
    _zip(sample, path)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("../../evil.txt", "x")
        zf.writestr("README.pdf", "x")
        zf.writestr("ascii/DEMO17Q2.txt.bak", "x")
    _, report = _ingest(tmp_path, path)
    assert sorted(i.member for i in report.ignored) == ["../../evil.txt", "README.pdf", "ascii/DEMO17Q2.txt.bak"]
    assert all("not a FAERS data file" in i.reason for i in report.ignored)
    assert not (tmp_path.parent / "evil.txt").exists()


def test_links_inside_are_followed_links_outside_and_dangling_are_not(tmp_path: Path, sample: Path) -> None:
    """Review D22 / matrix 2.12: a member link to /etc/passwd was read; a dangling link was
    reported only as a missing table."""
    folder = _copy(sample, tmp_path)
    (folder / "sub").mkdir()
    (folder / "INDI17Q2.txt").rename(folder / "sub" / "indi.dat")
    os.symlink(folder / "sub" / "indi.dat", folder / "INDI17Q2.txt")  # inside: followed
    os.symlink("/etc/passwd", folder / "notes.txt")  # leaves the folder: not followed
    os.symlink(tmp_path / "nowhere.txt", folder / "dangling.txt")
    _, report = _ingest(tmp_path, folder)
    assert next(f for f in report.files if f.table == "indi").loaded == 232
    reasons = {i.member: i.reason for i in report.ignored}
    assert "leaves the input folder" in reasons["notes.txt"] and "dangling" in reasons["dangling.txt"]
    assert "not a FAERS data file" in reasons["sub/indi.dat"]

    (folder / "OUTC17Q2.txt").unlink()
    os.symlink(tmp_path / "gone.txt", folder / "OUTC17Q2.txt")
    with pytest.raises(IngestError, match=r"lacks the data file\(s\) OUTC\. .*Links not read: .*OUTC17Q2.txt"):
        ingest_faers([folder], FaersStore(tmp_path / "t.duckdb"), load_products())


# -- D24: keys -------------------------------------------------------------------------------


def test_keys_are_trimmed_and_absurd_keys_and_versions_quarantined(tmp_path: Path, sample: Path) -> None:
    """Review D24 / matrix 2.20: `" 123 "` was BAD_KEY; a 26-digit primaryid and caseversions
    `notanumber` and `-3` were accepted silently. DEMO lines 2-5 are edited (line 2 is
    109792364$10979236$4$..., read by hand)."""
    folder = _copy(sample, tmp_path)
    demo = folder / "DEMO17Q2.txt"
    lines = demo.read_text().split("\n")
    f2, f3, f4, f5 = (lines[k].split("$") for k in (1, 2, 3, 4))
    f2[0] = f" {f2[0]} "
    f3[0] = "1" * 26
    f4[2] = "notanumber"
    f5[2] = "-3"
    lines[1:5] = ["$".join(f) for f in (f2, f3, f4, f5)]
    demo.write_text("\n".join(lines))
    store, report = _ingest(tmp_path, folder)
    f = next(f for f in report.files if f.table == "demo")
    assert (f.loaded, f.quarantine_reasons) == (97, {"KEY_OUT_OF_RANGE": 1, "BAD_VERSION": 2})
    assert store.query("SELECT caseid FROM demo WHERE primaryid = '109792364'").to_pylist() == [{"caseid": "10979236"}]
    assert store.query("SELECT line, reason FROM quarantine ORDER BY line").to_pylist() == [
        {"line": 3, "reason": "KEY_OUT_OF_RANGE"},
        {"line": 4, "reason": "BAD_VERSION"},
        {"line": 5, "reason": "BAD_VERSION"},
    ]
