"""Long-term follow-up commands: plans, visits, recording a visit with its yearly form, the
coordinator's work list, the transition (tasks, status, transfers) and consent. The command
line is the deployment's operator: it sees every patient, and every write is audited."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from cgtvigil.audit import append_audit
from cgtvigil.cli._app import _fail, _progress, app, console, operational_session, plain
from cgtvigil.cli._monitor import _operator
from cgtvigil.config import Settings
from cgtvigil.errors import CgtVigilError, ValidationError
from cgtvigil.store import Scope, load_jurisdictions, load_ltfu_rules, load_products

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

followup_app = typer.Typer(
    help="Long-term follow-up: plans, visits, yearly forms, work list, transition and consent.", no_args_is_help=True
)
app.add_typer(followup_app, name="followup")

RulesOption = Annotated[Path | None, typer.Option("--rules", help="An LTFU rule-set JSON (default: the shipped one).")]
AgesOption = Annotated[
    Path | None, typer.Option("--jurisdictions", help="A jurisdiction table JSON (default: the shipped one).")
]


def _scope() -> Scope:
    return Scope(actor=_operator(), all_patients=True, acts=True)


def _audit(session: Session, action: str, target: str, detail: dict[str, object]) -> None:
    append_audit(session, actor=_operator(), action=action, target=target, at=datetime.now(UTC), detail=detail)


def _day(text: str | None, name: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValidationError([f"The '--{name}' option must be a date YYYY-MM-DD. Got {text!r}."]) from exc


@followup_app.command("plan")
def plan_cmd(
    patients: Annotated[list[str] | None, typer.Argument(help="Patient ids (none: every treated patient).")] = None,
    rules: RulesOption = None,
) -> None:
    """Make or re-make follow-up plans from the product flags and the rule set; a new rule-set
    version re-plans visits not yet open and keeps the others."""
    from sqlalchemy import select

    from cgtvigil.followup import plan_patient
    from cgtvigil.store import TreatmentRow

    now = datetime.now(UTC)
    try:
        rule_set, products = load_ltfu_rules(rules), load_products()
        with operational_session() as session:
            ids = patients or sorted(set(session.scalars(select(TreatmentRow.patient_id))))
            table = Table(title=f"Follow-up plans ({rule_set.version})")
            for c in ("patient", "product", "years", "rules", "added", "replaced", "kept"):
                table.add_column(c)
            with _progress("plan") as progress:
                for k, pid in enumerate(ids):
                    outcome = plan_patient(session, pid, products, rule_set, now)
                    if outcome.added or outcome.replaced:
                        _audit(session, "followup.plan", f"patient:{pid}", outcome.audit_detail())
                    session.commit()
                    p = outcome.plan
                    rules_text = ", ".join(p.rules) + (" (UNCONFIRMED)" if p.unconfirmed else "") if p else "none apply"
                    table.add_row(
                        pid,
                        outcome.product,
                        str(p.years if p else 0),
                        rules_text,
                        str(outcome.added),
                        str(outcome.replaced),
                        str(outcome.kept),
                    )
                    progress(pid, k + 1, len(ids))
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    console.print(table)


@followup_app.command("visits")
def visits_cmd(
    patient: Annotated[str, typer.Argument(help="Pseudonymous patient id.")],
    all_states: Annotated[bool, typer.Option("--all", help="Also replaced and not-required visits.")] = False,
) -> None:
    """A patient's follow-up timeline: visits with windows and states, forms, malignancies, consent, tasks."""
    from cgtvigil.followup import timeline

    now = datetime.now(UTC)
    try:
        with operational_session() as session:
            view = timeline(session, _scope(), load_products(), patient, now)
            _audit(session, "patient.read", f"patient:{patient}", {"part": "followup"})
            session.commit()
    except CgtVigilError as exc:
        _fail(exc)
    console.print(
        plain(
            f"Patient {view.patient_id} · site {view.site} · {view.product or 'no plan'}"
            + (
                f" · {view.plan_years} years to {view.plan_end} ({', '.join(view.plan_rules)}; {view.rule_version})"
                + (" UNCONFIRMED" if view.plan_unconfirmed else "")
                if view.plan_years
                else ""
            )
            + f" · status {view.status} · consent {view.consent or 'not recorded here'}"
        )
    )
    table = Table()
    for c in ("id", "visit", "due", "window", "status", "done", "rule version"):
        table.add_column(c)
    for v in view.visits:
        if v.state in ("replaced", "not_required") and not all_states:
            continue
        table.add_row(
            str(v.id),
            v.key,
            str(v.due),
            f"{v.opens} – {v.closes}",
            v.status,
            f"{v.done_on or ''} {v.contact}".strip(),
            v.rule_version,
        )
    console.print(table)
    for m in view.malignancies:
        console.print(
            plain(
                f"malignancy #{m.id}: {m.diagnosis} ({m.diagnosed_on}); tissue {m.tissue}; case {m.case_id}"
                + ("" if m.filed else " (not yet in the case store)")
            )
        )
    for t in view.tasks:
        console.print(plain(f"task {t.kind}: due {t.due}{' (approximate)' if t.approximate else ''}, {t.status}"))


@followup_app.command("record")
def record_cmd(
    visit: Annotated[int, typer.Argument(help="Visit id (from 'followup visits').")],
    done_on: Annotated[str, typer.Option(help="Date done, YYYY-MM-DD (the site's local date).")],
    contact: Annotated[str, typer.Option(help="visit, questionnaire, phone or record.")] = "visit",
    form: Annotated[Path | None, typer.Option(help="The yearly form as JSON (fields of YearlyForm).")] = None,
    tissue: Annotated[
        int | None, typer.Option(help="Instead: a malignancy work-up id whose tissue result is --result.")
    ] = None,
    result: Annotated[str | None, typer.Option(help="pending, positive or negative (with --tissue).")] = None,
    db: Annotated[
        Path | None, typer.Option(help="The case store (DuckDB) for malignancy cases (default: settings).")
    ] = None,
) -> None:
    """Record a visit as done with its yearly form; a new malignancy opens the tissue work-up
    and a safety case, filed into the case store at once."""
    from pydantic import ValidationError as PydanticError
    from sqlalchemy import func, select

    from cgtvigil.followup import YearlyForm, record_tissue_result, record_visit
    from cgtvigil.store import MalignancyRow

    now = datetime.now(UTC)
    settings = Settings.from_env()
    try:
        if contact not in ("visit", "questionnaire", "phone", "record"):
            raise ValidationError(
                [f"The '--contact' option must be visit, questionnaire, phone or record. Got {contact!r}."]
            )
        answers = None
        if form is not None:
            try:
                answers = YearlyForm.model_validate(json.loads(form.read_text("utf-8")))
            except PydanticError as exc:
                raise ValidationError(
                    [f"{form}: {(e['loc'] and e['loc'][0]) or 'form'}: {e['msg']}" for e in exc.errors()]
                ) from exc
            except json.JSONDecodeError as exc:
                raise ValidationError([f"{form}: not JSON ({exc})"]) from exc
            except UnicodeDecodeError as exc:
                raise ValidationError([f"{form}: not UTF-8 text (byte {exc.start})"]) from exc
        with operational_session() as session:
            if tissue is not None:
                row = record_tissue_result(session, _scope(), tissue, result or "", now, cases=db or settings.db)
                _audit(
                    session,
                    "followup.tissue",
                    f"patient:{row.patient_id}",
                    {"malignancy": tissue, "result": row.tissue},
                )
                message = f"Malignancy #{tissue} ({row.diagnosis}): tissue {row.tissue}."
            else:
                done = _day(done_on, "done-on")
                assert done is not None
                recorded = record_visit(
                    session,
                    _scope(),
                    load_products(),
                    visit,
                    done_on=done,
                    contact=contact,  # type: ignore[arg-type]
                    now=now,
                    form=answers,
                    cases=db or settings.db,
                )
                _audit(session, "followup.visit", f"patient:{recorded.visit.patient_id}", recorded.audit_detail())
                message = f"Visit {recorded.visit.key} of {recorded.visit.patient_id}: {recorded.status} on {done}."
                if recorded.malignancy is not None:
                    message += f" New malignancy: tissue requested, safety case {recorded.malignancy.case_id}."
            filed = session.scalar(
                select(func.count()).select_from(MalignancyRow).where(MalignancyRow.case_filed_at.is_(None))
            )
            session.commit()
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    if filed:
        message += (
            f" {filed} malignancy case version(s) wait for the case store (busy); the next follow-up round files them."
        )
    console.print(plain(message))


@followup_app.command("worklist")
def worklist_cmd(
    site: Annotated[str | None, typer.Option(help="Only this site (default: every site).")] = None,
    sort: Annotated[str, typer.Option(help="due or risk.")] = "due",
    rules: RulesOption = None,
) -> None:
    """The coordinator's work list: due this week, overdue, lost to follow-up, open tasks."""
    from cgtvigil.followup import worklist

    now = datetime.now(UTC)
    try:
        if sort not in ("due", "risk"):
            raise ValidationError([f"The '--sort' option must be due or risk. Got {sort!r}."])
        scope = Scope(actor=_operator(), sites=frozenset([site])) if site else _scope()
        with operational_session() as session:
            found = worklist(session, scope, load_ltfu_rules(rules), now, sort=sort)  # type: ignore[arg-type]
            _audit(session, "patient.list", "followup-worklist", {"items": len(found.items), "site": site})
            session.commit()
    except CgtVigilError as exc:
        _fail(exc)
    table = Table(title=f"Follow-up work list {found.today}: " + ", ".join(f"{k} {n}" for k, n in found.counts.items()))
    for c in ("patient", "site", "why", "visit / task", "due", "window closes", "risk"):
        table.add_column(c)
    for i in found.items:
        table.add_row(
            i.patient_id,
            i.site,
            i.reason,
            i.visit or i.task,
            str(i.due or ""),
            str(i.closes or ""),
            f"{i.risk:.2f}" if i.risk is not None else "",
        )
    console.print(table)


@followup_app.command("transition")
def transition_cmd(
    patient: Annotated[str | None, typer.Argument(help="A patient (none: raise due tasks for every patient).")] = None,
    to_site: Annotated[str | None, typer.Option(help="Transfer the patient to this site.")] = None,
    moved_on: Annotated[str | None, typer.Option(help="Transfer date YYYY-MM-DD (default today).")] = None,
    to_jurisdiction: Annotated[str | None, typer.Option(help="The patient's jurisdiction after the move.")] = None,
    sending_access: Annotated[str, typer.Option(help="none or read: what the sending site keeps.")] = "none",
    read_until: Annotated[str | None, typer.Option(help="End of the sending site's read access.")] = None,
    close_task: Annotated[str | None, typer.Option(help="Mark this task of the patient done (e.g. assent).")] = None,
    waive: Annotated[bool, typer.Option("--waive", help="With --close-task: waived, not done.")] = False,
    jurisdictions: AgesOption = None,
) -> None:
    """The paediatric-to-adult transition: raise due tasks (assent, re-consent, Got Transition
    elements) and consent holds at majority; show a patient's roadmap; transfer a patient; close
    a task."""
    from cgtvigil.followup import close_transition_task as close
    from cgtvigil.followup import followup_round_in, transfer_patient, transition_status

    now = datetime.now(UTC)
    try:
        ages = load_jurisdictions(jurisdictions)
        with operational_session() as session:
            if patient is None:  # the server's follow-up round, run by hand (or by a timer)
                done = followup_round_in(session, ages, Settings.from_env().db, now)
                _audit(session, "followup.transition", "transition-sweep", {"tasks_raised": done.tasks_raised,
                       "patients_held": done.patients_held, "visits_missed": done.visits_missed,
                       "cases_filed": done.cases_filed})  # fmt: skip
                session.commit()
                console.print(
                    f"Transition tasks raised: {done.tasks_raised}; patients held at majority: "
                    f"{done.patients_held} ({ages.version}); visits marked missed: {done.visits_missed}; "
                    f"malignancy cases filed: {done.cases_filed}."
                )
                return
            if to_site is not None:
                moved = transfer_patient(
                    session,
                    _scope(),
                    ages,
                    load_products(),
                    patient,
                    to_site=to_site,
                    moved_on=_day(moved_on, "moved-on") or now.date(),
                    now=now,
                    sending_access=sending_access,  # type: ignore[arg-type]
                    read_until=_day(read_until, "read-until"),
                    to_jurisdiction=to_jurisdiction,
                )
                _audit(session, "followup.transfer", f"patient:{patient}", moved.audit_detail())
                session.commit()
                console.print(
                    plain(
                        f"Patient {patient} moved {moved.row.from_site} → {moved.row.to_site} on "
                        f"{moved.row.moved_on}; the sending site keeps {moved.row.sending_access} access."
                    )
                )
            if close_task is not None:
                close(session, _scope(), patient, close_task, now, waive=waive)
                _audit(session, "followup.task", f"patient:{patient}", {"task": close_task, "waived": waive})
                session.commit()
            status = transition_status(session, _scope(), ages, patient, now)
            _audit(session, "patient.read", f"patient:{patient}", {"part": "transition"})
            session.commit()
    except CgtVigilError as exc:
        _fail(exc)
    console.print(
        plain(
            f"Patient {status.patient_id} · site {status.site} · age {status.age} · "
            f"majority at {status.majority_age} in "
            f"{status.jurisdiction} on {status.majority_on}{' (approximate)' if status.approximate else ''}; "
            f"assent from {status.assent_age}. Ages: {status.ages_label}"
        )
    )
    table = Table(title="Got Transition six core elements")
    for c in ("#", "element", "age", "status", "due"):
        table.add_column(c)
    for e in status.elements:
        table.add_row(
            str(e.element), e.title, f"{e.age}{' (UNCONFIRMED)' if e.unconfirmed else ''}", e.status, str(e.due or "")
        )
    console.print(table)


@followup_app.command("consent")
def consent_cmd(
    patient: Annotated[str, typer.Argument(help="Pseudonymous patient id.")],
    use: Annotated[str, typer.Option(help="safety_followup, data_sharing, biosample or recontact.")],
    signer: Annotated[str, typer.Option(help="parent, guardian, patient or irb.")],
    form_version: Annotated[str, typer.Option(help="Version of the consent form.")],
    kind: Annotated[str, typer.Option(help="permission, assent, consent or waiver.")] = "consent",
    signed_on: Annotated[str | None, typer.Option(help="Date YYYY-MM-DD (default today).")] = None,
    withdraw: Annotated[bool, typer.Option("--withdraw", help="Record a withdrawal of this use.")] = False,
    note: Annotated[str, typer.Option(help="A note (at most 512 characters).")] = "",
    jurisdictions: AgesOption = None,
) -> None:
    """Record a consent or its withdrawal; the patient's consent state applies at once everywhere."""
    from cgtvigil.followup import record_consent

    now = datetime.now(UTC)
    try:
        with operational_session() as session:
            row, states = record_consent(
                session,
                _scope(),
                load_jurisdictions(jurisdictions),
                patient,
                use=use,  # type: ignore[arg-type]
                kind=kind,  # type: ignore[arg-type]
                signer=signer,  # type: ignore[arg-type]
                form_version=form_version,
                signed_on=_day(signed_on, "signed-on") or now.date(),
                now=now,
                withdrawn=withdraw,
                note=note,
            )
            _audit(
                session,
                "consent.withdraw" if withdraw else "consent.record",
                f"patient:{patient}",
                {
                    "use": use,
                    "kind": kind,
                    "signer": signer,
                    "form_version": form_version,
                    "signed_on": row.signed_on.isoformat(),
                    "states": states,
                },
            )
            session.commit()
    except CgtVigilError as exc:
        _fail(exc)
    console.print(plain(f"Consent of {patient}: " + ", ".join(f"{k} {v}" for k, v in states.items())))


@followup_app.command("retention")
def retention_cmd(
    by: Annotated[str, typer.Option(help="site, country, age_band, sex, race, ethnicity or distance.")] = "site",
    risk: Annotated[bool, typer.Option("--risk", help="Also evaluate the loss-to-follow-up risk score.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the held-out split of patients (with --risk).")] = 0,
    html: Annotated[
        Path | None,
        typer.Option(help="Write the HTML report here (Kaplan–Meier curves, missed visits with Wilson CIs)."),
    ] = None,
    rules: RulesOption = None,
) -> None:
    """Retention (Kaplan–Meier time to loss to follow-up) and missed-visit rates by group, small
    cells suppressed; with --risk the risk score's AUROC and calibration on held-out patients."""
    from cgtvigil.followup import GROUPINGS, evaluate_risk, retention

    now = datetime.now(UTC)
    try:
        if by not in GROUPINGS:
            raise ValidationError([f"The '--by' option must be one of {', '.join(GROUPINGS)}. Got {by!r}."])
        rule_set = load_ltfu_rules(rules)
        with operational_session() as session:
            found = retention(session, _scope(), rule_set, now, by)
            evaluation = evaluate_risk(session, _scope(), rule_set, now, seed=seed) if risk else None
            _audit(session, "registry.aggregate", "followup-retention", {"by": by, "risk": risk})
            session.commit()
    except CgtVigilError as exc:
        _fail(exc)
    table = Table(
        title=f"Retention by {by} ({found.patients} patients; cells below {found.suppressed_below} suppressed)"
    )
    for c in ("group", "patients", "lost", "visits due", "missed", "missed rate (95% CI)", "retained at 5 y"):
        table.add_column(c)
    for g in found.groups:
        rate = f"{g.missed_rate:.1%} ({g.missed_low:.1%}–{g.missed_high:.1%})" if g.missed_rate is not None else "–"
        table.add_row(
            g.group,
            str(g.patients),
            str(g.lost),
            str(g.visits_due),
            str(g.missed),
            rate,
            f"{g.retained_5y:.2f}" if g.retained_5y is not None else "–",
        )
    console.print(table)
    if found.logrank_p is not None:
        console.print(f"Log-rank test across the shown groups: p = {found.logrank_p:.3g}")
    if evaluation is not None:
        console.print(
            f"Risk score (loss within {evaluation.horizon_years} years): AUROC {evaluation.auroc:.3f}, Brier "
            f"{evaluation.brier:.3f} on {evaluation.patients_test} held-out patients ({evaluation.rows_test} "
            f"patient-years, {evaluation.losses_test} losses); fitted on {evaluation.patients_train}."
        )
        for b in evaluation.calibration:
            console.print(f"  predicted {b.predicted:.3f} · observed {b.observed:.3f} ({b.rows} rows)")
        for name, coef in sorted(evaluation.coefficients.items(), key=lambda kv: -abs(kv[1])):
            console.print(plain(f"  {name}: {coef:+.2f} log-odds per SD"))
    if html is not None:
        from cgtvigil.reports import write_retention_report

        try:
            write_retention_report(html, found, evaluation)
        except OSError as exc:
            _fail(exc)
        console.print(plain(f"HTML report: {html}"))


def seed_demo_followup(settings: Settings, patients: int = 240) -> dict[str, int]:
    """The demo's SYNTHETIC long-term follow-up cohort (multi-site, multi-country, 12 years of
    enrolment up to today), loaded through the follow-up services, with a progress bar."""
    from cgtvigil.followup import file_pending_cases, load_ltfu_cohort
    from cgtvigil.store import CaseStore, operational_engine, session_factory
    from cgtvigil.synth import LtfuCohortConfig, simulate_ltfu

    products = load_products()
    cohort = simulate_ltfu(LtfuCohortConfig(patients=patients, today=datetime.now(UTC).date()), products)
    engine = operational_engine(settings.operational_url)
    try:
        with session_factory(engine)() as session, _progress("follow-up cohort (SYNTHETIC)") as progress:
            counts = load_ltfu_cohort(
                session, cohort, products, load_ltfu_rules(), load_jurisdictions(), progress=progress
            )
            _audit(session, "synth.followup", "followup-cohort", dict(counts))
            session.commit()
            with CaseStore(settings.db) as store:  # the malignancy cases into the demo's case store
                counts["cases_filed"] = file_pending_cases(session, store)
            session.commit()
    finally:
        engine.dispose()
    return counts
