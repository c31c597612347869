"""The console's Starlette app: pages, the recording endpoint, the API and the local static files."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..campaign.rules import CallingRules
from ..store import BaseStore
from . import api, pages, privacy
from .schema import ensure_tables
from .web import HERE, ConsoleSettings

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src 'self'; "
                               "style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'",
}


def build_app(store: BaseStore, rules: CallingRules | None = None, secure_cookies: bool = False) -> Starlette:
    ensure_tables(store)
    routes = [
        Route("/login", pages.login_form, methods=["GET"]),
        Route("/login", pages.login, methods=["POST"]),
        Route("/salir", pages.logout, methods=["POST"]),
        Route("/", pages.summary),
        Route("/resumen.csv", pages.summary_csv),
        Route("/llamadas", pages.calls_list),
        Route("/llamadas/{call_id}", pages.call_page),
        Route("/llamadas/{call_id}/grabacion", pages.recording),
        Route("/seguimiento", pages.tickets_page),
        Route("/seguimiento/{ticket_id:int}", pages.ticket_update, methods=["POST"]),
        Route("/campanas", pages.campaigns_page),
        Route("/campanas/carga", pages.campaign_upload, methods=["POST"]),
        Route("/campanas/pausar", pages.campaign_pause, methods=["POST"]),
        Route("/campanas/reanudar", pages.campaign_pause, methods=["POST"]),
        Route("/no-llamar", pages.dnc_page),
        Route("/no-llamar/agregar", pages.dnc_change, methods=["POST"]),
        Route("/no-llamar/quitar", pages.dnc_change, methods=["POST"]),
        Route("/no-llamar/importar", pages.dnc_import, methods=["POST"]),
        Route("/usuarios", pages.users_page),
        Route("/usuarios", pages.user_change, methods=["POST"]),
        Route("/privacidad", privacy.privacy_page),
        Route("/privacidad/exportar", privacy.privacy_export, methods=["POST"]),
        Route("/privacidad/corregir", privacy.privacy_correct, methods=["POST"]),
        Route("/privacidad/borrar", privacy.privacy_delete, methods=["POST"]),
        Route("/api/v1/openapi.json", api.openapi),
        Route("/api/v1/surveys", api.create_survey, methods=["POST"]),
        Route("/api/v1/calls", api.list_calls),
        Route("/api/v1/calls/{call_id}", api.get_call),
        Route("/api/v1/dnc", api.add_dnc, methods=["POST"]),
        Route("/api/v1/dnc/{phone}", api.remove_dnc, methods=["DELETE"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])
    app.state.console = ConsoleSettings(store, rules or CallingRules.load(), secure_cookies)
    return app


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every HTTP response (a plain ASGI middleware: file responses stream
    untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS.items():
                    headers.setdefault(key, value)
            await send(message)

        await self.app(scope, receive, with_headers)
