"""Signal management commands (issue 15, GVP Module IX): create a signal (from a screen row, an
alert or sequential boundary, a follow-up reference or a case series), list, show, advance with
an electronic signature, attach evidence, share with a regulator reviewer, re-screen, and open
or change a risk of the register.

Every command acts as a user account (``--user``) under that user's scope; a write asks for the
user's password (hidden; ``--password-stdin`` for automation), checked like a log-in, and a
transition records it as the electronic signature with its meaning."""

from __future__ import annotations

import getpass
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from cgtvigil.cli._app import _fail, _listed, app, console, plain
from cgtvigil.config import Settings
from cgtvigil.errors import CgtVigilError, ValidationError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from cgtvigil.store import Scope

signal_app = typer.Typer(
    help="Signal management (GVP IX): from detection to a signed decision, evidence, sharing, re-screening.",
    no_args_is_help=True,
)
app.add_typer(signal_app, name="signal")

User = Annotated[str, typer.Option("--user", help="The user account to act as (its scope applies).")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the user's password from standard input (automation).")
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ScreenOption = Annotated[
    Path | None, typer.Option("--screen", help="Screen result file (default: CGTVIGIL_SCREEN_RESULT).")
]
TimelinesOption = Annotated[
    Path | None,
    typer.Option(
        "--timelines", help="Timelines file (days per state); default: CGTVIGIL_SIGNAL_TIMELINES, else the shipped one."
    ),
]


def _now() -> datetime:
    return datetime.now(UTC)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return typer.get_text_stream("stdin").readline().rstrip("\n")
    return str(typer.prompt("Password (electronic signature)", hide_input=True))


@contextmanager
def _acting(username: str, *, password: str | None = None) -> Iterator[tuple[Session, Scope]]:
    """A session and the user's scope; with ``password``, the password must verify (a write)."""
    from cgtvigil.access import scope_for, throttled_check
    from cgtvigil.store import UserRow, operational_engine, session_factory

    settings = Settings.from_env()
    with session_factory(operational_engine(settings.operational_url))() as session:
        user = session.get(UserRow, username) if len(username) <= 64 else None
        if user is None or not user.active:
            raise CgtVigilError(f"There is no active user named {username!r}.")
        if password is not None:
            correct, wait = throttled_check(session, user, password, _now(), client=f"cli:{getpass.getuser()}")
            if not correct:
                session.commit()  # the throttle counts the failure
                raise CgtVigilError(
                    f"Too many failed password checks: wait {wait} s." if wait else "The password is wrong."
                )
        yield session, scope_for(user)


def _options_error(exc: Any) -> ValidationError:
    """Pydantic's problems with the given options, named as options."""
    return ValidationError(
        [f"--{'.'.join(str(x) for x in e['loc']).replace('_', '-')}: {e['msg']}" for e in exc.errors()]
    )


def _screens(path: Path | None):  # type: ignore[no-untyped-def]
    from cgtvigil.screening import ScreenCache

    return ScreenCache(path or Settings.from_env().screen_result)


def _print_json(value: Any) -> None:
    console.print_json(json.dumps(value, default=str))


def _show(detail: Any) -> None:
    due = detail.due_at.strftime("%Y-%m-%d") if detail.due_at else "–"
    console.print(plain(f"Signal {detail.id}: {detail.title}"), style="bold")
    console.print(
        plain(
            f"{detail.product_id} · {detail.event} · {detail.state_label}"
            + (f" ({detail.outcome})" if detail.outcome else "")
            + f" · owner {detail.owner} · due {due}{' OVERDUE' if detail.overdue else ''}"
            + f" · timelines {detail.timelines_version}{'' if detail.timelines_verified else ' (unconfirmed)'}"
        )
    )
    if detail.flag:
        console.print(plain(f"flag: {detail.flag}"), style="yellow")
    if detail.risk_ref:
        console.print(plain(f"risk: {detail.risk_ref}"))
    timeline = Table(title="Timeline")
    for col in ("at (UTC)", "by", "what", "signature", "rationale"):
        timeline.add_column(col)
    for e in detail.events:
        what = f"{e.from_state or ''} → {e.to_state}" if e.kind in ("transition", "created") else e.kind
        if e.outcome:
            what += f" ({e.outcome})"
        timeline.add_row(f"{e.at:%Y-%m-%d %H:%M}", plain(e.by), plain(what), e.meaning or "–", plain(e.rationale))
    console.print(timeline)
    evidence = Table(title="Evidence")
    for col in ("id", "kind", "title", "reference", "current"):
        evidence.add_column(col)
    for v in detail.evidence:
        evidence.add_row(str(v.id), v.kind, plain(v.title), plain(v.reference), "yes" if v.current else "superseded")
    console.print(evidence)


@signal_app.command("create")
def create_cmd(
    user: User,
    event: Annotated[str, typer.Option(help="The event: a MedDRA PT, a safety topic id, or a short name.")],
    from_screen: Annotated[str | None, typer.Option("--from-screen", help="The screened drug of a screen row.")] = None,
    level: Annotated[str, typer.Option(help="Level of the screen row: pt or topic.")] = "pt",
    from_alert: Annotated[int | None, typer.Option("--from-alert", help="A monitoring or MaxSPRT alert id.")] = None,
    followup: Annotated[str | None, typer.Option(help="A follow-up alert reference, e.g. followup:42.")] = None,
    cases: Annotated[
        list[str] | None, typer.Option(help="Case ids of a hand-picked series (repeat or commas).")
    ] = None,
    case_source: Annotated[str, typer.Option(help="Where --cases come from: faers or registry.")] = "faers",
    product: Annotated[str, typer.Option(help="Product id (needed for cohort alerts, follow-up, cases).")] = "",
    title: Annotated[str, typer.Option(help="Title (default: product and event).")] = "",
    owner: Annotated[str, typer.Option(help="Owner (default: the user).")] = "",
    priority: Annotated[str, typer.Option(help="low, medium or high.")] = "",
    screen: ScreenOption = None,
    timelines: TimelinesOption = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Record a detected signal with its first evidence; prints its id."""
    from pydantic import ValidationError as PydanticValidationError

    from cgtvigil.signal_management import SignalRequest, create_signal, draft_for, load_timelines
    from cgtvigil.store import load_products

    given = [x for x in (from_screen, from_alert, followup, cases) if x is not None]
    try:
        if len(given) != 1:
            raise CgtVigilError("Give exactly one of --from-screen, --from-alert, --followup or --cases.")
        rules = load_timelines(timelines or Settings.from_env().signal_timelines)
        password = _password(password_stdin)
        with _acting(user, password=password) as (session, scope):
            kinds = {"screen": from_screen, "alert": from_alert, "followup": followup, "case_series": cases}
            request = SignalRequest(
                source=next(k for k, v in kinds.items() if v is not None),
                event=event,
                drug=from_screen or "",
                level=level,
                alert_id=from_alert,
                product_id=product,
                reference=followup or "",
                cases=list(_listed(cases)) if cases else [],
                case_source=case_source,
                title=title,
                owner=owner,
                priority=priority,
            )
            draft = draft_for(session, scope, _screens(screen), load_products(), request)
            signal = create_signal(session, scope, draft, at=_now(), timelines=rules)
            session.commit()
            console.print(
                plain(
                    f"Signal {signal.id} created ({signal.product_id}, {signal.event}); due {signal.due_at:%Y-%m-%d}."
                )
            )
    except PydanticValidationError as exc:
        _fail(_options_error(exc))
    except (CgtVigilError, OSError) as exc:
        _fail(exc)


@signal_app.command("list")
def list_cmd(
    user: User,
    state: Annotated[str, typer.Option(help="open, all, or one state (e.g. closed).")] = "open",
    product: Annotated[str, typer.Option(help="Only this product id.")] = "",
    as_json: Json = False,
) -> None:
    """The signals in the user's scope, the ones due first."""
    from cgtvigil.signal_management import list_signals

    try:
        with _acting(user) as (session, scope):
            found = list_signals(session, scope, _now(), state=state, product=product)
    except CgtVigilError as exc:
        _fail(exc)
    if as_json:
        _print_json([s.model_dump(mode="json") for s in found])
        return
    table = Table(title=f"Signals ({state})")
    for col in ("id", "product", "event", "state", "outcome", "owner", "due", "flag"):
        table.add_column(col)
    for s in found:
        due = (s.due_at.strftime("%Y-%m-%d") + (" overdue" if s.overdue else "")) if s.due_at else "–"
        table.add_row(
            str(s.id), plain(s.product_id), plain(s.event), s.state, s.outcome or "", plain(s.owner), due, plain(s.flag)
        )
    console.print(table)


@signal_app.command("show")
def show_cmd(
    signal_id: Annotated[int, typer.Argument(help="The signal's id.")],
    user: User,
    as_json: Json = False,
    timelines: TimelinesOption = None,
) -> None:
    """One signal: its state and due date, timeline of signed steps, evidence."""
    from cgtvigil.audit import append_audit
    from cgtvigil.signal_management import load_timelines, signal_detail

    try:
        verified = load_timelines(timelines or Settings.from_env().signal_timelines).verified
        with _acting(user) as (session, scope):
            detail = signal_detail(session, scope, signal_id, _now(), verified)
            append_audit(
                session,
                actor=scope.actor,
                action="signal.read",
                target=f"signal:{signal_id}",
                at=_now(),
                detail={"via": "cli", "operator": getpass.getuser()},
            )
            session.commit()
    except CgtVigilError as exc:
        _fail(exc)
    if as_json:
        _print_json(detail.model_dump(mode="json"))
    else:
        _show(detail)


@signal_app.command("advance")
def advance_cmd(
    signal_id: Annotated[int, typer.Argument(help="The signal's id.")],
    user: User,
    to: Annotated[str, typer.Option(help="The next state (see `signal show`), or closed.")],
    rationale: Annotated[str, typer.Option(help="Why, on which evidence.")],
    meaning: Annotated[
        str, typer.Option(help="Meaning of the signature: authorship, review, approval, responsibility.")
    ],
    outcome: Annotated[str | None, typer.Option(help="When closing: refuted, monitored or confirmed_risk.")] = None,
    priority: Annotated[str | None, typer.Option(help="Set the priority: low, medium or high.")] = None,
    owner: Annotated[str | None, typer.Option(help="Hand the signal to another owner.")] = None,
    timelines: TimelinesOption = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Move a signal to its next state, signed with the user's password."""
    from cgtvigil.access import throttled_check
    from cgtvigil.signal_management import advance_signal, load_timelines

    try:
        rules = load_timelines(timelines or Settings.from_env().signal_timelines)
        password = _password(password_stdin)
        with _acting(user) as (session, scope):
            signal = advance_signal(
                session,
                scope,
                signal_id,
                to=to,
                rationale=rationale,
                meaning=meaning,
                password=password,
                at=_now(),
                check=throttled_check,
                timelines=rules,
                outcome=outcome,
                priority=priority,
                owner=owner,
                client=f"cli:{getpass.getuser()}",
            )
            session.commit()
            due = f"; due {signal.due_at:%Y-%m-%d}" if signal.due_at else ""
            console.print(
                plain(
                    f"Signal {signal.id}: {signal.state}{f' ({signal.outcome})' if signal.outcome else ''}{due}; "
                    f"signed by {user} ({meaning})."
                )
            )
    except CgtVigilError as exc:
        _fail(exc)


@signal_app.command("attach")
def attach_cmd(
    signal_id: Annotated[int, typer.Argument(help="The signal's id.")],
    user: User,
    kind: Annotated[str, typer.Option(help="literature, document, screen_row or case_list.")],
    title: Annotated[str, typer.Option(help="What it is.")] = "",
    reference: Annotated[str, typer.Option(help="DOI, PMID, URL or file name.")] = "",
    file: Annotated[Path | None, typer.Option(help="A document: its SHA-256 is stored with it.")] = None,
    drug: Annotated[str, typer.Option(help="screen_row: the screened drug.")] = "",
    event: Annotated[str, typer.Option(help="screen_row: the event.")] = "",
    level: Annotated[str, typer.Option(help="screen_row: pt or topic.")] = "pt",
    cases: Annotated[list[str] | None, typer.Option(help="case_list: case ids (repeat or commas).")] = None,
    case_source: Annotated[str, typer.Option(help="case_list: faers or registry.")] = "faers",
    screen: ScreenOption = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Attach one piece of evidence to a signal."""
    from cgtvigil.signal_management import (
        EvidenceDraft,
        attach_evidence,
        case_series_draft,
        find_signal,
        screen_evidence,
    )

    try:
        if kind not in ("literature", "document", "screen_row", "case_list"):
            raise ValidationError([f"--kind: expected literature, document, screen_row or case_list, got {kind!r}."])
        if kind == "document" and file is None:
            raise ValidationError(["A document needs --file (its SHA-256 is stored)."])
        if kind in ("literature", "document") and not (title or file):
            raise ValidationError(["Give --title (what the evidence is)."])
        password = _password(password_stdin)
        with _acting(user, password=password) as (session, scope):
            if kind == "screen_row":
                evidence = screen_evidence(_screens(screen), scope, drug, level, event)
            elif kind == "case_list":
                signal = find_signal(session, scope, signal_id)
                evidence = case_series_draft(
                    session,
                    scope,
                    signal.product_id,
                    "pt",
                    signal.event,
                    list(_listed(cases)),
                    source=case_source,  # type: ignore[arg-type]
                    title=title,
                ).evidence[0]
            else:
                sha = ""
                if file is not None:
                    with file.open("rb") as fh:
                        sha = hashlib.file_digest(fh, "sha256").hexdigest()
                evidence = EvidenceDraft(
                    kind=kind,
                    title=title or (file.name if file else ""),
                    reference=reference or (file.name if file else ""),
                    sha256=sha,
                )
            row = attach_evidence(session, scope, signal_id, evidence, at=_now())
            session.commit()
            console.print(plain(f"Evidence {row.id} ({row.kind}) attached to signal {signal_id}."))
    except (CgtVigilError, OSError) as exc:
        _fail(exc)


@signal_app.command("share")
def share_cmd(
    signal_id: Annotated[int, typer.Argument(help="The signal's id.")],
    user: User,
    reviewer: Annotated[str, typer.Option(help="The regulator reviewer's user name.")],
    revoke: Annotated[bool, typer.Option("--revoke", help="End the sharing.")] = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Share a signal with a regulator reviewer (read-only), or end that."""
    from cgtvigil.signal_management import share_signal

    try:
        password = _password(password_stdin)
        with _acting(user, password=password) as (session, scope):
            share_signal(session, scope, signal_id, reviewer, at=_now(), revoke=revoke)
            session.commit()
    except CgtVigilError as exc:
        _fail(exc)
    console.print(plain(f"Signal {signal_id} {'no longer shared' if revoke else 'shared'} with {reviewer}."))


@signal_app.command("rescreen")
def rescreen_cmd(
    user: User, screen: ScreenOption = None, password_stdin: PasswordStdin = False, as_json: Json = False
) -> None:
    """Bring the screen-row evidence of the user's open signals up to a new screen result and
    flag what changed (new cases, rules newly met or lost, rank)."""
    from cgtvigil.signal_management import rescreen_signals

    try:
        password = _password(password_stdin)
        with _acting(user, password=password) as (session, scope):
            report = rescreen_signals(session, scope, _screens(screen), at=_now())
            session.commit()
    except CgtVigilError as exc:
        _fail(exc)
    if as_json:
        _print_json(report.model_dump(mode="json"))
        return
    console.print(plain(f"Snapshot {report.snapshot[:12]}: {report.checked} screen rows of open signals checked."))
    table = Table(title="Changes")
    for col in ("signal", "status", "what changed"):
        table.add_column(col)
    for c in report.changes:
        table.add_row(str(c.signal_id), c.status, plain(c.flag))
    console.print(table)


@signal_app.command("risk")
def risk_cmd(
    signal_id: Annotated[int, typer.Argument(help="The signal's id (validated).")],
    user: User,
    key: Annotated[str, typer.Option(help="The risk's key in the register (new: opened; existing: changed).")],
    name: Annotated[str, typer.Option(help="The risk's name.")],
    category: Annotated[str, typer.Option(help="important_identified, important_potential or missing_information.")],
    rationale: Annotated[str, typer.Option(help="Why the signal opens or changes the risk.")],
    pt: Annotated[list[str] | None, typer.Option(help="MedDRA PT names of the risk (repeat or commas).")] = None,
    topic: Annotated[str | None, typer.Option(help="The safety topic that counts its cases.")] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Open or change a risk of the product's register from a validated signal (linked both ways)."""
    from pydantic import ValidationError as PydanticValidationError

    from cgtvigil.risk_management import Risk
    from cgtvigil.signal_management import open_risk
    from cgtvigil.store import load_products

    try:
        try:
            risk = Risk(
                key=key,
                name=name,
                category=category,
                topic=topic,
                preferred_terms=_listed(pt) if pt else (),
                source=f"signal:{signal_id}",
            )
        except PydanticValidationError as exc:
            raise _options_error(exc) from exc
        password = _password(password_stdin)
        with _acting(user, password=password) as (session, scope):
            signal = open_risk(session, scope, load_products(), signal_id, risk, rationale=rationale, at=_now())
            session.commit()
    except CgtVigilError as exc:
        _fail(exc)
    console.print(plain(f"Signal {signal_id} → risk {signal.risk_ref}."))
