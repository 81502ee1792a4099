"""The '$'-delimited reader on arbitrary input: every physical line is accounted for exactly
once, whatever the line endings (LF, CRLF, CR-only; review D2), chunking, the repair cap and
line-length cap (review D5). Hypothesis property; no data files."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cgtvigil.ingest import DelimitedReader

pytestmark = pytest.mark.faults

field = st.text(alphabet="ab$ ", max_size=5)
line = st.one_of(st.just(""), st.lists(field, min_size=1, max_size=6).map("$".join), st.just("x" * 40))


@given(
    st.lists(line, max_size=60),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.integers(8, 96),
    st.integers(1, 5),
    st.sampled_from([3, 4]),
    st.booleans(),
)
def test_every_physical_line_is_in_exactly_one_record_or_quarantine_row(
    lines: list[str], eol: str, chunk: int, max_join: int, n: int, fast: bool
) -> None:
    """Lines covered by loaded records (``line`` .. ``line + n_lines - 1``) and by quarantine
    rows partition 2..read+1; no record joins more than ``max_join`` lines; exactly the lines
    above the 32-byte cap (e.g. the 40-byte ones) are quarantined as LINE_TOO_LONG. With and
    without the fast path (pyarrow's reader for blocks whose every line is a record)."""
    header = "$".join(f"h{k}" for k in range(n))
    data = (eol.join([header, *lines]) + (eol if lines else "")).encode()
    reader = DelimitedReader(
        io.BytesIO(data), chunk_bytes=chunk, max_record_lines=max_join, max_line_bytes=32, fast=fast
    )
    covered: list[int] = []
    for batch in reader.batches():
        assert len(batch.columns) == n and all(len(c) == len(batch) for c in batch.columns)
        for first, k in zip(batch.first_line.to_pylist(), batch.n_lines.to_pylist(), strict=True):
            assert 1 <= k <= max_join
            covered.extend(range(first, first + k))
        for q in batch.quarantine:
            assert q.n_lines == 1
            assert (q.reason == "LINE_TOO_LONG") == (len(lines[q.line - 2].encode()) > 32)
            covered.append(q.line)
    assert reader.stats.read == len(lines)
    assert sorted(covered) == list(range(2, len(lines) + 2))


def _read_all(data: bytes, *, fast: bool, chunk: int, max_join: int) -> tuple[object, ...]:
    """Everything a reader gives: records (line, lines, fields, raw text), quarantine rows,
    counts and warnings."""
    warnings: list[str] = []
    reader = DelimitedReader(
        io.BytesIO(data),
        chunk_bytes=chunk,
        max_record_lines=max_join,
        max_line_bytes=32,
        fast=fast,
        on_warning=warnings.append,
    )
    records: list[tuple[object, ...]] = []
    quarantine: list[tuple[object, ...]] = []
    for batch in reader.batches():
        values = [c.to_pylist() for c in batch.columns]
        raws = batch.raw(list(range(len(batch))))
        for i, (first, k) in enumerate(zip(batch.first_line.to_pylist(), batch.n_lines.to_pylist(), strict=True)):
            records.append((first, k, tuple(v[i] for v in values), raws[i]))
        quarantine.extend(tuple(q) for q in batch.quarantine)
    s = reader.stats
    return (
        reader.header,
        sorted(records),
        sorted(quarantine),
        (s.read, s.repaired_records, dict(s.encodings)),
        warnings,
    )


_piece = st.sampled_from(["a", "b", "é", " ", "$", "$$", "\r", "\n", "\r\n", "\ufeff", "\x00"])
# cp1252 and Latin-1 bytes, a BOM, and what strict UTF-8 refuses: a surrogate, overlong forms,
# a code point above U+10FFFF, a truncated sequence
_raw_piece = st.sampled_from(
    [
        b"\xe9",
        b"\xff\xfe",
        b"\xef\xbb\xbf",
        b"\xed\xa0\x80",
        b"\xc0\xaf",
        b"\xe0\x80\x80",
        b"\xf4\x90\x80\x80",
        b"\xf0\x9f\x98",
    ]
)


_clean = st.tuples(
    st.lists(st.text(alphabet="ab é", max_size=4), min_size=5, max_size=5),
    st.sampled_from([0, 0, 0, 0, 0, 0, -1, 1]),  # fields: n (mostly), n - 1 or n + 1
    st.sampled_from([None, None, None, True, False]),  # a trailing '$': as the header's, with, without
)
_damaged = st.lists(st.one_of(_piece, _piece.map(str.encode), _raw_piece), max_size=8)


@given(
    st.sampled_from([3, 4]),
    st.booleans(),
    # mostly well-formed lines (so that many blocks take the fast path), and every kind of
    # damage the repairing reader handles
    st.lists(st.one_of(_clean, _clean, _clean, _clean, _damaged), max_size=40),
    st.sampled_from([b"\n", b"\r\n", b"\r"]),
    st.integers(8, 200),
    st.integers(1, 4),
)
def test_the_fast_path_gives_what_the_repairing_reader_gives(
    n: int, trailing: bool, lines: list[object], eol: bytes, chunk: int, max_join: int
) -> None:
    """pyarrow's CSV reader (for blocks whose every line is a record as it stands) and the
    repairing reader alone give the same records, line numbers, raw text, quarantine rows,
    counts and warnings, on arbitrary lines: field counts n-1..n+1 with and without a trailing
    '$', blank lines, lone CRs inside a line, CRLF, non-UTF-8 bytes, BOMs, NULs, lines over
    the 32-byte cap, records split over lines; blocks of 8-200 bytes mix both paths."""
    header = "$".join(f"h{k}" for k in range(n)) + ("$" if trailing else "")
    body: list[bytes] = []
    for item in lines:
        if isinstance(item, tuple):
            fields, delta, dollar = item
            dollar = trailing if dollar is None else dollar
            body.append(("$".join(fields[: n + delta]) + ("$" if dollar else "")).encode())
        else:
            body.append(b"".join(p if isinstance(p, bytes) else p.encode() for p in item))
    data = eol.join([header.encode(), *body]) + (eol if body else b"")
    fast = _read_all(data, fast=True, chunk=chunk, max_join=max_join)
    slow = _read_all(data, fast=False, chunk=chunk, max_join=max_join)
    assert fast == slow


def test_the_fast_path_is_taken_for_clean_blocks() -> None:
    """The comparison above is not vacuous: a clean block is read by pyarrow (its batch keeps
    the block's bytes for the raw text), a block with a damaged line by the repairing reader."""
    clean = b"h0$h1$h2\n" + b"".join(b"%d$x$y\n" % i for i in range(50))
    batches = list(DelimitedReader(io.BytesIO(clean), fast=True).batches())
    assert [len(b) for b in batches] == [50] and type(batches[0]._raw).__name__ == "_BlockLines"
    damaged = clean + b"1$2\n"
    batches = list(DelimitedReader(io.BytesIO(damaged), fast=True).batches())
    assert type(batches[0]._raw).__name__ != "_BlockLines"
    assert sum(len(b) for b in batches) == 50 and [q.reason for b in batches for q in b.quarantine] == [
        "TOO_FEW_FIELDS"
    ]
