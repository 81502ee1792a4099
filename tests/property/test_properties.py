"""Hypothesis properties of the statistics and of the line-accounting reader."""

from __future__ import annotations

import io
import warnings

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from cgtvigil.ingest import DelimitedReader
from cgtvigil.signals import ContingencyTables, GammaMixturePrior, ebgm, information_component, prr, ror

counts = st.integers(min_value=0, max_value=10**6)
PRIOR = GammaMixturePrior(0.4, 0.25, 7.0, 7.6, 0.06)


@given(counts, counts, counts, counts)
def test_intervals_contain_their_point_estimates(a: int, b: int, c: int, d: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = ContingencyTables.from_counts([a], [b], [c], [d])
        for r, point in ((prr(t), "prr"), (ror(t), "ror")):
            value = getattr(r, point)[0]
            if np.isfinite(value):
                assert r.lower[0] <= value <= r.upper[0]
    e = t.expected[0]
    if np.isfinite(e):
        i = information_component([a], [e])
        assert i.lower[0] <= i.ic[0] <= i.upper[0]
        if e > 0:
            g = ebgm([a], [e], PRIOR)
            assert g.lower[0] <= g.ebgm[0] <= g.upper[0]


@given(st.integers(1, 5000), st.floats(0.01, 500.0))
def test_more_cases_never_lower_the_statistics(n: int, e: float) -> None:
    """At a fixed expected count, one more observed case raises IC, IC025, EBGM and EB05."""
    i = information_component([n, n + 1], [e, e])
    g = ebgm([n, n + 1], [e, e], PRIOR)
    assert i.ic[1] > i.ic[0] and i.lower[1] > i.lower[0]
    assert g.ebgm[1] > g.ebgm[0] and g.lower[1] > g.lower[0]


field = st.text(alphabet=st.characters(blacklist_characters="$\n\r", blacklist_categories=("Cs",)), max_size=6)


@given(
    st.lists(st.one_of(st.lists(field, min_size=1, max_size=6).map("$".join), st.just("")), max_size=40),
    st.sampled_from(["utf-8", "cp1252"]),
    st.integers(8, 64),
    st.booleans(),
)
def test_every_physical_line_is_accounted_for(lines: list[str], encoding: str, chunk: int, fast: bool) -> None:
    """Whatever the lines (any field count, blank lines, any encoding, any chunking, either
    reader): read = physical lines, loaded + quarantined = read, and every record has the
    header's three fields."""
    body = "\n".join(["a$b$c", *lines]) + "\n"
    data = body.encode(encoding, errors="replace")
    reader = DelimitedReader(io.BytesIO(data), chunk_bytes=chunk, fast=fast)
    loaded = quarantined = 0
    for batch in reader.batches():
        loaded += int(np.asarray(batch.n_lines).sum())
        quarantined += sum(q.n_lines for q in batch.quarantine)
        assert len(batch.columns) == 3 and all(len(c) == len(batch) for c in batch.columns)
    assert reader.stats.read == len(lines)
    assert loaded + quarantined == len(lines)
