"""Seeded synthetic long-format data (one row per report, drug and event; the openEBGM
layout ``id, var1, var2, strat1, strat2``) for scale tests and benchmarks. Synthetic only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

__all__ = ["generate_long"]


def generate_long(
    path: Path,
    n_reports: int,
    *,
    seed: int = 1,
    n_drugs: int = 5000,
    n_events: int = 8000,
    n_planted: int = 200,
    chunk: int = 250_000,
) -> int:
    """Write ``n_reports`` synthetic reports (about 3.5 drugs x 3 events each) to a Parquet
    or CSV file; returns the number of rows. Drugs and events have Zipf popularity, and
    ``n_planted`` drugs each add one event with probability 0.3 (planted signals)."""
    rng = np.random.default_rng(seed)
    dw = 1.0 / np.arange(1, n_drugs + 1) ** 1.1
    dw /= dw.sum()
    ew = 1.0 / np.arange(1, n_events + 1) ** 1.05
    ew /= ew.sum()
    planted = np.full(n_drugs, -1)
    pd_ = rng.choice(np.arange(10, n_drugs), n_planted, replace=False)
    planted[pd_] = rng.choice(np.arange(10, n_events), n_planted)
    drug_names = pa.array([f"D{i:05d}" for i in range(n_drugs)])
    event_names = pa.array([f"E{i:05d}" for i in range(n_events)])
    sexes = pa.array(["F", "M", "UNK"])
    ages = pa.array(["0-17", "18-64", "65+", "unknown"])
    path = Path(path)
    parquet = path.suffix.lower() == ".parquet"
    writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
    rows = 0
    for start in range(0, n_reports, chunk):
        m = min(chunk, n_reports - start)
        ids = np.arange(start, start + m, dtype=np.int64)
        nd = 1 + rng.poisson(2.5, m)
        ne = 1 + rng.poisson(2.0, m)
        sex = rng.choice(3, m, p=[0.55, 0.4, 0.05])
        age = rng.choice(4, m, p=[0.05, 0.55, 0.3, 0.1])
        d_rep = np.repeat(np.arange(m), nd)
        drugs = rng.choice(n_drugs, len(d_rep), p=dw)
        e_rep = np.repeat(np.arange(m), ne)
        events = rng.choice(n_events, len(e_rep), p=ew)
        # planted: a drug adds its event with probability 0.3
        hit = (planted[drugs] >= 0) & (rng.random(len(drugs)) < 0.3)
        e_rep = np.concatenate([e_rep, d_rep[hit]])
        events = np.concatenate([events, planted[drugs[hit]]])
        # cross product drug x event within each report
        order = np.argsort(e_rep, kind="stable")
        e_rep, events = e_rep[order], events[order]
        e_start = np.searchsorted(e_rep, np.arange(m))
        e_count = np.bincount(e_rep, minlength=m)
        rep_of_drug = d_rep
        k = e_count[rep_of_drug]
        drug_idx = np.repeat(np.arange(len(drugs)), k)
        offsets = np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k)
        event_idx = e_start[rep_of_drug[drug_idx]] + offsets
        report = rep_of_drug[drug_idx]
        table = pa.table(
            {
                "id": pa.array(ids[report]),
                "var1": drug_names.take(pa.array(drugs[drug_idx])),
                "var2": event_names.take(pa.array(events[event_idx])),
                "strat1": sexes.take(pa.array(sex[report])),
                "strat2": ages.take(pa.array(age[report])),
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema) if parquet else pacsv.CSVWriter(path, table.schema)
        writer.write_table(table)
        rows += table.num_rows
    if writer is not None:
        writer.close()
    return rows
