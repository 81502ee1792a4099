"""The FAERS ingest workflow: quarters -> store, with reconciliation, de-duplication and
drug-name mapping. Prints nothing; progress goes to an optional callback.

A quarter is loaded completely or not at all (review D1, D21): the header of every member is
checked before anything is written, then all its members are written in one transaction,
and a zip's SHA-256 is recorded as loaded in that same transaction, after its last member.
A run stopped at any point (a kill, a full disk, a damaged member) therefore leaves each
quarter either complete or absent, and running the same command again completes the load.
Within a quarter, a member whose content (SHA-256) is already stored for that quarter is not
stored twice (a folder re-run after the zip, or the reverse).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from cgtvigil import __version__
from cgtvigil.errors import ReconciliationError, StoreError
from cgtvigil.ingest import (
    DrugNormaliser,
    FaersMember,
    FaersQuarter,
    IngestLimits,
    MemberResult,
    QuarantineRow,
    check_member,
    open_quarter,
    read_deleted,
    read_member,
)
from cgtvigil.model import ProductDictionary
from cgtvigil.store import (
    FaersStore,
    derived_tables_current,
    last_file_id,
    rebuild_cases,
    update_cases,
    write_drug_map,
)

__all__ = ["Checkpoint", "FileReport", "IgnoredReport", "ImportReport", "ingest_faers", "refresh_drug_map"]

APPEND_BYTES = 256 * 1024 * 1024
"""Rows of a member are appended to the store in pieces of about this many bytes (Arrow):
each INSERT leaves partial row groups behind (one per DuckDB thread) that the commit then
merges, so a few large appends cost far less than one per block of lines."""

Progress = Callable[[str, int, int], None]
Checkpoint = Callable[[str], None]
"""Called with the name of each step as it completes: ``<quarter>:member:<table>`` (its rows
are written, the quarter is not yet committed), ``<quarter>:committed``, ``dedup`` (before the
case view is rebuilt), ``drugmap`` (before the drug map is rebuilt) and ``done``. The CLI
uses it for fault injection (``CGTVIGIL_FAULT_AFTER``)."""


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
    status: str  # "loaded", "empty" (a zero-byte file), "skipped (already loaded)", "skipped (archive already loaded)"
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    encodings: dict[str, int] = field(default_factory=dict)


@dataclass
class IgnoredReport:
    """A file or zip member that was not read (not a FAERS data file, a dangling link, a link
    that leaves the input folder)."""

    file: str
    member: str
    reason: str


@dataclass
class ImportReport:
    files: list[FileReport] = field(default_factory=list)
    ignored: list[IgnoredReport] = field(default_factory=list)
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
            f"quarantined {res.quarantined}. Nothing from this quarter was kept; please report this file.",
            file=where,
        )


def _file_report(quarter: FaersQuarter, res: MemberResult, status: str) -> FileReport:
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
        quarantine_reasons=dict(res.quarantine_reasons),
        warnings=dict(res.warnings),
        encodings=dict(res.stats.encodings),
    )


def _rows(quarantine: list[QuarantineRow]) -> list[tuple[int, int, str, str]]:
    return [(q.line, q.n_lines, q.reason, q.raw) for q in quarantine]


def _load_member(
    store: FaersStore, quarter: FaersQuarter, member: FaersMember, limits: IngestLimits, *, fast: bool
) -> FileReport:
    """Write one member inside the quarter's open transaction: its rows and quarantined lines
    batch by batch, then its counts (reconciled). A member whose content is already stored
    for this quarter has its rows removed again and is reported as skipped."""
    res = MemberResult(member.table, member.name)
    file_id = store.new_file_id()
    if member.table == "deleted":
        caseids, quarantine = read_deleted(quarter, member, res)
        store.add_deleted(file_id, caseids)
        store.append_quarantine(file_id, _rows(quarantine))
    else:
        held: list[pa.Table] = []  # rows gathered into fewer, larger appends
        held_bytes = 0

        def flush() -> None:
            nonlocal held_bytes
            if held:
                rows = held[0] if len(held) == 1 else pa.concat_tables(held)
                store.append(member.table, rows, file_id=file_id, quarter=quarter.quarter, legacy=quarter.legacy)
                held.clear()
                held_bytes = 0

        for batch in read_member(quarter, member, res, limits, fast=fast):
            if batch.rows is not None:
                held.append(batch.rows)
                held_bytes += batch.rows.nbytes
                if held_bytes >= APPEND_BYTES:
                    flush()
            store.append_quarantine(file_id, _rows(batch.quarantine))
        flush()
    _reconcile(res, f"{quarter.source}:{member.name}")
    if store.member_loaded(res.sha256, quarter.quarter):
        store.discard_file(file_id, member.table)
        return _file_report(quarter, res, "skipped (already loaded)")
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
    return _file_report(quarter, res, "empty" if res.empty else "loaded")


def _load_quarter(
    store: FaersStore,
    quarter: FaersQuarter,
    limits: IngestLimits,
    after_member: Callable[[FileReport], None],
    *,
    fast: bool,
) -> list[FileReport]:
    """Check every member's header, then write all members in one transaction."""
    for member in quarter.members:
        check_member(quarter, member, limits)
    entries: list[FileReport] = []
    store.begin()
    try:
        for member in quarter.members:
            entries.append(_load_member(store, quarter, member, limits, fast=fast))
            after_member(entries[-1])
        if quarter.container_sha256 is not None:
            store.record_container(
                sha256=quarter.container_sha256,
                container=str(quarter.source),
                quarter=quarter.quarter,
                members=len(quarter.members),
            )
        store.commit()
    except BaseException as exc:
        try:
            store.rollback()
        except StoreError as also:  # keep the cause; say that the rollback failed too
            exc.add_note(f"The rollback failed as well: {also}")
        raise
    return entries


def ingest_faers(
    paths: Sequence[Path],
    store: FaersStore,
    products: ProductDictionary,
    *,
    flag_duplicates: bool = False,
    progress: Progress | None = None,
    checkpoint: Checkpoint | None = None,
    limits: IngestLimits | None = None,
    fast_path: bool = True,
) -> ImportReport:
    """Load FAERS/AERS quarters into ``store``, each quarter in one transaction; then rebuild
    the case view and the drug map. A zip whose every member was committed before is skipped
    as a whole. ``limits`` bounds what hostile input may cost (sizes, ratios, line lengths).
    ``fast_path=False`` parses every line with the repairing reader instead of offering each
    block of lines to pyarrow's CSV reader first; the store's content is the same."""
    limits = limits or IngestLimits()
    step = checkpoint or (lambda _name: None)
    report = ImportReport()
    quarters = sorted((open_quarter(Path(p), limits) for p in paths), key=lambda q: q.quarter)
    total = sum(len(q.members) for q in quarters)

    started = time.perf_counter()
    reports = 0  # DEMO rows loaded: one per report (version)
    # Derived tables current before this run are updated with this run's files only (a new
    # quarter costs about a quarter); otherwise (a run that stopped before them) rebuilt whole.
    since = last_file_id(store)
    current = derived_tables_current(store)

    def rate() -> str:
        elapsed = max(time.perf_counter() - started, 1e-9)
        return f"{reports:,} reports, {reports / elapsed:,.0f} reports/s"

    def after_member(entry: FileReport) -> None:
        nonlocal reports
        report.files.append(entry)
        if entry.table == "demo":
            reports += entry.loaded
        if progress:
            progress(f"{entry.quarter} {entry.table} ({rate()})", len(report.files), total)
        step(f"{entry.quarter}:member:{entry.table}")

    for quarter in quarters:
        report.ignored.extend(IgnoredReport(str(quarter.source), e.name, e.reason) for e in quarter.ignored)
        if quarter.container_sha256 is not None and store.container_loaded(quarter.container_sha256):
            for member in quarter.members:
                res = MemberResult(member.table, member.name)
                report.files.append(_file_report(quarter, res, "skipped (archive already loaded)"))
                if progress:
                    progress(f"{quarter.quarter} {member.table}", len(report.files), total)
            continue
        _load_quarter(store, quarter, limits, after_member, fast=fast_path)
        step(f"{quarter.quarter}:committed")
    if progress:
        progress(f"de-duplicating cases ({rate()})", total, total)
    step("dedup")
    if current["cases"]:
        report.cases = update_cases(store, since, flag_duplicates=flag_duplicates)
    else:
        report.cases = rebuild_cases(store, flag_duplicates=flag_duplicates)
    if progress:
        progress(f"mapping drug names ({rate()})", total, total)
    step("drugmap")
    report.drug_mapping = refresh_drug_map(store, products, since=since if current["drug_map"] else None)
    if progress:  # the rate of the whole run: loading, de-duplication and drug mapping
        progress(f"done ({rate()})", total, total)
    step("done")
    return report


def refresh_drug_map(store: FaersStore, products: ProductDictionary, *, since: int | None = None) -> dict[str, int]:
    """Map every distinct (drugname, prod_ai) pair; returns the map's pairs per method.

    With ``since`` (a drug map current before the files loaded after that file id) and the
    same product dictionary version as the map's, only the pairs those files bring that the map
    lacks are mapped and added."""
    version = store.query("SELECT value FROM meta WHERE key = 'product_dictionary_version'").to_pylist()
    add = since is not None and bool(version) and version[0]["value"] == products.version
    if add:
        new = (
            "SELECT DISTINCT drugname, prod_ai FROM drug WHERE file_id > ? "
            "EXCEPT SELECT drugname, prod_ai FROM drug_map"
        )
        pairs = store.query(new, [since]).to_pylist()
    else:
        pairs = store.query("SELECT DISTINCT drugname, prod_ai FROM drug").to_pylist()
    write_drug_map(store, DrugNormaliser(products).map_table((p["drugname"], p["prod_ai"]) for p in pairs), add=add)
    if not add:
        store.execute("INSERT OR REPLACE INTO meta VALUES ('product_dictionary_version', ?)", [products.version])
    rows = store.query("SELECT method, count(*) AS n FROM drug_map GROUP BY method ORDER BY method").to_pylist()
    return {r["method"]: int(r["n"]) for r in rows}
