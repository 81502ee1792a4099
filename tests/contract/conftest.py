"""One local SparkSession for the whole test run (the JVM takes seconds to start)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from cgtvigil.engine import spark_missing, spark_session


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """Spark in local mode on two cores. `make test` (scripts/test.sh) installs PySpark and Java
    and sets CGTVIGIL_TEST_SPARK=1, which makes a missing Spark a failure instead of a skip."""
    problem = spark_missing("local[2]")
    if problem:
        if os.environ.get("CGTVIGIL_TEST_SPARK") == "1":
            pytest.fail(f"CGTVIGIL_TEST_SPARK=1 but {problem}")
        pytest.skip(f"{problem} (`make test` installs both)")
    session = spark_session("local[2]", app_name="cgtvigil-tests", shuffle_partitions=2)
    yield session
    session.stop()
