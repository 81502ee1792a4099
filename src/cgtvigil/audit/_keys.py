"""The audit key and the request context shared by the chain and the row seals.

The key is kept outside the database (a file or a secret of the deployment) and set once by
the entry point (the CLI or ``create_app``) from its settings: with it, the chain and the seals
are HMAC-SHA256, so recomputing them after an edit needs the key. Without a key (the demo,
tests) they are plain SHA-256, and ``verify_audit`` says that the trail is unkeyed.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["audit_context", "audit_keyed", "request_context", "typed_text", "use_audit_key"]

_KEY: list[bytes | None] = [None]
_CONTEXT: ContextVar[dict[str, str] | None] = ContextVar("cgtvigil_audit_context", default=None)


def use_audit_key(key: str | bytes | None) -> None:
    """Set the process's audit key (empty or None: unkeyed SHA-256)."""
    _KEY[0] = (key.encode() if isinstance(key, str) else key) or None


def audit_keyed() -> bool:
    return _KEY[0] is not None


def digest(message: str) -> str:
    key = _KEY[0]
    data = message.encode()
    return hmac.new(key, data, hashlib.sha256).hexdigest() if key else hashlib.sha256(data).hexdigest()


def typed_text(value: object, limit: int = 64) -> str:
    """What a person or a client typed, safe to store and show: control and format characters
    escaped, at most ``limit`` characters (a longer text is cut and says by how much)."""
    raw = str(value)
    text = "".join(c if unicodedata.category(c)[0] != "C" else f"\\u{ord(c):04x}" for c in raw[:limit])
    if len(raw) <= limit and len(text) <= limit:
        return text
    suffix = f"…({len(raw)} characters)"
    return text[: max(0, limit - len(suffix))] + suffix


@contextmanager
def audit_context(*, client: str, agent: str) -> Iterator[None]:
    """Within this block every audit entry records the client address and user agent."""
    token = _CONTEXT.set({"client": typed_text(client, 64), "agent": typed_text(agent, 200)})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def request_context() -> dict[str, str]:
    return dict(_CONTEXT.get() or {})
