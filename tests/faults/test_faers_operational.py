"""Operational failures of `cgtvigil ingest faers` give one clear message and exit 2, never a
traceback, and a re-run after the cause is fixed completes the load (review 2026-12-reliability
D12, D1; matrix 1.9-1.11, 2.16, 2.21, 2.26). Real DuckDB files, a real second process holding
the lock, and size-limited or read-only tmpfs mounts (skipped, with the reason, where this
machine cannot mount one)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cgtvigil.cli import app
from faults.conftest import store_differences

pytestmark = pytest.mark.faults

runner = CliRunner()


def _ingest(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, ["ingest", "faers", *map(str, args)])
    text = result.output
    assert "Traceback" not in text, text
    return result.exit_code, " ".join(text.split())  # rich wraps long lines


@contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode}); needs root and mount(8)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def _remount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True, capture_output=True)


def test_db_is_a_folder(tmp_path: Path, faers_samples: Path) -> None:
    """Matrix 1.11: `--db` a directory gave `IOException … Is a directory`."""
    code, text = _ingest(faers_samples / "faers_ascii_2017q2.zip", "--db", tmp_path)
    assert code == 2 and "is a folder; give the store's file path" in text


def test_store_locked_by_another_process(tmp_path: Path, faers_samples: Path) -> None:
    """D12: a second writer got `IOException: Could not set lock on file`."""
    db = tmp_path / "s.duckdb"
    script = "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(120)"
    with subprocess.Popen([sys.executable, "-c", script, str(db)], stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
            code, text = _ingest(faers_samples / "faers_ascii_2017q2.zip", "--db", db)
        finally:
            holder.kill()
    assert code == 2 and f"the store is locked by process {holder.pid}" in text


def test_report_json_unwritable_is_refused_before_any_work(tmp_path: Path, faers_samples: Path) -> None:
    """Matrix 2.26: `--report-json` under a regular file raised NotADirectoryError after the
    ingest had committed; now it is refused first and no store is created."""
    (tmp_path / "afile").write_text("x")
    db = tmp_path / "s.duckdb"
    code, text = _ingest(
        faers_samples / "faers_ascii_2017q2.zip", "--db", db, "--report-json", tmp_path / "afile" / "r.json"
    )
    assert code == 2 and "The import report" in text and "cannot be written" in text
    assert not db.exists()


def test_damaged_zip_on_the_command_line(tmp_path: Path, faers_samples: Path) -> None:
    """Matrix 2.21: corrupt deflate data was a `zlib.error` traceback."""
    src = faers_samples / "faers_2017q2"
    bad = tmp_path / "faers_ascii_2017q2.zip"
    with zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(src.iterdir()):
            zf.writestr(f"ascii/{p.name}", p.read_bytes())
    data = bytearray(bad.read_bytes())
    with zipfile.ZipFile(bad) as zf:
        info = zf.getinfo("ascii/DRUG17Q2.txt")
    start = info.header_offset + 30 + len(info.filename) + 200
    data[start : start + 64] = bytes(b ^ 0x5A for b in data[start : start + 64])
    bad.write_bytes(bytes(data))
    code, text = _ingest(bad, "--db", tmp_path / "s.duckdb")
    assert code == 2 and "DRUG17Q2.txt: the member is damaged" in text


def test_zero_byte_member_and_ignored_members_are_shown(tmp_path: Path, faers_samples: Path) -> None:
    """Review D2/D22: a zero-byte member is warned about on screen (status `empty`), and a
    file that is not read is listed."""
    folder = tmp_path / "faers_ascii_2017q2"
    shutil.copytree(faers_samples / "faers_2017q2", folder)
    (folder / "RPSR17Q2.txt").write_bytes(b"")
    (folder / "notes.txt").write_text("x")
    code, text = _ingest(folder, "--db", tmp_path / "s.duckdb")
    assert code == 0
    assert "RPSR17Q2.txt: a zero-byte file" in text and "│ empty" in text
    assert "notes.txt: not a FAERS data file" in text


def test_read_only_file_system(tmp_path: Path, faers_samples: Path) -> None:
    """Matrix 1.10: an existing or new store on a read-only file system gave tracebacks."""
    with _tmpfs(tmp_path / "ro", "16m") as mnt:
        zipped = faers_samples / "faers_ascii_2017q2.zip"
        assert _ingest(zipped, "--db", mnt / "s.duckdb")[0] == 0
        _remount(mnt, "ro")
        for db in (mnt / "s.duckdb", mnt / "new.duckdb"):
            code, text = _ingest(zipped, "--db", db)
            assert code == 2 and "read-only" in text, text


def test_disk_full_then_rerun_after_freeing_space(
    tmp_path: Path, synth_quarters: list[Path], clean_store: Path
) -> None:
    """Matrix 1.9: a full disk gave a traceback, kept DEMO, and after the disk was enlarged
    the re-run skipped the whole archive. Now: one message, nothing of the quarter kept, and
    the re-run on the enlarged disk equals a clean ingest (a 400 kB tmpfs fills while the two
    synthetic quarters are written; found by trying)."""
    with _tmpfs(tmp_path / "small", "400k") as mnt:
        db = mnt / "s.duckdb"
        code, text = _ingest(*synth_quarters, "--db", db)
        assert code == 2 and "the disk is full" in text, text
        _remount(mnt, "size=64m")
        code, text = _ingest(*synth_quarters, "--db", db)
        assert code == 0, text
        assert store_differences(clean_store, db) == {}
