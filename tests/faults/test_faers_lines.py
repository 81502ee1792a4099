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
)
def test_every_physical_line_is_in_exactly_one_record_or_quarantine_row(
    lines: list[str], eol: str, chunk: int, max_join: int, n: int
) -> None:
    """Lines covered by loaded records (``line`` .. ``line + n_lines - 1``) and by quarantine
    rows partition 2..read+1; no record joins more than ``max_join`` lines; exactly the lines
    above the 32-byte cap (e.g. the 40-byte ones) are quarantined as LINE_TOO_LONG."""
    header = "$".join(f"h{k}" for k in range(n))
    data = (eol.join([header, *lines]) + (eol if lines else "")).encode()
    reader = DelimitedReader(io.BytesIO(data), chunk_bytes=chunk, max_record_lines=max_join, max_line_bytes=32)
    covered: list[int] = []
    for batch in reader.batches():
        for first, k, fields in zip(
            batch.first_line.to_pylist(), batch.n_lines.to_pylist(), batch.fields.to_pylist(), strict=True
        ):
            assert 1 <= k <= max_join and len(fields) in (n, n + 1)
            covered.extend(range(first, first + k))
        for q in batch.quarantine:
            assert q.n_lines == 1
            assert (q.reason == "LINE_TOO_LONG") == (len(lines[q.line - 2].encode()) > 32)
            covered.append(q.line)
    assert reader.stats.read == len(lines)
    assert sorted(covered) == list(range(2, len(lines) + 2))
