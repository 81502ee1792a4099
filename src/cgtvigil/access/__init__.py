"""Users, roles, scope, passwords, log-in throttling and server-side sessions (L3)."""

from cgtvigil.access._login import (
    LoginResult,
    ThrottlePolicy,
    authenticate,
    clear_throttle,
    throttled_check,
    unlock_user,
)
from cgtvigil.access._passwords import (
    MAX_PASSWORD,
    MIN_PASSWORD,
    SETUP_CODE_VALID,
    change_password,
    issue_setup_code,
    set_password_with_code,
)
from cgtvigil.access._scope import Scope, scope_for
from cgtvigil.access._sessions import SessionPolicy, end_session, open_session, revoke_sessions, session_user
from cgtvigil.access._tokens import (
    API_TOKEN_PREFIX,
    ApiToken,
    api_token_user,
    create_api_token,
    list_api_tokens,
    revoke_api_token,
)
from cgtvigil.access._users import ROLES, create_user, deactivate_user, update_user

__all__ = [
    "API_TOKEN_PREFIX",
    "MAX_PASSWORD",
    "MIN_PASSWORD",
    "ROLES",
    "SETUP_CODE_VALID",
    "ApiToken",
    "LoginResult",
    "Scope",
    "SessionPolicy",
    "ThrottlePolicy",
    "api_token_user",
    "authenticate",
    "change_password",
    "clear_throttle",
    "create_api_token",
    "create_user",
    "deactivate_user",
    "end_session",
    "issue_setup_code",
    "list_api_tokens",
    "open_session",
    "revoke_api_token",
    "revoke_sessions",
    "scope_for",
    "session_user",
    "set_password_with_code",
    "throttled_check",
    "unlock_user",
    "update_user",
]
