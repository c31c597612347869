"""The API's OpenAPI 3.1 description, served at ``/api/v1/openapi.json`` (hand-written)."""

from __future__ import annotations

from typing import Any

_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}}
_INVALID = {"type": "object", "properties": {
    "error": {"type": "string"},
    "errors": {"type": "array", "items": {"type": "object", "properties": {
        "field": {"type": "string"}, "reason": {"type": "string"}}}}}}
_CALL = {"type": "object", "description": "La llamada con la misma forma que envía el webhook (call.finished).",
         "properties": {
             "event": {"type": "string"}, "call_id": {"type": "string"}, "direction": {"type": "string"},
             "customer": {"type": "object"}, "phone": {"type": "string"},
             "started_at": {"type": "string", "format": "date-time"},
             "ended_at": {"type": "string", "format": "date-time"}, "duration_ms": {"type": "integer"},
             "outcome": {"type": "string"}, "answers": {"type": "object"},
             "transferred": {"type": "boolean"}, "ticket": {"type": "boolean"}}}


def _responses(ok: dict[str, Any], *codes: int) -> dict[str, Any]:
    out = dict(ok)
    texts = {401: "Falta el token o no es válido", 403: "El rol del token no tiene permiso",
             404: "No encontrado", 422: "Datos inválidos (campo y motivo)"}
    for code in codes:
        schema = _INVALID if code == 422 else _ERROR
        out[str(code)] = {"description": texts[code], "content": {"application/json": {"schema": schema}}}
    return out


SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "encuestador — API para el CRM", "version": "1",
             "description": "Pedir encuestas, leer resultados de llamadas y mantener la lista No llamar. "
                            "Autenticación: `Authorization: Bearer <token>` (crear con `encuestador tokens add`)."},
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "security": [{"bearer": []}],
    "paths": {
        "/api/v1/surveys": {"post": {
            "summary": "Pedir una encuesta al cerrar un caso (idempotente por case_id)",
            "description": "Roles: admin, supervisor. Se aplican las reglas de llamada y la lista No llamar "
                           "como a cualquier importación. `not_before`: no llamar antes de ese instante.",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["customer_id", "name", "phone"],
                "properties": {"customer_id": {"type": "string"}, "name": {"type": "string"},
                               "phone": {"type": "string", "example": "55 1234 5678"},
                               "topic": {"type": "string"}, "case_id": {"type": "string"},
                               "not_before": {"type": "string", "format": "date-time"}}}}}},
            "responses": _responses({
                "201": {"description": "Encuesta pedida"},
                "200": {"description": "Ese case_id ya se había pedido: no se duplica"}}, 401, 403, 422)}},
        "/api/v1/calls": {"get": {
            "summary": "Llamadas terminadas desde un instante",
            "parameters": [{"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}}],
            "responses": _responses({"200": {"description": "Llamadas", "content": {"application/json": {
                "schema": {"type": "object", "properties": {"calls": {"type": "array", "items": _CALL}}}}}}},
                401, 403, 422)}},
        "/api/v1/calls/{call_id}": {"get": {
            "summary": "Una llamada",
            "parameters": [{"name": "call_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": _responses({"200": {"description": "La llamada", "content": {
                "application/json": {"schema": _CALL}}}}, 401, 403, 404)}},
        "/api/v1/dnc": {"post": {
            "summary": "Agregar un número a No llamar",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["phone"],
                "properties": {"phone": {"type": "string"}, "reason": {"type": "string"}}}}}},
            "responses": _responses({"201": {"description": "Agregado"},
                                     "200": {"description": "Ya estaba en la lista"}}, 401, 403, 422)}},
        "/api/v1/dnc/{phone}": {"delete": {
            "summary": "Quitar un número de No llamar",
            "parameters": [{"name": "phone", "in": "path", "required": True, "schema": {"type": "string"}},
                           {"name": "reason", "in": "query", "schema": {"type": "string"}}],
            "responses": _responses({"200": {"description": "Quitado"}}, 401, 403, 404, 422)}},
    },
}
