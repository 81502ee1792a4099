"""The SYNTHETIC screens shared by the signal workflow tests: a two-quarter FAERS set from
cgtvigil.synth (seed 7, a fifth of the reports about CGT products) screened after 2024Q1 and
again after both quarters, so that the second screen (a new snapshot) has more Kymriah cases
(MALIGNANT NEOPLASM PROGRESSION: n 12, then 23)."""

from __future__ import annotations

import warnings
from pathlib import Path

from cgtvigil.model import SignalSpec
from cgtvigil.screening import ingest_faers, screen_store, write_result
from cgtvigil.store import FaersStore, load_products, load_topics
from cgtvigil.synth import SynthConfig, generate_faers

ROW = ("Kymriah", "pt", "MALIGNANT NEOPLASM PROGRESSION")


def synthetic_screens(tmp: Path) -> tuple[Path, Path]:
    """The screen after 2024Q1, and after 2024Q1 and 2024Q2."""
    cfg = SynthConfig(
        reports_per_quarter=1500,
        quarters=("2024Q1", "2024Q2"),
        seed=7,
        n_drugs=100,
        n_tail_events=200,
        n_planted=6,
        cgt_share=0.2,
        n_decoys=4,
        n_negative_controls=6,
    )
    zips = generate_faers(tmp / "zips", load_products(), cfg).zips
    out = []
    for i in (1, 2):
        with FaersStore(tmp / "faers.duckdb") as store:
            ingest_faers(zips[i - 1 : i], store, load_products())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # zero cells in a small synthetic set
                result = screen_store(store, SignalSpec(products_only=True, strata=()), load_products(), load_topics())
        write_result(result, tmp / f"screen{i}.parquet")
        out.append(tmp / f"screen{i}.parquet")
    return out[0], out[1]
