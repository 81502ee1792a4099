"""Writing screen results: CSV, Parquet or JSON, always with the analysis metadata
(spec, its hash, the data snapshot, the software version, the fitted priors)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cgtvigil.errors import ValidationError
from cgtvigil.screening._screen import ScreenResult

__all__ = ["read_result", "sidecar_path", "write_result"]

FORMATS = (".csv", ".parquet", ".json")


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_result(result: ScreenResult, path: Path) -> list[Path]:
    """Write the table and its metadata; returns the files written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValidationError([f"The output file must end in .csv, .parquet or .json. Got '{path.name}'."])
    path.parent.mkdir(parents=True, exist_ok=True)
    meta_text = json.dumps(result.metadata, indent=2, default=str)
    if suffix == ".csv":
        pacsv.write_csv(result.table, path)
    elif suffix == ".parquet":
        table = result.table.replace_schema_metadata({b"cgtvigil": meta_text.encode()})
        pq.write_table(table, path)
    else:
        rows = [{k: _clean(v) for k, v in r.items()} for r in result.table.to_pylist()]
        path.write_text(json.dumps({"metadata": result.metadata, "rows": rows}, default=str), "utf-8")
    side = sidecar_path(path)
    side.write_text(meta_text, "utf-8")
    return [path, side]


def read_result(path: Path) -> ScreenResult:
    """Read a result file written by :func:`write_result` with its metadata."""
    path = Path(path)
    meta = json.loads(sidecar_path(path).read_text("utf-8"))
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        table = pq.read_table(path)
    elif suffix == ".csv":
        table = pacsv.read_csv(path)
    else:
        table = pa.Table.from_pylist(json.loads(path.read_text("utf-8"))["rows"])
    return ScreenResult(table, meta)
