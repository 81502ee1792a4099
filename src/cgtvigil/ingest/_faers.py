"""FDA FAERS / legacy AERS quarterly ASCII extracts: locate members, parse them into the
canonical tables (formats.md §1). Zips (``faers_ascii_YYYYqN.zip``, ``aers_ascii_YYYYqN.zip``)
and unpacked folders are both accepted; member names are matched case-insensitively."""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc

from cgtvigil.errors import ArchiveError, IngestError, ParseError
from cgtvigil.ingest._delimited import (
    MAX_LINE_BYTES,
    MAX_RECORD_LINES,
    DelimitedReader,
    LineStats,
    QuarantineRow,
)
from cgtvigil.ingest._profiles import CANONICAL, KNOWN_CODES, REQUIRED, TABLES, canonical_name, max_header_fields

__all__ = [
    "FaersMember",
    "FaersQuarter",
    "IgnoredEntry",
    "IngestLimits",
    "MemberBatch",
    "MemberResult",
    "check_member",
    "open_quarter",
    "read_deleted",
    "read_member",
]

_DATA_FILE = re.compile(r"^(demo|drug|reac|outc|rpsr|ther|indi)(\d\d)q([1-4])\.txt$", re.IGNORECASE)
_DELETE_FILE = re.compile(r"^delete(\d\d)q([1-4])\.txt$", re.IGNORECASE)
_CONTAINER = re.compile(r"^(faers|aers)_ascii_(\d{4})q([1-4])(\.zip)?$", re.IGNORECASE)
_KEY_DIGITS = 18  # a primaryid or caseid fits int64; longer is not a FAERS key
_VERSION_DIGITS = 9  # a caseversion is 1 to 9 digits
_DIGITS = re.compile("[0-9]+")


_TOO_BIG_TO_CHECK_RATIO = 1024 * 1024  # members below 1 MiB may compress at any ratio


@dataclass(frozen=True)
class IngestLimits:
    """Bounds that keep hostile input cheap (review D5).

    A zip member may decompress to at most ``max_member_bytes`` and, above 1 MiB, at most
    ``max_ratio`` times its compressed size (real FAERS text compresses 5-10 times); a
    Deleted list may hold at most ``max_deleted_bytes``; a physical line may be at most
    ``max_line_bytes`` long and a repaired record may join at most ``max_record_lines``
    physical lines (beyond these the lines are quarantined with a reason).
    """

    max_member_bytes: int = 8 * 1024**3
    max_ratio: float = 100.0
    max_deleted_bytes: int = 64 * 1024**2
    max_line_bytes: int = MAX_LINE_BYTES
    max_record_lines: int = MAX_RECORD_LINES


class _MemberStream:
    """Read a member, hash what is read and turn damaged-archive errors into ArchiveError."""

    def __init__(self, raw: BinaryIO, where: str) -> None:
        self._raw = raw
        self._where = where
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        try:
            data = self._raw.read(n)
        except (zlib.error, zipfile.BadZipFile, EOFError) as exc:
            raise ArchiveError(
                f"{self._where}: the member is damaged ({exc}); nothing of this quarter was kept. "
                "Download the quarter again."
            ) from exc
        self.sha256.update(data)
        self.size += len(data)
        return data


@dataclass(frozen=True)
class FaersMember:
    """One data file of a quarter (``table`` is demo ... indi, or ``deleted``)."""

    table: str
    name: str
    opener: Callable[[], BinaryIO]


@dataclass(frozen=True)
class IgnoredEntry:
    """A file or archive member that is not read, and why (listed in the import report)."""

    name: str
    reason: str


@dataclass(frozen=True)
class FaersQuarter:
    source: Path
    quarter: str  # e.g. "2017Q2"
    legacy: bool
    members: tuple[FaersMember, ...]
    container_sha256: str | None
    ignored: tuple[IgnoredEntry, ...] = ()


def _open_file(path: Path) -> BinaryIO:
    return path.open("rb")


def _open_member(zf: zipfile.ZipFile, name: str, where: str) -> BinaryIO:
    try:
        return zf.open(name)  # type: ignore[return-value]
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, zlib.error) as exc:
        raise ArchiveError(f"{where}: the member cannot be opened ({exc}).") from exc


def _quarter_from_member(yy: str, q: str) -> str:
    year = int(yy)
    return f"{2000 + year if year < 70 else 1900 + year}Q{q}"


def _folder_entries(root: Path, ignored: list[IgnoredEntry]) -> list[tuple[str, Callable[[], BinaryIO]]]:
    """Regular files under ``root``; links are followed only to files inside ``root``."""
    entries: list[tuple[str, Callable[[], BinaryIO]]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames.sort()
        for d in dirnames:
            if (here / d).is_symlink():
                ignored.append(
                    IgnoredEntry((here / d).relative_to(root).as_posix(), "a link to a folder; not followed")
                )
        for f in sorted(filenames):
            p = here / f
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                try:
                    target = p.resolve(strict=True)
                except FileNotFoundError:
                    ignored.append(IgnoredEntry(rel, "a dangling link (its target does not exist); not read"))
                    continue
                except (OSError, RuntimeError):
                    ignored.append(IgnoredEntry(rel, "a link that cannot be resolved (a loop?); not read"))
                    continue
                if not target.is_relative_to(root):
                    ignored.append(
                        IgnoredEntry(rel, f"a link that leaves the input folder (to {target}); not followed")
                    )
                    continue
                if not target.is_file():
                    ignored.append(IgnoredEntry(rel, "a link to something other than a file; not read"))
                    continue
            elif not p.is_file():
                ignored.append(IgnoredEntry(rel, "not a regular file; not read"))
                continue
            entries.append((rel, partial(_open_file, p)))
    return entries


def _check_zip_member(path: Path, info: zipfile.ZipInfo, limits: IngestLimits, *, deleted: bool) -> None:
    where = f"{path}:{info.filename}"
    if info.flag_bits & 0x1:
        raise ArchiveError(f"{where}: the member is encrypted (password-protected); give an unencrypted FAERS zip.")
    cap = limits.max_deleted_bytes if deleted else limits.max_member_bytes
    if info.file_size > cap:
        raise ArchiveError(
            f"{where}: the member decompresses to {info.file_size:,} bytes, above the limit of {cap:,} bytes; "
            "refused (a zip bomb, or raise the limit)."
        )
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > _TOO_BIG_TO_CHECK_RATIO and ratio > limits.max_ratio:
        raise ArchiveError(
            f"{where}: the member decompresses {ratio:,.0f} times its compressed size ({info.compress_size:,} -> "
            f"{info.file_size:,} bytes), above the limit of {limits.max_ratio:,.0f}; refused as a likely zip bomb."
        )


def open_quarter(path: Path, limits: IngestLimits | None = None) -> FaersQuarter:
    """Find the seven data files (and optional Deleted list) of one quarter.

    Everything else in the folder or zip is listed in ``ignored`` with the reason (not a FAERS
    data file, a dangling link, a link leaving the folder). Zip members are checked against
    ``limits`` (decompressed size, compression ratio, encryption) before anything is read.
    """
    limits = limits or IngestLimits()
    path = Path(path)
    if not path.exists():
        raise IngestError(f"{path}: no such file or folder. Expected a FAERS quarterly zip or its unpacked folder.")
    entries: list[tuple[str, Callable[[], BinaryIO]]] = []
    ignored: list[IgnoredEntry] = []
    infos: dict[str, zipfile.ZipInfo] = {}
    container_sha = None
    if path.is_dir():
        entries = _folder_entries(path.resolve(), ignored)
    elif zipfile.is_zipfile(path):
        with path.open("rb") as fh:
            container_sha = hashlib.file_digest(fh, "sha256").hexdigest()
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise ArchiveError(f"{path}: the zip archive is damaged ({exc}). Download the quarter again.") from exc
        for info in zf.infolist():
            if not info.is_dir():
                infos[info.filename] = info
                entries.append((info.filename, partial(_open_member, zf, info.filename, f"{path}:{info.filename}")))
    else:
        raise IngestError(
            f"{path}: not a zip archive or a folder. Expected faers_ascii_YYYYqN.zip, "
            "aers_ascii_YYYYqN.zip or an unpacked quarter folder."
        )
    members: dict[str, FaersMember] = {}
    quarters: set[str] = set()
    for name, opener in entries:
        base = name.rsplit("/", 1)[-1]
        m = _DATA_FILE.match(base)
        d = _DELETE_FILE.match(base)
        if m:
            table = m.group(1).lower()
            quarters.add(_quarter_from_member(m.group(2), m.group(3)))
            if table in members:
                raise IngestError(
                    f"{path}: two members for the {table.upper()} table: '{members[table].name}' and "
                    f"'{name}' (names differ only in case or folder)."
                )
            members[table] = FaersMember(table, name, opener)
        elif d:
            key = f"deleted:{name}"
            members[key] = FaersMember("deleted", name, opener)
        else:
            ignored.append(IgnoredEntry(name, "not a FAERS data file or Deleted list; ignored"))
    missing = [t.upper() for t in TABLES if t not in members]
    if missing:
        found = ", ".join(sorted(n for n, _ in entries)) or "nothing"
        dangling = [e.name for e in ignored if "link" in e.reason]
        links = f" Links not read: {', '.join(dangling)}." if dangling else ""
        raise IngestError(f"{path}: the quarter lacks the data file(s) {', '.join(missing)}. Found: {found}.{links}")
    if len(quarters) != 1:
        raise IngestError(f"{path}: the data files belong to different quarters: {sorted(quarters)}.")
    quarter = quarters.pop()
    cm = _CONTAINER.match(path.name)
    if cm:
        named = f"{cm.group(2)}Q{cm.group(3)}"
        if named != quarter:
            raise IngestError(f"{path}: the archive is named for {named} but its files are for {quarter}.")
    for member in members.values():
        if member.name in infos:
            _check_zip_member(path, infos[member.name], limits, deleted=member.table == "deleted")
        elif member.table == "deleted":
            size = (path / member.name).stat().st_size
            if size > limits.max_deleted_bytes:
                raise IngestError(
                    f"{path / member.name}: a Deleted list of {size:,} bytes is above the limit of "
                    f"{limits.max_deleted_bytes:,} bytes; refused."
                )
    legacy = _is_legacy(path, members["demo"])
    if cm and (cm.group(1).lower() == "aers") != legacy:
        kind = "legacy AERS (isr)" if legacy else "FAERS (primaryid)"
        raise IngestError(f"{path}: the archive name says {cm.group(1).lower()}_ascii but DEMO has the {kind} layout.")
    ordered = tuple(members[t] for t in TABLES) + tuple(
        v for k, v in sorted(members.items()) if k.startswith("deleted:")
    )
    return FaersQuarter(path, quarter, legacy, ordered, container_sha, tuple(sorted(ignored, key=lambda e: e.name)))


def _is_legacy(source: Path, demo: FaersMember) -> bool:
    with demo.opener() as fh:
        data = _MemberStream(fh, f"{source}:{demo.name}").read(4096)
    head = data.decode("latin-1").lstrip("\ufeff\xef\xbb\xbf").split("\n", 1)[0]
    return head.split("$", 1)[0].strip().lower() == "isr"


@dataclass
class MemberResult:
    """What parsing one member produced, besides the record batches (the quarantined lines
    themselves go out with the batches; here are their counts)."""

    table: str
    name: str
    sha256: str = ""
    stats: LineStats = field(default_factory=LineStats)
    quarantined: int = 0
    quarantine_reasons: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    extra_columns: list[str] = field(default_factory=list)
    empty: bool = False

    @property
    def loaded(self) -> int:
        return self.stats.loaded

    def count(self, rows: list[QuarantineRow]) -> list[QuarantineRow]:
        for q in rows:
            self.quarantined += q.n_lines
            self.quarantine_reasons[q.reason] += q.n_lines
        return rows


@dataclass(frozen=True)
class MemberBatch:
    """Canonical rows (None when a chunk held none) and the lines quarantined with them."""

    rows: pa.Table | None
    quarantine: list[QuarantineRow]


def _reader(
    quarter: FaersQuarter,
    member: FaersMember,
    stream: _MemberStream,
    result: MemberResult,
    limits: IngestLimits,
    *,
    fast: bool = True,
) -> tuple[DelimitedReader, list[str]]:
    """Open the member's reader and check its header; returns the reader and the canonical
    name of each header field."""
    where = f"{quarter.source}:{member.name}"
    table = member.table
    reader = DelimitedReader(
        stream,
        name=where,
        on_warning=lambda m: result.warnings.update([m.split(":", 1)[0]]),
        max_line_bytes=limits.max_line_bytes,
        max_record_lines=limits.max_record_lines,
        fast=fast,
    )
    if reader.empty:
        return reader, []
    if reader.n > max_header_fields(table):
        raise ParseError(
            f"the header has {reader.n:,} fields, far more than any {table.upper()} layout "
            f"(at most {len(CANONICAL[table])} known columns); the file's line breaks or delimiter are "
            "not those of a FAERS file",
            file=where,
            line=1,
        )
    names = [canonical_name(table, h) for h in reader.header]
    missing = [c for c in REQUIRED[table] if c not in names]
    if missing:
        raise ParseError(
            f"missing required column(s) {', '.join(missing)} for the {table.upper()} table; "
            f"the header has: {', '.join(reader.header)}",
            file=where,
            line=1,
        )
    return reader, names


def check_member(quarter: FaersQuarter, member: FaersMember, limits: IngestLimits | None = None) -> None:
    """Open a data file and check its header (required columns, field count) without reading
    its records: run over every member before a quarter is loaded."""
    if member.table == "deleted":
        return
    with member.opener() as raw:
        _reader(
            quarter,
            member,
            _MemberStream(raw, f"{quarter.source}:{member.name}"),
            MemberResult("", ""),
            limits or IngestLimits(),
        )


def _trim_key(col: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A key column with surrounding whitespace removed (a column of digits only, the usual
    case, has none: it is returned as it is)."""
    if pc.all(pc.ascii_is_decimal(col)).as_py():
        return col
    return pc.utf8_trim_whitespace(col)


def _key_problems(out: pa.Table, table: str, legacy: bool) -> pa.Array | None:
    """Per row, the quarantine reason of its keys (null when they are fine), or None when
    every row is fine. ``primaryid`` (and ``caseid``, ``caseversion``) are already trimmed.
    A key is a number when it is non-empty and all ASCII digits (``ascii_is_decimal``, the
    same as ``^[0-9]+$``), so its length in bytes is its length in characters."""
    pid = out["primaryid"]
    bad_key = pc.invert(pc.fill_null(pc.ascii_is_decimal(pid), False))
    too_long = pc.and_(pc.invert(bad_key), pc.greater(pc.binary_length(pid), _KEY_DIGITS))
    checks = [("BAD_KEY", bad_key), ("KEY_OUT_OF_RANGE", too_long)]
    if table == "demo":
        cid = out["caseid"]
        bad_case = pc.and_(
            pc.not_equal(cid, ""),
            pc.or_(pc.invert(pc.ascii_is_decimal(cid)), pc.greater(pc.binary_length(cid), _KEY_DIGITS)),
        )
        checks.append(("BAD_CASEID", pc.fill_null(bad_case, False)))
        if not legacy:
            ver = out["caseversion"]
            version_ok = pc.and_(pc.ascii_is_decimal(ver), pc.less_equal(pc.binary_length(ver), _VERSION_DIGITS))
            bad_version = pc.and_(pc.not_equal(ver, ""), pc.invert(version_ok))
            checks.append(("BAD_VERSION", pc.fill_null(bad_version, False)))
    if not any(pc.any(m).as_py() for _, m in checks):
        return None
    reason = pa.nulls(out.num_rows, pa.string())
    for name, mask in reversed(checks):  # the first applicable reason wins
        reason = pc.if_else(mask, pa.scalar(name), reason)
    return reason


def read_member(
    quarter: FaersQuarter,
    member: FaersMember,
    result: MemberResult,
    limits: IngestLimits | None = None,
    *,
    fast: bool = True,
) -> Iterator[MemberBatch]:
    """Parse one data file into canonical Arrow tables (all columns strings, plus ``line``,
    ``n_lines``, ``extra``), each with the lines quarantined since the previous batch; counts
    and warnings are collected in ``result``. Keys are trimmed; a blank or non-numeric
    ``primaryid`` (``BAD_KEY``), one of more than 18 digits (``KEY_OUT_OF_RANGE``), a DEMO
    ``caseid`` that is not a number (``BAD_CASEID``) or a ``caseversion`` that is not a
    non-negative integer (``BAD_VERSION``) quarantine the line. A zero-byte file yields
    nothing and sets ``result.empty``. ``fast=False`` parses every line with the repairing
    reader instead of first offering each block to pyarrow's CSV reader (same output)."""
    limits = limits or IngestLimits()
    table = member.table
    with member.opener() as raw:
        stream = _MemberStream(raw, f"{quarter.source}:{member.name}")
        reader, names = _reader(quarter, member, stream, result, limits, fast=fast)
        if reader.empty:
            result.empty = True
            result.warnings["EMPTY_FILE"] += 1
            result.sha256 = stream.sha256.hexdigest()
            return
        position: dict[str, int] = {}
        extras: list[tuple[str, int]] = []
        for k, name in enumerate(names):
            if name in CANONICAL[table] and name not in position:
                position[name] = k
            else:
                extras.append((reader.header[k].strip() or f"column_{k + 1}", k))
        result.extra_columns = [e for e, _ in extras]
        if extras:
            result.warnings.update(["UNKNOWN_COLUMN"] * len(extras))
        keys = {"primaryid", "caseid", "caseversion"}
        for batch in reader.batches():
            quarantine = list(batch.quarantine)
            if len(batch) == 0:
                yield MemberBatch(None, result.count(quarantine))
                continue
            cols: dict[str, pa.Array | pa.ChunkedArray] = {}
            for name in CANONICAL[table]:
                pos = position.get(name)
                if pos is None:
                    cols[name] = pa.nulls(len(batch), pa.string())
                    continue
                col = batch.columns[pos]
                cols[name] = _trim_key(col) if name in keys else col
            extra_col = _extras(batch.columns, extras)
            out = pa.table({**cols, "line": batch.first_line, "n_lines": batch.n_lines, "extra": extra_col})
            problems = _key_problems(out, table, quarter.legacy)
            if problems is not None:
                ok = pc.is_null(problems)
                bad_idx = pc.indices_nonzero(pc.invert(ok)).to_pylist()
                reasons = problems.take(pa.array(bad_idx)).to_pylist()
                firsts = batch.first_line.take(pa.array(bad_idx)).to_pylist()
                counts = batch.n_lines.take(pa.array(bad_idx)).to_pylist()
                raws = batch.raw(bad_idx)
                quarantine.extend(QuarantineRow(*row) for row in zip(firsts, counts, reasons, raws, strict=True))
                out = out.filter(ok)
            if table == "demo" and not quarter.legacy:
                missing_version = pc.sum(pc.equal(out["caseversion"], "")).as_py() or 0
                if missing_version:
                    result.warnings["MISSING_VERSION"] += missing_version
            if quarter.legacy:
                out = out.set_column(0, "primaryid", pc.binary_join_element_wise("L", out["primaryid"], ""))
                if table == "demo":
                    out = out.set_column(
                        out.schema.get_field_index("caseversion"),
                        "caseversion",
                        pa.array(["0"] * out.num_rows, pa.string()),
                    )
            for column, known in KNOWN_CODES.get(table, {}).items():
                values = out[column]
                unknown = pc.invert(pc.is_in(values, value_set=pa.array(sorted(known))))
                n_unknown = pc.sum(pc.and_(unknown, pc.invert(pc.equal(values, "")))).as_py() or 0
                if n_unknown:
                    result.warnings[f"UNKNOWN_CODE({column})"] += n_unknown
            result.stats.loaded += pc.sum(out["n_lines"]).as_py() or 0
            yield MemberBatch(out, result.count(quarantine))
        result.stats.read = reader.stats.read
        result.stats.encodings = reader.stats.encodings
        result.stats.repaired_records = reader.stats.repaired_records
        result.sha256 = stream.sha256.hexdigest()


def _extras(columns: tuple[pa.Array | pa.ChunkedArray, ...], extras: list[tuple[str, int]]) -> pa.Array:
    """A JSON object of unknown columns' non-empty values per row, else null."""
    rows_n = len(columns[0])
    if not extras:
        return pa.nulls(rows_n, pa.string())

    values = [(name, columns[k]) for name, k in extras]
    nonempty = None
    for _, col in values:
        m = pc.not_equal(col, "")
        nonempty = m if nonempty is None else pc.or_(nonempty, m)
    if not pc.any(nonempty).as_py():
        return pa.nulls(rows_n, pa.string())
    rows: list[dict[str, str]] = [{} for _ in range(rows_n)]
    for name, col in values:
        for i, v in enumerate(col.to_pylist()):
            if v:
                rows[i][name] = v
    return pa.array([json.dumps(r, ensure_ascii=False) if r else None for r in rows], pa.string())


def read_deleted(
    quarter: FaersQuarter, member: FaersMember, result: MemberResult
) -> tuple[list[str], list[QuarantineRow]]:
    """Caseids of a ``Deleted/DELETEyyQq.txt`` list (one per line; an optional header) and
    its quarantined lines (BAD_KEY; counted in ``result``). Its size was bounded when the
    quarter was opened."""
    with member.opener() as raw:
        data = _MemberStream(raw, f"{quarter.source}:{member.name}").read()
    result.sha256 = hashlib.sha256(data).hexdigest()
    if not data:
        result.empty = True
        result.warnings["EMPTY_FILE"] += 1
        return [], []
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    caseids: list[str] = []
    quarantine: list[QuarantineRow] = []
    for i, b in enumerate(lines, start=1):
        text = b.decode("latin-1").strip().lstrip("\ufeff").lstrip("\xef\xbb\xbf")
        if _DIGITS.fullmatch(text) and len(text) <= _KEY_DIGITS:
            caseids.append(text)
        elif i == 1 and text.lower().startswith("case"):
            continue  # a header line is not data
        else:
            result.stats.read += 1
            quarantine.append(QuarantineRow(i, 1, "BAD_KEY", b.decode("latin-1")))
            continue
        result.stats.read += 1
        result.stats.loaded += 1
    return caseids, result.count(quarantine)
