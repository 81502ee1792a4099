"""Shared pieces of the fault suite (review 2026-12-reliability §1.1-1.2): small synthetic
quarters, a clean reference store, a forked ingest that SIGKILLs itself after a named step or
after a delay, and a row-for-row comparison of two stores (EXCEPT ALL both ways)."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pytest

from cgtvigil.screening import ingest_faers
from cgtvigil.store import FaersStore, load_products
from cgtvigil.synth import SynthConfig, generate_faers

CLI = str(Path(sys.executable).with_name("cgtvigil"))

# Columns that differ between two correct stores: surrogate file ids (a sequence; crashed
# runs consume values) and wall-clock times. Rows are matched through the file's member name.
_VOLATILE = {"file_id", "imported_at"}


@pytest.fixture(scope="session")
def synth_quarters(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two seeded synthetic quarters of 300 reports each (2024Q1, 2024Q2; Q2 has follow-ups
    of Q1 cases and a Deleted list)."""
    out = tmp_path_factory.mktemp("synth")
    cfg = SynthConfig(reports_per_quarter=300, quarters=("2024Q1", "2024Q2"), seed=7)
    return generate_faers(out, load_products(), cfg).zips


def ingest(paths: Sequence[Path], db: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with FaersStore(db) as store:
            ingest_faers(list(paths), store, load_products())


@pytest.fixture(scope="session")
def clean_store(tmp_path_factory: pytest.TempPathFactory, synth_quarters: list[Path]) -> Path:
    """The reference: both synthetic quarters ingested once, without faults."""
    db = tmp_path_factory.mktemp("clean") / "clean.duckdb"
    ingest(synth_quarters, db)
    return db


def _child(paths: list[str], db: str, step: str | None, delay: float | None) -> None:
    if delay is not None:
        threading.Timer(delay, os.kill, (os.getpid(), signal.SIGKILL)).start()

    def checkpoint(name: str) -> None:
        if step is not None and (name == step or name.endswith(":" + step)):
            os.kill(os.getpid(), signal.SIGKILL)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with FaersStore(db) as store:
            ingest_faers([Path(p) for p in paths], store, load_products(), checkpoint=checkpoint)
    os._exit(0)


def run_forked(paths: Sequence[Path], db: Path, *, step: str | None = None, delay: float | None = None) -> int:
    """Ingest in a forked child that kills itself (SIGKILL) after ``step`` or ``delay``
    seconds; returns the child's exit code (-9 when it was killed). The parent holds no
    DuckDB connection while it forks."""
    ctx = multiprocessing.get_context("fork")
    proc = ctx.Process(target=_child, args=([str(p) for p in paths], str(db), step, delay))
    proc.start()
    proc.join(120)
    if proc.exitcode is None:  # never leave a stuck child behind
        proc.kill()
        proc.join()
        raise AssertionError("the forked ingest did not finish within 120 s")
    return proc.exitcode


def cli(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed ``cgtvigil`` command (a real process, so SIGKILL is real)."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [CLI, *map(str, args)], capture_output=True, text=True, env=full_env, timeout=timeout, check=False
    )


def _tables(con: duckdb.DuckDBPyConnection, catalog: str) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? ORDER BY table_name", [catalog]
    ).fetchall()
    return [r[0] for r in rows]


def store_differences(a: Path, b: Path) -> dict[str, tuple[int, int]]:
    """Tables whose rows differ between two stores: {table: (rows only in a, rows only in b)},
    by EXCEPT ALL both ways (file ids replaced by the member they came from)."""
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
        con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")
        diff: dict[str, tuple[int, int]] = {}
        tables = _tables(con, "a")
        if tables != _tables(con, "b"):
            return {"<tables>": (len(tables), len(_tables(con, "b")))}
        for t in tables:
            cols = [
                r[0]
                for r in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE database_name = 'a' AND table_name = ? "
                    "ORDER BY column_index",
                    [t],
                ).fetchall()
            ]
            keep = ", ".join(f"x.{c}" for c in cols if c not in _VOLATILE)
            join = "LEFT JOIN {db}.source_file s USING (file_id)" if "file_id" in cols and t != "source_file" else ""
            member = ", s.quarter AS _q, s.member AS _m" if join else ""

            def rel(db: str, keep: str = keep, join: str = join, member: str = member, t: str = t) -> str:
                return f"SELECT {keep}{member} FROM {db}.{t} x {join.format(db=db)}"

            only_a = con.execute(f"SELECT count(*) FROM ({rel('a')} EXCEPT ALL {rel('b')})").fetchone()
            only_b = con.execute(f"SELECT count(*) FROM ({rel('b')} EXCEPT ALL {rel('a')})").fetchone()
            assert only_a is not None and only_b is not None
            if only_a[0] or only_b[0]:
                diff[t] = (only_a[0], only_b[0])
        return diff
    finally:
        con.close()


def copy_store(src: Path, dst: Path) -> Path:
    shutil.copy(src, dst)
    wal = Path(f"{src}.wal")
    if wal.exists():
        shutil.copy(wal, f"{dst}.wal")
    return dst
