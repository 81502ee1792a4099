"""The patient registry: pseudonymous patients and their treatments (product from the CGT
dictionary, lot, infusion date = day 0, lymphodepletion date, baseline labs)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil._validation import Problems
from cgtvigil.model import ProductDictionary
from cgtvigil.store import PatientRow, TreatmentRow

__all__ = ["current_treatment", "register_patient"]

_PSEUDONYM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{1,63}$")


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
) -> TreatmentRow:
    """Register a patient (if new) and a treatment; every problem is reported together."""
    problems = Problems()
    if not _PSEUDONYM.match(patient):
        problems.add(f"The patient id must be a pseudonym of 2-64 letters, digits or _.:- characters. Got {patient!r}.")
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
    treatment = TreatmentRow(
        patient_id=patient,
        product_id=key,
        lot=lot,
        infusion_date=infusion_date,
        lymphodepletion_date=lymphodepletion_date,
        baseline_labs=baseline_labs or {},
    )
    session.add(treatment)
    session.flush()
    return treatment


def current_treatment(session: Session, patient: str) -> TreatmentRow | None:
    """The most recent treatment of a patient."""
    return session.scalars(
        select(TreatmentRow).where(TreatmentRow.patient_id == patient).order_by(TreatmentRow.infusion_date.desc())
    ).first()
