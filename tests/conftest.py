"""Shared fixtures: the workspace's real data folder (``../shared/data`` beside the repo, or
wherever CGTVIGIL_SHARED_DATA points for a clone elsewhere)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CGTVIGIL_SHARED_DATA") or ROOT.parent / "shared" / "data").resolve()

settings.register_profile("ci", max_examples=60, deadline=None)
settings.register_profile("dev", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def shared() -> Path:
    assert SHARED.is_dir(), (
        f"the real test data is expected at {SHARED} (the workspace's shared/data); "
        "for a clone outside the workspace, set CGTVIGIL_SHARED_DATA to that folder"
    )
    return SHARED


@pytest.fixture(scope="session")
def faers_samples(shared: Path) -> Path:
    return shared / "faers" / "faers_2017q2_aers_2004q1"


def _empty_operational_url(kind: str, folder: Path) -> str:
    """An operational store with an empty schema: a new SQLite file in ``folder``, or the
    PostgreSQL server that `make test` starts (CGTVIGIL_TEST_POSTGRES_URL) with every table dropped."""
    if kind == "sqlite":
        return f"sqlite:///{folder / 'operational.db'}"
    url = os.environ.get("CGTVIGIL_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("PostgreSQL runs under `make test` (scripts/test.sh sets CGTVIGIL_TEST_POSTGRES_URL)")
    from sqlalchemy import create_engine, text

    from cgtvigil.store import Base

    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    with engine.begin() as con:
        con.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def operational_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The operational store on SQLite and on the PostgreSQL server that `make test` starts
    (CGTVIGIL_TEST_POSTGRES_URL); each test gets an empty schema."""
    return _empty_operational_url(request.param, tmp_path)


@pytest.fixture
def postgresql_url(tmp_path: Path) -> str:
    """An empty operational store on the PostgreSQL server only: for row locks, which SQLite
    (one writer at a time) does not have."""
    return _empty_operational_url("postgresql", tmp_path)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_operational_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Like ``operational_url``, but one empty schema per test module and engine: for a module
    whose tests read one expensive data set and leave it as they found it (each test's session
    is rolled back). Pytest runs the module's tests grouped by engine, so no other module's
    test empties the PostgreSQL schema in between."""
    return _empty_operational_url(request.param, tmp_path_factory.mktemp("operational"))
