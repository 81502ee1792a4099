"""FDA FAERS / legacy AERS quarterly ASCII extracts: locate members, parse them into the
canonical tables (formats.md §1). Zips (``faers_ascii_YYYYqN.zip``, ``aers_ascii_YYYYqN.zip``)
and unpacked folders are both accepted; member names are matched case-insensitively."""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc

from cgtvigil.errors import IngestError, ParseError
from cgtvigil.ingest._delimited import DelimitedReader, LineStats, QuarantineRow
from cgtvigil.ingest._profiles import CANONICAL, KNOWN_CODES, REQUIRED, TABLES, canonical_name

__all__ = ["FaersMember", "FaersQuarter", "MemberResult", "open_quarter", "read_deleted", "read_member"]

_DATA_FILE = re.compile(r"^(demo|drug|reac|outc|rpsr|ther|indi)(\d\d)q([1-4])\.txt$", re.IGNORECASE)
_DELETE_FILE = re.compile(r"^delete(\d\d)q([1-4])\.txt$", re.IGNORECASE)
_CONTAINER = re.compile(r"^(faers|aers)_ascii_(\d{4})q([1-4])(\.zip)?$", re.IGNORECASE)
_NUMERIC = r"^[0-9]+$"


class _HashingStream:
    """Wrap a binary stream and hash what is read through it."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
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
class FaersQuarter:
    source: Path
    quarter: str  # e.g. "2017Q2"
    legacy: bool
    members: tuple[FaersMember, ...]
    container_sha256: str | None


def _open_file(path: Path) -> BinaryIO:
    return path.open("rb")


def _open_member(zf: zipfile.ZipFile, name: str) -> BinaryIO:
    return zf.open(name)  # type: ignore[return-value]


def _quarter_from_member(yy: str, q: str) -> str:
    year = int(yy)
    return f"{2000 + year if year < 70 else 1900 + year}Q{q}"


def open_quarter(path: Path) -> FaersQuarter:
    """Find the seven data files (and optional Deleted list) of one quarter."""
    path = Path(path)
    if not path.exists():
        raise IngestError(f"{path}: no such file or folder. Expected a FAERS quarterly zip or its unpacked folder.")
    entries: list[tuple[str, Callable[[], BinaryIO]]] = []
    container_sha = None
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file():
                entries.append((p.relative_to(path).as_posix(), partial(_open_file, p)))
    elif zipfile.is_zipfile(path):
        with path.open("rb") as fh:
            container_sha = hashlib.file_digest(fh, "sha256").hexdigest()
        zf = zipfile.ZipFile(path)
        for info in zf.infolist():
            if not info.is_dir():
                entries.append((info.filename, partial(_open_member, zf, info.filename)))
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
    missing = [t.upper() for t in TABLES if t not in members]
    if missing:
        found = ", ".join(sorted(n for n, _ in entries)) or "nothing"
        raise IngestError(f"{path}: the quarter lacks the data file(s) {', '.join(missing)}. Found: {found}.")
    if len(quarters) != 1:
        raise IngestError(f"{path}: the data files belong to different quarters: {sorted(quarters)}.")
    quarter = quarters.pop()
    cm = _CONTAINER.match(path.name)
    if cm:
        named = f"{cm.group(2)}Q{cm.group(3)}"
        if named != quarter:
            raise IngestError(f"{path}: the archive is named for {named} but its files are for {quarter}.")
    legacy = _is_legacy(members["demo"])
    if cm and (cm.group(1).lower() == "aers") != legacy:
        kind = "legacy AERS (isr)" if legacy else "FAERS (primaryid)"
        raise IngestError(f"{path}: the archive name says {cm.group(1).lower()}_ascii but DEMO has the {kind} layout.")
    ordered = tuple(members[t] for t in TABLES) + tuple(
        v for k, v in sorted(members.items()) if k.startswith("deleted:")
    )
    return FaersQuarter(path, quarter, legacy, ordered, container_sha)


def _is_legacy(demo: FaersMember) -> bool:
    with demo.opener() as fh:
        head = fh.read(4096).decode("latin-1").lstrip("\ufeff\xef\xbb\xbf").split("\n", 1)[0]
    return head.split("$", 1)[0].strip().lower() == "isr"


@dataclass
class MemberResult:
    """What parsing one member produced, besides the record batches."""

    table: str
    name: str
    sha256: str = ""
    stats: LineStats = field(default_factory=LineStats)
    quarantine: list[QuarantineRow] = field(default_factory=list)
    warnings: Counter[str] = field(default_factory=Counter)
    extra_columns: list[str] = field(default_factory=list)

    @property
    def loaded(self) -> int:
        return self.stats.loaded

    @property
    def quarantined(self) -> int:
        return sum(q.n_lines for q in self.quarantine)


def read_member(quarter: FaersQuarter, member: FaersMember, result: MemberResult) -> Iterator[pa.Table]:
    """Parse one data file into canonical Arrow tables (all columns strings, plus ``line``,
    ``n_lines``, ``extra``). Quarantined lines and warnings are collected in ``result``."""
    table = member.table
    with member.opener() as raw:
        stream = _HashingStream(raw)
        reader = DelimitedReader(stream, on_warning=lambda m: result.warnings.update([m.split(":", 1)[0]]))  # type: ignore[arg-type]
        names = [canonical_name(table, h) for h in reader.header]
        missing = [c for c in REQUIRED[table] if c not in names]
        if missing:
            raise ParseError(
                f"missing required column(s) {', '.join(missing)} for the {table.upper()} table; "
                f"the header has: {', '.join(reader.header)}",
                file=f"{quarter.source}:{member.name}",
                line=1,
            )
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
        last = reader.n - 1
        for batch in reader.batches():
            result.quarantine.extend(batch.quarantine)
            if len(batch.fields) == 0:
                continue
            cols: dict[str, pa.Array] = {}
            for name in CANONICAL[table]:
                pos = position.get(name)
                if pos is None:
                    cols[name] = pa.nulls(len(batch.fields), pa.string())
                    continue
                col = pc.list_element(batch.fields, pos)
                cols[name] = pc.utf8_rtrim(col, characters="\r") if pos == last else col
            ok = pc.fill_null(pc.match_substring_regex(cols["primaryid"], _NUMERIC), False)
            bad_idx = pc.indices_nonzero(pc.invert(ok)).to_pylist()
            if bad_idx:
                firsts = batch.first_line.to_pylist()
                counts = batch.n_lines.to_pylist()
                raws = batch.raw.to_pylist()
                for i in bad_idx:
                    result.quarantine.append(QuarantineRow(firsts[i], counts[i], "BAD_KEY", raws[i]))
            extra_col = _extras(batch.fields, extras, last)
            out = pa.table({**cols, "line": batch.first_line, "n_lines": batch.n_lines, "extra": extra_col})
            if bad_idx:
                out = out.filter(ok)
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
            yield out
        result.stats.read = reader.stats.read
        result.stats.encodings = reader.stats.encodings
        result.stats.repaired_records = reader.stats.repaired_records
        result.sha256 = stream.sha256.hexdigest()


def _extras(fields: pa.ListArray, extras: list[tuple[str, int]], last: int) -> pa.Array:
    """A JSON object of unknown columns' non-empty values per row, else null."""
    if not extras:
        return pa.nulls(len(fields), pa.string())

    values = []
    for name, k in extras:
        col = pc.list_element(fields, k)
        if k == last:
            col = pc.utf8_rtrim(col, characters="\r")
        values.append((name, col))
    nonempty = None
    for _, col in values:
        m = pc.not_equal(col, "")
        nonempty = m if nonempty is None else pc.or_(nonempty, m)
    if not pc.any(nonempty).as_py():
        return pa.nulls(len(fields), pa.string())
    rows: list[dict[str, str]] = [{} for _ in range(len(fields))]
    for name, col in values:
        for i, v in enumerate(col.to_pylist()):
            if v:
                rows[i][name] = v
    return pa.array([json.dumps(r, ensure_ascii=False) if r else None for r in rows], pa.string())


def read_deleted(member: FaersMember, result: MemberResult) -> list[str]:
    """Caseids of a ``Deleted/DELETEyyQq.txt`` list (one per line; an optional header)."""
    with member.opener() as raw:
        data = raw.read()
    result.sha256 = hashlib.sha256(data).hexdigest()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    caseids: list[str] = []
    for i, b in enumerate(lines, start=1):
        text = b.decode("latin-1").strip().lstrip("\ufeff").lstrip("\xef\xbb\xbf")
        if text.isdigit():
            caseids.append(text)
        elif i == 1 and text.lower().startswith("case"):
            continue  # a header line is not data
        else:
            result.stats.read += 1
            result.quarantine.append(QuarantineRow(i, 1, "BAD_KEY", b.decode("latin-1")))
            continue
        result.stats.read += 1
        result.stats.loaded += 1
    return caseids
