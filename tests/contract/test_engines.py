"""The counting-engine contract: Spark (local mode) and DuckDB give the same counts and the
same screen, on the shared openEBGM sample (20,000 SYNTHETIC reports, plain and stratified by
strat1 x strat2) and on the shared FAERS samples (2017Q2 + AERS 2004Q1) ingested into a store
and screened at PT and topic level with the store's strata.

Reference: the two engines are independent implementations of one definition (distinct
reports per pair, per drug, per event, in all; Mantel-Haenszel E = sum_s n_drug,s * n_event,s
/ n_s). Counts (n, a, b, c, d per pair; n per stratum) must be equal, and so must E, to the
last bit: both engines sum its terms in integer parts (engine._base.expected_term_parts_sql),
which no thread order changes. Screens from equal counts and E are compared to 1e-9, with the
EBGM prior fitted by each (when E was summed in floating point it differed in the last bit
between the engines and between runs, and on the small FAERS store's flat likelihood the
fitted priors came out apart: EBGM 5e-4 relative).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from cgtvigil.engine import CountingEngine, DuckDBEngine, SparkEngine
from cgtvigil.model import SignalSpec
from cgtvigil.screening import ScreenResult, ingest_faers, screen_long_file, screen_store
from cgtvigil.screening._export import export_relation
from cgtvigil.store import STORE_STRATA, FaersStore, analysis_relation_sql, load_products, load_topics

COUNTS = ("n", "n_drug", "n_event", "n_total")
OPENEBGM = {"plain": (), "stratified": ("strat1", "strat2")}


def _cells(table: pa.Table) -> pa.Table:
    """Pairs sorted, with the 2x2 cells a, b, c, d beside the margins."""
    t = table.sort_by([("drug", "ascending"), ("event", "ascending")])
    n, nd, ne, nt = (t.column(c) for c in COUNTS)
    cells = {
        "a": n,
        "b": pc.subtract(nd, n),
        "c": pc.subtract(ne, n),
        "d": pc.add(pc.subtract(pc.subtract(nt, nd), ne), n),
    }
    for name, values in cells.items():
        t = t.append_column(name, values)
    return t


def _assert_same_counts(spark: pa.Table, duck: pa.Table) -> None:
    assert spark.schema == duck.schema
    s, d = _cells(spark), _cells(duck)
    assert s.num_rows == d.num_rows > 0
    exact = ["drug", "event", *COUNTS, "a", "b", "c", "d"]
    assert s.select(exact).equals(d.select(exact))
    if "e_strat" in d.column_names:
        assert s.column("e_strat").equals(d.column("e_strat"))


def _by_pair(table: pa.Table) -> pa.Table:
    """Rows in (drug, event, event_type) order (ties of the ranking may come in either order)."""
    keys = [pc.cast(table.column(k), pa.string()) for k in ("drug", "event", "event_type")]
    order = pc.sort_indices(pa.table(dict(zip("abc", keys, strict=True))), [(k, "ascending") for k in "abc"])
    return table.take(order)


def _assert_same_screen(spark: ScreenResult, duck: ScreenResult, rtol: float = 1e-9) -> None:
    _assert_same_table(spark.table, duck.table, rtol)
    assert spark.metadata["priors"].keys() == duck.metadata["priors"].keys()
    assert spark.metadata["attrition"] == duck.metadata["attrition"]
    assert spark.metadata["engine"] == "SparkEngine"


def _assert_same_table(s: pa.Table, d: pa.Table, rtol: float = 1e-9) -> None:
    assert s.schema == d.schema
    assert s.num_rows == d.num_rows > 0
    s, d = _by_pair(s), _by_pair(d)
    for name in d.column_names:
        a, b = s.column(name), d.column(name)
        if pa.types.is_floating(b.type):
            np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=rtol, atol=1e-12, equal_nan=True, err_msg=name)
        else:  # a dictionary column compared by its values (each engine's dictionary order differs)
            if pa.types.is_dictionary(b.type):
                a, b = pc.cast(a, b.type.value_type), pc.cast(b, b.type.value_type)
            assert a.equals(b), name


def _decoded(table: pa.Table) -> pa.Table:
    """Dictionary columns as their values (the dictionary's order is not part of the result)."""
    columns = [pc.cast(c, c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns]
    return pa.table(columns, names=table.column_names)


def _counts(engine: CountingEngine, path: Path, strata: tuple[str, ...]) -> tuple[dict[str, int], pa.Table]:
    relation = engine.relation_from_file(path, strata=strata)
    return engine.count_rows(relation), engine.count_pairs(relation, strata=strata)


@pytest.fixture(scope="module")
def openebgm(shared: Path) -> Path:
    return shared / "disproportionality" / "openebgm_synth_20k" / "reports_long.csv"


@pytest.mark.parametrize("variant", OPENEBGM)
def test_openebgm_sample_counts_and_screen(spark: Any, openebgm: Path, variant: str) -> None:
    strata = OPENEBGM[variant]
    rows_s, pairs_s = _counts(SparkEngine(spark), openebgm, strata)
    rows_d, pairs_d = _counts(DuckDBEngine(), openebgm, strata)
    assert rows_s == rows_d
    assert rows_d["rows"] == rows_d["complete"] > 50_000
    _assert_same_counts(pairs_s, pairs_d)
    if strata:  # E differs from the crude n_drug * n_event / n_total: the strata are used
        crude = pc.divide(
            pc.multiply(pc.cast(pairs_d.column("n_drug"), pa.float64()), pairs_d.column("n_event")),
            pairs_d.column("n_total"),
        )
        assert not np.allclose(crude.to_numpy(), pairs_d.column("e_strat").to_numpy())
    spec = SignalSpec(strata=strata)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zero cells in a synthetic set
        by_spark = screen_long_file(openebgm, spec, engine=SparkEngine(spark))
        by_duck = screen_long_file(openebgm, spec)
    _assert_same_screen(by_spark, by_duck)


def test_blank_fields_are_counted_alike(spark: Any, tmp_path: Path) -> None:
    """Rows with a blank (or whitespace) report id, drug or event, repeated rows and a stray
    quote: the row counts and the pairs agree."""
    path = tmp_path / "long.csv"
    path.write_text(
        'report_id,drug,event,sex\n1,A,X,F\n1,A,X,F\n1,B,X,F\n2,A,Y,M\n2," ",Y,M\n,A,X,F\n3,A,,M\n4,"""Q",X,F\n'
        "5,B,Y,\n",
        "utf-8",
    )
    for strata in ((), ("sex",)):
        rows_s, pairs_s = _counts(SparkEngine(spark), path, strata)
        rows_d, pairs_d = _counts(DuckDBEngine(), path, strata)
        assert rows_s == rows_d
        assert rows_d["blank_report_id"] == rows_d["blank_drug"] == rows_d["blank_event"] == 1
        assert rows_d["stray_quote"] == 1
        _assert_same_counts(pairs_s, pairs_d)


@pytest.fixture(scope="module")
def faers_store(tmp_path_factory: pytest.TempPathFactory, faers_samples: Path) -> Path:
    db = tmp_path_factory.mktemp("engines") / "faers.duckdb"
    zips = [faers_samples / "faers_ascii_2017q2.zip", faers_samples / "aers_ascii_2004q1.zip"]
    with FaersStore(db) as store:
        ingest_faers(zips, store, load_products())
    return db


@pytest.mark.parametrize("strata", [STORE_STRATA, ()], ids=["store-strata", "crude"])
def test_faers_samples_store_screen(spark: Any, faers_store: Path, tmp_path: Path, strata: tuple[str, ...]) -> None:
    spec = SignalSpec(products_only=False, strata=strata, roles=("PS", "SS", "C"))
    with FaersStore(faers_store, read_only=True) as store, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_spark = screen_store(
            store, spec, load_products(), load_topics(), engine=SparkEngine(spark), export_dir=tmp_path
        )
        by_duck = screen_store(store, spec, load_products(), load_topics())
    assert set(by_duck.table.column("event_type").to_pylist()) == {"pt", "topic"}
    _assert_same_screen(by_spark, by_duck)
    assert list(tmp_path.iterdir()) == []  # the Parquet export is removed after the screen


def test_faers_samples_store_counts(spark: Any, faers_store: Path, tmp_path: Path) -> None:
    """The store's Parquet export counted by Spark equals DuckDB counting the store itself."""
    sql = analysis_relation_sql(("PS", "SS", "C"), level="pt")
    with FaersStore(faers_store, read_only=True) as store:
        duck = DuckDBEngine(store.con)
        relation = duck.relation_from_sql(sql)
        rows_d = duck.count_rows(relation)
        pairs_d = duck.count_pairs(relation, strata=STORE_STRATA)
        exported = export_relation(store, sql, tmp_path / "pt.parquet")
    spark_engine = SparkEngine(spark)
    relation = spark_engine.relation_from_file(exported, strata=STORE_STRATA)
    assert spark_engine.count_rows(relation) == rows_d
    assert rows_d["complete"] > 100
    _assert_same_counts(spark_engine.count_pairs(relation, strata=STORE_STRATA), pairs_d)


def test_signals_command_engine_spark(spark: Any, faers_store: Path, tmp_path: Path) -> None:
    """`cgtvigil signals --engine spark` writes the screen `--engine duckdb` writes (the
    command reuses this run's local session)."""
    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from cgtvigil.cli import app

    outputs = {}
    for engine in ("duckdb", "spark"):
        out = tmp_path / f"{engine}.parquet"
        args = ["signals", "--db", str(faers_store), "--all-drugs", "--prior", "0.2,0.1,2,4,0.3"]
        args += ["--output", str(out), "--engine", engine]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        outputs[engine] = pq.read_table(out)
    _assert_same_table(outputs["spark"], outputs["duckdb"])


def test_signals_command_refuses_spark_without_java(faers_store: Path, tmp_path: Path, monkeypatch: Any) -> None:
    from typer.testing import CliRunner

    from cgtvigil.cli import app

    monkeypatch.setenv("PATH", str(tmp_path))  # no java on it
    out = tmp_path / "screen.parquet"
    result = CliRunner().invoke(app, ["signals", "--db", str(faers_store), "--output", str(out), "--engine", "spark"])
    assert result.exit_code != 0
    assert "--engine spark cannot run here" in result.output and "default-jre-headless" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_duckdb_screen_does_not_depend_on_its_thread_count(faers_store: Path) -> None:
    """The same store screened with 1, 2 and 4 DuckDB threads gives the same table to the last bit,
    fitted prior included (with E summed in DOUBLE, the thread order changed E's last bit and, on
    this flat likelihood, the fitted prior: EBGM 0.1 % apart in one run of four)."""
    spec = SignalSpec(products_only=False, strata=STORE_STRATA, roles=("PS", "SS", "C"))
    tables, priors = [], []
    with FaersStore(faers_store, read_only=True) as store, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for threads in (1, 2, 4, 4, 4):
            store.con.execute(f"SET threads = {threads}")
            result = screen_store(store, spec, load_products(), load_topics())
            tables.append(_decoded(_by_pair(result.table)))
            priors.append(result.metadata["priors"])
    assert tables[0].num_rows > 100
    for table, prior in zip(tables[1:], priors[1:], strict=True):
        assert table.equals(tables[0])
        assert prior == priors[0]
