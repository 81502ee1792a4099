"""The reader's scope, built once from the user (issue 11): the one place where a role turns
into what it may see. Query services apply the returned :class:`cgtvigil.store.Scope` in SQL
through the store's one helper; pages and API routes never filter by role themselves."""

from __future__ import annotations

from cgtvigil.store import Scope, UserRow

__all__ = ["Scope", "scope_for"]


def scope_for(user: UserRow) -> Scope:
    """The scope of ``user``'s role and account (an unknown role sees nothing)."""
    name = user.username
    if user.role == "administrator":
        return Scope(
            actor=name,
            all_patients=True,
            aggregates=frozenset(),
            screens=True,
            acts=True,
            all_signals=True,
            signal_writes=True,
            registers=frozenset(),
            register_writes=True,
            cases=frozenset(),  # ICSRs: every case
        )
    if user.role == "site_investigator":
        return Scope(actor=name, sites=frozenset([user.site]) if user.site else frozenset(), acts=True)
    if user.role == "safety_scientist":
        products = frozenset(user.sponsor_products or [])
        # aggregates only of the sponsor's own products (None would mean: none at all)
        # signals: the sponsor's own, those of its products (signal_condition)
        return Scope(
            actor=name,
            products=products,
            aggregates=products or None,
            screens=True,
            signal_products=products,
            signal_writes=bool(products),
            registers=products or None,  # risk registers: the sponsor's own products
            register_writes=bool(products),
            cases=products or None,  # ICSRs whose suspect drugs are the sponsor's products
        )
    if user.role == "regulator_reviewer":
        # signals: only those a sponsor shared with this reviewer, read-only
        return Scope(
            actor=name,
            aggregates=frozenset(),
            screens=True,
            signal_reviewer=name,
            registers=frozenset(),
            public_cases=True,  # ICSRs of public sources and those submitted to a regulator
        )
    if user.role == "patient":
        return Scope(actor=name, patient=user.patient_id)
    return Scope(actor=name)
