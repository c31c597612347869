"""The supervisors' web console and the CRM's REST API, one small Starlette service on the store.

``app.build_app`` makes the ASGI app; ``server.serve`` runs it with uvicorn. The console's own tables
(accounts, tokens, sessions, audit, ticket follow-up, survey requests, settings) are in ``schema``.
"""
