"""The counting-engine interface: the only place where reports become 2x2 margins.

An engine turns a long relation (report_id, drug, event[, strata...]) into one row per
observed (drug, event) pair with distinct-report counts ``n``, ``n_drug``, ``n_event``,
``n_total`` and, when strata are given, the Mantel-Haenszel expected count ``e_strat``.
The statistics in :mod:`cgtvigil.signals` never see the engine, so another backend (Spark)
needs no change to them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "EXPECTED_PARTS",
    "PAIR_COUNT_COLUMNS",
    "ROW_COUNT_KEYS",
    "CountingEngine",
    "expected_from_parts",
    "expected_term_parts_sql",
]

PAIR_COUNT_COLUMNS = ("drug", "event", "n", "n_drug", "n_event", "n_total")
# rows: all rows; complete: rows with a report id, a drug and an event (the rows counted);
# blank_*: rows whose field is empty or blank; stray_quote: rows whose drug or event starts
# with a double quote (an unbalanced quote the CSV reader took as text).
ROW_COUNT_KEYS = ("rows", "complete", "blank_report_id", "blank_drug", "blank_event", "stray_quote")

# The Mantel-Haenszel expected count E = sum_s n_drug,s * n_event,s / n_s is summed by the engines
# in integers, so that it is exact and does not depend on the order threads or executors add the
# strata in: in floating point the last bit of E varied from run to run and between engines, and
# the MGPS prior fit, whose likelihood is flat on a small store, turned that into a different
# prior (EBGM 0.1 % apart between two runs on the same data). Each term t = m / n_s, m = n_drug,s *
# n_event,s, is split with integer division into q = m // n_s and the fraction's first 62 bits,
# f1 = (m % n_s) * 2^31 // n_s and f2 = ((m % n_s) * 2^31 % n_s) * 2^31 // n_s, so that
# t = q + f1 / 2^31 + f2 / 2^62 - eps with 0 <= eps < 2^-62 (all within 64-bit integers while
# n_s < 2^32 and m < 2^63). The engines return the per-pair sums of q, f1 and f2 (EXPECTED_PARTS);
# expected_from_parts turns them into E once, here, the same way for every engine.
EXPECTED_PARTS = ("e_q", "e_f1", "e_f2")
_FRACTION_BITS = 31


def expected_term_parts_sql(m: str, n: str, div: str) -> tuple[str, str, str]:
    """SQL of the three integer parts of the term ``m / n`` (``div`` the dialect's integer division)."""
    r = f"(({m}) % ({n}))"
    shifted = f"({r} * {2**_FRACTION_BITS})"
    return (
        f"(({m}) {div} ({n}))",
        f"({shifted} {div} ({n}))",
        f"((({shifted} % ({n})) * {2**_FRACTION_BITS}) {div} ({n}))",
    )


def expected_from_parts(table: pa.Table) -> pa.Table:
    """Replace the summed parts of E (EXPECTED_PARTS) by ``e_strat`` (float64)."""
    q, f1, f2 = (pc.cast(table.column(c), pa.int64()).to_numpy().astype(np.float64) for c in EXPECTED_PARTS)
    # each part is an integer below 2^53, so exact as a float; the powers of two scale exactly
    e_strat = q + (f1 * 2.0**-_FRACTION_BITS + f2 * 2.0 ** (-2 * _FRACTION_BITS))
    table = table.drop_columns(list(EXPECTED_PARTS))
    return table.append_column(pa.field("e_strat", pa.float64()), pa.array(e_strat, pa.float64()))


@runtime_checkable
class CountingEngine(Protocol):
    def relation_from_file(self, path: Path, *, strata: tuple[str, ...] = ()) -> str:
        """Register a long-format CSV/Parquet file; returns a relation handle."""
        ...

    def relation_from_sql(self, sql: str) -> str:
        """Register a query over the engine's own database; returns a relation handle."""
        ...

    def count_pairs(self, relation: str, *, strata: tuple[str, ...] = ()) -> pa.Table:
        """Distinct-report counts per observed pair (columns PAIR_COUNT_COLUMNS [+ e_strat])."""
        ...

    def count_rows(self, relation: str) -> dict[str, int]:
        """Rows of a relation and how many ``count_pairs`` leaves out (keys ROW_COUNT_KEYS)."""
        ...
