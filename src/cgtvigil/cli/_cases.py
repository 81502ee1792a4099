"""Case processing commands: the reporting clock list, duplicate candidates (find, decide) and
acknowledgements tied to submissions."""

from __future__ import annotations

import getpass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from cgtvigil.cases import Reference
from cgtvigil.cli._app import _fail, app, console, operational_session, plain
from cgtvigil.config import Settings
from cgtvigil.errors import CgtVigilError, ValidationError

cases_app = typer.Typer(help="Case processing: reporting clock, duplicates, acknowledgements.", no_args_is_help=True)
app.add_typer(cases_app, name="cases")

DbOption = Annotated[Path | None, typer.Option(help="DuckDB store file (default: $CGTVIGIL_DB or ./cgtvigil.duckdb).")]


def _operator() -> str:
    return f"cli:{getpass.getuser()}"


def _reference(rsi: Path | None) -> Reference:
    from cgtvigil.store import load_products, load_safety_info, load_topics

    topics = load_topics()
    return Reference(products=load_products(), rsi=load_safety_info(rsi, topics=topics), topics=topics)


@cases_app.command("clock")
def clock_cmd(
    db: DbOption = None,
    status: Annotated[str, typer.Option(help="Only: due, overdue, submitted, not expedited, incomplete.")] = "",
    today: Annotated[str | None, typer.Option(help="The day to count from, YYYY-MM-DD (default: today, UTC).")] = None,
    rsi: Annotated[Path | None, typer.Option(help="Reference safety information (default: the shipped list).")] = None,
    rules: Annotated[Path | None, typer.Option(help="Reporting clock rules (default: the shipped rules).")] = None,
) -> None:
    """List the cases with their reporting clock (7-day with its complete report on day 15, 15-day,
    EU 15- or 90-day; rules UNCONFIRMED marked), overdue first."""
    from cgtvigil.cases import case_list, load_clock_rules
    from cgtvigil.store import Scope

    settings = Settings.from_env()
    try:
        day = date.fromisoformat(today) if today else datetime.now(UTC).date()
    except ValueError:
        _fail(ValidationError([f"The '--today' option must be a date YYYY-MM-DD. Got {today!r}."]))
    if status not in ("", "due", "overdue", "submitted", "not expedited", "incomplete"):
        _fail(
            ValidationError(
                [f"The '--status' option must be due, overdue, submitted, not expedited or incomplete. Got {status!r}."]
            )
        )
    try:
        reference = _reference(rsi)
        clock_rules = load_clock_rules(rules)
        with operational_session() as session:
            scope = Scope(actor=_operator(), cases=frozenset())
            page = case_list(
                db or settings.db,
                session,
                scope,
                reference,
                today=day,
                now=datetime.now(UTC),
                status=status,  # type: ignore[arg-type]
                page_size=100_000,
                rules=clock_rules,
            )
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    table = Table(
        title=f"Reporting clock on {day.isoformat()} ({', '.join(f'{k}: {v}' for k, v in sorted(page.counts.items()))})"
    )
    for col in ("case", "source", "products", "first event", "status", "rule", "day 0", "due", "left", "reason"):
        table.add_column(col, justify="right" if col in ("days", "left") else "left")
    for r in page.rows:
        c = r.clock
        style = "bold red" if c.status == "overdue" else ("yellow" if c.status == "due" else "")
        table.add_row(
            plain(r.case_id),
            r.source,
            ", ".join(r.products),
            plain(r.first_event[:40]),
            Text(c.status, style=style),
            (c.rule or "") + (" (UNCONFIRMED)" if c.unconfirmed else ""),
            str(c.day0 or ""),
            str(c.due or ""),
            "" if c.days_left is None else str(c.days_left),
            plain(c.reason),
        )
    console.print(table)
    console.print(f"Reference data: {page.reference_versions}; clock rules {page.clock_rules}")


@cases_app.command("reindex")
def reindex_cmd(
    db: DbOption = None,
    rsi: Annotated[Path | None, typer.Option(help="Reference safety information (default: the shipped list).")] = None,
    rules: Annotated[Path | None, typer.Option(help="Reporting clock rules (default: the shipped rules).")] = None,
) -> None:
    """Store the case list's index (products, seriousness, assessment, clock basis) of every case
    whose index is missing or was made under other reference data or rules: after an upgrade,
    or after changing the reference safety information or the clock rules."""
    from cgtvigil.cases import case_indexer, load_clock_rules
    from cgtvigil.store import CaseStore

    settings = Settings.from_env()
    try:
        indexer = case_indexer(_reference(rsi), load_clock_rules(rules))
        with CaseStore(db or settings.db) as store:
            store.index = indexer
            n = store.reindex()
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    console.print(f"Re-indexed {n} case(s) (index {indexer.key}).")


@cases_app.command("duplicates")
def duplicates_cmd(
    db: DbOption = None,
    threshold: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Keep probabilistic matches from this score.")
    ] = 0.75,
) -> None:
    """Find cases of different sources (E2B, FHIR, openFDA, FAERS) that may be one case, and store
    them as candidates for a person to confirm or reject (``cases decide``)."""
    from cgtvigil.cases import MatchRecord, find_matches, match_record, store_matches
    from cgtvigil.model import normalise_name
    from cgtvigil.store import CaseStore

    settings = Settings.from_env()
    try:
        with CaseStore(db or settings.db, read_only=True) as store:
            records = [match_record(c, src) for src, c in store.current_with_source()]
            for caseid, age, sex, event, country, drugs, pts in store.faers_cases():
                records.append(
                    MatchRecord(
                        case_id=str(caseid),
                        source="faers",
                        ids=frozenset({str(caseid)}),
                        age_years=age,
                        sex={"M": "1", "F": "2"}.get(sex),
                        event_date=event,
                        country=country,
                        drugs=frozenset(normalise_name(d) for d in drugs.split("|") if d),
                        events=frozenset(p for p in pts.split("|") if p),
                    )
                )
        candidates = find_matches(records, threshold=threshold)
        with operational_session() as session:
            new = store_matches(session, candidates, actor=_operator(), at=datetime.now(UTC))
            session.commit()
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    table = Table(title=f"Duplicate candidates ({len(records)} cases compared; {new} new stored)")
    for col in ("case a", "source", "case b", "source", "method", "score", "fields"):
        table.add_column(col)
    for m in candidates[:200]:
        table.add_row(
            plain(m.case_a),
            m.source_a,
            plain(m.case_b),
            m.source_b,
            m.method,
            f"{m.score:.2f}",
            plain(", ".join(f"{k}={v}" for k, v in m.fields.items())),
        )
    console.print(table)


@cases_app.command("decide")
def decide_cmd(
    match_id: Annotated[int, typer.Argument(help="The candidate's id (from the case page or the API).")],
    decision: Annotated[str, typer.Argument(help="confirm or reject.")],
    note: Annotated[str, typer.Option(help="Why (kept in the audit trail).")] = "",
) -> None:
    """Confirm or reject a duplicate candidate (audited)."""
    from cgtvigil.cases import decide_match
    from cgtvigil.store import Scope

    word = {"confirm": "confirmed", "reject": "rejected"}.get(decision, decision)
    try:
        with operational_session() as session:
            row = decide_match(
                session, Scope(actor=_operator(), cases=frozenset()), match_id, word, at=datetime.now(UTC), note=note
            )
            session.commit()
    except CgtVigilError as exc:
        _fail(exc)
    console.print(
        Text.assemble(f"Candidate {match_id} ", plain(row.case_a), " ~ ", plain(row.case_b), f": {row.status}")
    )


@cases_app.command("ack")
def ack_cmd(
    files: Annotated[list[Path], typer.Argument(help="Acknowledgements (MCCI_IN200101UV01) received.")],
) -> None:
    """Tie acknowledgements to the submissions of their batch: CA stops a case's clock, CR restarts it."""
    from cgtvigil.cases import record_ack
    from cgtvigil.ingest import read_ack

    try:
        with operational_session() as session:
            for f in files:
                ack = read_ack(f)
                n, unmatched = record_ack(session, ack, actor=_operator(), at=datetime.now(UTC))
                session.commit()
                console.print(
                    Text.assemble(plain(f), f": {ack.code}, batch {ack.batch_id}: {n} submission(s) updated")
                    + (Text.assemble("; no submission for ", plain(", ".join(unmatched))) if unmatched else Text(""))
                )
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
