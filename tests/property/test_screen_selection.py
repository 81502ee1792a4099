"""The signals table's selection (ScreenCache.select: sort orders and filter masks kept as row
numbers, issue 11 latency work) gives exactly the rows a plain filter-then-sort would."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from cgtvigil.screening import ScreenCache, SignalFilters

DRUGS = ["KYMRIAH", "YESCARTA", "aspirin", "Abecma"]
EVENTS = ["CRS", "Pyrexia", "NEUROTOX", "Rash"]


def _write(path: Path, rows: list[dict[str, object]]) -> None:
    meta = {"dictionaries": {"topic_names": {"NEUROTOX": "Neurotoxicity (ICANS)"}}}
    schema = pa.schema(
        [("drug", pa.string()), ("event", pa.string()), ("event_type", pa.string()), ("n", pa.int64()),
         ("eb05", pa.float64()), ("sdr_fda_eb05", pa.bool_())],
        metadata={"cgtvigil": json.dumps(meta)},
    )  # fmt: skip
    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, path)


row = st.fixed_dictionaries(
    {
        "drug": st.sampled_from(DRUGS),
        "event": st.sampled_from(EVENTS),
        "event_type": st.sampled_from(["pt", "topic"]),
        "n": st.integers(1, 50),
        "eb05": st.one_of(st.none(), st.floats(0.1, 9, allow_nan=False)),
        "sdr_fda_eb05": st.one_of(st.none(), st.booleans()),
    }
)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(row, min_size=1, max_size=40),
    product=st.sampled_from(["", *DRUGS]),
    level=st.sampled_from(["", "pt", "topic"]),
    rule=st.sampled_from(["", "fda_eb05"]),
    q=st.sampled_from(["", "neuro", "CAR", "ia"]),
    sort=st.sampled_from(["eb05", "n", "drug"]),
    order=st.sampled_from(["desc", "asc"]),
)
def test_selection_equals_filter_then_sort(tmp_path_factory, rows, product, level, rule, q, sort, order) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("screen") / "screen.parquet"
    _write(path, rows)
    cache = ScreenCache(path)
    filters = SignalFilters(product=product, level=level, rule=rule, q=q, sort=sort, order=order)
    for _ in range(2):  # the second answer comes from the kept selection
        found = cache.select(filters)
        assert found is not None
        table, selected = found
        got = table.take(selected).to_pylist()

        def label(r: dict[str, object]) -> str:
            return (
                "Neurotoxicity (ICANS)" if r["event_type"] == "topic" and r["event"] == "NEUROTOX" else str(r["event"])
            )

        kept = [
            r
            for r in rows
            if (not product or r["drug"] == product)
            and (not level or r["event_type"] == level)
            and (not rule or r["sdr_fda_eb05"])
            and (not q or q.lower() in str(r["drug"]).lower() or q.lower() in label(r).lower())
        ]
        assert len(got) == len(kept)
        assert sorted(repr(sorted(r.items())) for r in got) == sorted(repr(sorted(r.items())) for r in kept)
        keys = [r[sort] for r in got]
        present = [k for k in keys if k is not None]
        assert keys[: len(present)] == present  # missing values last
        assert present == sorted(present, reverse=order == "desc")


def test_a_new_screen_file_replaces_the_kept_selections(tmp_path: Path) -> None:
    path = tmp_path / "screen.parquet"
    base = {"event_type": "pt", "eb05": 1.0, "sdr_fda_eb05": False}
    _write(path, [{"drug": "KYMRIAH", "event": "CRS", "n": 3, **base}])
    cache = ScreenCache(path)
    filters = SignalFilters(product="KYMRIAH")
    assert len(cache.select(filters)[1]) == 1  # type: ignore[index]
    _write(path, [{"drug": "KYMRIAH", "event": e, "n": 3, **base} for e in EVENTS])
    import os

    os.utime(path, (1, 2))  # a new file version (mtime), as a re-screen writes
    assert len(cache.select(filters)[1]) == 4  # type: ignore[index]
