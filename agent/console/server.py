"""Run the console with uvicorn and print one ``listening`` line once the socket is bound."""

from __future__ import annotations

import asyncio
import socket

import uvicorn

from ..campaign.rules import CallingRules
from ..store import BaseStore
from .app import build_app


class _AnnouncingServer(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        for server in self.servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                print(f"encuestador console listening on http://{host}:{port}/", flush=True)


def serve(store: BaseStore, host: str, port: int, rules: CallingRules | None = None,
          secure_cookies: bool = False) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM)."""
    config = uvicorn.Config(build_app(store, rules, secure_cookies), host=host, port=port, log_level="warning",
                            access_log=False, lifespan="off", proxy_headers=False,
                            timeout_graceful_shutdown=5)
    asyncio.run(_AnnouncingServer(config).serve())
