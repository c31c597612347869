"""The CRM's REST API under ``/api/v1/``: ask for surveys, read call results (the webhook's shape),
keep the do-not-call list. Bearer tokens with a role; errors as JSON with a Spanish message."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..campaign.phones import PhoneError
from ..labels import spanish_reason
from . import audit, auth, dnc
from .accounts import Principal
from .calls import finished_since, webhook_shape
from .openapi import SPEC
from .surveys import FieldError, SurveyRequestError, parse_instant, request_survey, validate
from .web import api, api_error, settings


def _invalid(errors: list[FieldError]) -> JSONResponse:
    return JSONResponse({"error": "datos inválidos", "errors": [{"field": e.field, "reason": e.reason}
                                                                for e in errors]}, status_code=422)


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"null")
    except (ValueError, UnicodeDecodeError):
        raise SurveyRequestError([FieldError("body", "no es JSON válido")]) from None


async def openapi(request: Request) -> Response:
    return JSONResponse(SPEC)


@api("surveys")
async def create_survey(request: Request, who: Principal) -> Response:
    store = settings(request).store
    try:
        outcome = request_survey(store, settings(request).rules, validate(await _json_body(request)), who.name)
    except SurveyRequestError as e:
        return _invalid(e.errors)
    if outcome.created:
        audit.record(store, f"token:{who.name}", "survey_request", outcome.request.customer_id,
                     case_id=outcome.request.case_id)
    return JSONResponse(outcome.to_dict(), status_code=201 if outcome.created else 200)


@api("calls")
async def list_calls(request: Request, who: Principal) -> Response:
    since = request.query_params.get("since")
    try:
        since_utc = parse_instant(since).isoformat(timespec="milliseconds") if since else None
    except ValueError:
        return _invalid([FieldError("since", "no es un instante ISO 8601 (p. ej. 2026-07-15T00:00:00Z)")])
    store, mask = settings(request).store, not auth.allowed(who, "full_phone")
    return JSONResponse({"calls": [webhook_shape(store, c, mask) for c in finished_since(store, since_utc)]})


@api("calls")
async def get_call(request: Request, who: Principal) -> Response:
    store = settings(request).store
    rows = store.query("SELECT * FROM calls WHERE call_id = ?", (request.path_params["call_id"],))
    if not rows:
        return api_error(404, "no existe esa llamada")
    return JSONResponse(webhook_shape(store, rows[0], mask=not auth.allowed(who, "full_phone")))


@api("dnc")
async def add_dnc(request: Request, who: Principal) -> Response:
    try:
        body = await _json_body(request)
    except SurveyRequestError as e:
        return _invalid(e.errors)
    if not isinstance(body, dict) or not isinstance(body.get("phone"), str):
        return _invalid([FieldError("phone", "es obligatorio")])
    reason = body.get("reason") if isinstance(body.get("reason"), str) else ""
    try:
        number, new = dnc.add(settings(request).store, body["phone"], reason, f"token:{who.name}", source="api")
    except PhoneError as e:
        return _invalid([FieldError("phone", spanish_reason(str(e)))])
    return JSONResponse({"phone": number, "status": "added" if new else "already_listed"},
                        status_code=201 if new else 200)


@api("dnc")
async def remove_dnc(request: Request, who: Principal) -> Response:
    reason = request.query_params.get("reason", "")
    try:
        number, removed = dnc.remove(settings(request).store, request.path_params["phone"], reason,
                                     f"token:{who.name}")
    except PhoneError as e:
        return _invalid([FieldError("phone", spanish_reason(str(e)))])
    if not removed:
        return api_error(404, f"{number} no está en la lista")
    return JSONResponse({"phone": number, "status": "removed"})
