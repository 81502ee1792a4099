"""The patient registry: pseudonymous patients and their treatments (product from the CGT
dictionary, lot, infusion date = day 0, lymphodepletion date, baseline labs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil._validation import Problems
from cgtvigil.ingest import pseudonym_problem
from cgtvigil.model import ProductDictionary
from cgtvigil.store import PatientRow, TreatmentRow

__all__ = ["Registration", "current_treatment", "register_patient"]


@dataclass(frozen=True)
class Registration:
    """What :func:`register_patient` wrote: a new patient, a new treatment, details filled in
    on an existing patient, or nothing (the same registration again)."""

    treatment: TreatmentRow
    patient_created: bool
    treatment_added: bool
    filled: dict[str, str] = field(default_factory=dict)  # empty details of an existing patient now set

    @property
    def changed(self) -> bool:
        return self.patient_created or self.treatment_added or bool(self.filled)

    def audit_detail(self) -> dict[str, Any]:
        """Exactly what was written, for the audit trail."""
        t = self.treatment
        detail: dict[str, Any] = {"patient_created": self.patient_created}
        if self.patient_created:
            detail["site"] = t.patient.site
        if self.treatment_added:
            detail["treatment"] = {"product": t.product_id, "infusion_date": t.infusion_date.isoformat(), "lot": t.lot}
        if self.filled:
            detail["filled"] = self.filled
        return detail


def register_patient(
    session: Session,
    products: ProductDictionary,
    *,
    patient: str,
    site: str,
    product: str,
    infusion_date: date,
    birth_date: date | None = None,
    birth_date_precision: str = "day",
    sex: str | None = None,
    jurisdiction: str | None = None,
    lot: str | None = None,
    lymphodepletion_date: date | None = None,
    baseline_labs: dict[str, Any] | None = None,
) -> Registration:
    """Register a patient (if new) and a treatment (unless the patient has this product with
    this infusion date already); every problem is reported together. An existing patient is
    never moved to another site nor given other details: a detail that differs from the
    registered one is refused, one that was empty is filled in and reported in the result."""
    problems = Problems()
    id_problem = pseudonym_problem(patient)
    if id_problem is not None:
        problems.add(id_problem)
    for name, value, limit in (
        ("site", site, 64),
        ("lot", lot, 64),
        ("sex", sex, 8),
        ("jurisdiction", jurisdiction, 16),
    ):
        if value is not None and (not value.strip() or len(value) > limit or not value.isprintable()):
            problems.add(f"The {name} must be printable text of 1-{limit} characters. Got {value[:80]!r}.")
    by_id = products.by_id()
    key = product.lower()
    if key not in by_id:
        names = {p.brand.lower(): p.id for p in products.products}
        key = names.get(key, key)
    if key not in by_id:
        problems.add(
            f"unknown product {product!r}; expected a product id or brand of the CGT dictionary ({products.version})."
        )
    if birth_date is not None and birth_date > infusion_date:
        problems.add(f"the birth date {birth_date} is after the infusion date {infusion_date}.")
    if lymphodepletion_date is not None and lymphodepletion_date > infusion_date:
        problems.add(f"lymphodepletion ({lymphodepletion_date}) must not be after the infusion ({infusion_date}).")
    if birth_date_precision not in ("day", "month", "year"):
        problems.add(f"birth_date_precision must be day, month or year. Got {birth_date_precision!r}.")
    problems.raise_if_any()
    row = session.get(PatientRow, patient)
    filled: dict[str, str] = {}
    if row is None:
        row = PatientRow(
            id=patient,
            site=site,
            birth_date=birth_date,
            birth_date_precision=birth_date_precision,
            sex=sex,
            jurisdiction=jurisdiction,
        )
        session.add(row)
        created = True
    else:
        created = False
        if row.site != site:
            problems.add(
                f"patient {patient} is registered at site {row.site!r}, not {site!r}; a registration never moves"
                " a patient to another site."
            )
        for name, given in (("birth_date", birth_date), ("sex", sex), ("jurisdiction", jurisdiction)):
            stored = getattr(row, name)
            if given is None or given == stored:
                continue
            if stored is None:
                filled[name] = str(given)
            else:
                problems.add(f"patient {patient} is registered with {name} {stored!s}, not {given!s}.")
        problems.raise_if_any()
        for name, given in (("birth_date", birth_date), ("sex", sex), ("jurisdiction", jurisdiction)):
            if name in filled:
                setattr(row, name, given)
        if "birth_date" in filled:
            row.birth_date_precision = birth_date_precision
    existing = session.scalars(
        select(TreatmentRow).where(
            TreatmentRow.patient_id == patient,
            TreatmentRow.product_id == key,
            TreatmentRow.infusion_date == infusion_date,
        )
    ).first()
    if existing is not None:
        session.flush()
        return Registration(existing, created, False, filled)
    treatment = TreatmentRow(
        patient_id=patient,
        product_id=key,
        lot=lot,
        infusion_date=infusion_date,
        lymphodepletion_date=lymphodepletion_date,
        baseline_labs=baseline_labs or {},
        patient=row,
    )
    session.add(treatment)
    session.flush()
    return Registration(treatment, created, True, filled)


def current_treatment(session: Session, patient: str) -> TreatmentRow | None:
    """The most recent treatment of a patient."""
    return session.scalars(
        select(TreatmentRow).where(TreatmentRow.patient_id == patient).order_by(TreatmentRow.infusion_date.desc())
    ).first()
