"""DuckDB's memory limit and spill folder while counting are deployment settings
(CGTVIGIL_DUCKDB_MEMORY_LIMIT, CGTVIGIL_DUCKDB_TEMP_DIR): the limit a screen or a feature run
counts under is the one set, read on the connection that counts."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cgtvigil.cli import app
from cgtvigil.config import Settings
from cgtvigil.engine import DuckDBEngine
from cgtvigil.errors import CgtVigilError
from cgtvigil.screening import ingest_faers, pair_features
from cgtvigil.screening._screen import MEMORY_LIMIT
from cgtvigil.store import FaersStore, load_products


def _as_duckdb_shows(size: str) -> str:
    con = duckdb.connect()
    con.execute("SET memory_limit = ?", [size])
    shown: str = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    return shown


@pytest.fixture
def counted_under(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(memory_limit, temp_directory) of the connection each time pairs are counted."""
    seen: list[tuple[str, str]] = []
    count_pairs = DuckDBEngine.count_pairs

    def spy(self: DuckDBEngine, *args: Any, **kwargs: Any) -> pa.Table:
        row = self.con.execute("SELECT current_setting('memory_limit'), current_setting('temp_directory')").fetchall()
        seen.append((row[0][0], row[0][1]))
        return count_pairs(self, *args, **kwargs)

    monkeypatch.setattr(DuckDBEngine, "count_pairs", spy)
    return seen


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CGTVIGIL_DUCKDB_MEMORY_LIMIT", raising=False)
    monkeypatch.delenv("CGTVIGIL_DUCKDB_TEMP_DIR", raising=False)
    default = Settings.from_env()
    assert default.duckdb_memory_limit == Settings().duckdb_memory_limit == MEMORY_LIMIT
    assert default.duckdb_temp_dir is None
    monkeypatch.setenv("CGTVIGIL_DUCKDB_MEMORY_LIMIT", "768MiB")
    monkeypatch.setenv("CGTVIGIL_DUCKDB_TEMP_DIR", str(tmp_path))
    settings = Settings.from_env()
    assert (settings.duckdb_memory_limit, settings.duckdb_temp_dir) == ("768MiB", tmp_path)
    monkeypatch.setenv("CGTVIGIL_DUCKDB_MEMORY_LIMIT", "lots")
    with pytest.raises(CgtVigilError, match=r"CGTVIGIL_DUCKDB_MEMORY_LIMIT must be a memory size.*'lots'"):
        Settings.from_env()


def test_the_signals_command_counts_under_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, counted_under: list[tuple[str, str]]
) -> None:
    path = tmp_path / "long.parquet"
    rows = [(f"r{i}", f"drug{i % 3}", f"event{i % 5}") for i in range(60)]
    pq.write_table(pa.table({k: [r[j] for r in rows] for j, k in enumerate(("id", "var1", "var2"))}), path)
    spill = tmp_path / "spill"
    spill.mkdir()
    for size, folder in (("300MB", spill), ("1GB", None)):
        monkeypatch.setenv("CGTVIGIL_DUCKDB_MEMORY_LIMIT", size)
        if folder:
            monkeypatch.setenv("CGTVIGIL_DUCKDB_TEMP_DIR", str(folder))
        else:
            monkeypatch.delenv("CGTVIGIL_DUCKDB_TEMP_DIR", raising=False)
        out = tmp_path / f"signals_{size}.csv"
        result = CliRunner().invoke(app, ["signals", "--input", str(path), "--method", "prr,ror", "--output", str(out)])
        assert result.exit_code == 0, result.output
        assert len(out.read_text().splitlines()) == 16  # header and 15 pairs
    (limit_1, temp_1), (limit_2, temp_2) = counted_under
    assert (limit_1, limit_2) == (_as_duckdb_shows("300MB"), _as_duckdb_shows("1GB"))
    assert limit_1 != limit_2
    assert temp_1 == str(spill)
    assert Path(temp_2).name.startswith("cgtvigil-duckdb-") and not Path(temp_2).exists()  # its own, removed


def test_the_feature_run_counts_under_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, faers_samples: Path, counted_under: list[tuple[str, str]]
) -> None:
    db = tmp_path / "faers.duckdb"
    products = load_products()
    with FaersStore(db) as store, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ingest_faers([faers_samples / "faers_ascii_2017q2.zip"], store, products)
    monkeypatch.setenv("CGTVIGIL_DUCKDB_MEMORY_LIMIT", "700MB")
    settings = Settings.from_env()
    with FaersStore(db) as store, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        before = store.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        pair_features(store, products, memory_limit=settings.duckdb_memory_limit)
        after = store.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    assert counted_under and {limit for limit, _ in counted_under} == {_as_duckdb_shows("700MB")}
    assert after == before != _as_duckdb_shows("700MB")  # the store's own limit is restored


def test_a_bad_setting_is_one_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text("id,var1,var2\nr1,d,e\n")
    monkeypatch.setenv("CGTVIGIL_DUCKDB_MEMORY_LIMIT", "lots")
    result = CliRunner().invoke(app, ["signals", "--input", str(path), "--output", str(tmp_path / "o.csv")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "CGTVIGIL_DUCKDB_MEMORY_LIMIT must be a memory size" in " ".join(result.output.split())
