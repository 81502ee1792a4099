"""A new FAERS quarter updates the case view and the drug map with its own cases and names only
(issue 17 target 3: re-ingesting one quarter into a store of the whole history must cost about
one quarter), and the store is the same as one built in a single ingest.

Reference: the full rebuild (``rebuild_cases`` over every DEMO row, every drug name mapped),
which the incremental update must equal table by table: on the real FDA samples
(``shared/data/faers``: legacy AERS 2004Q1, then FAERS 2017Q2) and on a SYNTHETIC history of
six quarters with follow-up versions of earlier cases and FDA deletion lists
(``synth.generate_history``), loaded one or more quarters at a time, with and without the
probable-duplicate flags. A run that stopped before the derived tables were rebuilt is
repaired by a full rebuild on the next run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import cgtvigil.screening._ingest as ingest_module
from cgtvigil.screening import ingest_faers
from cgtvigil.store import FaersStore, check_derived_tables, load_products
from cgtvigil.synth import HistoryConfig, generate_history

DERIVED = ("report", "drug_map")


def _derived(store: FaersStore) -> dict[str, list[dict[str, Any]]]:
    return {t: store.query(f"SELECT * FROM {t} ORDER BY ALL").to_pylist() for t in DERIVED}


@pytest.fixture
def full_rebuilds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the ingests that rebuilt the case view whole."""
    calls: list[int] = []
    rebuild = ingest_module.rebuild_cases

    def counted(*args: Any, **kwargs: Any) -> dict[str, int]:
        calls.append(1)
        return rebuild(*args, **kwargs)

    monkeypatch.setattr(ingest_module, "rebuild_cases", counted)
    return calls


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("history")
    cfg = HistoryConfig(first_quarter="2018Q3", last_quarter="2019Q4", scale=0.004, seed=17)
    generate_history(out, load_products(), cfg)
    return sorted(out.glob("*.zip"))


def _one_ingest(db: Path, paths: list[Path], flag: bool) -> dict[str, list[dict[str, Any]]]:
    with FaersStore(db) as store:
        ingest_faers(paths, store, load_products(), flag_duplicates=flag)
        return _derived(store)


def _in_steps(db: Path, steps: list[list[Path]], flag: bool) -> tuple[dict[str, list[dict[str, Any]]], list[dict]]:
    reports = []
    with FaersStore(db) as store:
        for paths in steps:
            reports.append(ingest_faers(paths, store, load_products(), flag_duplicates=flag).to_dict())
        check_derived_tables(store)
        return _derived(store), reports


def test_real_samples_quarter_by_quarter(tmp_path: Path, faers_samples: Path, full_rebuilds: list[int]) -> None:
    legacy, current = faers_samples / "aers_ascii_2004q1.zip", faers_samples / "faers_ascii_2017q2.zip"
    whole = _one_ingest(tmp_path / "whole.duckdb", [legacy, current], flag=False)
    full_rebuilds.clear()
    stepped, reports = _in_steps(tmp_path / "steps.duckdb", [[legacy], [current]], flag=False)
    assert full_rebuilds == [1]  # the first ingest into the new store only
    assert stepped == whole
    assert len(whole["report"]) == 200
    assert reports[1]["cases"]["cases"] == 200  # the counts of the whole store, as before


@pytest.mark.parametrize("flag", [False, True], ids=["plain", "flag-duplicates"])
def test_synthetic_history_with_versions_and_deletions(
    tmp_path: Path, history: list[Path], full_rebuilds: list[int], flag: bool
) -> None:
    assert len(history) == 6
    whole = _one_ingest(tmp_path / "whole.duckdb", history, flag)
    full_rebuilds.clear()
    steps = [history[:2], [history[2]], [history[3]], history[4:]]
    stepped, reports = _in_steps(tmp_path / "steps.duckdb", steps, flag)
    assert full_rebuilds == [1]
    assert stepped == whole
    report = whole["report"]
    assert any(r["n_versions_loaded"] > 1 for r in report), "no case has versions in two quarters"
    assert any(r["deleted"] for r in report), "no deleted case"
    assert reports[-1]["drug_mapping"] == _one_ingest_report(tmp_path, history, flag)["drug_mapping"]


def _one_ingest_report(tmp_path: Path, paths: list[Path], flag: bool) -> dict:
    with FaersStore(tmp_path / "again.duckdb") as store:
        return ingest_faers(paths, store, load_products(), flag_duplicates=flag).to_dict()


def test_a_run_stopped_before_the_case_view_is_repaired_whole(
    tmp_path: Path, history: list[Path], full_rebuilds: list[int]
) -> None:
    whole = _one_ingest(tmp_path / "whole.duckdb", history[:4], flag=False)
    with FaersStore(tmp_path / "stopped.duckdb") as store:
        ingest_faers(history[:3], store, load_products())
        store.execute("DELETE FROM meta WHERE key = 'cases_snapshot'")  # as a stop before the rebuild leaves it
        full_rebuilds.clear()
        ingest_faers([history[3]], store, load_products())
        assert full_rebuilds == [1]
        check_derived_tables(store)
        assert _derived(store) == whole
