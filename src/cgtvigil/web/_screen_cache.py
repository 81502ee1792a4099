"""The screen result shown on the signals pages, read once per file version and kept sorted
by each sort key on first use, so a request filters and slices instead of re-reading and
re-sorting millions of rows."""

import json
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = ["SORT_KEYS", "ScreenCache"]

SORT_KEYS = ("eb05", "n", "ic025", "ror_lower", "prr")


class ScreenCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: float | None = None
        self._sorted: dict[str, pa.Table] = {}
        self.table: pa.Table | None = None
        self.meta: dict[str, Any] = {}
        self.products: list[str] = []
        self.topic_names: dict[str, str] = {}
        self.rule_names: list[str] = []

    def _load(self) -> None:
        stamp = self.path.stat().st_mtime
        if stamp == self._stamp:
            return
        table = pq.read_table(self.path).combine_chunks()
        self.meta = json.loads((table.schema.metadata or {}).get(b"cgtvigil", b"{}"))
        self.table = table
        self.products = sorted(pc.unique(table.column("drug")).to_pylist())
        self.topic_names = self.meta.get("dictionaries", {}).get("topic_names", {})
        self.rule_names = [c[4:] for c in table.column_names if c.startswith("sdr_")]
        self._sorted = {}
        self._stamp = stamp

    def view(self, sort: str) -> pa.Table | None:
        """The table sorted by ``sort`` (descending), or None when there is no result file."""
        with self._lock:
            if not self.path.exists():
                return None
            self._load()
            assert self.table is not None
            if sort not in self._sorted:
                key = sort if sort in SORT_KEYS else "eb05"
                order = pc.sort_indices(self.table, sort_keys=[(key, "descending")])
                self._sorted[sort] = self.table.take(order)
            return self._sorted[sort]

    def event_label(self, event_type: str, event: str) -> str:
        """A safety topic's name, or the PT itself."""
        return self.topic_names.get(event, event) if event_type == "topic" else event

    def rules_met(self, row: dict[str, Any]) -> list[str]:
        """The names of the signal rules a screen row meets."""
        return [n for n in self.rule_names if row.get(f"sdr_{n}")]
