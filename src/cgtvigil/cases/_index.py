"""The case index (issue 13): what the case list needs of each case, worked out once when a
version is added (and backfilled for older stores) so that the list filters by scope, orders
and paginates in SQL and assesses no case per request.

An index row holds the suspect products (the scope), the first event, seriousness, the whole
assessment and the reporting clock's basis (rule, day 0, deadlines): everything of the list
that depends on the case's versions and the reference data only. The submissions and the day
are added when the list is read. The indexer's key is a hash of the reference data and the
clock rules; a row made under another key is stale and is worked out again (by the reader,
and stored by the next writer)."""

from __future__ import annotations

import hashlib

from cgtvigil.cases._assess import Reference, assess_case
from cgtvigil.cases._clock import clock_basis
from cgtvigil.cases._clock_rules import ClockRules, load_clock_rules
from cgtvigil.model import CaseHistory
from cgtvigil.store import CaseIndexRow

__all__ = ["IX_FORMAT", "CaseIndexerOf", "case_indexer"]

IX_FORMAT = "ix1"  # bump when the index row's content changes


class CaseIndexerOf:
    """Index rows of cases under one reference and rule set (see :func:`case_indexer`)."""

    def __init__(self, reference: Reference, rules: ClockRules) -> None:
        self.reference = reference
        self.rules = rules
        digest = hashlib.sha256()
        for part in (IX_FORMAT, reference.model_dump_json(), rules.model_dump_json()):
            digest.update(part.encode())
            digest.update(b"\0")
        self._key = f"{IX_FORMAT}:{digest.hexdigest()[:16]}"

    @property
    def key(self) -> str:
        return self._key

    def __call__(self, history: CaseHistory) -> CaseIndexRow:
        current = history.current or (history.versions[-1].case if history.versions else None)
        if current is None:
            raise ValueError(f"case {history.case_id!r} has no version")
        a = assess_case(current, self.reference)
        basis = clock_basis(history, a, self.rules)
        return CaseIndexRow(
            products=tuple(a.products),
            first_event=a.reactions[0].term if a.reactions else "",
            serious=a.serious,
            unexpected_serious=a.unexpected_serious,
            assessment=a.model_dump_json(),
            clock=basis.model_dump_json(),
            clock_kind=basis.kind,
            due=basis.first_due,
        )


def case_indexer(reference: Reference, rules: ClockRules | None = None) -> CaseIndexerOf:
    """The indexer to open a :class:`~cgtvigil.store.CaseStore` with (``CaseStore(db,
    index=case_indexer(reference))``): every added version is indexed, stale ones backfilled.

    Examples
    --------
    >>> from cgtvigil.store import load_products, load_safety_info, load_topics
    >>> topics = load_topics()
    >>> ix = case_indexer(Reference(products=load_products(), rsi=load_safety_info(topics=topics), topics=topics))
    >>> ix.key.startswith("ix1:")
    True
    """
    return CaseIndexerOf(reference, rules or load_clock_rules())
