"""The screen reads a store on a read-only file system (reliability review 2026-12, D13 and
matrix row 1.10: ``signals --db`` opened the store read-write and failed with the traceback
``IOException: Cannot open file ... Read-only file system``).

A tmpfs is mounted read-only under the test's folder, which needs root (CAP_SYS_ADMIN); the
test is skipped with that reason elsewhere. The store is the real FDA 2017Q2 sample
(``shared/data/faers``)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cgtvigil.cli import app
from cgtvigil.screening import ingest_faers
from cgtvigil.store import FaersStore, load_products

pytestmark = pytest.mark.faults


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def read_only_store(tmp_path: Path, faers_samples: Path) -> Iterator[Path]:
    with FaersStore(tmp_path / "s.duckdb") as store:
        ingest_faers([faers_samples / "faers_2017q2"], store, load_products())
    ro = tmp_path / "ro"
    ro.mkdir()
    if shutil.which("mount") is None or _mount("-t", "tmpfs", "-o", "size=64m", "tmpfs", str(ro)).returncode:
        pytest.skip("mounting a read-only tmpfs needs root (CAP_SYS_ADMIN)")
    try:
        shutil.copy(tmp_path / "s.duckdb", ro / "s.duckdb")
        assert _mount("-o", "remount,ro", str(ro)).returncode == 0
        yield ro / "s.duckdb"
    finally:
        subprocess.run(["umount", str(ro)], check=True)


def test_signals_screens_a_store_on_a_read_only_file_system(read_only_store: Path, tmp_path: Path) -> None:
    with pytest.raises(OSError, match="Read-only file system"):
        (read_only_store.parent / "probe").write_text("x")
    r = CliRunner().invoke(
        app, ["signals", "--db", str(read_only_store), "--output", str(tmp_path / "o.csv"), "--levels", "pt"]
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o.csv").exists()
