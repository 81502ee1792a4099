"""Monitoring commands (gateways, patients, observations, alerts, plans); the server is `cgtvigil serve`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from cgtvigil.audit import append_audit
from cgtvigil.cli._app import _fail, app, console, operational_session
from cgtvigil.config import Settings
from cgtvigil.errors import CgtVigilError
from cgtvigil.store import load_products

if TYPE_CHECKING:
    pass


def _operator() -> str:
    """Who runs a command, for the audit trail (the operating-system user)."""
    import getpass

    return f"cli:{getpass.getuser()}"


monitor_app = typer.Typer(
    help="Patient monitoring: patients, gateways, observation files, alerts, plans.", no_args_is_help=True
)
app.add_typer(monitor_app, name="monitor")


@monitor_app.command("gateway-add")
def gateway_add_cmd(
    name: Annotated[str, typer.Argument(help="Gateway name, e.g. ward-7-hub.")],
    site: Annotated[str, typer.Option(help="Site the gateway belongs to.")],
) -> None:
    """Register a device gateway and print its API token (shown only once)."""
    from cgtvigil.monitoring import register_gateway
    from cgtvigil.store import operational_engine, session_factory

    settings = Settings.from_env()
    try:
        with session_factory(operational_engine(settings.operational_url))() as session:
            token = register_gateway(session, name, site)
            append_audit(
                session,
                actor=_operator(),
                action="gateway.create",
                target=f"gateway:{name}",
                at=datetime.now(UTC),
                detail={"site": site},
            )
            session.commit()
    except CgtVigilError as exc:
        _fail(exc)
    console.print(f"Gateway '{name}' ({site}). Token (store it now; it is not shown again):\n{token}")


@monitor_app.command("ingest")
def monitor_ingest_cmd(
    path: Annotated[
        Path, typer.Argument(help="An OMH JSON list, a FHIR Bundle, a QuestionnaireResponse or a wearable CSV.")
    ],
    format: Annotated[str, typer.Option(help="omh, fhir, epro, assessment or csv.")],
    source_timezone: Annotated[
        str | None, typer.Option(help="IANA time zone for timestamps without an offset.")
    ] = None,
) -> None:
    """Load an observation file into the operational store and evaluate the patients in it
    (registered patients only; every element that is not stored is listed with its reason)."""
    from collections.abc import Callable, Iterable
    from datetime import timedelta
    from typing import Any

    from cgtvigil.ingest import (
        IntakeResult,
        read_assessments,
        read_fhir_bundle,
        read_omh,
        read_questionnaire_response,
        read_wearable_csv,
    )
    from cgtvigil.monitoring import (
        MonitoringRules,
        evaluate_forecast,
        evaluate_patients,
        load_forecast_models,
        store_observations,
    )
    from cgtvigil.store import operational_engine, session_factory

    settings = Settings.from_env()
    now = datetime.now(UTC)
    step = settings.max_batch_elements
    totals: dict[str, Any] = {}
    shown = 0
    try:
        if format == "csv":
            parts: Iterable[IntakeResult] = [read_wearable_csv(path, source_timezone=source_timezone, now=now)]
        else:
            payload = json.loads(path.read_text("utf-8"))
            readers: dict[str, Callable[[Any], Iterable[IntakeResult]]] = {
                "assessment": lambda p: [read_assessments(p, where=str(path), now=now)],
                "fhir": lambda p: [read_fhir_bundle(p, where=str(path), now=now)],
                "epro": lambda p: [read_questionnaire_response(p, where=str(path), now=now)],
                "omh": lambda p: (  # a long list in slices: bounded memory, each slice committed
                    read_omh(p[k : k + step], source_timezone=source_timezone, where=str(path), now=now, first=k)
                    for k in range(0, max(len(p), 1), step)
                ),
            }
            if format not in readers:
                raise CgtVigilError(
                    f"The '--format' option must be omh, fhir, epro, assessment or csv. Got {format!r}."
                )
            if format == "omh" and not isinstance(payload, list):
                payload = [payload]
            parts = readers[format](payload)
        engine = operational_engine(settings.operational_url)
        products = load_products()
        models = load_forecast_models(settings.forecast_model) if settings.forecast_model is not None else None
        for result in parts:
            with session_factory(engine)() as session:
                summary = store_observations(session, result, now)
                since = {p: summary.earliest[p] - timedelta(days=1) for p in summary.patients}
                found = evaluate_patients(session, since, MonitoringRules(), products=products)
                alerts = [a for p in sorted(found) for a in found[p]]
                if models is not None:  # a forecast above a threshold of the plan rules alerts too
                    alerts += [
                        a for p in sorted(summary.patients) for a in evaluate_forecast(session, p, models, now=now)
                    ]
                append_audit(
                    session,
                    actor=_operator(),
                    action="observations.ingest",
                    target=str(path)[:256],
                    at=now,
                    detail=summary.to_dict() | {"refused_patients": sorted(summary.refused_patients)[:100]},
                )
                session.commit()
            for key, value in summary.to_dict().items():
                if isinstance(value, int):
                    totals[key] = totals.get(key, 0) + value
                elif isinstance(value, dict):
                    merged = totals.setdefault(key, {})
                    for k, n in value.items():
                        merged[k] = merged.get(k, 0) + n
                else:
                    totals[key] = sorted(set(totals.get(key, [])) | set(value))  # type: ignore[call-overload]
            for q in summary.quarantine[: max(0, _SHOWN - shown)]:
                console.print(f"quarantined {q.location}: {q.reason} — {q.detail}", markup=False, highlight=False)
            shown += len(summary.quarantine)
            for a in alerts:
                console.print(
                    f"alert #{a.id} {a.patient_id} {a.rule} ({a.severity}, {a.status}): {a.message}", markup=False
                )
        engine.dispose()
    except RecursionError:
        _fail(CgtVigilError(f"{path}: the JSON is nested too deeply to read"))
    except (CgtVigilError, OSError, ValueError) as exc:
        _fail(exc)
    if shown > _SHOWN:
        console.print(f"... and {shown - _SHOWN:,} more quarantined elements (all stored in the quarantine table)")
    console.print(totals)


_SHOWN = 200  # quarantined elements listed on screen; every one is stored


@monitor_app.command("patient-add")
def patient_add_cmd(
    patient: Annotated[str, typer.Argument(help="Pseudonymous patient id (never a name or record number).")],
    site: Annotated[str, typer.Option(help="Treating site.")],
    product: Annotated[str, typer.Option(help="Product id or brand from the CGT dictionary.")],
    infusion_date: Annotated[str, typer.Option(help="Infusion date (day 0), YYYY-MM-DD.")],
    birth_date: Annotated[str | None, typer.Option(help="Date of birth as precise as known (YYYY-MM-DD).")] = None,
    sex: Annotated[str | None, typer.Option(help="M, F or other.")] = None,
    lot: Annotated[str | None, typer.Option(help="Product lot.")] = None,
) -> None:
    """Register a patient and a treatment in the operational store."""
    from datetime import date

    from cgtvigil.monitoring import register_patient
    from cgtvigil.store import operational_engine, session_factory

    settings = Settings.from_env()
    try:
        with session_factory(operational_engine(settings.operational_url))() as session:
            registration = register_patient(
                session,
                load_products(),
                patient=patient,
                site=site,
                product=product,
                infusion_date=date.fromisoformat(infusion_date),
                birth_date=date.fromisoformat(birth_date) if birth_date else None,
                sex=sex,
                lot=lot,
            )
            if registration.changed:
                append_audit(
                    session,
                    actor=_operator(),
                    action="patient.create" if registration.patient_created else "patient.update",
                    target=f"patient:{patient}",
                    at=datetime.now(UTC),
                    detail=registration.audit_detail(),
                )
            session.commit()
    except (CgtVigilError, ValueError) as exc:
        _fail(exc)
    t = registration.treatment
    if not registration.changed:
        console.print(
            f"Patient {patient} is registered with {t.product_id}, day 0 = {t.infusion_date}; nothing changed."
        )
    elif registration.patient_created:
        console.print(f"Patient {patient}: {t.product_id}, day 0 = {t.infusion_date}.")
    else:
        what = (
            ["a treatment " + t.product_id + ", day 0 = " + str(t.infusion_date)]
            if registration.treatment_added
            else []
        ) + [f"{k} {v}" for k, v in registration.filled.items()]
        console.print(f"Patient {patient} (registered): added {'; '.join(what)}.")


@monitor_app.command("plan")
def plan_cmd(
    patient: Annotated[str, typer.Argument(help="Pseudonymous patient id.")],
) -> None:
    """The patient's risk-adaptive monitoring plan now (records a tier change with its reasons)."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from cgtvigil.clinical import car_hematotox, m_easix
    from cgtvigil.model import LabResult
    from cgtvigil.monitoring import (
        ACTIVE,
        PlanRules,
        compute_plan,
        current_treatment,
        forecast_for,
        load_forecast_models,
        plan_forecast,
        record_plan,
    )
    from cgtvigil.store import AlertRow, ObservationRow, PatientRow, operational_engine, session_factory

    settings = Settings.from_env()
    now = datetime.now(UTC)
    with session_factory(operational_engine(settings.operational_url))() as session:
        treatment = current_treatment(session, patient)
        if treatment is None:
            _fail(
                CgtVigilError(f"patient {patient!r} has no registered treatment; use 'cgtvigil monitor patient-add'.")
            )
        assert treatment is not None
        product = load_products().by_id()[treatment.product_id]
        labs = {k: LabResult(**v) for k, v in (treatment.baseline_labs or {}).items() if isinstance(v, dict)}
        severities = tuple(
            session.scalars(
                select(AlertRow.severity).where(AlertRow.patient_id == patient, AlertRow.status.in_(ACTIVE))
            )
        )
        last: dict[str, datetime] = {}
        for kind, item in (("temperature", "temperature"), ("sbp", "vitals"), ("anc", "cbc"), ("crp", "crp_ferritin")):
            t = session.scalars(
                select(ObservationRow.time)
                .where(ObservationRow.patient_id == patient, ObservationRow.kind == kind)
                .order_by(ObservationRow.time.desc())
            ).first()
            if t is not None:
                last[item] = t.replace(tzinfo=UTC)
        person = session.get(PatientRow, patient)
        age = (now.date() - person.birth_date).days / 365.25 if person and person.birth_date else None
        forecast = None
        if settings.forecast_model is not None:  # the plan's tier follows the forecast (plan rules 0.2+)
            try:
                models = load_forecast_models(settings.forecast_model)
            except CgtVigilError as exc:
                _fail(exc)
            forecast = plan_forecast(forecast_for(session, patient, models, PlanRules()))
        plan = compute_plan(
            patient,
            product,
            treatment.infusion_date,
            now,
            car_hematotox=car_hematotox(labs).value,
            m_easix=m_easix(labs).value,
            age_years=age,
            open_alert_severities=severities,
            last_measured=last,
            forecast=forecast,
        )
        changed = record_plan(session, plan, now)
        session.commit()
    console.print(
        f"{patient} ({product.brand}), day {plan.day}: tier [bold]{plan.tier}[/] — {'; '.join(plan.reasons)}"
        + (" (tier changed, recorded)" if changed else "")
    )
    for r in plan.requirements:
        console.print(f"  label: {r.text} until day {r.until_day} ({r.source}{'' if r.verified else ', UNVERIFIED'})")
    for i in plan.items:
        status = "[red]OVERDUE[/]" if i.overdue else "due"
        console.print(f"  {i.measurement}: every {i.every_hours:g} h, {status} {i.due.isoformat(timespec='minutes')}")


@monitor_app.command("alerts")
def monitor_alerts_cmd(
    all_: Annotated[bool, typer.Option("--all", help="Include resolved alerts.")] = False,
    escalate: Annotated[
        bool, typer.Option(help="First escalate open alerts past their acknowledgement deadline.")
    ] = False,
) -> None:
    """List alerts (open, acknowledged and escalated first)."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from cgtvigil.monitoring import ACTIVE, escalate_overdue
    from cgtvigil.store import AlertRow, operational_engine, session_factory

    settings = Settings.from_env()
    with session_factory(operational_engine(settings.operational_url))() as session:
        if escalate:
            escalate_overdue(session, datetime.now(UTC))
            session.commit()
        query = select(AlertRow).order_by(AlertRow.first_seen)
        if not all_:
            query = query.where(AlertRow.status.in_(ACTIVE))
        table = Table(title="Alerts")
        for c in ("id", "patient", "rule", "severity", "status", "first seen", "count", "message"):
            table.add_column(c)
        for a in session.scalars(query):
            table.add_row(
                str(a.id),
                a.patient_id,
                a.rule,
                a.severity,
                a.status,
                a.first_seen.isoformat(timespec="minutes"),
                str(a.count),
                a.message,
            )
    console.print(table)


@monitor_app.command("serve", hidden=True)
def serve_cmd(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
) -> None:
    """The same as `cgtvigil serve` (kept for scripts written before it existed)."""
    from cgtvigil.cli._serve import serve

    serve(host=host, port=port, workers=1)


@monitor_app.command("gateway-revoke")
def gateway_revoke_cmd(name: Annotated[str, typer.Argument(help="Gateway name.")]) -> None:
    """Revoke a device gateway's token at once (its requests get 401 from now on)."""
    from cgtvigil.store import GatewayRow, operational_engine, session_factory

    try:
        with session_factory(operational_engine(Settings.from_env().operational_url))() as session:
            row = session.get(GatewayRow, name) if len(name) <= 64 else None
            if row is None or not row.active:
                raise CgtVigilError(f"There is no active gateway named {name!r}.")
            row.active = False
            append_audit(
                session,
                actor=_operator(),
                action="gateway.revoke",
                target=f"gateway:{name}",
                at=datetime.now(UTC),
                detail={"site": row.site},
            )
            session.commit()
    except CgtVigilError as exc:
        _fail(exc)
    console.print(f"Gateway '{name}' revoked.")


notify_app = typer.Typer(
    help="Where each site's alerts are sent (SMTP e-mail or a signed webhook).", no_args_is_help=True
)
monitor_app.add_typer(notify_app, name="notify-config")


@notify_app.command("add")
def notify_add_cmd(
    site: Annotated[str, typer.Option(help="The site whose alerts are sent; '*' for every site.")],
    email: Annotated[str | None, typer.Option(help="An e-mail address (sent through CGTVIGIL_SMTP_HOST).")] = None,
    webhook: Annotated[str | None, typer.Option(help="An https:// URL that receives a signed JSON POST.")] = None,
    min_severity: Annotated[str, typer.Option(help="info, warning, high or critical.")] = "warning",
    escalation_only: Annotated[
        bool, typer.Option(help="Send only escalations (alerts nobody acknowledged in time).")
    ] = False,
) -> None:
    """Add a notification channel for a site; a webhook's signing secret is printed once."""
    from cgtvigil.cli._app import plain
    from cgtvigil.monitoring import configure_channel

    if (email is None) == (webhook is None):
        _fail(CgtVigilError("Give exactly one of --email or --webhook."))
    kind, target = ("email", email) if email is not None else ("webhook", webhook)
    assert target is not None
    now = datetime.now(UTC)
    try:
        with operational_session() as session:
            row, secret = configure_channel(
                session,
                site=site,
                kind=kind,
                target=target,
                at=now,
                actor=_operator(),
                min_severity=min_severity,
                escalation_only=escalation_only,
            )
            append_audit(
                session,
                actor=_operator(),
                action="notification.channel.add",
                target=f"notification-channel:{row.id}",
                at=now,
                detail={
                    "site": site,
                    "kind": kind,
                    "recipient": target,
                    "min_severity": min_severity,
                    "escalation_only": escalation_only,
                },
            )
            session.commit()
    except CgtVigilError as exc:
        _fail(exc)
    console.print(plain(f"Channel {row.id}: {kind} to {target} for {site} (from {min_severity})."))
    if secret:
        console.print(f"Webhook signing secret (store it in the receiver now; it is not shown again):\n{secret}")


@notify_app.command("list")
def notify_list_cmd() -> None:
    """List the notification channels."""
    from sqlalchemy import select

    from cgtvigil.cli._app import plain
    from cgtvigil.store import NotificationChannelRow

    with operational_session() as session:
        rows = session.scalars(select(NotificationChannelRow).order_by(NotificationChannelRow.id)).all()
    table = Table(title="Notification channels")
    for c in ("id", "site", "kind", "recipient", "from", "escalations only", "active"):
        table.add_column(c)
    for r in rows:
        table.add_row(
            str(r.id),
            plain(r.site),
            r.kind,
            plain(r.target),
            r.min_severity,
            "yes" if r.escalation_only else "no",
            "yes" if r.active else "no",
        )
    console.print(table)


@notify_app.command("disable")
def notify_disable_cmd(channel: Annotated[int, typer.Argument(help="The channel id (see list).")]) -> None:
    """Stop sending over a channel (kept with its deliveries for the record)."""
    from cgtvigil.monitoring import disable_channel

    try:
        with operational_session() as session:
            row = disable_channel(session, channel)
            append_audit(
                session,
                actor=_operator(),
                action="notification.channel.disable",
                target=f"notification-channel:{channel}",
                at=datetime.now(UTC),
                detail={"site": row.site, "kind": row.kind, "recipient": row.target},
            )
            session.commit()
    except CgtVigilError as exc:
        _fail(exc)
    console.print(f"Channel {channel} disabled.")


@monitor_app.command("escalate")
def escalate_cmd() -> None:
    """One escalation round, for a cron job or a systemd timer: escalate the alerts nobody
    acknowledged in time and send every notification that is due (first tries and retries).
    Safe beside running servers and other rounds. Exit 1 when a notification was given up."""
    from cgtvigil.cli._app import plain
    from cgtvigil.monitoring import run_escalation
    from cgtvigil.store import operational_engine, session_factory

    settings = Settings.from_env()
    try:
        engine = operational_engine(settings.operational_url)
        try:
            done = run_escalation(session_factory(engine), settings.notifier())
        finally:
            engine.dispose()
    except CgtVigilError as exc:
        _fail(exc)
    sent = sum(d.status == "sent" for d in done.deliveries)
    console.print(f"Escalated {len(done.escalated)} alert(s); {sent} of {len(done.deliveries)} notification(s) sent.")
    for d in done.failed:
        console.print(
            plain(
                f"notification {d.notification_id} (alert {d.alert_id}, {d.kind} to {d.recipient}): {d.status} "
                f"after {d.attempts} attempt(s): {d.error}"
            )
        )
    if any(d.status == "failed" for d in done.failed):
        raise typer.Exit(1)
