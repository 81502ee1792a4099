"""Streaming reader of '$'-delimited files with line accounting (formats.md §0 C1, C5; §1.6).

Every physical data line ends up in exactly one of: a loaded record (possibly a record
repaired by joining lines split by an embedded line break) or a quarantine entry with a
reason. Decoding is per line: strict UTF-8, else cp1252, else Latin-1 (which decodes any
byte), so no byte is ever lost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["DelimitedBatch", "DelimitedReader", "LineStats", "QuarantineRow"]

CHUNK_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class QuarantineRow:
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
    """Split records: ``fields`` is a list<string> array, one list per record."""

    fields: pa.ListArray
    first_line: pa.Int64Array
    n_lines: pa.Int32Array
    raw: pa.StringArray
    quarantine: list[QuarantineRow]


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
    iterate :meth:`batches` for the records.
    """

    def __init__(
        self, stream: BinaryIO, *, on_warning: Callable[[str], None] | None = None, chunk_bytes: int = CHUNK_BYTES
    ) -> None:
        self._stream = stream
        self._chunk_bytes = chunk_bytes
        self.stats = LineStats()
        self._warn = on_warning or (lambda _msg: None)
        first = self._read_header()
        if first.startswith("\ufeff"):
            first = first[1:]
        names = first.rstrip("\r").split("$")
        if len(names) > 1 and names[-1].strip() == "":
            names = names[:-1]
        self.header = names
        self.n = len(names)

    def _read_header(self) -> str:
        buf = b""
        self._pending = b""
        while True:
            piece = self._stream.read(65536)
            if not piece:
                break
            cut = piece.find(b"\n")
            if cut >= 0:
                buf += piece[:cut]
                self._pending = piece[cut + 1 :]
                break
            buf += piece
        return _decode_line(buf, LineStats())

    def _chunks(self) -> Iterator[bytes]:
        rest = self._pending
        while True:
            piece = self._stream.read(self._chunk_bytes)
            if not piece:
                if rest:
                    yield rest if rest.endswith(b"\n") else rest + b"\n"
                return
            data = rest + piece
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            yield data[: cut + 1]
            rest = data[cut + 1 :]

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

    def batches(self) -> Iterator[DelimitedBatch]:
        n = self.n
        line_no = 2  # physical line number of the first data line (the header is line 1)
        carry: list[str] = []
        carry_start = 0
        for chunk in self._chunks():
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

    def _split(self, lines: list[str], start: int, n: int, *, final: bool) -> tuple[DelimitedBatch, int | None]:
        """Split lines into records; returns the batch and the index of a trailing incomplete
        record to carry into the next chunk (None when there is none)."""
        arr = pa.array(lines, type=pa.string())
        parts = pc.split_pattern(arr, "$")
        counts = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
        good = counts == n
        plus_one = counts == n + 1
        if plus_one.any():
            idx = plus_one.nonzero()[0]
            last = pc.list_element(parts.take(pa.array(idx)), n).to_numpy(zero_copy_only=False)
            good[idx[(last == "") | (last == "\r")]] = True
        quarantine: list[QuarantineRow] = []
        repaired_text: list[str] = []
        repaired_line: list[int] = []
        repaired_n: list[int] = []
        bad = (~good).nonzero()[0]
        pending: int | None = None
        i_bad = 0
        total = len(lines)
        while i_bad < len(bad):
            i = int(bad[i_bad])
            i_bad += 1
            f = int(counts[i])
            text = lines[i]
            if text in ("", "\r"):
                quarantine.append(QuarantineRow(start + i, 1, "BLANK_LINE", text))
                continue
            if f > n:
                quarantine.append(QuarantineRow(start + i, 1, "TOO_MANY_FIELDS", text))
                continue
            # f < n: join with following short lines while the field count stays <= n.
            acc, j = f, i
            while acc < n and j + 1 < total and counts[j + 1] < n and lines[j + 1] not in ("", "\r"):
                if acc + int(counts[j + 1]) - 1 > n:
                    break
                acc += int(counts[j + 1]) - 1
                j += 1
            if acc == n:
                repaired_text.append("\n".join(lines[i : j + 1]))
                repaired_line.append(start + i)
                repaired_n.append(j - i + 1)
                while i_bad < len(bad) and bad[i_bad] <= j:
                    i_bad += 1
                continue
            if j + 1 == total and not final:
                pending = i  # may continue in the next chunk
                break
            quarantine.append(QuarantineRow(start + i, 1, "TOO_FEW_FIELDS", text))
        good_idx = good.nonzero()[0]
        if pending is not None:
            good_idx = good_idx[good_idx < pending]
            quarantine = [q for q in quarantine if q.line < start + pending]
        if repaired_text:
            self._warn(f"LINE_REPAIRED: {len(repaired_text)} records split by embedded line breaks were joined")
        sel = pa.array(good_idx, type=pa.int64())
        raw = pa.concat_arrays([arr.take(sel), pa.array(repaired_text, type=pa.string())])
        fields = pa.concat_arrays([parts.take(sel), pc.split_pattern(pa.array(repaired_text, type=pa.string()), "$")])
        first = pa.concat_arrays([pc.add(sel, start), pa.array(repaired_line, type=pa.int64())])
        nl = pa.array(np.concatenate([np.ones(len(good_idx), np.int32), np.asarray(repaired_n, np.int32)]))
        self.stats.repaired_records += len(repaired_text)
        return DelimitedBatch(fields, first, nl, raw, quarantine), pending
