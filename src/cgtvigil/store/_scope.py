"""What a reader may see, as one value (``Scope``), and the one SQL helper per store that
applies it (issue 11). ``cgtvigil.access.scope_for`` builds the value from a user once; the
query services of every area take it and filter through :func:`patient_condition`
(operational store: patients, treatments, alerts, observations) or :func:`product_condition`
(FAERS screens and cases), so that no page or route filters by role itself."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, select, true

from cgtvigil.store._operational import PatientRow, TreatmentRow

__all__ = ["Scope", "patient_condition", "product_condition"]


@dataclass(frozen=True)
class Scope:
    """The reader's view of the data.

    - ``actor``: the name written to the audit trail for reads under this scope.
    - ``all_patients``: every patient (administrator), also alerts of ids missing from the registry.
    - ``sites``: patients of these sites (site investigator).
    - ``products``: patients treated with these products (sponsor's safety scientist).
    - ``patient``: this one patient (the patient's own account).
    - ``aggregates``: registry aggregates with small cells suppressed: ``None`` none, an empty
      set all products, else these products.
    - ``screens``: the public spontaneous-report screens and their cases.
    - ``acts``: may acknowledge and resolve alerts of the patients in scope.
    """

    actor: str
    all_patients: bool = False
    sites: frozenset[str] = frozenset()
    products: frozenset[str] = frozenset()
    patient: str | None = None
    aggregates: frozenset[str] | None = None
    screens: bool = False
    acts: bool = False

    @property
    def patient_level(self) -> bool:
        """Whether any patient-level data is in scope."""
        return self.all_patients or bool(self.sites or self.products or self.patient)


def patient_condition(scope: Scope, patient_id: ColumnElement[str] | object) -> ColumnElement[bool]:
    """The SQL condition on a ``patient_id`` column (of any operational table) that keeps the
    patients ``scope`` may see at patient level: the one place the operational store is scoped."""
    column: ColumnElement[str] = patient_id  # type: ignore[assignment]
    if scope.all_patients:
        return true()
    conditions: list[ColumnElement[bool]] = []
    if scope.sites:
        conditions.append(column.in_(select(PatientRow.id).where(PatientRow.site.in_(sorted(scope.sites)))))
    if scope.products:
        conditions.append(
            column.in_(select(TreatmentRow.patient_id).where(TreatmentRow.product_id.in_(sorted(scope.products))))
        )
    if scope.patient is not None:
        conditions.append(column == scope.patient)
    if not conditions:
        return false()
    out = conditions[0]
    for c in conditions[1:]:
        out = out | c
    return out


def product_condition(scope: Scope, product_id: ColumnElement[str] | object) -> ColumnElement[bool]:
    """The SQL condition on a treatment's ``product_id`` column that keeps the products whose
    registry aggregates ``scope`` may see (suppressed small cells are the caller's next step)."""
    column: ColumnElement[str] = product_id  # type: ignore[assignment]
    if scope.all_patients or scope.aggregates == frozenset():
        return true()
    if scope.aggregates:
        return column.in_(sorted(scope.aggregates))
    return false()
