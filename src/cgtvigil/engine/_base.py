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

import pyarrow as pa

__all__ = ["PAIR_COUNT_COLUMNS", "ROW_COUNT_KEYS", "CountingEngine"]

PAIR_COUNT_COLUMNS = ("drug", "event", "n", "n_drug", "n_event", "n_total")
# rows: all rows; complete: rows with a report id, a drug and an event (the rows counted);
# blank_*: rows whose field is empty or blank; stray_quote: rows whose drug or event starts
# with a double quote (an unbalanced quote the CSV reader took as text).
ROW_COUNT_KEYS = ("rows", "complete", "blank_report_id", "blank_drug", "blank_event", "stray_quote")


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
