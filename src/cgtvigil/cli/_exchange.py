"""Case exchange commands: ingest e2b (with acknowledgements), fhir and openfda; export e2b and fhir."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from cgtvigil.cli._app import _fail, app, console, err, ingest_app, plain
from cgtvigil.config import Settings
from cgtvigil.errors import CgtVigilError, ParseError
from cgtvigil.ingest import E2BBatch, read_e2b
from cgtvigil.reports import AckOutcome, check_fda_rules, lost_elements, validate_e2b, write_ack, write_e2b_file
from cgtvigil.store import CaseIndexer, CaseStore, StoredReport

export_app = typer.Typer(help="Write cases in exchange formats (E2B(R3)).", no_args_is_help=True)
app.add_typer(export_app, name="export")


def _case_index() -> CaseIndexer:
    """The case list's index of every stored version, under the shipped reference data (the
    web's); a store made before the index is backfilled when opened with it."""
    from cgtvigil.cases import Reference, case_indexer
    from cgtvigil.store import load_products, load_safety_info, load_topics

    topics = load_topics()
    return case_indexer(Reference(products=load_products(), rsi=load_safety_info(topics=topics), topics=topics))


def _note(kind: str, text: str) -> None:
    err.print(Text.assemble((f"{kind}:", "bold yellow" if kind == "warning" else "yellow"), " ", plain(text)))


@ingest_app.command("e2b")
def ingest_e2b_cmd(
    files: Annotated[list[Path], typer.Argument(help="E2B(R3) batch files (MCCI_IN200100UV01 XML).")],
    db: Annotated[
        Path | None, typer.Option(help="DuckDB store file (default: $CGTVIGIL_DB or ./cgtvigil.duckdb).")
    ] = None,
    report_json: Annotated[Path | None, typer.Option(help="Write the import report as JSON here.")] = None,
    ack_dir: Annotated[
        Path | None, typer.Option(help="Write an acknowledgement (MCCI_IN200101UV01) per batch into this folder.")
    ] = None,
    receiver_id: Annotated[str, typer.Option(help="Our identifier, as the sender of acknowledgements.")] = "CGTVIGIL",
    schemas: Annotated[
        Path | None,
        typer.Option(help="ICH E2B(R3) schema folder: validate each report first (XSD_INVALID reports quarantined)."),
    ] = None,
    check_kept: Annotated[
        bool,
        typer.Option(help="List any element of a report that the canonical case does not carry (NOT_KEPT notes)."),
    ] = True,
    fda_rules: Annotated[
        bool,
        typer.Option(help="Also check FDA's business rules (findings listed with their rule id; nothing refused)."),
    ] = False,
) -> None:
    """Load E2B(R3) batches: every report is loaded or quarantined with its reason and XPath.

    A follow-up replaces the case's version, a nullification marks the case, amendments are kept
    with their history. Re-loading the same file changes nothing."""
    settings = Settings.from_env()
    rows: list[dict[str, object]] = []
    failed = 0
    store: CaseStore | None = None
    try:
        if report_json is not None and report_json.is_dir():
            raise ParseError("is a folder; give a file name for the import report", file=str(report_json))
        if ack_dir is not None:
            ack_dir.mkdir(parents=True, exist_ok=True)
        store = CaseStore(db or settings.db, index=_case_index())
        for path in files:
            try:
                batch = read_e2b(path, schema_dir=schemas, inspect=lost_elements if check_kept else None)
            except ParseError as exc:
                failed += 1
                err.print(Text.assemble(("error:", "bold red"), " ", plain(exc)))
                rows.append({"file": str(path), "status": "refused", "error": str(exc)})
                if ack_dir is not None:
                    ack = write_ack(
                        [],
                        batch_id=None,
                        ack_id=f"ACK-{path.stem}",
                        sender=receiver_id,
                        receiver="UNKNOWN",
                        batch_problem=str(exc)[:2000],
                    )
                    (ack_dir / f"{path.stem}.ack.xml").write_bytes(ack)
                continue
            new = 0
            if store is not None:
                new = store.add(
                    [StoredReport(r.case, "e2b", r.file, r.sha256, r.xpath, r.importer) for r in batch.loaded],
                    [
                        ("e2b", q.file, batch.sha256, q.xpath, q.reason, q.detail, q.safety_report_id, q.raw)
                        for q in batch.quarantined
                    ],
                )
            row = _row(batch, new)
            if fda_rules:
                findings = check_fda_rules(batch.cases, batch_receiver=batch.header.receiver or "")
                row["fda_rules"] = [
                    {
                        "safety_report_id": v.safety_report_id,
                        "rule_id": v.rule_id,
                        "element": v.element,
                        "severity": v.severity,
                        "message": v.message,
                    }
                    for v in findings
                ]
                for v in findings:
                    _note("note", f"{path}: {v.safety_report_id}: {v.rule_id} ({v.element}, {v.severity}): {v.message}")
            rows.append(row)
            for r in batch.loaded:
                for w in r.warnings:
                    _note("note", f"{path}: {r.case.safety_report_id}: {w}")
            for q in batch.quarantined:
                _note("warning", f"{path}: {q.xpath}: {q.reason}: {q.detail}")
            if ack_dir is not None:
                outcomes = [
                    AckOutcome(
                        r.case.safety_report_id,
                        (),
                        r.case.message_created if isinstance(r.case.message_created, str) else None,
                    )
                    for r in batch.loaded
                ]
                outcomes += [
                    AckOutcome(q.safety_report_id or q.message_id or q.xpath, [f"{q.reason}: {q.xpath}: {q.detail}"])
                    for q in batch.quarantined
                ]
                ack = write_ack(
                    outcomes,
                    batch_id=batch.header.batch_id,
                    ack_id=f"ACK-{batch.header.batch_id or path.stem}",
                    sender=receiver_id,
                    receiver=batch.header.sender or "UNKNOWN",
                    batch_created=batch.header.created,
                )
                (ack_dir / f"{path.stem}.ack.xml").write_bytes(ack)
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    finally:
        if store is not None:
            store.con.close()
    _summary(
        "E2B import (read = loaded + quarantined)",
        {"read": "read", "loaded": "loaded", "quarantined": "quarantined", "new versions": "new"},
        rows,
        report_json,
        failed,
    )


def _summary(
    title: str, columns: dict[str, str], rows: list[dict[str, object]], report_json: Path | None, failed: int
) -> None:
    """The import table (file, ``columns`` as heading -> row key, status), the JSON import
    report, and exit code 1 when a file failed."""
    table = Table(title=title)
    for col in ("file", *columns, "status"):
        table.add_column(col, justify="left" if col in ("file", "status") else "right")
    for row in rows:
        table.add_row(plain(row["file"]), *(str(row.get(k, "")) for k in columns.values()), str(row["status"]))
    console.print(table)
    if report_json is not None:
        try:
            report_json.write_text(json.dumps({"files": rows}, indent=2), "utf-8")
        except OSError as exc:
            _fail(exc)
        console.print(Text.assemble("Import report: ", plain(report_json)))
    if failed:
        raise typer.Exit(1)


def _row(batch: E2BBatch, new: int) -> dict[str, object]:
    return {
        "file": batch.file,
        "sha256": batch.sha256,
        "batch_id": batch.header.batch_id,
        "read": batch.read,
        "loaded": len(batch.loaded),
        "quarantined": len(batch.quarantined),
        "new": new,
        "status": "loaded" if not batch.quarantined else "partial",
        "reports": [
            {
                "safety_report_id": r.case.safety_report_id,
                "case_id": r.case.case_id,
                "xpath": r.xpath,
                "warnings": list(r.warnings),
            }
            for r in batch.loaded
        ],
        "quarantine": [
            {"xpath": q.xpath, "reason": q.reason, "detail": q.detail, "safety_report_id": q.safety_report_id}
            for q in batch.quarantined
        ],
    }


@export_app.command("e2b")
def export_e2b_cmd(
    out: Annotated[Path, typer.Option(help="The E2B(R3) batch file to write.")],
    sender: Annotated[str, typer.Option(help="Batch sender identifier N.1.3 (FDA: your approved sender id).")],
    receiver: Annotated[str, typer.Option(help="Batch receiver N.1.4 (FDA: ZZFDA or ZZFDA_PREMKT).")] = "ZZFDA",
    case: Annotated[
        list[str] | None, typer.Option(help="Case id (C.1.8.1) to export; repeatable; default all.")
    ] = None,
    batch_id: Annotated[str | None, typer.Option(help="Batch number N.1.2 (default: derived from the time).")] = None,
    db: Annotated[
        Path | None, typer.Option(help="DuckDB store file (default: $CGTVIGIL_DB or ./cgtvigil.duckdb).")
    ] = None,
    schemas: Annotated[
        Path | None,
        typer.Option(help="Folder of the ICH E2B(R3) schema package (multicacheschemas/, coreschemas/) to validate."),
    ] = None,
    submit: Annotated[
        bool,
        typer.Option(help="Record the cases as submitted to --receiver in this batch (stops their reporting clock)."),
    ] = False,
) -> None:
    """Export the current version of cases as one E2B(R3) batch, checked against FDA's business
    rules (each problem with its rule id) and, with --schemas, the ICH/HL7 XML schemas.

    Exit code 1 when a rejection rule or the schema fails (the file is still written, for review)."""
    from datetime import UTC, datetime

    settings = Settings.from_env()
    try:
        with CaseStore(db or settings.db, read_only=True) as store:
            cases = store.current_cases(case)
        if not cases:
            raise ParseError("no current case to export (check --case and --db)", file=str(db or settings.db))
        bid = batch_id or datetime.now(UTC).strftime("CGTVIGIL-%Y%m%d%H%M%S")
        write_e2b_file(cases, out, batch_id=bid, sender=sender, receiver=receiver)
        problems = validate_e2b(out.read_bytes(), schemas) if schemas is not None else []
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    violations = check_fda_rules(cases, batch_receiver=receiver)
    for v in violations:
        _note(
            "warning" if v.severity == "rejection" else "note",
            f"{v.safety_report_id}: {v.rule_id} ({v.element}, {v.severity}): {v.message}",
        )
    for p in problems:
        _note("warning", f"{out}: XSD: {p}")
    console.print(
        Text.assemble(
            f"Wrote {len(cases)} case(s) to ",
            plain(out),
            f"; {len(violations)} business-rule finding(s)",
            "" if schemas is None else f", {len(problems)} schema problem(s)",
        )
    )
    if problems or any(v.severity == "rejection" for v in violations):
        raise typer.Exit(1)
    if submit:
        import getpass

        from cgtvigil.cases import record_submissions
        from cgtvigil.store import operational_engine, session_factory

        try:
            with session_factory(operational_engine(settings.operational_url))() as session:
                record_submissions(
                    session,
                    cases,
                    receiver=receiver,
                    batch_id=bid,
                    actor=f"cli:{getpass.getuser()}",
                    at=datetime.now(UTC),
                )
                session.commit()
        except CgtVigilError as exc:
            _fail(exc)
        console.print(f"Recorded {len(cases)} submission(s) to {receiver} in batch {bid}")


fetch_app = typer.Typer(help="Download cases from public sources (openFDA).", no_args_is_help=True)
app.add_typer(fetch_app, name="fetch")


def _faers_versions(store: CaseStore, case_ids: set[str]) -> dict[str, tuple[str, int | None]]:
    """caseid -> (primaryid, caseversion) of the FAERS case view in the same store, if there is one."""
    if not case_ids or not store.con.execute("SELECT 1 FROM duckdb_tables() WHERE table_name = 'report'").fetchone():
        return {}
    rows = store.con.execute(
        "SELECT caseid, primaryid, caseversion FROM report WHERE caseid IN (SELECT unnest(?))", [sorted(case_ids)]
    ).fetchall()
    return {str(c): (str(p), int(v) if v is not None else None) for c, p, v in rows}


@ingest_app.command("openfda")
def ingest_openfda_cmd(
    files: Annotated[
        list[Path],
        typer.Argument(help="openFDA drug/event partitions (.json.zip or .json) or FAERS XML reports (.xml, .sgm)."),
    ],
    db: Annotated[
        Path | None, typer.Option(help="DuckDB store file (default: $CGTVIGIL_DB or ./cgtvigil.duckdb).")
    ] = None,
    report_json: Annotated[Path | None, typer.Option(help="Write the import report as JSON here.")] = None,
    products: Annotated[Path | None, typer.Option(help="CGT product dictionary (default: the shipped one).")] = None,
) -> None:
    """Load openFDA drug/event partitions (streamed) and FAERS XML: every record is loaded or
    quarantined with its reason; drugs are matched to the CGT product dictionary (verbatim name,
    then openFDA's harmonised brand/generic/substance names); cases also in the FAERS tables of
    the store are linked by caseid and version (the highest version is kept, FAERS on a tie).
    A damaged partition fails on its own; the others still load; the exit code is then 1."""
    from cgtvigil.ingest import OpenFdaPartition, faers_links, read_faers_xml, read_openfda
    from cgtvigil.store import load_products

    settings = Settings.from_env()
    rows: list[dict[str, object]] = []
    failed = 0
    store: CaseStore | None = None
    try:
        if report_json is not None and report_json.is_dir():
            raise ParseError("is a folder; give a file name for the import report", file=str(report_json))
        dictionary = load_products(products)
        store = CaseStore(db or settings.db, index=_case_index())
        for path in files:
            row: dict[str, object] = {"file": str(path), "read": 0, "loaded": 0, "quarantined": 0, "new": 0}
            versions: dict[str, str | None] = {}
            matches: list[dict[str, object]] = []
            quarantine: list[dict[str, object]] = []

            def keep(
                part: OpenFdaPartition,
                source: str,
                row: dict[str, object] = row,
                store: CaseStore = store,
                versions: dict[str, str | None] = versions,
                matches: list[dict[str, object]] = matches,
                quarantine: list[dict[str, object]] = quarantine,
                path: Path = path,
            ) -> None:
                new = store.add(
                    [StoredReport(r.case, source, r.file, r.sha256, r.xpath, r.importer) for r in part.loaded],
                    [
                        (source, q.file, part.sha256, q.xpath, q.reason, q.detail, q.safety_report_id, q.raw)
                        for q in part.quarantined
                    ],
                )
                row["loaded"] = int(str(row["loaded"])) + len(part.loaded)
                row["quarantined"] = int(str(row["quarantined"])) + len(part.quarantined)
                row["new"] = int(str(row["new"])) + new
                for r in part.loaded:
                    versions[r.case.case_id] = r.version
                    matches.extend(
                        {
                            "safety_report_id": r.case.safety_report_id,
                            "drug": m.drug_index,
                            "product": m.product_id,
                            "field": m.field,
                            "value": m.value,
                        }
                        for m in r.product_matches
                    )
                    for w in r.warnings:
                        if not w.startswith(("NOT_KEPT", "SERIOUSNESS_PER_REPORT")):
                            _note("note", f"{path}: {r.case.safety_report_id}: {w}")
                for q in part.quarantined:
                    quarantine.append({"where": q.xpath, "reason": q.reason, "detail": q.detail})
                    if len(quarantine) <= 200:
                        _note("warning", f"{path}: {q.xpath}: {q.reason}: {q.detail}")

            try:
                if path.suffix.lower() in (".xml", ".sgm"):
                    part = read_faers_xml(path, products=dictionary)
                    keep(part, "faers-xml")
                else:
                    part = read_openfda(path, products=dictionary, on_batch=lambda p: keep(p, "openfda"))
            except ParseError as exc:
                failed += 1
                err.print(Text.assemble(("error:", "bold red"), " ", plain(exc)))
                row.update(status="failed", error=str(exc))
                rows.append(row)
                continue
            row["read"] = part.read
            row["sha256"] = part.sha256
            links = faers_links(versions, _faers_versions(store, set(versions)))
            row["faers_links"] = [
                {
                    "case_id": k.case_id,
                    "openfda_version": k.openfda_version,
                    "faers_primaryid": k.faers_primaryid,
                    "faers_version": k.faers_version,
                    "kept": k.kept,
                }
                for k in links
            ]
            row["also_in_faers"] = len(links)
            row["product_matches"] = matches
            row["quarantine"] = quarantine
            row["status"] = "loaded" if not quarantine else "partial"
            rows.append(row)
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    finally:
        if store is not None:
            store.con.close()
    table = Table(title="openFDA import (read = loaded + quarantined)")
    for col in ("file", "read", "loaded", "quarantined", "new versions", "CGT drugs", "in FAERS", "status"):
        table.add_column(col, justify="left" if col in ("file", "status") else "right")
    for row in rows:
        table.add_row(
            plain(row["file"]),
            *(str(row.get(k, "")) for k in ("read", "loaded", "quarantined", "new")),
            str(len(row.get("product_matches", []))),  # type: ignore[arg-type]
            str(row.get("also_in_faers", "")),
            str(row["status"]),
        )
    console.print(table)
    if report_json is not None:
        try:
            report_json.write_text(json.dumps({"files": rows}, indent=2), "utf-8")
        except OSError as exc:
            _fail(exc)
        console.print(Text.assemble("Import report: ", plain(report_json)))
    if failed:
        raise typer.Exit(1)


@fetch_app.command("openfda")
def fetch_openfda_cmd(
    out: Annotated[Path, typer.Option(help="Write the records here, as an openFDA JSON document (.json).")],
    search: Annotated[
        str | None, typer.Option(help='openFDA query, e.g. patient.drug.openfda.brand_name:"KYMRIAH".')
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many records.")] = 1000,
    page_size: Annotated[int, typer.Option(min=1, max=1000, help="Records per request (openFDA allows 1000).")] = 100,
) -> None:
    """Download drug/event records from the openFDA API (API key: $CGTVIGIL_OPENFDA_API_KEY or
    its _FILE; server: $CGTVIGIL_OPENFDA_URL) into one JSON file that `ingest openfda` reads."""
    from cgtvigil.ingest import OpenFdaClient

    settings = Settings.from_env()
    tmp = out.with_name(out.name + ".part")
    n = 0
    try:
        with (
            OpenFdaClient(settings.openfda_url, api_key=settings.openfda_api_key) as client,
            tmp.open("w", encoding="utf-8") as f,
        ):
            f.write('{"meta": {"search": ' + json.dumps(search) + '}, "results": [')
            for rec in client.search(search, limit=limit, page_size=page_size):
                f.write(("," if n else "") + "\n" + json.dumps(rec, ensure_ascii=False))
                n += 1
            f.write("\n]}\n")
        tmp.replace(out)
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    console.print(
        Text.assemble(
            f"Wrote {n} record(s) to ", plain(out), f" ({client.requests} request(s), {client.retries} retried)"
        )
    )


def _registry_ids(url: str) -> set[str]:
    """The pseudonyms of the monitored patients (to link FHIR subjects), empty without a registry."""
    from sqlalchemy import select

    from cgtvigil.store import PatientRow, existing_operational_engine, session_factory

    try:
        engine = existing_operational_engine(url)
    except CgtVigilError:
        return set()
    try:
        with session_factory(engine)() as session:
            return set(session.scalars(select(PatientRow.id)))
    finally:
        engine.dispose()


@ingest_app.command("fhir")
def ingest_fhir_cmd(
    files: Annotated[list[Path], typer.Argument(help="FHIR AdverseEvent resources or Bundles (JSON, R4 or R5).")],
    db: Annotated[
        Path | None, typer.Option(help="DuckDB store file (default: $CGTVIGIL_DB or ./cgtvigil.duckdb).")
    ] = None,
    version: Annotated[str, typer.Option(help="auto (from meta.profile or the elements), R4 or R5.")] = "auto",
    report_json: Annotated[Path | None, typer.Option(help="Write the import report as JSON here.")] = None,
) -> None:
    """Load FHIR AdverseEvents into the case store: AdverseEvents sharing an identifier are one
    report; each resource is loaded or quarantined with its reason and JSON path; subjects are
    linked to the patient registry ($CGTVIGIL_OPERATIONAL_URL) when it exists."""
    from cgtvigil.ingest import read_fhir_adverse_events

    settings = Settings.from_env()
    if version not in ("auto", "R4", "R5"):
        _fail(ParseError(f"--version must be auto, R4 or R5; got {version!r}", file="--version"))
    rows: list[dict[str, object]] = []
    failed = 0
    store: CaseStore | None = None
    try:
        known = _registry_ids(settings.operational_url)
        store = CaseStore(db or settings.db, index=_case_index())
        for path in files:
            try:
                batch = read_fhir_adverse_events(
                    path,
                    version=version,  # type: ignore[arg-type]
                    registry=(lambda pid: pid in known) if known else None,
                )
            except ParseError as exc:
                failed += 1
                err.print(Text.assemble(("error:", "bold red"), " ", plain(exc)))
                rows.append({"file": str(path), "status": "refused", "error": str(exc)})
                continue
            new = store.add(
                [StoredReport(r.case, "fhir", r.file, r.sha256, r.xpath, r.importer) for r in batch.loaded],
                [
                    ("fhir", q.file, batch.sha256, q.xpath, q.reason, q.detail, q.safety_report_id, q.raw)
                    for q in batch.quarantined
                ],
            )
            for r in batch.loaded:
                for w in r.warnings:
                    _note("note", f"{path}: {r.case.safety_report_id}: {w}")
            for q in batch.quarantined:
                _note("warning", f"{path}: {q.xpath}: {q.reason}: {q.detail}")
            rows.append(
                {
                    "file": str(path),
                    "sha256": batch.sha256,
                    "version": batch.version,
                    "read": batch.read,
                    "loaded": batch.resources_loaded,
                    "quarantined": len(batch.quarantined),
                    "reports": len(batch.loaded),
                    "new": new,
                    "status": "loaded" if not batch.quarantined else "partial",
                    "quarantine": [
                        {"where": q.xpath, "reason": q.reason, "detail": q.detail} for q in batch.quarantined
                    ],
                }
            )
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    finally:
        if store is not None:
            store.con.close()
    columns = {"read": "read", "loaded": "loaded", "quarantined": "quarantined", "reports": "reports"}
    _summary(
        "FHIR AdverseEvent import (read = loaded + quarantined resources)",
        {**columns, "new versions": "new"},
        rows,
        report_json,
        failed,
    )


@export_app.command("fhir")
def export_fhir_cmd(
    out: Annotated[Path, typer.Option(help="The FHIR Bundle (JSON) to write.")],
    version: Annotated[str, typer.Option(help="R4 or R5.")] = "R4",
    case: Annotated[
        list[str] | None, typer.Option(help="Case id (C.1.8.1) to export; repeatable; default all.")
    ] = None,
    db: Annotated[
        Path | None, typer.Option(help="DuckDB store file (default: $CGTVIGIL_DB or ./cgtvigil.duckdb).")
    ] = None,
) -> None:
    """Export the current version of cases as FHIR AdverseEvents (one per reaction) in a
    collection Bundle; what FHIR cannot carry is listed per case."""
    from cgtvigil.reports import write_fhir_adverse_events

    settings = Settings.from_env()
    if version not in ("R4", "R5"):
        _fail(ParseError(f"--version must be R4 or R5; got {version!r}", file="--version"))
    try:
        with CaseStore(db or settings.db, read_only=True) as store:
            cases = store.current_cases(case)
        if not cases:
            raise ParseError("no current case to export (check --case and --db)", file=str(db or settings.db))
        export = write_fhir_adverse_events(cases, version=version)  # type: ignore[arg-type]
        out.write_text(export.to_json(), "utf-8")
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    for rid, lost in export.not_written.items():
        _note("note", f"{rid}: NOT_WRITTEN: {', '.join(lost)}")
    n = len(export.bundle["entry"])
    console.print(Text.assemble(f"Wrote {n} AdverseEvent(s) of {len(cases)} case(s) to ", plain(out)))
