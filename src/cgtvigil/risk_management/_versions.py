"""Versions of the risk registers: the shipped starting registers (package data), the stored
versions (every edit writes the next version whole; none is changed or deleted), the changes
risk by risk, and the one entry point for a validated signal that opens or changes a risk.
Every write is audited and checked against the writer's scope."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil.audit import append_audit
from cgtvigil.errors import NotFoundError, NotInScopeError, ValidationError
from cgtvigil.model import ProductDictionary
from cgtvigil.risk_management._register import Risk, RiskRegister, document_sha256
from cgtvigil.store import RiskChangeRow, RiskRegisterVersionRow, Scope, utc_naive

__all__ = [
    "RiskLink",
    "StartingRegisters",
    "StoredRegister",
    "check_register_scope",
    "current_register",
    "parse_register",
    "save_register",
    "signal_opens_risk",
    "starting_registers",
]


@dataclass(frozen=True)
class StartingRegisters:
    """The shipped starting registers (``risk_management/data/registers.json``)."""

    version: str
    notice: str
    registers: dict[str, RiskRegister]


@cache
def starting_registers() -> StartingRegisters:
    """The shipped starting registers, validated (a broken file names every problem)."""
    raw = json.loads(resources.files("cgtvigil.risk_management").joinpath("data/registers.json").read_text("utf-8"))
    registers: dict[str, RiskRegister] = {}
    for i, item in enumerate(raw["registers"]):
        register = parse_register(item, where=f"registers.json registers[{i}]")
        registers[register.product_id] = register
    return StartingRegisters(raw["version"], raw["notice"], registers)


def parse_register(data: Any, *, where: str) -> RiskRegister:
    """A register document from JSON data, checked (keys, links to risks, indicators); every
    problem is reported together, each with its place in the document."""
    from cgtvigil.risk_management._indicators import INDICATORS

    try:
        register = RiskRegister.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationError(
            [f"{where}: {'.'.join(str(p) for p in e['loc']) or 'document'}: {e['msg']}" for e in exc.errors()]
        ) from None
    register.check(frozenset(INDICATORS))
    return register


@dataclass(frozen=True)
class StoredRegister:
    """A product's register as it stands: ``version`` 0 is the shipped starting register not
    yet stored (nobody edited it); ``row`` is the stored version otherwise."""

    register: RiskRegister
    version: int
    at: datetime | None
    by: str
    basis: str
    note: str
    sha256: str


def check_register_scope(scope: Scope, products: ProductDictionary, product_id: str, *, write: bool = False) -> str:
    """The product's dictionary id if ``scope`` may read (or, with ``write``, edit) its
    register; NotInScopeError when the scope has no register at all (or may not edit),
    NotFoundError for an unknown product or one outside the scope (not told apart)."""
    if scope.registers is None:
        raise NotInScopeError("risk registers are outside this account's scope")
    if write and not scope.register_writes:
        raise NotInScopeError("this account may read risk registers but not edit them")
    key = product_id.lower()
    if key not in products.by_id() or (scope.registers and key not in scope.registers):
        raise NotFoundError(f"no risk register for product {product_id!r} in this account's scope")
    return key


def _latest(session: Session, product_id: str) -> RiskRegisterVersionRow | None:
    return session.scalars(
        select(RiskRegisterVersionRow)
        .where(RiskRegisterVersionRow.product_id == product_id)
        .order_by(RiskRegisterVersionRow.version.desc())
        .limit(1)
    ).first()


def current_register(session: Session, product_id: str, version: int | None = None) -> StoredRegister:
    """The register of a product (already checked against the scope): the latest stored
    version, the one asked for, or the shipped starting register (version 0: when none is
    stored, or when asked for)."""
    row: RiskRegisterVersionRow | None = None
    if version:
        row = session.scalars(
            select(RiskRegisterVersionRow).where(
                RiskRegisterVersionRow.product_id == product_id, RiskRegisterVersionRow.version == version
            )
        ).first()
        if row is None:
            raise NotFoundError(f"the risk register of {product_id} has no version {version}")
    elif version is None:
        row = _latest(session, product_id)
    if row is None:
        shipped = starting_registers()
        register = shipped.registers.get(product_id, RiskRegister(product_id=product_id))
        return StoredRegister(register, 0, None, "", f"shipped:{shipped.version}", "", document_sha256(register))
    register = RiskRegister.model_validate(row.document)
    return StoredRegister(register, row.version, row.at, row.by, row.basis, row.note, row.sha256)


def _risk_changes(before: RiskRegister, after: RiskRegister) -> list[tuple[str, str, list[str]]]:
    """(risk key, opened | changed | closed, changed fields) of every risk that differs."""
    out: list[tuple[str, str, list[str]]] = []
    old = {r.key: r for r in before.risks}
    for risk in after.risks:
        was = old.pop(risk.key, None)
        if was is None:
            out.append((risk.key, "opened", []))
            continue
        fields = [f for f in Risk.model_fields if getattr(was, f) != getattr(risk, f)]
        if fields:
            out.append(
                (risk.key, "closed" if risk.status == "closed" and was.status != "closed" else "changed", fields)
            )
    out.extend((key, "removed", []) for key in old)
    return out


def save_register(
    session: Session,
    scope: Scope,
    products: ProductDictionary,
    register: RiskRegister,
    *,
    at: datetime,
    note: str,
    basis: str = "edit",
    signal_id: int | None = None,
    rationale: str = "",
) -> StoredRegister:
    """Store ``register`` as the next version of its product's register (the shipped starting
    register becomes version 1 first, so that the history shows what was edited), with its
    changes risk by risk and one audit entry; the caller commits. A register equal to the
    current one writes nothing and returns the current version."""
    product_id = check_register_scope(scope, products, register.product_id, write=True)
    if register.product_id != product_id:
        register = register.model_copy(update={"product_id": product_id})
    from cgtvigil.risk_management._indicators import INDICATORS

    register.check(frozenset(INDICATORS))
    if not note.strip() or len(note) > 2000:
        raise ValidationError(["A register edit needs a note of 1-2000 characters saying what changed and why."])
    when = utc_naive(at)
    current = current_register(session, product_id)
    if document_sha256(register) == current.sha256:
        return current  # nothing changed: nothing written
    if current.version == 0:  # the shipped register becomes version 1, so the history shows the edit
        _write(session, scope, current.register, product_id, 1, when, current.basis, "starting register", None, "")
        current = current_register(session, product_id)
    changes = _write(
        session, scope, register, product_id, current.version + 1, when, basis, note, signal_id, rationale, current
    )
    append_audit(
        session,
        actor=scope.actor,
        action="risk_register.edit",
        target=f"risk_register:{product_id}",
        at=at,
        detail={
            "version": current.version + 1,
            "basis": basis,
            "note": note,
            "sha256": document_sha256(register),
            "changes": [f"{kind}:{key}" for key, kind, _ in changes],
            **({"signal_id": signal_id} if signal_id is not None else {}),
        },
    )
    return current_register(session, product_id)


def _write(
    session: Session,
    scope: Scope,
    register: RiskRegister,
    product_id: str,
    version: int,
    at: datetime,
    basis: str,
    note: str,
    signal_id: int | None,
    rationale: str,
    before: StoredRegister | None = None,
) -> list[tuple[str, str, list[str]]]:
    row = RiskRegisterVersionRow(
        product_id=product_id,
        version=version,
        at=at,
        by=scope.actor,
        basis=basis,
        note=note,
        document=register.model_dump(mode="json"),
        sha256=document_sha256(register),
    )
    session.add(row)
    session.flush()
    changes = _risk_changes(before.register if before else RiskRegister(product_id=product_id), register)
    for key, kind, fields in changes:
        session.add(
            RiskChangeRow(
                version_id=row.id,
                product_id=product_id,
                risk_key=key,
                kind=kind,
                fields=fields,
                signal_id=signal_id,
                at=at,
                by=scope.actor,
                rationale=rationale or note,
            )
        )
    session.flush()
    return changes


@dataclass(frozen=True)
class RiskLink:
    """What a validated signal did to the register: ``risk_ref`` (``product/risk@vN``) is what
    the signal stores on its side; the risk change stores the signal id on this side."""

    product_id: str
    risk_key: str
    kind: str  # opened | changed | unchanged
    version: int

    @property
    def risk_ref(self) -> str:
        return f"{self.product_id}/{self.risk_key}@v{self.version}"


def signal_opens_risk(
    session: Session,
    scope: Scope,
    products: ProductDictionary,
    *,
    signal_id: int,
    product_id: str,
    risk: Risk,
    at: datetime,
    rationale: str,
) -> RiskLink:
    """A validated signal opens a risk (a new key) or changes one (an existing key: the risk
    is replaced by ``risk``) in the product's register: the next version, whose risk change
    carries ``signal_id``, audited as ``risk_register.edit`` with the signal. The caller (the
    signal workflow) stores :attr:`RiskLink.risk_ref` on the signal and commits.

    Examples
    --------
    >>> RiskLink("kymriah", "secondary_malignancy", "changed", 3).risk_ref
    'kymriah/secondary_malignancy@v3'
    """
    key = check_register_scope(scope, products, product_id, write=True)
    if not rationale.strip():
        raise ValidationError(["A signal that opens or changes a risk needs its rationale."])
    current = current_register(session, key)
    existing = current.register.risk(risk.key)
    risks = (
        tuple(risk if r.key == risk.key else r for r in current.register.risks)
        if existing
        else (*current.register.risks, risk)
    )
    updated = current.register.model_copy(update={"risks": risks})
    if existing == risk:
        return RiskLink(key, risk.key, "unchanged", current.version)
    stored = save_register(
        session,
        scope,
        products,
        RiskRegister.model_validate(updated.model_dump()),
        at=at,
        note=f"signal {signal_id}: {rationale}"[:2000],
        basis=f"signal:{signal_id}",
        signal_id=signal_id,
        rationale=rationale,
    )
    return RiskLink(key, risk.key, "changed" if existing else "opened", stored.version)
