"""Long-term follow-up pages: the coordinator's work list, a patient's follow-up timeline with
the transition roadmap, and recording a visit with its yearly form: thin handlers over the
follow-up query services (which apply the scope, consent included)."""

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cgtvigil.errors import ConvergenceError, ValidationError
from cgtvigil.followup import (
    GROUPINGS,
    YearlyForm,
    evaluate_risk,
    record_visit,
    retention,
    timeline,
    transition_status,
    worklist,
)
from cgtvigil.model import JurisdictionTable, LtfuRuleSet, ProductDictionary
from cgtvigil.web._charts import retention_charts
from cgtvigil.web._render import Reader, audit_read, reader, render
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


def followup_router(products: ProductDictionary, rules: LtfuRuleSet, ages: JurisdictionTable) -> APIRouter:
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

    @router.get("/followup/patients/{patient_id}")
    def patient_page(
        request: Request, session: DbSession, patient_id: str, who: Annotated[Reader, Depends(reader(*PATIENT_READERS))]
    ) -> HTMLResponse:
        now = datetime.now(UTC)
        view = timeline(session, who.scope, products, patient_id, now)
        status = transition_status(session, who.scope, ages, patient_id, now)
        audit_read(session, who.scope, "patient.read", f"patient:{patient_id}", part="followup")
        return render(
            request,
            "followup_patient.html",
            who.user,
            title=f"Follow-up of {patient_id}",
            view=view,
            transition=status,
            fields=FORM_FIELDS,
            can_act=who.scope.acts and not view.read_only,
            today=now.date(),
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
        )
        audit_read(session, who.scope, "followup.visit", f"patient:{done.visit.patient_id}", **done.audit_detail())
        return RedirectResponse(f"/followup/patients/{done.visit.patient_id}", status_code=303)

    return router
