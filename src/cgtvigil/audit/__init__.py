"""The tamper-evident audit trail and the seals of security-relevant rows (L3)."""

from cgtvigil.audit._batch import audit_read_entry, wrote_in_transaction
from cgtvigil.audit._chain import GENESIS, AuditAnchor, VerifyReport, append_audit, export_anchor, verify_audit
from cgtvigil.audit._keys import audit_context, audit_keyed, typed_text, use_audit_key

__all__ = [
    "GENESIS",
    "AuditAnchor",
    "VerifyReport",
    "append_audit",
    "audit_context",
    "audit_keyed",
    "audit_read_entry",
    "export_anchor",
    "typed_text",
    "use_audit_key",
    "verify_audit",
    "wrote_in_transaction",
]
