"""Writing screen results: CSV, Parquet or JSON, always with the analysis metadata
(spec, its hash, the data snapshot, the software version, the fitted priors)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cgtvigil.errors import ParseError, ValidationError
from cgtvigil.screening._screen import ScreenResult

__all__ = ["check_result_path", "check_writable", "read_result", "sidecar_path", "write_result"]

FORMATS = (".csv", ".parquet", ".json")


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def check_writable(path: Path, what: str = "The output file") -> None:
    """Refuse, before any work is done, a file path that cannot be written: it is a folder,
    a parent is a regular file, or the nearest existing folder (or the file) is not
    writable. Creates nothing."""
    path = Path(path)
    problem = None
    if path.is_dir():
        problem = "it is a folder; give a file name"
    elif path.exists() and not os.access(path, os.W_OK):
        problem = "the file is not writable"
    else:
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            problem = f"{folder} is a file, not a folder"
        elif not os.access(folder, os.W_OK | os.X_OK):
            problem = f"the folder {folder} is not writable"
    if problem:
        raise ValidationError([f"{what} {path} cannot be written: {problem}."])


def check_result_path(path: Path) -> None:
    """Refuse a result path with an unknown suffix or that cannot be written (with its sidecar)."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValidationError([f"The output file must end in .csv, .parquet or .json. Got '{path.name}'."])
    check_writable(path)
    check_writable(sidecar_path(path), "The metadata file")


def write_result(result: ScreenResult, path: Path) -> list[Path]:
    """Write the table and its metadata; returns the files written."""
    path = Path(path)
    check_result_path(path)
    suffix = path.suffix.lower()
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
    side = sidecar_path(path)
    if not path.is_file() or not side.is_file():
        missing = path if not path.is_file() else side
        raise ParseError(f"no such file {missing}; give a result file written by `cgtvigil signals`", file=str(path))
    try:
        meta = json.loads(side.read_text("utf-8"))
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            table = pq.read_table(path)
        elif suffix == ".csv":
            table = pacsv.read_csv(path)
        else:
            table = pa.Table.from_pylist(json.loads(path.read_text("utf-8"))["rows"])
    except (ValueError, KeyError, TypeError, pa.ArrowException) as exc:
        raise ParseError(f"not a result file written by `cgtvigil signals` ({exc})", file=str(path)) from exc
    return ScreenResult(table, meta)
