"""Apache Spark implementation of the counting engine (for stores beyond one machine).

The same counts as :class:`~cgtvigil.engine.DuckDBEngine`: distinct reports per observed
(drug, event) pair, the margins, and the Mantel-Haenszel expected count over strata, from a
long-format Parquet or CSV file (for the FAERS store: its Parquet export, see
:func:`cgtvigil.screening.export_store_parquet`). PySpark is imported when a session is started,
never when cgtvigil is imported; it needs Java (17 or later) unless it talks to a Spark
Connect server.
"""

from __future__ import annotations

import itertools
import os
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pyarrow as pa

from cgtvigil.engine._base import EXPECTED_PARTS, ROW_COUNT_KEYS, expected_from_parts, expected_term_parts_sql
from cgtvigil.errors import CgtVigilError, ParseError

__all__ = ["SparkEngine", "spark_missing", "spark_session"]

_LOG4J = Path(__file__).with_name("spark-log4j2.properties")  # the JVM's logging: errors only
_ALIASES = {"report_id": ("report_id", "id"), "drug": ("drug", "var1"), "event": ("event", "var2")}
_PAIR_SCHEMA = pa.schema(
    [
        ("drug", pa.string()),
        ("event", pa.string()),
        ("n", pa.int64()),
        ("n_drug", pa.int64()),
        ("n_event", pa.int64()),
        ("n_total", pa.int64()),
    ]
)


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


@contextmanager
def _spark_errors(what: str) -> Iterator[None]:
    """A Spark or JVM failure (an unreadable file, a lost executor) as one CgtVigilError."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    try:
        yield
    except (PySparkException, Py4JError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CgtVigilError(f"Spark failed while {what}: {first}") from exc


def spark_missing(master: str = "") -> str | None:
    """Why the Spark engine cannot run here (None when it can): PySpark not installed, or no
    ``java`` on the PATH for a local or cluster master (a Spark Connect URL, ``sc://``, needs
    no Java here)."""
    if find_spec("pyspark") is None:
        return "PySpark is not installed; install it with `pip install 'cgtvigil[spark]'` (or `make spark`)"
    if not master.startswith("sc://") and shutil.which("java") is None:
        return (
            "Spark needs Java 17 or later and there is no `java` on the PATH; install it "
            "(Debian: `apt-get install default-jre-headless`, or `make spark`)"
        )
    return None


def spark_session(master: str = "", *, app_name: str = "cgtvigil", shuffle_partitions: int | None = None) -> Any:
    """A SparkSession for ``master``: empty for local mode on every core (``local[*]``; under
    ``spark-submit``, its ``--master``), a master URL (``spark://host:7077``, ``yarn``,
    ``k8s://...``, ``local[2]``) or a Spark Connect URL (``sc://host:15002``). Spark's own
    logging is kept to errors."""
    problem = spark_missing(master)
    if problem:
        raise CgtVigilError(f"The Spark engine cannot run: {problem}.")
    with warnings.catch_warnings():
        # PySpark 4.x warns at import that it "does not yet fully support pandas >= 3"; the
        # engine hands results over as Arrow and never goes through pandas.
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
        from pyspark.sql import SparkSession

        if master.startswith("sc://"):
            return SparkSession.builder.remote(master).appName(app_name).getOrCreate()
        return _local_or_cluster(SparkSession.builder, master, app_name, shuffle_partitions)


def _local_or_cluster(builder: Any, master: str, app_name: str, shuffle_partitions: int | None) -> Any:
    if master or "PYSPARK_GATEWAY_PORT" not in os.environ:  # under spark-submit, its --master stands
        builder = builder.master(master or "local[*]")
    builder = (
        builder.appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={_LOG4J.as_uri()}")
    )
    if shuffle_partitions:
        builder = builder.config("spark.sql.shuffle.partitions", str(int(shuffle_partitions)))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkEngine:
    """Count pairs with Spark SQL on a given SparkSession (see :func:`spark_session`).

    Relations are temporary views of the session; files are read by the executors, so on a
    cluster give paths every executor can read (HDFS, S3, a shared file system).
    """

    def __init__(self, session: Any) -> None:
        self.spark = session
        self._ids = itertools.count(1)
        self._prefix = f"_cgtv{id(self):x}_"

    def _name(self) -> str:
        return f"{self._prefix}{next(self._ids)}"

    def _sql(self, sql: str) -> Any:
        return self.spark.sql(sql)

    def relation_from_file(self, path: Path, *, strata: tuple[str, ...] = ()) -> str:
        with _spark_errors(f"reading {path}"):
            return self._from_file(Path(path), strata)

    def relation_from_sql(self, sql: str) -> str:
        """A Spark SQL query over the session's tables and views."""
        with _spark_errors("running a query"):
            name = self._name()
            self._sql(sql).createOrReplaceTempView(name)
            return name

    def count_rows(self, relation: str) -> dict[str, int]:
        with _spark_errors("counting rows"):
            return self._count_rows(relation)

    def count_pairs(self, relation: str, *, strata: tuple[str, ...] = ()) -> pa.Table:
        with _spark_errors("counting pairs"):
            return self._count_pairs(relation, strata)

    def _from_file(self, path: Path, strata: tuple[str, ...]) -> str:
        if not path.exists():
            raise ParseError("no such file; expected a long-format CSV or Parquet file", file=str(path))
        suffix = path.suffix.lower()
        reader = self.spark.read
        if suffix == ".parquet":
            frame = reader.parquet(str(path.resolve()))
        elif suffix in (".csv", ".txt", ".gz"):
            # every cell as text (as DuckDB's all_varchar), a doubled quote inside quotes is one quote
            # (RFC 4180, as DuckDB; Spark's default escape is a backslash); an empty cell is NULL
            frame = reader.csv(str(path.resolve()), header=True, inferSchema=False, encoding="UTF-8", escape='"')
        else:
            raise ParseError(f"unknown file type '{suffix}'; expected .csv or .parquet", file=str(path))
        columns = list(frame.columns)
        lower = {c.lower(): c for c in columns}
        chosen: dict[str, str] = {}
        problems = []
        for role, names in _ALIASES.items():
            found = next((lower[n] for n in names if n in lower), None)
            if found is None:
                problems.append(f"a '{names[0]}' (or '{names[1]}') column")
            else:
                chosen[role] = found
        for s in strata:
            if s.lower() not in lower:
                problems.append(f"the stratum column '{s}'")
        if problems:
            raise ParseError(
                f"missing {', '.join(problems)}; the file has columns {', '.join(columns)}", file=str(path), line=1
            )
        types = dict(frame.dtypes)

        def key(role: str) -> str:
            column = _q(chosen[role])
            if role == "report_id" and types[chosen[role]] in ("tinyint", "smallint", "int", "bigint"):
                return f"{column} AS {role}"
            text = f"CAST({column} AS STRING)"
            return f"CASE WHEN trim({text}) = '' THEN NULL ELSE {text} END AS {role}"

        source = self._name()
        frame.createOrReplaceTempView(source)
        select = ", ".join(
            [key(role) for role in ("report_id", "drug", "event")]
            + [f"CAST({_q(lower[s.lower()])} AS STRING) AS {_q(s)}" for s in strata]
        )
        name = self._name()
        self._sql(f"SELECT {select} FROM {source}").createOrReplaceTempView(name)
        return name

    def _count_rows(self, relation: str) -> dict[str, int]:
        row = self._sql(
            f"""SELECT count(*),
                       count_if(report_id IS NOT NULL AND drug IS NOT NULL AND event IS NOT NULL),
                       count_if(report_id IS NULL), count_if(drug IS NULL), count_if(event IS NULL),
                       count_if(startswith(drug, '"') OR startswith(event, '"'))
                FROM {relation}"""
        ).collect()[0]
        return {k: int(v or 0) for k, v in zip(ROW_COUNT_KEYS, row, strict=True)}

    def _count_pairs(self, relation: str, strata: tuple[str, ...]) -> pa.Table:
        # The distinct complete (report, drug, event) rows, with the report's stratum, are
        # materialised once (cached): every count below reads them, not the file.
        if strata:
            stratum = "concat_ws('|', " + ", ".join(f"coalesce(CAST({_q(s)} AS STRING), '')" for s in strata) + ")"
            # one stratum per report (the least when a file gives a report several)
            per_report = f"SELECT report_id, min({stratum}) AS s FROM {relation} GROUP BY report_id"
            rows = (
                f"SELECT x.report_id, x.drug, x.event, r.s FROM {relation} x "
                f"JOIN ({per_report}) r ON r.report_id = x.report_id"
            )
        else:
            rows = f"SELECT report_id, drug, event, '' AS s FROM {relation}"
        long = self._sql(
            f"SELECT DISTINCT * FROM ({rows}) WHERE report_id IS NOT NULL AND drug IS NOT NULL AND event IS NOT NULL"
        ).cache()
        name = self._name()
        long.createOrReplaceTempView(name)
        try:
            pairs = self._sql(
                f"""WITH p AS (SELECT drug, event, count(*) AS n FROM {name} GROUP BY drug, event),
                     rd AS (SELECT DISTINCT report_id, drug, s FROM {name}),
                     re AS (SELECT DISTINCT report_id, event, s FROM {name}),
                     nd AS (SELECT drug, count(*) AS n_drug FROM rd GROUP BY drug),
                     ne AS (SELECT event, count(*) AS n_event FROM re GROUP BY event),
                     nt AS (SELECT count(DISTINCT report_id) AS n_total FROM {name})
                SELECT p.drug, p.event, p.n, nd.n_drug, ne.n_event, nt.n_total
                FROM p JOIN nd ON nd.drug = p.drug JOIN ne ON ne.event = p.event CROSS JOIN nt"""
            )
            if not strata:
                return self._arrow(pairs, _PAIR_SCHEMA)
            # E summed exactly, in integer parts (see expected_term_parts_sql)
            q, f1, f2 = expected_term_parts_sql("nds.c * nes.c", "ns.c", "div")
            expected = self._sql(
                f"""WITH rd AS (SELECT DISTINCT report_id, drug, s FROM {name}),
                     re AS (SELECT DISTINCT report_id, event, s FROM {name}),
                     nds AS (SELECT drug, s, count(*) AS c FROM rd GROUP BY drug, s),
                     nes AS (SELECT event, s, count(*) AS c FROM re GROUP BY event, s),
                     ns AS (SELECT s, count(DISTINCT report_id) AS c FROM {name} GROUP BY s),
                     p AS (SELECT DISTINCT drug, event FROM {name})
                SELECT p.drug, p.event, sum({q}) AS e_q, sum({f1}) AS e_f1, sum({f2}) AS e_f2
                FROM p JOIN nds ON nds.drug = p.drug JOIN nes ON nes.event = p.event AND nes.s = nds.s
                JOIN ns ON ns.s = nds.s GROUP BY p.drug, p.event"""
            )
            frame = pairs.join(expected, ["drug", "event"])
            parts = [pa.field(c, pa.int64()) for c in EXPECTED_PARTS]
            return expected_from_parts(self._arrow(frame, pa.schema([*_PAIR_SCHEMA, *parts])))
        finally:
            self.spark.catalog.dropTempView(name)
            long.unpersist()

    @staticmethod
    def _arrow(frame: Any, schema: pa.Schema) -> pa.Table:
        table = frame.toArrow()  # PySpark >= 4.0
        return table.select(schema.names).cast(schema)
