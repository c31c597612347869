"""What every console page and API route shares: the app's settings, templates, who is asking
(session cookie or bearer token), the role checks and the CSRF check."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from ..campaign.rules import CallingRules
from ..store import BaseStore
from . import accounts, auth
from .calls import mask_phone
from ..labels import label, spanish_reason, texts

HERE = Path(__file__).parent


@dataclass
class ConsoleSettings:
    store: BaseStore
    rules: CallingRules
    secure_cookies: bool = False
    limiter: auth.LoginLimiter = field(default_factory=auth.LoginLimiter)


def answer_text(value: Any) -> str:
    """A stored answer as a supervisor reads it: sí / no, the number or text, else compact JSON."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "sí" if value else "no"
    if isinstance(value, (int, float, str)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.globals.update(label=label, texts=texts, allowed=auth.allowed)
    env.filters["pct"] = lambda v: "—" if v is None else f"{100 * v:.1f} %"
    env.filters["num"] = lambda v: "—" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))
    env.filters["tojson_es"] = lambda v: json.dumps(v, ensure_ascii=False)
    env.filters["answer"] = answer_text
    env.filters["motivo"] = spanish_reason   # an English reason from shared code, in Spanish
    return templates


templates = make_templates()


def settings(request: Request) -> ConsoleSettings:
    return request.app.state.console


def session_of(request: Request) -> auth.Session | None:
    return auth.find_session(settings(request).store, request.cookies.get(auth.SESSION_COOKIE))


def phone_for(principal: accounts.Principal, phone: str | None) -> str | None:
    """The number as this person may see it (analysts: masked)."""
    return phone if auth.allowed(principal, "full_phone") else mask_phone(phone)


def render(request: Request, name: str, session: auth.Session | None, status_code: int = 200,
           **context: Any) -> Response:
    me = session.principal if session else None
    context.update(me=me, csrf=session.csrf if session else None, show_phone=lambda p: phone_for(me, p) if me else p,
                   notice=request.query_params.get("aviso"), active=context.get("active", ""))
    return templates.TemplateResponse(request, name, context, status_code=status_code,
                                      headers={"Cache-Control": "no-store"})


def forbidden_page(request: Request, session: auth.Session) -> Response:
    return render(request, "error.html", session, status_code=403, title="Sin permiso",
                  message="Su rol no tiene acceso a esta sección.")


Handler = Callable[[Request, auth.Session], Awaitable[Response]]


def page(permission: str) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """A page for people with ``permission``: the login page without a session, 403 without the role;
    a POST must carry the session's CSRF token in its ``csrf`` form field."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            session = session_of(request)
            if session is None:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?siguiente={quote(target)}", status_code=303)
            if not auth.allowed(session.principal, permission):
                return forbidden_page(request, session)
            if request.method == "POST":
                form = await request.form()
                if not auth.same_token(session.csrf, form.get("csrf")):
                    return render(request, "error.html", session, status_code=403, title="Formulario vencido",
                                  message="El formulario no trae un código de seguridad válido. "
                                          "Recargue la página e intente de nuevo.")
            return await handler(request, session)

        return endpoint

    return wrap


def api_error(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="encuestador"'} if status == 401 else None
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


ApiHandler = Callable[[Request, accounts.Principal], Awaitable[Response]]


def api(permission: str) -> Callable[[ApiHandler], Callable[[Request], Awaitable[Response]]]:
    """An API route: 401 without a valid bearer token, 403 when its role lacks ``permission``."""

    def wrap(handler: ApiHandler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            principal = accounts.token_principal(settings(request).store, token.strip()) \
                if scheme.lower() == "bearer" and token.strip() else None
            if principal is None:
                return api_error(401, "falta un token válido (Authorization: Bearer …)")
            if not auth.allowed(principal, permission):
                return api_error(403, f"el rol {principal.role} no puede hacer esto")
            return await handler(request, principal)

        return endpoint

    return wrap
