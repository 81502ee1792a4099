"""The tamper-evident audit trail (L3)."""

from cgtvigil.audit._chain import GENESIS, AuditAnchor, VerifyReport, append_audit, export_anchor, verify_audit

__all__ = ["GENESIS", "AuditAnchor", "VerifyReport", "append_audit", "export_anchor", "verify_audit"]
