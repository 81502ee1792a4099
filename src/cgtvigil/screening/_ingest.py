"""The FAERS ingest workflow: quarters -> store, with reconciliation, de-duplication and
drug-name mapping. Prints nothing; progress goes to an optional callback."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cgtvigil import __version__
from cgtvigil.errors import ReconciliationError
from cgtvigil.ingest import (
    DrugNormaliser,
    FaersMember,
    FaersQuarter,
    MemberResult,
    open_quarter,
    read_deleted,
    read_member,
)
from cgtvigil.model import ProductDictionary
from cgtvigil.store import FaersStore, rebuild_cases, write_drug_map

__all__ = ["FileReport", "ImportReport", "ingest_faers", "refresh_drug_map"]

Progress = Callable[[str, int, int], None]


@dataclass
class FileReport:
    file: str
    member: str
    table: str
    quarter: str
    sha256: str
    read: int
    loaded: int
    quarantined: int
    status: str  # "loaded" or "skipped (already loaded)"
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    encodings: dict[str, int] = field(default_factory=dict)


@dataclass
class ImportReport:
    files: list[FileReport] = field(default_factory=list)
    cases: dict[str, int] = field(default_factory=dict)
    drug_mapping: dict[str, int] = field(default_factory=dict)
    importer_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def _reconcile(res: MemberResult, where: str) -> None:
    if res.stats.read != res.loaded + res.quarantined:
        raise ReconciliationError(
            f"import counts do not balance: read {res.stats.read} != loaded {res.loaded} + "
            f"quarantined {res.quarantined}. Nothing from this file was kept; please report this file.",
            file=where,
        )


def _file_report(quarter: FaersQuarter, res: MemberResult, status: str) -> FileReport:
    reasons: dict[str, int] = {}
    for q in res.quarantine:
        reasons[q.reason] = reasons.get(q.reason, 0) + q.n_lines
    return FileReport(
        file=str(quarter.source),
        member=res.name,
        table=res.table,
        quarter=quarter.quarter,
        sha256=res.sha256,
        read=res.stats.read,
        loaded=res.loaded,
        quarantined=res.quarantined,
        status=status,
        quarantine_reasons=reasons,
        warnings=dict(res.warnings),
        encodings=dict(res.stats.encodings),
    )


def _load_member(store: FaersStore, quarter: FaersQuarter, member: FaersMember) -> FileReport:
    """Parse one member into the store in one transaction; reconcile its counts; a member
    whose content (SHA-256) is already stored is rolled back and reported as skipped."""
    res = MemberResult(member.table, member.name)
    file_id = store.new_file_id()
    store.begin()
    try:
        if member.table == "deleted":
            store.add_deleted(file_id, read_deleted(member, res))
        else:
            for batch in read_member(quarter, member, res):
                store.append(member.table, batch, file_id=file_id, quarter=quarter.quarter, legacy=quarter.legacy)
        _reconcile(res, f"{quarter.source}:{member.name}")
        if store.member_loaded(res.sha256):
            store.rollback()
            return _file_report(quarter, res, "skipped (already loaded)")
        store.append_quarantine(file_id, [(q.line, q.n_lines, q.reason, q.raw) for q in res.quarantine])
        store.record_file(
            file_id=file_id,
            container=str(quarter.source),
            container_sha256=quarter.container_sha256,
            member=member.name,
            table_name=member.table,
            quarter=quarter.quarter,
            legacy=quarter.legacy,
            sha256=res.sha256,
            read=res.stats.read,
            loaded=res.loaded,
            quarantined=res.quarantined,
            encodings=json.dumps(dict(res.stats.encodings)),
            warnings=json.dumps(dict(res.warnings)),
            importer_version=__version__,
        )
        store.commit()
    except BaseException:
        store.rollback()
        raise
    return _file_report(quarter, res, "loaded")


def ingest_faers(
    paths: Sequence[Path],
    store: FaersStore,
    products: ProductDictionary,
    *,
    flag_duplicates: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Load FAERS/AERS quarters into ``store``; each member file is one transaction. An
    archive whose SHA-256 is already stored is skipped as a whole."""
    report = ImportReport()
    quarters = sorted((open_quarter(Path(p)) for p in paths), key=lambda q: q.quarter)
    total = sum(len(q.members) for q in quarters)
    for quarter in quarters:
        loaded = quarter.container_sha256 is not None and store.container_loaded(quarter.container_sha256)
        for member in quarter.members:
            if loaded:
                entry = _file_report(
                    quarter, MemberResult(member.table, member.name), "skipped (archive already loaded)"
                )
            else:
                entry = _load_member(store, quarter, member)
            report.files.append(entry)
            if progress:
                progress(f"{quarter.quarter} {member.table}", len(report.files), total)
    if progress:
        progress("de-duplicating cases", total, total)
    report.cases = rebuild_cases(store, flag_duplicates=flag_duplicates)
    report.drug_mapping = refresh_drug_map(store, products)
    return report


def refresh_drug_map(store: FaersStore, products: ProductDictionary) -> dict[str, int]:
    """Map every distinct (drugname, prod_ai) pair; returns counts per method."""
    pairs = store.query("SELECT DISTINCT drugname, prod_ai FROM drug").to_pylist()
    table = DrugNormaliser(products).map_table((p["drugname"], p["prod_ai"]) for p in pairs)
    write_drug_map(store, table)
    store.execute("INSERT OR REPLACE INTO meta VALUES ('product_dictionary_version', ?)", [products.version])
    counts: dict[str, int] = {}
    for m in table.column("method").to_pylist():
        counts[m] = counts.get(m, 0) + 1
    return counts
