"""Labelled reference sets of (drug, event) pairs for training and evaluating the ranking.

Three layouts are read:

- the OHDSI MethodEvaluation CSVs (OMOP, Ryan et al. 2013; EU-ADR, Coloma et al. 2013:
  ``exposureName, outcomeId, outcomeName, groundTruth``). Their outcomes are OMOP health
  outcomes, not MedDRA PTs, so an outcome-to-PT map is required (``outcomeId, meddra_pt``; by
  default the ``supplementary_third_party/omop_outcome_to_meddra_pt_map.csv`` beside the set):
  an event is then the group of its PTs, a report counted once per outcome;
- the manifest of ``cgtvigil synth faers`` (``true_signals`` 1, ``negative_controls`` 0);
- any CSV with ``drug, event, label`` columns (event a PT; label 1 or 0).

Drug names go through the store's own drug normaliser, so 'Acetaminophen' finds the label the
ingest gave the drug. What does not map is reported by :func:`map_reference`, never dropped
silently.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from cgtvigil.errors import ParseError
from cgtvigil.ingest import DrugNormaliser
from cgtvigil.model import ProductDictionary

__all__ = ["ReferenceSet", "load_reference_set", "map_reference"]

_DEFAULT_MAP = Path("supplementary_third_party") / "omop_outcome_to_meddra_pt_map.csv"


@dataclass(frozen=True)
class ReferenceSet:
    """Labelled pairs (``drug``, ``event``, ``label``, as given) and, for outcome sets, the PTs of
    each outcome."""

    name: str
    pairs: list[tuple[str, str, int]]
    event_groups: dict[str, list[str]] | None
    source: dict[str, Any]


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            return list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ParseError(f"cannot be read as a CSV file: {exc}", file=str(path)) from exc


def _label(value: str, path: Path, line: int, column: str) -> int:
    if value.strip() in ("0", "1"):
        return int(value.strip())
    raise ParseError(f"{value!r} is not a label (1 or 0)", file=str(path), line=line, field=column)


def load_reference_set(path: Path, *, outcome_map: Path | None = None) -> ReferenceSet:
    """Read a reference set (layout recognised from its columns or its JSON)."""
    path = Path(path)
    if not path.is_file():
        raise ParseError("no such reference set file", file=str(path))
    if path.suffix.lower() == ".json":
        try:
            doc = json.loads(path.read_text("utf-8"))
            pairs = [(r["drug"], r["event"], 1) for r in doc["true_signals"]]
            pairs += [(r["drug"], r["event"], 0) for r in doc["negative_controls"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ParseError(
                f"is not a synthetic manifest with true_signals and negative_controls ({exc!r})", file=str(path)
            ) from exc
        return ReferenceSet(path.stem, pairs, None, {"path": str(path), "layout": "synthetic manifest"})
    rows = _rows(path)
    columns = set(rows[0]) if rows else set()
    if {"exposureName", "outcomeId", "groundTruth"} <= columns:
        map_path = Path(outcome_map) if outcome_map else path.parent / _DEFAULT_MAP
        if not map_path.is_file():
            raise ParseError(
                f"is an OMOP-outcome reference set and needs an outcome-to-PT map; none at {map_path} "
                "(give one with outcomeId and meddra_pt columns)",
                file=str(path),
            )
        groups: dict[str, list[str]] = {}
        names = {r["outcomeId"]: r.get("outcomeName", r["outcomeId"]).strip() for r in rows}
        for i, r in enumerate(_rows(map_path), start=2):
            if not r.get("outcomeId") or not r.get("meddra_pt"):
                raise ParseError("needs outcomeId and meddra_pt", file=str(map_path), line=i)
            if r["outcomeId"] in names:
                groups.setdefault(names[r["outcomeId"]], []).append(r["meddra_pt"].strip())
        pairs = [
            (r["exposureName"].strip(), names[r["outcomeId"]], _label(r["groundTruth"], path, i, "groundTruth"))
            for i, r in enumerate(rows, start=2)
        ]
        source = {"path": str(path), "layout": "OHDSI reference set", "outcome_map": str(map_path)}
        return ReferenceSet(path.stem, pairs, groups, source)
    if {"drug", "event", "label"} <= columns:
        pairs = [(r["drug"].strip(), r["event"].strip(), _label(r["label"], path, i, "label"))
                 for i, r in enumerate(rows, start=2)]  # fmt: skip
        return ReferenceSet(path.stem, pairs, None, {"path": str(path), "layout": "drug,event,label CSV"})
    raise ParseError(
        "is not a reference set: expected columns drug, event, label (or the OHDSI exposureName, outcomeId, "
        f"groundTruth); the file has {', '.join(sorted(columns)) or 'no header'}",
        file=str(path),
        line=1,
    )


def map_reference(
    reference: ReferenceSet, features: pa.Table, products: ProductDictionary
) -> tuple[pa.Table, dict[str, Any]]:
    """The reference pairs found among the store's pairs (``drug``, ``event``, ``label``, the
    given names), and a report of what did not map: drugs absent from the store, events absent,
    pairs of present drug and event never reported together, and pairs given twice with
    different labels (left out)."""
    norm = DrugNormaliser(products)
    drugs = set(features.column("drug").to_pylist())
    events = set(features.column("event").to_pylist())
    present = set(zip(features.column("drug").to_pylist(), features.column("event").to_pylist(), strict=True))
    seen: dict[tuple[str, str], tuple[int, str, str]] = {}
    conflicting: set[tuple[str, str]] = set()
    no_drug: set[str] = set()
    no_event: set[str] = set()
    not_reported = 0
    for drug, event, label in reference.pairs:
        d = norm.normalise(drug, drug)[0]
        e = event if reference.event_groups is not None else event.strip().upper()
        if d not in drugs:
            no_drug.add(drug)
            continue
        if e not in events:
            no_event.add(event)
            continue
        if (d, e) not in present:
            not_reported += 1
            continue
        if (d, e) in seen and seen[(d, e)][0] != label:
            conflicting.add((d, e))
        seen[(d, e)] = (label, drug, event)
    kept = {k: v for k, v in seen.items() if k not in conflicting}
    table = pa.table({
        "drug": [k[0] for k in kept], "event": [k[1] for k in kept], "label": [v[0] for v in kept.values()],
        "given_drug": [v[1] for v in kept.values()], "given_event": [v[2] for v in kept.values()],
    })  # fmt: skip
    report = {
        "reference": reference.name, "source": reference.source, "given": len(reference.pairs),
        "mapped": table.num_rows, "positives": int(sum(v[0] for v in kept.values())),
        "drugs_not_in_store": sorted(no_drug), "events_not_in_store": sorted(no_event),
        "pairs_not_reported_together": not_reported,
        "conflicting_labels": sorted(f"{d} / {e}" for d, e in conflicting),
    }  # fmt: skip
    return table, report
