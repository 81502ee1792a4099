"""Follow-up plans from the product dictionary's flags and a versioned rule set (domain.md §3,
§4): the longest matching duration rule sets the years (examinations yearly for the first
years, then a yearly contact by visit or questionnaire), product extras add assessments
(integration-site analysis twice in year 1 for LVV HSC, ...). A re-plan under a new rule-set
version keeps every visit whose window has opened or that was recorded, marks the others
``replaced`` and adds the new version's visits; each visit keeps the version that made it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil.errors import NotFoundError
from cgtvigil.model import LtfuRuleSet, Product, ProductDictionary
from cgtvigil.schedules import VisitWindow, add_months, add_years
from cgtvigil.store import LtfuPatientRow, LtfuPlanRow, LtfuVisitRow, PatientRow, TreatmentRow, utc_naive

__all__ = ["PlanOutcome", "PlannedVisit", "plan_patient", "planned_visits"]


@dataclass(frozen=True)
class PlannedVisit:
    key: str
    kind: str
    year: int
    window: VisitWindow
    rule: str


def planned_visits(product: Product, rules: LtfuRuleSet, infusion: date) -> tuple[list[PlannedVisit], list[str], bool]:
    """The visits a rule set plans for ``product`` infused on ``infusion``; the ids of the rules
    used; whether any of them is UNCONFIRMED. No matching duration rule: no visits.

    Examples
    --------
    >>> from cgtvigil.store import load_ltfu_rules, load_products
    >>> skysona = load_products().by_id()["skysona"]
    >>> visits, used, unconfirmed = planned_visits(skysona, load_ltfu_rules(), date(2024, 2, 29))
    >>> used, len([v for v in visits if v.kind in ("examination", "contact")]), visits[0].window.due
    (['integrating-vector', 'isa-lvv-hsc', 'cbc-lvv-hsc'], 15, datetime.date(2024, 8, 29))
    """
    duration = [r for r in rules.rules if r.when.matches(product)]
    if not duration:
        return [], [], False
    main = max(duration, key=lambda r: (r.years, r.exam_years))
    used = [main.id]
    unconfirmed = main.status != "confirmed"
    end = add_years(infusion, main.years)
    out: list[PlannedVisit] = []
    for year in range(1, main.years + 1):
        kind = "examination" if year <= main.exam_years else "contact"
        due = add_years(infusion, year)
        window = VisitWindow.around(due, rules.window_before_days, rules.window_after_days)
        out.append(PlannedVisit(f"{kind}-y{year}", kind, year, window, main.id))
    for extra in rules.extras:
        if not extra.when.matches(product):
            continue
        used.append(extra.id)
        unconfirmed = unconfirmed or extra.status != "confirmed"
        months = sorted(set(extra.months))
        if extra.then_every_months and months:
            m = months[-1] + extra.then_every_months
            while add_months(infusion, m) <= end:
                months.append(m)
                m += extra.then_every_months
        for m in months:
            due = add_months(infusion, m)
            if due > end:
                break
            window = VisitWindow.around(due, rules.extra_window_days, rules.extra_window_days)
            out.append(PlannedVisit(f"{extra.kind}-m{m}", extra.kind, max(1, (m + 11) // 12), window, extra.id))
    out.sort(key=lambda v: (v.window.due, v.key))
    return out, used, unconfirmed


@dataclass(frozen=True)
class PlanOutcome:
    """What :func:`plan_patient` did: the plan (None: no LTFU rule applies), visits added,
    visits replaced (not yet open under an earlier version), visits kept."""

    plan: LtfuPlanRow | None
    added: int
    replaced: int
    kept: int
    product: str

    def audit_detail(self) -> dict[str, object]:
        p = self.plan
        return {
            "product": self.product,
            "rule_version": p.rule_version if p else None,
            "rules": list(p.rules) if p else [],
            "years": p.years if p else 0,
            "added": self.added,
            "replaced": self.replaced,
            "kept": self.kept,
        }


def plan_patient(
    session: Session, patient_id: str, products: ProductDictionary, rules: LtfuRuleSet, now: datetime
) -> PlanOutcome:
    """Make or re-make the follow-up plan of a patient's latest treatment (the caller audits
    and commits). Visits already recorded or whose window opened before ``now`` are kept as
    they are; a deceased patient gets no new visits."""
    patient = session.get(PatientRow, patient_id)
    treatment = session.scalar(
        select(TreatmentRow).where(TreatmentRow.patient_id == patient_id).order_by(TreatmentRow.infusion_date.desc())
    )
    if patient is None or treatment is None:
        raise NotFoundError(f"no treated patient {patient_id!r} in the registry")
    product = products.by_id().get(treatment.product_id)
    if product is None:
        raise NotFoundError(f"product {treatment.product_id!r} is not in the dictionary {products.version}")
    today = now.date()
    planned, used, unconfirmed = planned_visits(product, rules, treatment.infusion_date)
    plan = session.scalar(select(LtfuPlanRow).where(LtfuPlanRow.treatment_id == treatment.id))
    if not planned:
        return PlanOutcome(plan, 0, 0, 0, product.id)
    stamp = utc_naive(now)
    years = max(r.years for r in rules.rules if r.id == used[0])
    if plan is None:
        plan = LtfuPlanRow(
            patient_id=patient_id,
            treatment_id=treatment.id,
            product_id=product.id,
            start=treatment.infusion_date,
            end=add_years(treatment.infusion_date, years),
            years=years,
            rules=used,
            unconfirmed=unconfirmed,
            rule_version=rules.version,
            created_at=stamp,
            updated_at=stamp,
        )
        session.add(plan)
        session.flush()
    live = [
        v for v in session.scalars(select(LtfuVisitRow).where(LtfuVisitRow.plan_id == plan.id)) if v.state != "replaced"
    ]
    replaced = 0
    for v in live:  # not yet open and made by another version: the new version decides
        if v.state == "scheduled" and v.opens > today and v.rule_version != rules.version:
            v.state = "replaced"
            replaced += 1
    kept_keys = {v.key for v in live if v.state != "replaced"}
    status = session.get(LtfuPatientRow, patient_id)
    ended = status is not None and status.status in ("deceased", "completed")
    added = 0
    for p in planned:
        # a visit whose window closed before the plan (re-)made it is not in the plan's record
        if p.key in kept_keys or ended or p.window.closes < today:
            continue
        session.add(
            LtfuVisitRow(
                plan_id=plan.id,
                patient_id=patient_id,
                key=p.key,
                kind=p.kind,
                year=p.year,
                due=p.window.due,
                opens=p.window.opens,
                closes=p.window.closes,
                state="scheduled",
                rule_version=rules.version,
                rule=p.rule,
            )
        )
        added += 1
    plan.end = add_years(treatment.infusion_date, years)
    plan.years, plan.rules, plan.unconfirmed = years, used, unconfirmed
    plan.rule_version, plan.updated_at = rules.version, stamp
    session.flush()
    return PlanOutcome(plan, added, replaced, len(kept_keys), product.id)
