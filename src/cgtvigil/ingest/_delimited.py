"""Streaming reader of '$'-delimited files with line accounting (formats.md §0 C1, C5; §1.6).

Every physical data line ends up in exactly one of: a loaded record (possibly a record
repaired by joining lines split by an embedded line break) or a quarantine entry with a
reason. Decoding is per line: strict UTF-8, else cp1252, else Latin-1 (which decodes any
byte), so no byte is ever lost.

Two parsers give the same records: a block of whole lines (up to ``chunk_bytes``) is first
offered to pyarrow's multi-threaded CSV reader (``$``, no quoting), which takes it only when
every line in it is a record as it stands: the same field count on every line (the header's,
or one more ending in an empty field), valid UTF-8, no blank line, no lone CR and no line over
``max_line_bytes``. Any other block, and every block that continues a record carried over from
the block before, goes through the repairing reader (``fast=False`` sends every block there).

Hostile input costs bounded time and memory: a physical line longer than ``max_line_bytes``
is quarantined (``LINE_TOO_LONG``, its first bytes kept) without being held in memory, a
repair joins at most ``max_record_lines`` physical lines (so the repair is linear in the
number of lines), and the header line may not exceed ``MAX_HEADER_BYTES``. A file whose
line breaks are a lone CR (old Mac style) is read with CR as the line break.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from cgtvigil.errors import ParseError

__all__ = ["DelimitedBatch", "DelimitedReader", "LineStats", "QuarantineRow"]

CHUNK_BYTES = 16 * 1024 * 1024
MAX_LINE_BYTES = 1024 * 1024  # one physical line (FAERS lines are well under 10 kB)
MAX_RECORD_LINES = 32  # physical lines one repaired record may join
MAX_HEADER_BYTES = 64 * 1024
RAW_KEPT = 1024  # bytes of an over-long line kept in its quarantine row
CHUNK_LINES = 100_000  # lines per batch at most (bounds the per-line objects of short lines)
_FAST_BLOCK = 4 * 1024 * 1024  # pyarrow's parse block: a block of chunk_bytes is parsed in parallel
_EOL = re.compile(rb"\r\n|\n|\r")


class Readable(Protocol):
    """What the reader needs of a stream: ``read(n)`` returning bytes (b"" at the end)."""

    def read(self, n: int = -1, /) -> bytes: ...


class QuarantineRow(NamedTuple):
    """A physical line (or ``n_lines`` lines from ``line``) not loaded, with the reason."""

    line: int
    n_lines: int
    reason: str
    raw: str


@dataclass
class LineStats:
    read: int = 0
    loaded: int = 0
    quarantined: int = 0
    repaired_records: int = 0
    encodings: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class DelimitedBatch:
    """Split records: ``columns[k]`` is field k of every record, for each of the header's
    fields (a trailing empty field beyond them is dropped, and so are the CRs ending the last
    one: a CRLF line break); ``raw(indices)`` gives the text of those records' lines, as
    read (for quarantine rows)."""

    columns: tuple[pa.Array | pa.ChunkedArray, ...]
    first_line: pa.Int64Array
    n_lines: pa.Int32Array
    quarantine: list[QuarantineRow]
    _raw: pa.StringArray | _BlockLines

    def __len__(self) -> int:
        return len(self.first_line)

    def raw(self, indices: list[int]) -> list[str]:
        """The text of records ``indices`` (their physical lines joined by LF)."""
        if isinstance(self._raw, _BlockLines):
            return self._raw.lines(indices)
        return [str(v) for v in self._raw.take(pa.array(indices, pa.int64())).to_pylist()]

    @classmethod
    def of_quarantine(cls, rows: list[QuarantineRow], n: int) -> DelimitedBatch:
        """A batch with no records, only quarantined lines."""
        empty = pa.array([], pa.string())
        return cls((empty,) * n, pa.array([], pa.int64()), pa.array([], pa.int32()), rows, empty)


class _BlockLines:
    """The lines of a block of bytes read by the fast path, found only when asked for."""

    def __init__(self, block: bytes) -> None:
        self._block = block
        self._starts: np.ndarray | None = None

    def lines(self, indices: list[int]) -> list[str]:
        if self._starts is None:
            ends = np.flatnonzero(np.frombuffer(self._block, np.uint8) == 10)
            self._starts = np.concatenate([[0], ends + 1])
        s = self._starts
        return [self._block[s[i] : s[i + 1] - 1].decode("utf-8") for i in indices]


def _decode_line(data: bytes, stats: LineStats) -> str:
    for encoding in ("utf-8", "cp1252", "latin-1"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        stats.encodings[encoding] += 1
        return text
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


class DelimitedReader:
    """Read header and records of one '$'-delimited member.

    ``header`` is the list of header names (BOM removed, trailing empty name dropped);
    iterate :meth:`batches` for the records. ``empty`` is true for a zero-byte stream (then
    ``header`` is empty and there are no records). ``name`` names the file in errors.
    ``fast=False`` reads every block with the repairing reader (the records are the same).
    """

    def __init__(
        self,
        stream: Readable,
        *,
        name: str = "<stream>",
        on_warning: Callable[[str], None] | None = None,
        chunk_bytes: int | None = None,
        max_line_bytes: int = MAX_LINE_BYTES,
        max_record_lines: int = MAX_RECORD_LINES,
        fast: bool = True,
    ) -> None:
        self._stream = stream
        self._fast = fast
        self._name = name
        self._chunk_bytes = chunk_bytes or CHUNK_BYTES
        self._max_line = max_line_bytes
        self._max_join = max(1, max_record_lines)
        self.stats = LineStats()
        self._warn = on_warning or (lambda _msg: None)
        self._cr_only = False
        self.empty = False
        first = self._read_header()
        if first.startswith("\ufeff"):
            first = first[1:]
        names = first.split("$") if first or not self.empty else []
        if len(names) > 1 and names[-1].strip() == "":
            names = names[:-1]
        self.header = names
        self.n = len(names)

    def _read_header(self) -> str:
        """Read the first line (up to LF, CRLF or a lone CR) within MAX_HEADER_BYTES."""
        buf = b""
        eof = False
        while True:
            m = _EOL.search(buf)
            # A CR at the very end may be the first half of a CRLF: read on to decide.
            if m and (m.end() < len(buf) or eof or m.group() != b"\r"):
                break
            if eof:
                break
            if len(buf) > MAX_HEADER_BYTES:
                raise ParseError(
                    f"the header line is longer than {MAX_HEADER_BYTES:,} bytes (no line break in the first "
                    f"{len(buf):,} bytes); this is not a '$'-delimited FAERS file",
                    file=self._name,
                    line=1,
                )
            piece = self._stream.read(65536)
            if piece:
                buf += piece
            else:
                eof = True
        if not buf:
            self.empty = True
        if m is None:
            self._pending = b""
            head = buf
        else:
            self._pending = buf[m.end() :]
            head = buf[: m.start()]
            if m.group() == b"\r":
                self._cr_only = True
                self._warn("CR_LINE_ENDINGS: the file's line breaks are a lone CR; they were read as line breaks")
        return _decode_line(head, LineStats())

    def _pieces(self) -> Iterator[bytes]:
        """The bytes after the header, with lone CRs turned into LF for a CR-only file."""
        pending, self._pending = self._pending, b""
        held = b""
        while True:
            piece = pending or self._stream.read(self._chunk_bytes)
            pending = b""
            if not piece:
                if held:
                    yield b"\n"
                return
            if not self._cr_only:
                yield piece
                continue
            piece = held + piece
            held = b""
            if piece.endswith(b"\r"):  # may be the first half of a CRLF
                held, piece = b"\r", piece[:-1]
            yield piece.replace(b"\r\n", b"\n").replace(b"\r", b"\n")

    def _chunks(self) -> Iterator[bytes | _LongLine]:
        """Blocks of whole lines (each ending in LF), and over-long lines as ``_LongLine``
        (skipped to their end without being kept)."""
        rest = b""
        long: _LongLine | None = None
        for piece in self._pieces():
            if long is not None:
                cut = piece.find(b"\n")
                if cut < 0:
                    long.size += len(piece)
                    continue
                long.size += cut
                yield long
                long = None
                piece = piece[cut + 1 :]
            data = rest + piece if rest else piece
            cut = data.rfind(b"\n")
            if cut >= 0:
                yield data[: cut + 1]
                rest = data[cut + 1 :]
            else:
                rest = data
            if len(rest) > self._max_line:
                long = _LongLine(rest[:RAW_KEPT], len(rest))
                rest = b""
        if long is not None:
            yield long
        elif rest:
            yield rest + b"\n"

    def _decode_chunk(self, data: bytes) -> list[str]:
        body = data[:-1]  # drop the final newline: the last element is then the last line
        try:
            lines = body.decode("utf-8").split("\n")
        except UnicodeDecodeError:
            before = self.stats.encodings["utf-8"]
            lines_b = body.split(b"\n")
            lines = [_decode_line(b, self.stats) for b in lines_b]
            fallback = len(lines_b) - (self.stats.encodings["utf-8"] - before)
            self._warn(f"ENCODING_FALLBACK: {fallback} lines are not valid UTF-8; decoded as cp1252 (else Latin-1)")
            return lines
        self.stats.encodings["utf-8"] += len(lines)
        return lines

    def _too_long(self, line: int, raw: bytes | str, size: int) -> QuarantineRow:
        kept = raw if isinstance(raw, str) else _decode_line(raw, LineStats())
        return QuarantineRow(
            line, 1, "LINE_TOO_LONG", f"{kept[:RAW_KEPT]}... [{size:,} bytes; only the first {RAW_KEPT:,} kept]"
        )

    def batches(self) -> Iterator[DelimitedBatch]:
        n = self.n
        if self.empty:
            return
        line_no = 2  # physical line number of the first data line (the header is line 1)
        carry: list[str] = []
        carry_start = 0
        for block in self._chunks():
            if isinstance(block, _LongLine):
                if carry:  # a record cannot continue across an over-long line
                    yield self._split(carry, carry_start, n, final=True)[0]
                    carry = []
                self.stats.read += 1
                yield DelimitedBatch.of_quarantine([self._too_long(line_no, block.head, block.size)], n)
                line_no += 1
                continue
            if self._fast and not carry:
                fast = self._parse_fast(block, line_no)
                if fast is not None:
                    line_no += len(fast)
                    self.stats.read += len(fast)
                    self.stats.encodings["utf-8"] += len(fast)
                    yield fast
                    continue
            for chunk in _by_lines(block):
                lines = self._decode_chunk(chunk)
                start = line_no
                line_no += len(lines)
                self.stats.read += len(lines)
                if carry:
                    lines = carry + lines
                    start = carry_start
                    carry = []
                batch, pending = self._split(lines, start, n, final=False)
                if pending is not None:
                    carry = lines[pending:]
                    carry_start = start + pending
                yield batch
        if carry:
            batch, _ = self._split(carry, carry_start, n, final=True)
            yield batch

    def _parse_fast(self, block: bytes, start: int) -> DelimitedBatch | None:
        """The block's records by pyarrow's CSV reader, or None when a line of it is not a
        record as it stands (the repairing reader then reads the block): a wrong field count,
        a blank line, a lone CR, a byte that is not UTF-8 or a line over ``max_line_bytes``."""
        n = self.n
        if n < 2 or block.startswith(b"\xef\xbb\xbf"):  # pyarrow would drop a BOM at the start
            return None
        cr = b"\r" in block
        if cr and block.count(b"\r") != block.count(b"\r\n"):
            return None  # a lone CR: a field's character here, a line break to pyarrow
        m = block.count(b"$", 0, block.find(b"\n")) + 1  # the first line's field count
        if m not in (n, n + 1):
            return None
        names = [f"f{k}" for k in range(m)]
        try:
            table = pacsv.read_csv(
                pa.BufferReader(block),
                read_options=pacsv.ReadOptions(column_names=names, use_threads=True, block_size=_FAST_BLOCK),
                parse_options=pacsv.ParseOptions(
                    delimiter="$",
                    quote_char=False,
                    escape_char=False,
                    newlines_in_values=False,
                    ignore_empty_lines=False,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False, check_utf8=True
                ),
            )
        except pa.ArrowInvalid:  # a line with another field count, or bytes that are not UTF-8
            return None
        # Without a lone CR every LF ends one row; a blank line is a row of empty fields, which
        # a row whose first field is empty may be (rare: the repairing reader tells them apart).
        lf = table.num_rows
        columns = tuple(table.columns)
        if pc.any(pc.equal(columns[0], "")).as_py():
            return None
        if m == n + 1 and pc.any(pc.not_equal(columns[n], "")).as_py():
            return None  # a line with one field too many
        # The longest line is at most the sum of the longest field of each column, the
        # delimiters and a CR; only when that bound is above the limit are lines measured.
        bound = sum(pc.max(pc.binary_length(c)).as_py() or 0 for c in columns) + m - 1 + (1 if cr else 0)
        if bound > self._max_line:
            ends = np.flatnonzero(np.frombuffer(block, np.uint8) == 10)
            if int(np.diff(ends, prepend=-1).max()) - 1 > self._max_line:
                return None
        return DelimitedBatch(
            columns[:n],
            pa.array(np.arange(start, start + lf, dtype=np.int64)),
            pa.array(np.ones(lf, np.int32)),
            [],
            _BlockLines(block),
        )

    def _split(self, lines: list[str], start: int, n: int, *, final: bool) -> tuple[DelimitedBatch, int | None]:
        """Split lines into records; returns the batch and the index of a trailing incomplete
        record to carry into the next chunk (None when there is none).

        A line with too few fields is joined with the following short lines while the field
        count stays <= n, over at most ``max_record_lines`` lines, so each line is looked at a
        bounded number of times; a carried tail is shorter than that bound too."""
        arr = pa.array(lines, type=pa.string())
        lengths = pc.binary_length(arr).to_numpy(zero_copy_only=False)
        too_long = lengths > self._max_line
        blank = (lengths == 0) | pc.equal(arr, "\r").to_numpy(zero_copy_only=False)
        parts = pc.split_pattern(arr, "$")
        counts = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
        good = counts == n
        plus_one = counts == n + 1
        if plus_one.any():
            idx = plus_one.nonzero()[0]
            last = pc.list_element(parts.take(pa.array(idx)), n).to_numpy(zero_copy_only=False)
            good[idx[(last == "") | (last == "\r")]] = True
        good &= ~too_long
        # Fields a line can add to a record it continues; cs bounds what a join can reach.
        gain = np.where((counts < n) & ~too_long & ~blank, counts - 1, 0)
        cs = np.concatenate([[0], np.cumsum(gain)])
        total = len(lines)
        max_join = self._max_join
        idx = np.arange(total)
        short = ~good & (counts < n) & ~too_long & ~blank
        # A short line that even joined with its whole window cannot reach n fields (and whose
        # window lies inside this chunk, or the file ends) cannot start a record.
        ends = np.minimum(idx + max_join, total)
        reach = counts + cs[ends] - cs[np.minimum(idx + 1, total)]
        hopeless = short & ((idx + max_join <= total) | final) & (reach < n)
        candidates = np.flatnonzero(short & ~hopeless).tolist()
        consumed = np.zeros(total, dtype=bool)  # lines joined into a repaired record
        failed: list[int] = []  # candidates that could not be completed
        repaired_text: list[str] = []
        repaired_line: list[int] = []
        repaired_n: list[int] = []
        pending: int | None = None
        c = counts.tolist() if candidates else []
        stop = (counts >= n) | too_long | blank
        stops = stop.tolist() if candidates else []
        last_j = -1
        for i in candidates:
            if i <= last_j:
                continue  # joined into the record before it
            acc, j = c[i], i
            limit = min(total, i + max_join)
            while acc < n and j + 1 < limit:
                k = j + 1
                if stops[k] or acc + c[k] - 1 > n:
                    break
                acc += c[k] - 1
                j = k
            if acc == n:
                repaired_text.append("\n".join(lines[i : j + 1]))
                repaired_line.append(start + i)
                repaired_n.append(j - i + 1)
                consumed[i + 1 : j + 1] = True
                last_j = j
                continue
            if j + 1 == total and j + 1 - i < max_join and not final:
                pending = i  # may continue in the next chunk
                break
            failed.append(i)
        bad = ~good & ~consumed & ~short
        bad[failed] = True
        bad[np.asarray(repaired_line, dtype=np.int64) - start] = False
        if pending is not None:
            bad[pending:] = False
        bad |= hopeless & ~consumed & ((idx < pending) if pending is not None else True)
        quarantine: list[QuarantineRow] = []
        for i in np.flatnonzero(bad & too_long).tolist():
            quarantine.append(self._too_long(start + i, lines[i], int(lengths[i])))
        for reason, mask in (
            ("BLANK_LINE", bad & blank),
            ("TOO_MANY_FIELDS", bad & ~too_long & ~blank & (counts > n)),
            ("TOO_FEW_FIELDS", bad & ~too_long & ~blank & (counts < n)),
        ):
            quarantine.extend(QuarantineRow(start + i, 1, reason, lines[i]) for i in np.flatnonzero(mask).tolist())
        good_idx = good.nonzero()[0]
        if pending is not None:
            good_idx = good_idx[good_idx < pending]
        if repaired_text:
            self._warn(f"LINE_REPAIRED: {len(repaired_text)} records split by embedded line breaks were joined")
        sel = pa.array(good_idx, type=pa.int64())
        if len(good_idx) == total:  # every line a record (the usual case): no copy of the lines
            raw, fields = arr, parts
        else:
            raw, fields = arr.take(sel), parts.take(sel)
        if repaired_text:
            joined = pa.array(repaired_text, type=pa.string())
            raw = pa.concat_arrays([raw, joined])
            fields = pa.concat_arrays([fields, pc.split_pattern(joined, "$")])
        first = pa.concat_arrays([pc.add(sel, start), pa.array(repaired_line, type=pa.int64())])
        nl = pa.array(np.concatenate([np.ones(len(good_idx), np.int32), np.asarray(repaired_n, np.int32)]))
        self.stats.repaired_records += len(repaired_text)
        columns = [pc.list_element(fields, k) for k in range(n)]
        columns[-1] = pc.utf8_rtrim(columns[-1], characters="\r")  # the CR of a CRLF line break
        return DelimitedBatch(tuple(columns), first, nl, quarantine, raw), pending


def _by_lines(block: bytes) -> Iterator[bytes]:
    """``block`` (whole lines) in pieces of at most CHUNK_LINES lines."""
    if block.count(b"\n") <= CHUNK_LINES:
        yield block
        return
    ends = np.flatnonzero(np.frombuffer(block, np.uint8) == 10)
    start = 0
    for cut in ends[CHUNK_LINES - 1 :: CHUNK_LINES].tolist():
        yield block[start : cut + 1]
        start = cut + 1
    if start < len(block):
        yield block[start:]


@dataclass
class _LongLine:
    head: bytes
    size: int
