"""The read side of monitoring computed in the database (issue 10, latency): a wearable's hourly
maxima, the board's page count and the patient lookup of a page, each against a plain Python
statement of the same rule, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import insert

from cgtvigil.errors import NotFoundError
from cgtvigil.followup import record_consent
from cgtvigil.monitoring import BOARD_ROWS, board, observation_series, patient_summary, register_patient
from cgtvigil.screening import ScreenCache, SignalFilters
from cgtvigil.store import (
    ObservationRow,
    PatientRow,
    Scope,
    load_jurisdictions,
    load_products,
    operational_engine,
    session_factory,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SITE = Scope(actor="inv", sites=frozenset({"A"}), acts=True)
SPONSOR = Scope(actor="sci", products=frozenset({"kymriah"}))


def _temperatures(rng: np.random.Generator, start: datetime, minutes: int) -> list[tuple[datetime, float]]:
    """A reading every 2 minutes, rounded to 0.1 °C so that an hour often has tied maxima."""
    return [(start + timedelta(minutes=m), round(float(36.8 + rng.normal(0, 0.4)), 1)) for m in range(0, minutes, 2)]


def _hourly_first_maxima(points: list[tuple[datetime, float]]) -> list[tuple[datetime, float]]:
    """The rule, stated plainly: per clock hour, the earliest of the readings with the highest value."""
    best: dict[datetime, tuple[datetime, float]] = {}
    for t, v in points:
        hour = t.replace(minute=0, second=0, microsecond=0)
        if hour not in best or v > best[hour][1]:
            best[hour] = (t, v)
    return sorted(best.values())


def _register(session, patient: str, site: str = "A", day: date = date(2026, 2, 20)) -> None:  # type: ignore[no-untyped-def]
    register_patient(session, load_products(), patient=patient, site=site, product="kymriah", infusion_date=day)


@pytest.fixture
def store(operational_url: str):  # type: ignore[no-untyped-def]
    engine = operational_engine(operational_url)
    yield session_factory(engine)
    engine.dispose()


def test_a_long_series_keeps_the_first_maximum_of_each_hour(store) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(7)
    start = (NOW - timedelta(days=3)).replace(tzinfo=None) + timedelta(minutes=1)  # not on the hour
    temps = _temperatures(rng, start, 3 * 1440)
    with store() as s:
        register_patient(
            s, load_products(), patient="P-1", site="A", product="kymriah", infusion_date=date(2026, 2, 26)
        )
        rows = [
            {"patient_id": "P-1", "kind": "temperature", "value": v, "unit": "Cel", "time": t, "source": "omh",
             "device": "patch", "location": "", "received_at": t, "superseded": False, "is_correction": False}
            for t, v in temps
        ]  # fmt: skip
        rows.append({**rows[0], "kind": "crp", "unit": "mg/dL", "value": 4.5})  # a short series stays whole
        s.execute(insert(ObservationRow), rows)
        s.commit()
        reduced = {x.kind: x for x in observation_series(s, SITE, "P-1", max_points=100)}
        whole = {x.kind: x for x in observation_series(s, SITE, "P-1", max_points=10_000)}
    expected = _hourly_first_maxima(temps)
    assert len(expected) == 72 and reduced["temperature"].hourly_maxima
    shown = reduced["temperature"]
    assert list(zip([t.replace(tzinfo=None) for t in shown.times], shown.values, strict=True)) == expected
    assert not whole["temperature"].hourly_maxima and len(whole["temperature"].values) == len(temps)
    assert not reduced["crp"].hourly_maxima and reduced["crp"].values == [4.5]
    day0 = datetime(2026, 2, 26, tzinfo=UTC)
    assert reduced["temperature"].days[0] == round((reduced["temperature"].times[0] - day0).total_seconds() / 86400, 4)


def test_the_board_counts_its_pages_and_refuses_one_past_the_last(store) -> None:  # type: ignore[no-untyped-def]
    products = load_products()
    with store() as s:
        for i in range(BOARD_ROWS + 5):
            register_patient(
                s, products, patient=f"P-{i:03d}", site="A", product="kymriah", infusion_date=date(2026, 2, 20)
            )
        _register(s, "P-B", site="B")
        s.commit()
        first, second = board(s, SITE, products, NOW, 1), board(s, SITE, products, NOW, 2)
        assert (first.total, first.pages, len(first.rows), len(second.rows)) == (BOARD_ROWS + 5, 2, BOARD_ROWS, 5)
        assert {r.id for r in first.rows + second.rows} == {f"P-{i:03d}" for i in range(BOARD_ROWS + 5)}
        with pytest.raises(NotFoundError, match=r"past the last page \(2\)"):
            board(s, SITE, products, NOW, 3)


def test_a_consent_withdrawn_in_the_transaction_hides_the_patient_at_once(store) -> None:  # type: ignore[no-untyped-def]
    """The patient lookup is kept for a page's queries, but not across a write."""
    with store() as s:
        register_patient(
            s, load_products(), patient="P-1", site="A", product="kymriah", infusion_date=date(2026, 2, 20)
        )
        s.commit()
        assert patient_summary(s, SPONSOR, load_products(), "P-1", NOW).id == "P-1"
        record_consent(
            s, SITE, load_jurisdictions(), "P-1", use="data_sharing", kind="consent", signer="patient",
            form_version="v1", signed_on=date(2026, 2, 1), now=NOW, withdrawn=True,
        )  # fmt: skip
        with pytest.raises(NotFoundError):
            patient_summary(s, SPONSOR, load_products(), "P-1", NOW)


def test_a_change_not_yet_flushed_is_not_hidden_by_the_patient_lookup(store) -> None:  # type: ignore[no-untyped-def]
    """Review (session 4): the lookup kept for the transaction answered from before a change
    still pending in the session (flushed only by the next query, which a kept lookup skips)."""
    with store() as s:
        _register(s, "P-1")
        s.commit()
        assert patient_summary(s, SITE, load_products(), "P-1", NOW).id == "P-1"
        moved = s.get(PatientRow, "P-1")
        assert moved is not None
        moved.site = "B"  # pending: the session flushes it before its next query
        with pytest.raises(NotFoundError):
            patient_summary(s, SITE, load_products(), "P-1", NOW)


def test_the_plot_of_a_selection_is_made_again_for_a_new_screen_file(tmp_path: Path) -> None:
    path = tmp_path / "screen.parquet"
    pq.write_table(pa.table({"drug": ["A"], "event_type": ["pt"], "event": ["Pyrexia"], "eb05": [1.0]}), path)
    cache, made = ScreenCache(path), []

    def build() -> int:
        made.append(1)
        return len(made)

    cache.current()
    assert [cache.derived(SignalFilters(page=p), "plot", build) for p in (1, 2)] == [1, 1]  # every page
    pq.write_table(pa.table({"drug": ["B"], "event_type": ["pt"], "event": ["Pyrexia"], "eb05": [2.0]}), path)
    os.utime(path, (1, 1))  # a new version of the file
    cache.current()
    assert cache.derived(SignalFilters(), "plot", build) == 2
    assert cache.derived(SignalFilters(q="B"), "plot", build) == 3  # another selection, another plot


def test_two_infusions_on_one_day_list_the_patient_once(store) -> None:  # type: ignore[no-untyped-def]
    """Review finding: the board joined the treatment by the latest date and listed twice."""
    products = load_products()
    with store() as s:
        _register(s, "P-1")
        register_patient(s, products, patient="P-1", site="A", product="yescarta", infusion_date=date(2026, 2, 20))
        s.commit()
        found = board(s, SITE, products, NOW, 1)
        summary = patient_summary(s, SITE, products, "P-1", NOW)
    assert [r.id for r in found.rows] == ["P-1"] and found.total == 1
    assert found.rows[0].product == summary.product  # the same treatment as the patient page: the later one
