"""Long-term follow-up pages: the coordinator's work list, a patient's follow-up timeline with
the transition roadmap, recording a visit with its yearly form, and the forms of the patient's
site staff for consent (a record or a withdrawal), a transfer to another site or jurisdiction
and closing a transition task: thin handlers over the follow-up workflow calls the CLI and the
JSON API make (which apply the scope, consent included), each write audited."""

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cgtvigil.errors import ConvergenceError, ValidationError
from cgtvigil.followup import (
    CONSENT_KINDS,
    GROUPINGS,
    SIGNERS,
    YearlyForm,
    close_transition_task,
    evaluate_risk,
    record_consent,
    record_visit,
    retention,
    timeline,
    transfer_patient,
    transition_status,
    worklist,
)
from cgtvigil.model import JurisdictionTable, LtfuRuleSet, ProductDictionary
from cgtvigil.store import CONSENT_USES
from cgtvigil.web._charts import retention_charts
from cgtvigil.web._render import Reader, _problem, audit_read, reader, render
from cgtvigil.web._security import DbSession, require_csrf
from cgtvigil.web.monitoring import CARE_TEAM

__all__ = ["FORM_FIELDS", "RETENTION_READERS", "followup_router"]

PATIENT_READERS = (*CARE_TEAM, "patient")
ACTORS = ("site_investigator", "administrator")
RETENTION_READERS = ("site_investigator", "regulator_reviewer", "safety_scientist", "administrator")
# yearly form categories shown on the page: (flag, detail field, label)
FORM_FIELDS = (
    ("new_malignancy", "malignancy_diagnosis", "New malignancy (diagnosis)"),
    ("neurological", "neurological_detail", "New or worse neurological disorder"),
    ("autoimmune", "autoimmune_detail", "New autoimmune / rheumatologic disorder"),
    ("haematological", "haematological_detail", "Haematological disorder"),
    ("infections", "infections_detail", "Serious or opportunistic infection"),
    ("pregnancy", "pregnancy_outcome", "Pregnancy (outcome)"),
    ("death", "death_cause", "Death (cause)"),
)


def _day(text: str, name: str, problems: list[str], *, required: bool = True) -> date | None:
    if not text and not required:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        problems.append(f"{name}: a date YYYY-MM-DD is needed. Got {text[:32]!r}.")
        return None


def followup_router(
    products: ProductDictionary, rules: LtfuRuleSet, ages: JurisdictionTable, cases: Path | None = None
) -> APIRouter:
    """The pages; ``cases`` is the case store a new malignancy's safety case is filed into."""
    router = APIRouter(include_in_schema=False)

    @router.get("/followup")
    def worklist_page(
        request: Request,
        session: DbSession,
        who: Annotated[Reader, Depends(reader(*CARE_TEAM))],
        sort: Literal["due", "risk"] = "due",
    ) -> HTMLResponse:
        found = worklist(session, who.scope, rules, datetime.now(UTC), sort=sort)
        audit_read(session, who.scope, "patient.list", "followup-worklist", items=len(found.items))
        return render(request, "followup.html", who.user, title="Follow-up", worklist=found, rules=rules)

    @router.get("/followup/retention")
    def retention_page(
        request: Request,
        session: DbSession,
        who: Annotated[Reader, Depends(reader(*RETENTION_READERS))],
        by: Literal["site", "country", "age_band", "sex", "race", "ethnicity", "distance"] = "site",
    ) -> HTMLResponse:
        now = datetime.now(UTC)
        found = retention(session, who.scope, rules, now, by)
        try:
            evaluation = evaluate_risk(session, who.scope, rules, now)
            why = ""
        except ConvergenceError as exc:
            evaluation, why = None, str(exc)
        audit_read(session, who.scope, "registry.aggregate", "followup-retention", by=by)
        return render(
            request,
            "followup_retention.html",
            who.user,
            title="Follow-up retention",
            found=found,
            evaluation=evaluation,
            why=why,
            groupings=GROUPINGS,
            charts=retention_charts(found, evaluation),
        )

    def patient_view(
        request: Request, session: DbSession, who: Reader, patient_id: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        now = datetime.now(UTC)
        view = timeline(session, who.scope, products, patient_id, now)
        transition = transition_status(session, who.scope, ages, patient_id, now)
        audit_read(session, who.scope, "patient.read", f"patient:{patient_id}", part="followup")
        return render(
            request,
            "followup_patient.html",
            who.user,
            status=status,
            title=f"Follow-up of {patient_id}",
            view=view,
            transition=transition,
            fields=FORM_FIELDS,
            can_act=who.scope.acts and not view.read_only,
            today=now.date(),
            uses=CONSENT_USES,
            kinds=CONSENT_KINDS,
            signers=SIGNERS,
            **context,
        )

    @router.get("/followup/patients/{patient_id}")
    def patient_page(
        request: Request, session: DbSession, patient_id: str, who: Annotated[Reader, Depends(reader(*PATIENT_READERS))]
    ) -> HTMLResponse:
        return patient_view(request, session, who, patient_id)

    @router.post("/followup/patients/{patient_id}/consent", dependencies=[Depends(require_csrf)])
    def consent(
        request: Request,
        session: DbSession,
        patient_id: str,
        who: Annotated[Reader, Depends(reader(*ACTORS))],
        use: Annotated[str, Form(max_length=32)] = "",
        kind: Annotated[str, Form(max_length=32)] = "consent",
        signer: Annotated[str, Form(max_length=32)] = "",
        form_version: Annotated[str, Form(max_length=200)] = "",
        signed_on: Annotated[str, Form(max_length=32)] = "",
        withdraw: Annotated[str, Form(max_length=8)] = "",
        note: Annotated[str, Form(max_length=2000)] = "",
    ) -> HTMLResponse:
        """Record a consent or its withdrawal (the same call as ``cgtvigil followup consent``)."""
        typed = {"use": use, "kind": kind, "signer": signer, "form_version": form_version,
                 "signed_on": signed_on, "withdraw": bool(withdraw), "note": note}  # fmt: skip
        problems: list[str] = []
        day = _day(signed_on, "signed on", problems)
        try:
            if problems:
                raise ValidationError(problems)
            assert day is not None
            row, states = record_consent(
                session,
                who.scope,
                ages,
                patient_id,
                use=use,  # type: ignore[arg-type]
                kind=kind,  # type: ignore[arg-type]
                signer=signer,  # type: ignore[arg-type]
                form_version=form_version.strip(),
                signed_on=day,
                now=datetime.now(UTC),
                withdrawn=bool(withdraw),
                note=note,
            )
        except ValidationError as exc:
            session.rollback()
            return patient_view(request, session, who, patient_id, 400, consent_error=_problem(exc), consent_form=typed)
        audit_read(
            session,
            who.scope,
            "consent.withdraw" if withdraw else "consent.record",
            f"patient:{patient_id}",
            via="page",
            use=use,
            kind=kind,
            signer=signer,
            form_version=row.form_version,
            signed_on=row.signed_on.isoformat(),
            states=states,
        )
        what = "withdrawal of" if withdraw else "consent for"
        notice = f"Recorded the {what} {use.replace('_', ' ')} ({row.form_version}, {row.signed_on}); " + ", ".join(
            f"{k.replace('_', ' ')} {v}" for k, v in states.items()
        )
        return patient_view(request, session, who, patient_id, consent_notice=notice + ".")

    @router.post("/followup/patients/{patient_id}/transfer", dependencies=[Depends(require_csrf)])
    def transfer(
        request: Request,
        session: DbSession,
        patient_id: str,
        who: Annotated[Reader, Depends(reader(*ACTORS))],
        to_site: Annotated[str, Form(max_length=200)] = "",
        to_jurisdiction: Annotated[str, Form(max_length=64)] = "",
        moved_on: Annotated[str, Form(max_length=32)] = "",
        sending_access: Annotated[str, Form(max_length=8)] = "none",
        read_until: Annotated[str, Form(max_length=32)] = "",
    ) -> HTMLResponse:
        """Move the patient to another site (and jurisdiction): ``cgtvigil followup transition --to-site``."""
        typed = {"to_site": to_site, "to_jurisdiction": to_jurisdiction, "moved_on": moved_on,
                 "sending_access": sending_access, "read_until": read_until}  # fmt: skip
        problems: list[str] = []
        day = _day(moved_on, "moved on", problems)
        until = _day(read_until, "read until", problems, required=False)
        try:
            if problems:
                raise ValidationError(problems)
            assert day is not None
            moved = transfer_patient(
                session,
                who.scope,
                ages,
                products,
                patient_id,
                to_site=to_site.strip(),
                moved_on=day,
                now=datetime.now(UTC),
                sending_access=sending_access,  # type: ignore[arg-type]
                read_until=until,
                to_jurisdiction=to_jurisdiction.strip() or None,
            )
        except ValidationError as exc:
            session.rollback()
            return patient_view(
                request, session, who, patient_id, 400, transfer_error=_problem(exc), transfer_form=typed
            )
        audit_read(session, who.scope, "followup.transfer", f"patient:{patient_id}", via="page", **moved.audit_detail())
        r = moved.row
        notice = (
            f"Patient {patient_id} moved {r.from_site} → {r.to_site} on {r.moved_on}; "
            f"your site keeps {r.sending_access} access."
        )
        if who.scope.all_patients or r.sending_access == "read":
            return patient_view(request, session, who, patient_id, transfer_notice=notice)
        # the sending site no longer sees the patient: back to the work list, saying so
        found = worklist(session, who.scope, rules, datetime.now(UTC))
        audit_read(session, who.scope, "patient.list", "followup-worklist", items=len(found.items))
        return render(request, "followup.html", who.user, title="Follow-up", worklist=found, rules=rules, notice=notice)

    @router.post("/followup/patients/{patient_id}/tasks/{kind}/close", dependencies=[Depends(require_csrf)])
    def close(
        request: Request,
        session: DbSession,
        patient_id: str,
        kind: str,
        who: Annotated[Reader, Depends(reader(*ACTORS))],
        waive: Annotated[str, Form(max_length=8)] = "",
    ) -> HTMLResponse:
        """Mark a transition task done (or waived): ``cgtvigil followup transition --close-task``."""
        try:
            row = close_transition_task(session, who.scope, patient_id, kind[:32], datetime.now(UTC), waive=bool(waive))
        except ValidationError as exc:
            session.rollback()
            return patient_view(request, session, who, patient_id, 400, task_error=_problem(exc))
        audit_read(
            session, who.scope, "followup.task", f"patient:{patient_id}", via="page", task=row.kind, waived=bool(waive)
        )
        return patient_view(
            request, session, who, patient_id, task_notice=f"Task {row.kind.replace('_', ' ')}: {row.status}."
        )

    @router.post("/followup/visits/{visit_id}/record", dependencies=[Depends(require_csrf)])
    async def record(
        request: Request,
        session: DbSession,
        visit_id: int,
        who: Annotated[Reader, Depends(reader(*ACTORS))],
        done_on: Annotated[str, Form(max_length=10)] = "",
        contact: Annotated[str, Form(max_length=16)] = "visit",
    ) -> Response:
        data = await request.form()
        answers: dict[str, object] = {}
        for flag, detail, _ in FORM_FIELDS:
            if data.get(flag):
                answers[flag] = True
                answers[detail] = str(data.get(detail, ""))[:256]
        problems = []
        try:
            day = date.fromisoformat(done_on)
        except ValueError:
            problems.append(f"done on: a date YYYY-MM-DD is needed. Got {done_on!r}.")
        if contact not in ("visit", "questionnaire", "phone", "record"):
            problems.append(f"contact must be visit, questionnaire, phone or record. Got {contact!r}.")
        if answers.get("death"):
            answers["death_date"] = done_on
        try:
            form = YearlyForm.model_validate(answers) if answers else None
        except ValueError as exc:
            problems.append(str(exc).splitlines()[-1] if str(exc) else "the form is incomplete")
        if problems:
            raise ValidationError(problems)
        done = record_visit(
            session,
            who.scope,
            products,
            visit_id,
            done_on=day,
            contact=contact,  # type: ignore[arg-type]
            now=datetime.now(UTC),
            form=form,
            cases=cases,
        )
        audit_read(session, who.scope, "followup.visit", f"patient:{done.visit.patient_id}", **done.audit_detail())
        return RedirectResponse(f"/followup/patients/{done.visit.patient_id}", status_code=303)

    return router
