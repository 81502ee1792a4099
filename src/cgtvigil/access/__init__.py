"""Users, roles and scope (L3)."""

from cgtvigil.access._users import LOCKOUT_AFTER, LOCKOUT_MINUTES, ROLES, authenticate, can_view_patient, create_user

__all__ = ["LOCKOUT_AFTER", "LOCKOUT_MINUTES", "ROLES", "authenticate", "can_view_patient", "create_user"]
