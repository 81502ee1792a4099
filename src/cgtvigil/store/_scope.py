"""What a reader may see, as one value (``Scope``), and the one SQL helper per store that
applies it (issue 11). ``cgtvigil.access.scope_for`` builds the value from a user once; the
query services of every area take it and filter through :func:`patient_condition`
(operational store: patients, treatments, alerts, observations) or :func:`product_condition`
(FAERS screens and cases), so that no page or route filters by role itself."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal

from sqlalchemy import ColumnElement, false, func, select, true

from cgtvigil.store._followup_tables import ConsentStateRow, TransferRow
from cgtvigil.store._operational import PatientRow, TreatmentRow
from cgtvigil.store._signal_tables import SignalRecordRow, SignalShareRow

__all__ = [
    "CONSENT_USES",
    "PUBLIC_CASE_SOURCES",
    "ConsentUse",
    "Scope",
    "case_condition",
    "consent_condition",
    "patient_condition",
    "product_condition",
    "signal_condition",
]

ConsentUse = Literal["safety_followup", "data_sharing", "biosample", "recontact"]
CONSENT_USES: tuple[ConsentUse, ...] = ("safety_followup", "data_sharing", "biosample", "recontact")


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
    - ``all_signals``: every signal of the workflow (administrator).
    - ``signal_products``: the signals of these products, the sponsor's own (safety scientist).
    - ``signal_reviewer``: the signals shared with this regulator reviewer (by user name).
    - ``signal_writes``: may create signals, advance them with a signature and share them.
    - ``registers``: the risk registers (issue 15) of these products: ``None`` none, an empty
      set all products, else these products.
    - ``register_writes``: may edit the risk registers in ``registers``.
    - ``cases``: the ICSRs of the case store (issue 13) whose suspect drugs include these
      products: ``None`` none, an empty set all cases.
    - ``public_cases``: the ICSRs of public sources (openFDA, FAERS XML) and those submitted to a
      regulator (regulator reviewers).
    """

    actor: str
    all_patients: bool = False
    sites: frozenset[str] = frozenset()
    products: frozenset[str] = frozenset()
    patient: str | None = None
    aggregates: frozenset[str] | None = None
    screens: bool = False
    acts: bool = False
    all_signals: bool = False
    signal_products: frozenset[str] = frozenset()
    signal_reviewer: str | None = None
    signal_writes: bool = False
    registers: frozenset[str] | None = None
    register_writes: bool = False
    cases: frozenset[str] | None = None
    public_cases: bool = False

    @property
    def patient_level(self) -> bool:
        """Whether any patient-level data is in scope."""
        return self.all_patients or bool(self.sites or self.products or self.patient)


def consent_condition(use: ConsentUse, patient_id: ColumnElement[str] | object) -> ColumnElement[bool]:
    """The SQL condition that keeps the patients whose data may be used for ``use``: not
    withdrawn, and not held at majority until re-consent (issue 12). A patient without any
    recorded consent state is not restricted (consent kept outside cgtvigil)."""
    column: ColumnElement[str] = patient_id  # type: ignore[assignment]
    return column.not_in(
        select(ConsentStateRow.patient_id).where(
            ConsentStateRow.use == use, ConsentStateRow.state.in_(("withdrawn", "held"))
        )
    )


def patient_condition(
    scope: Scope, patient_id: ColumnElement[str] | object, *, use: ConsentUse | None = None, write: bool = False
) -> ColumnElement[bool]:
    """The SQL condition on a ``patient_id`` column (of any operational table) that keeps the
    patients ``scope`` may see at patient level: the one place the operational store is scoped,
    and the one enforcement point of consent (issue 12):

    - a sponsor's view (``products``) leaves out patients whose data-sharing consent is withdrawn
      or held, whatever the purpose: patient-level data reach a sponsor only by data sharing.
      The safety data the law requires still reach the sponsor as safety cases (the ICSR case
      store, e.g. a malignancy found at follow-up) and as suppressed aggregates, neither of
      which goes through this condition (review C: the sponsor's follow-up work list, asked
      with ``use="safety_followup"``, kept a patient the timeline hid);
    - ``use`` names the purpose of the query (a follow-up contact, a biosample request): patients
      withdrawn or held for it are left out of every view but the patient's own;
    - a site keeps read access to the patients it transferred while the transfer grants it;
      ``write=True`` (acting on a patient) leaves that read access out."""
    return _patient_condition(replace(scope, actor=""), patient_id, use, write)


@lru_cache(maxsize=1024)
def _patient_condition(
    scope: Scope, patient_id: ColumnElement[str] | object, use: ConsentUse | None, write: bool
) -> ColumnElement[bool]:
    """:func:`patient_condition`, built once per scope and column: SQL expressions are
    immutable, and building this one cost more CPU per request than the database spent on it."""
    column: ColumnElement[str] = patient_id  # type: ignore[assignment]
    if scope.all_patients:
        return true()
    purpose = consent_condition(use, column) if use is not None else true()
    conditions: list[ColumnElement[bool]] = []
    if scope.sites:
        sites = sorted(scope.sites)
        conditions.append(column.in_(select(PatientRow.id).where(PatientRow.site.in_(sites))) & purpose)
        if not write:
            conditions.append(
                column.in_(
                    select(TransferRow.patient_id).where(
                        TransferRow.from_site.in_(sites),
                        TransferRow.sending_access == "read",
                        TransferRow.read_until.is_(None) | (TransferRow.read_until >= func.current_date()),
                    )
                )
                & purpose
            )
    if scope.products:
        sponsor: ColumnElement[bool] = column.in_(
            select(TreatmentRow.patient_id).where(TreatmentRow.product_id.in_(sorted(scope.products)))
        ) & consent_condition("data_sharing", column)
        conditions.append(sponsor & purpose)
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


def signal_condition(scope: Scope) -> ColumnElement[bool]:
    """The SQL condition on the ``signal`` table that keeps the signals ``scope`` may see: a
    sponsor's own products' signals, a reviewer's shared (and not revoked) ones, or all."""
    if scope.all_signals:
        return true()
    conditions: list[ColumnElement[bool]] = []
    if scope.signal_products:
        conditions.append(SignalRecordRow.product_id.in_(sorted(scope.signal_products)))
    if scope.signal_reviewer is not None:
        conditions.append(
            SignalRecordRow.id.in_(
                select(SignalShareRow.signal_id).where(
                    SignalShareRow.reviewer == scope.signal_reviewer, SignalShareRow.revoked_at.is_(None)
                )
            )
        )
    if not conditions:
        return false()
    out = conditions[0]
    for c in conditions[1:]:
        out = out | c
    return out


PUBLIC_CASE_SOURCES = frozenset({"openfda", "faers-xml"})


def case_condition(scope: Scope, submitted: Collection[str]) -> tuple[str, dict[str, object]]:
    """The SQL condition (DuckDB, over the case store's ``b.ix_products``, ``b.source`` and
    ``b.case_id``; see :meth:`cgtvigil.store.CaseStore.case_page`) and its named parameters that
    keep the ICSRs ``scope`` may read: the one place that decides who sees a case.

    Administrators (``cases`` empty) see every case; a sponsor's safety scientist the cases whose
    suspect drugs include the sponsor's products; a regulator reviewer (``public_cases``) the
    cases of public sources and those with any submission to a regulator (``submitted``: their
    case ids, from the operational store); anyone else none."""
    if scope.cases is not None and not scope.cases:
        return "TRUE", {}
    parts: list[str] = []
    params: dict[str, object] = {}
    if scope.cases:
        parts.append("list_has_any(b.ix_products, $scope_products)")
        params["scope_products"] = sorted(scope.cases)
    if scope.public_cases:
        parts.append("b.source IN (SELECT unnest($public_sources))")
        parts.append("b.case_id IN (SELECT unnest($submitted_cases))")
        params["public_sources"] = sorted(PUBLIC_CASE_SOURCES)
        params["submitted_cases"] = sorted(set(submitted))
    return (" OR ".join(parts) if parts else "FALSE"), params
