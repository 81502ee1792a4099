"""Account pages: log-in and log-out, the user's own password (change, or first set / reset
with a one-time code), and the administration of users (create, change, deactivate, unlock,
reset). Passwords are only ever typed by their user (21 CFR Part 11 §11.10(d), §11.300)."""

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from cgtvigil.access import (
    MIN_PASSWORD,
    ROLES,
    SETUP_CODE_VALID,
    authenticate,
    change_password,
    create_user,
    deactivate_user,
    issue_setup_code,
    set_password_with_code,
    unlock_user,
    update_user,
)
from cgtvigil.config import Settings
from cgtvigil.errors import CgtVigilError
from cgtvigil.store import LoginThrottleRow, SessionRow, UserRow, utc_naive
from cgtvigil.web._render import render
from cgtvigil.web._security import DbSession, client_address, current_user, log_in, log_out, require_csrf, roles

__all__ = ["accounts_router"]

DEVICE_COOKIE = "cgtvigil_device"  # a browser that logged in before: not slowed by others' failures
DEVICE_DAYS = 180


def _now() -> datetime:
    return datetime.now(UTC)


def _products(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def accounts_router(settings: Settings) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    devices = URLSafeTimedSerializer(settings.secret_key or "unset", salt="cgtvigil-known-device")

    def known_device(request: Request, username: str) -> str:
        """The id of this browser if it logged in to ``username`` before (signed cookie)."""
        try:
            saved = devices.loads(request.cookies.get(DEVICE_COOKIE, ""), max_age=DEVICE_DAYS * 86400)
        except BadSignature:
            return ""
        return str(saved.get("d", "")) if isinstance(saved, dict) and saved.get("u") == username else ""

    def setup_link(username: str, code: str) -> str:
        return f"{settings.public_url}/account/setup?" + urlencode({"user": username, "code": code})

    @router.get("/login")
    def login_form(request: Request, user: Annotated[UserRow | None, Depends(current_user)]) -> Response:
        if user is not None:
            return RedirectResponse("/", status_code=303)
        return render(request, "login.html", None, title="Log in", done=request.query_params.get("done"))

    @router.post("/login", dependencies=[Depends(require_csrf)])
    def login(
        request: Request, session: DbSession, username: Annotated[str, Form()], password: Annotated[str, Form()]
    ) -> Response:
        name = username.strip()
        device = known_device(request, name)
        result = authenticate(session, name, password, _now(), client=client_address(request), device=device)
        if result.user is None:
            session.commit()
            error = (
                f"Too many failed log-ins from this address or for this account: wait {result.wait_seconds} s "
                "and try again (an administrator can clear this)."
                if result.outcome == "throttled"
                else "Wrong user name or password."
            )
            return render(request, "login.html", None, title="Log in", error=error, typed_name=name[:64])
        log_in(request, session, result.user)
        session.commit()
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            DEVICE_COOKIE,
            devices.dumps({"u": result.user.username, "d": device or secrets.token_urlsafe(16)}),
            max_age=DEVICE_DAYS * 86400,
            httponly=True,
            secure=settings.behind_tls,
            samesite="lax",
        )
        return response

    @router.post("/logout", dependencies=[Depends(require_csrf)])
    def logout(request: Request, session: DbSession) -> Response:
        log_out(request, session)
        session.commit()
        return RedirectResponse("/login", status_code=303)

    @router.get("/account/password")
    def password_form(request: Request, user: Annotated[UserRow, Depends(roles())]) -> HTMLResponse:
        return render(
            request,
            "account_password.html",
            user,
            title="Change password",
            minimum=MIN_PASSWORD,
            done=request.query_params.get("done"),
        )

    @router.post("/account/password", dependencies=[Depends(require_csrf)])
    def password_change(
        request: Request,
        session: DbSession,
        user: Annotated[UserRow, Depends(roles())],
        current: Annotated[str, Form()],
        new: Annotated[str, Form()],
        repeat: Annotated[str, Form()],
    ) -> Response:
        try:
            if new != repeat:
                raise CgtVigilError("The two new passwords differ.")
            changed = change_password(session, user.username, current, new, at=_now(), client=client_address(request))
        except CgtVigilError as exc:
            session.commit()  # the refusal is audited
            return render(
                request,
                "account_password.html",
                user,
                status=400,
                title="Change password",
                minimum=MIN_PASSWORD,
                error=str(exc),
            )
        log_in(request, session, changed)  # every other session of the user has ended
        session.commit()
        return RedirectResponse("/account/password?done=1", status_code=303)

    @router.get("/account/setup")
    def setup_form(request: Request, user: str = "", code: str = "") -> HTMLResponse:
        return render(
            request,
            "account_setup.html",
            None,
            title="Set your password",
            username=user[:64],
            code=code[:128],
            minimum=MIN_PASSWORD,
        )

    @router.post("/account/setup", dependencies=[Depends(require_csrf)])
    def setup(
        request: Request,
        session: DbSession,
        username: Annotated[str, Form()],
        code: Annotated[str, Form()],
        new: Annotated[str, Form()],
        repeat: Annotated[str, Form()],
    ) -> Response:
        try:
            if new != repeat:
                raise CgtVigilError("The two passwords differ.")
            set_password_with_code(session, username.strip(), code.strip(), new, at=_now())
        except CgtVigilError as exc:
            session.commit()
            return render(
                request,
                "account_setup.html",
                None,
                status=400,
                title="Set your password",
                username=username[:64],
                code=code[:128],
                minimum=MIN_PASSWORD,
                error=str(exc),
            )
        session.commit()
        request.session.clear()
        return RedirectResponse("/login?done=1", status_code=303)

    def admin_page(request: Request, session: Any, user: UserRow, status: int = 200, **context: Any) -> HTMLResponse:
        now = utc_naive(_now())
        throttled = {
            row.key.removeprefix("account:"): row.blocked_until
            for row in session.scalars(
                select(LoginThrottleRow).where(
                    LoginThrottleRow.key.startswith("account:"), LoginThrottleRow.blocked_until > now
                )
            )
        }
        live: dict[str, int] = {}
        for name in session.scalars(
            select(SessionRow.username).where(SessionRow.revoked_at.is_(None), SessionRow.expires_at > now)
        ):
            live[name] = live.get(name, 0) + 1
        rows = session.scalars(select(UserRow).order_by(UserRow.username)).all()
        return render(
            request,
            "admin_users.html",
            user,
            status=status,
            title="Users",
            users=rows,
            roles=ROLES,
            throttled=throttled,
            sessions=live,
            valid_hours=int(SETUP_CODE_VALID.total_seconds() // 3600),
            **context,
        )

    @router.get("/admin/users")
    def users(
        request: Request, session: DbSession, user: Annotated[UserRow, Depends(roles("administrator"))]
    ) -> Response:
        return admin_page(request, session, user)

    @router.post("/admin/users", dependencies=[Depends(require_csrf)])
    def add_user(
        request: Request,
        session: DbSession,
        user: Annotated[UserRow, Depends(roles("administrator"))],
        username: Annotated[str, Form()],
        role: Annotated[str, Form()],
        site: Annotated[str, Form()] = "",
        products: Annotated[str, Form()] = "",
        patient_id: Annotated[str, Form()] = "",
    ) -> Response:
        typed = {"username": username, "role": role, "site": site, "products": products, "patient_id": patient_id}
        try:
            create_user(
                session,
                username=username.strip(),
                role=role,
                at=_now(),
                actor=user.username,
                site=site.strip() or None,
                sponsor_products=_products(products),
                patient_id=patient_id.strip() or None,
            )
            code = issue_setup_code(session, username.strip(), at=_now(), actor=user.username)
        except CgtVigilError as exc:
            session.rollback()
            return admin_page(request, session, user, status=400, error=str(exc), form=typed)
        session.commit()
        return admin_page(
            request,
            session,
            user,
            notice=f"User {username.strip()} created.",
            code=code,
            link=setup_link(username.strip(), code),
        )

    @router.post("/admin/users/{username}/{action}", dependencies=[Depends(require_csrf)])
    def user_action(
        request: Request,
        session: DbSession,
        username: str,
        action: str,
        user: Annotated[UserRow, Depends(roles("administrator"))],
        role: Annotated[str, Form()] = "",
        site: Annotated[str, Form()] = "",
        products: Annotated[str, Form()] = "",
        patient_id: Annotated[str, Form()] = "",
    ) -> Response:
        now = _now()
        extra: dict[str, Any] = {}
        try:
            if action == "deactivate":
                deactivate_user(session, username, at=now, actor=user.username)
                notice = f"User {username} deactivated; their sessions have ended."
            elif action == "unlock":
                unlock_user(session, username, at=now, actor=user.username)
                notice = f"Failed log-ins of {username} cleared."
            elif action == "reset":
                code = issue_setup_code(session, username, at=now, actor=user.username, reset=True)
                notice = f"The password of {username} no longer works; give them this one-time link."
                extra = {"code": code, "link": setup_link(username, code)}
            elif action == "change":
                update_user(
                    session,
                    username,
                    at=now,
                    actor=user.username,
                    role=role,
                    site=site.strip() or None,
                    sponsor_products=_products(products),
                    patient_id=patient_id.strip() or None,
                )
                notice = f"User {username} changed; their sessions have ended."
            else:
                return admin_page(request, session, user, status=404, error=f"No such action: {action[:32]!r}.")
        except CgtVigilError as exc:
            session.rollback()
            typed = {"username": username, "role": role, "site": site, "products": products, "patient_id": patient_id}
            return admin_page(
                request, session, user, status=400, error=str(exc), **({"change": typed} if action == "change" else {})
            )
        session.commit()
        return admin_page(request, session, user, notice=notice, **extra)

    @router.post("/admin/users/change", dependencies=[Depends(require_csrf)])
    def change_user(
        request: Request,
        session: DbSession,
        user: Annotated[UserRow, Depends(roles("administrator"))],
        username: Annotated[str, Form()],
        role: Annotated[str, Form()],
        site: Annotated[str, Form()] = "",
        products: Annotated[str, Form()] = "",
        patient_id: Annotated[str, Form()] = "",
    ) -> Response:
        return user_action(request, session, username, "change", user, role, site, products, patient_id)

    return router
