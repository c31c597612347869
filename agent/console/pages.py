"""The console's HTML pages: Resumen, Llamadas, Seguimiento, Campañas, No llamar, Usuarios and login."""

from __future__ import annotations

import csv
import io
import secrets
from collections import Counter
from datetime import date
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from urllib.parse import quote

from ..campaign.importer import ImportFileError
from ..campaign.phones import PhoneError
from ..labels import spanish_reason
from ..report import kpis
from ..report.render import CSV_COLUMNS
from . import accounts, audit, auth, campaign, dnc, tickets
from .calls import CallFilter, call_detail, list_calls, mask_phone, outcomes, recording_bytes, topics
from .media import wav_response
from .web import page, render, session_of, settings

MAX_UPLOAD_BYTES = 5 * 1024 * 1024


def _date(text: str | None) -> str | None:
    """A ``YYYY-MM-DD`` filter value, or None when empty or not a date."""
    try:
        return date.fromisoformat(text).isoformat() if text else None
    except ValueError:
        return None


def _back(path: str, notice: str) -> RedirectResponse:
    return RedirectResponse(f"{path}{'&' if '?' in path else '?'}aviso={quote(notice)}", status_code=303)


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


# -- login ---------------------------------------------------------------------------------------
async def login_form(request: Request) -> Response:
    token = request.cookies.get(auth.LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = render(request, "login.html", None, login_csrf=token, error=None,
                      next=request.query_params.get("siguiente", "/"))
    response.set_cookie(auth.LOGIN_CSRF_COOKIE, token, httponly=True, samesite="lax",
                        secure=settings(request).secure_cookies)
    return response


async def login(request: Request) -> Response:
    conf = settings(request)
    form = await request.form()
    name, password = str(form.get("usuario", "")).strip(), str(form.get("contrasena", ""))
    target = str(form.get("siguiente") or "/")
    target = target if target.startswith("/") and not target.startswith("//") else "/"
    token = request.cookies.get(auth.LOGIN_CSRF_COOKIE)

    def again(error: str, status: int) -> Response:
        fresh = token or secrets.token_urlsafe(24)   # a form posted without the cookie gets one to retry with
        response = render(request, "login.html", None, status_code=status, login_csrf=fresh, error=error,
                          next=target)
        response.set_cookie(auth.LOGIN_CSRF_COOKIE, fresh, httponly=True, samesite="lax", secure=conf.secure_cookies)
        return response

    if not auth.same_token(token, form.get("csrf")):
        return again("El formulario venció; intente de nuevo.", 403)
    if conf.limiter.blocked(_client(request), name):
        return again("Demasiados intentos fallidos. Espere unos minutos antes de intentar de nuevo.", 429)
    principal = accounts.authenticate(conf.store, name, password)
    if principal is None:
        conf.limiter.failed(_client(request), name)
        audit.record(conf.store, name or "?", "login_failed", None, address=_client(request))
        return again("Usuario o contraseña incorrectos.", 401)
    conf.limiter.succeeded(_client(request), name)
    secret, _ = auth.open_session(conf.store, principal)
    audit.record(conf.store, principal.name, "login", None, address=_client(request))
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(auth.SESSION_COOKIE, secret, max_age=auth.SESSION_HOURS * 3600, httponly=True,
                        samesite="lax", secure=conf.secure_cookies)
    response.delete_cookie(auth.LOGIN_CSRF_COOKIE)
    return response


async def logout(request: Request) -> Response:
    session = session_of(request)
    form = await request.form()
    if session is not None and auth.same_token(session.csrf, form.get("csrf")):
        auth.close_session(settings(request).store, request.cookies.get(auth.SESSION_COOKIE))
        audit.record(settings(request).store, session.principal.name, "logout")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE)
    return response


# -- Resumen -------------------------------------------------------------------------------------
@page("kpis")
async def summary(request: Request, session: auth.Session) -> Response:
    since, until = _date(request.query_params.get("desde")), _date(request.query_params.get("hasta"))
    report = kpis.compute(settings(request).store, since, until)
    scores = Counter(int(c["score"]) for c in report["calls"] if c["score"] is not None)
    distribution = [(s, scores.get(s, 0)) for s in range(1, 6)]
    return render(request, "resumen.html", session, active="resumen", report=report, since=since, until=until,
                  distribution=distribution, most=max([n for _, n in distribution] + [1]),
                  targets={k: t for k, (_, t) in kpis.DEFINITIONS.items()})


@page("kpis")
async def summary_csv(request: Request, session: auth.Session) -> Response:
    since, until = _date(request.query_params.get("desde")), _date(request.query_params.get("hasta"))
    store = settings(request).store
    report = kpis.compute(store, since, until)
    full = auth.allowed(session.principal, "full_phone")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for call in report["calls"]:
        row = {k: call.get(k) for k in CSV_COLUMNS}
        if "phone" in row and not full:
            row["phone"] = mask_phone(row["phone"])
        writer.writerow(row)
    audit.record(store, session.principal.name, "export_csv", "llamadas", since=since, until=until,
                 rows=len(report["calls"]))
    name = f"llamadas_{since or 'inicio'}_{until or 'hoy'}.csv"
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# -- Llamadas ------------------------------------------------------------------------------------
@page("calls")
async def calls_list(request: Request, session: auth.Session) -> Response:
    q = request.query_params
    score = q.get("calificacion")
    where = CallFilter(_date(q.get("desde")), _date(q.get("hasta")), q.get("resultado") or None,
                       int(score) if score and score.isdigit() else None, q.get("tema") or None)
    store = settings(request).store
    return render(request, "llamadas.html", session, active="llamadas", calls=list_calls(store, where),
                  where=where, topics=topics(store), outcomes=outcomes(store))


@page("calls")
async def call_page(request: Request, session: auth.Session) -> Response:
    detail = call_detail(settings(request).store, request.path_params["call_id"])
    if detail is None:
        return render(request, "error.html", session, status_code=404, title="No encontrada",
                      message="No existe esa llamada.")
    return render(request, "llamada.html", session, active="llamadas", d=detail,
                  can_listen=auth.allowed(session.principal, "listen"))


@page("listen")
async def recording(request: Request, session: auth.Session) -> Response:
    store = settings(request).store
    call_id = request.path_params["call_id"]
    rows = store.query("SELECT recording_path FROM calls WHERE call_id = ?", (call_id,))
    path = Path(rows[0]["recording_path"]) if rows and rows[0]["recording_path"] else None
    if path is None or not path.is_file():
        return render(request, "error.html", session, status_code=404, title="Sin grabación",
                      message="Esta llamada no tiene grabación (o ya se depuró).")
    byte_range = request.headers.get("range", "")
    try:
        data = recording_bytes(store, path)     # decrypted in memory; ranges served from it
    except (OSError, ValueError) as e:
        return render(request, "error.html", session, status_code=500, title="Grabación ilegible",
                      message=f"No se pudo leer la grabación: {spanish_reason(str(e))}")
    if not byte_range or byte_range.replace(" ", "").startswith("bytes=0-"):  # once per listening, not per chunk
        audit.record(store, session.principal.name, "listen", call_id)
    return wav_response(data, byte_range)


# -- Seguimiento ---------------------------------------------------------------------------------
@page("tickets")
async def tickets_page(request: Request, session: auth.Session) -> Response:
    show_closed = request.query_params.get("cerrados") == "1"
    return render(request, "seguimiento.html", session, active="seguimiento",
                  tickets=tickets.queue(settings(request).store, include_closed=show_closed),
                  show_closed=show_closed, statuses=tickets.STATUSES, promised=tickets.PROMISED_HOURS)


@page("tickets")
async def ticket_update(request: Request, session: auth.Session) -> Response:
    form = await request.form()
    ticket_id = int(request.path_params["ticket_id"])
    store = settings(request).store
    status = str(form.get("estado") or "") or None
    owner = form.get("responsable")
    note = str(form.get("nota") or "")
    try:
        tickets.update(store, ticket_id, session.principal.name, status, None if owner is None else str(owner), note)
    except tickets.TicketError as e:
        return _back("/seguimiento", str(e))
    audit.record(store, session.principal.name, "ticket_update", str(ticket_id), status=status,
                 owner=None if owner is None else str(owner), note=bool(note.strip()))
    return _back("/seguimiento", f"Ticket {ticket_id} actualizado.")


# -- Campañas ------------------------------------------------------------------------------------
async def _campaign_page(request: Request, session: auth.Session, report=None, error: str | None = None,
                         status_code: int = 200) -> Response:
    conf = settings(request)
    return render(request, "campanas.html", session, status_code=status_code, active="campanas",
                  progress=campaign.progress(conf.store, conf.rules), report=report, error=error)


@page("campaigns")
async def campaigns_page(request: Request, session: auth.Session) -> Response:
    return await _campaign_page(request, session)


@page("campaigns")
async def campaign_upload(request: Request, session: auth.Session) -> Response:
    form = await request.form()
    upload = form.get("archivo")
    if upload is None or isinstance(upload, str) or not upload.filename:
        return await _campaign_page(request, session, error="Elija un archivo CSV.", status_code=422)
    content = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        return await _campaign_page(request, session, error="El archivo pasa de 5 MB.", status_code=413)
    store = settings(request).store
    try:
        report = campaign.import_upload(store, upload.filename, content)
    except (ImportFileError, UnicodeDecodeError) as e:
        return await _campaign_page(request, session, error=f"No se pudo leer el archivo: {spanish_reason(str(e))}",
                                           status_code=422)
    audit.record(store, session.principal.name, "campaign_upload", upload.filename, imported=report.imported,
                 rejected=len(report.errors))
    return await _campaign_page(request, session, report=report)


@page("campaigns")
async def campaign_pause(request: Request, session: auth.Session) -> Response:
    paused = request.url.path.endswith("/pausar")
    store = settings(request).store
    campaign.set_paused(store, paused)
    audit.record(store, session.principal.name, "campaign_pause" if paused else "campaign_resume")
    return _back("/campanas", "Marcador en pausa." if paused else "Marcador reanudado.")


# -- No llamar -----------------------------------------------------------------------------------
@page("dnc")
async def dnc_page(request: Request, session: auth.Session) -> Response:
    text = request.query_params.get("q", "")
    return render(request, "no_llamar.html", session, active="no_llamar", q=text,
                  numbers=dnc.search(settings(request).store, text))


@page("dnc")
async def dnc_change(request: Request, session: auth.Session) -> Response:
    form = await request.form()
    phone, reason = str(form.get("telefono", "")), str(form.get("motivo", "")).strip()
    adding = request.url.path.endswith("/agregar")
    if not reason:
        return _back("/no-llamar", "Escriba el motivo del cambio.")
    try:
        if adding:
            number, changed = dnc.add(settings(request).store, phone, reason, session.principal.name)
            notice = f"{number} agregado a No llamar." if changed else f"{number} ya estaba en la lista."
        else:
            number, changed = dnc.remove(settings(request).store, phone, reason, session.principal.name)
            notice = f"{number} quitado de No llamar." if changed else f"{number} no estaba en la lista."
    except PhoneError as e:
        return _back("/no-llamar", f"Número inválido: {spanish_reason(str(e))}")
    return _back("/no-llamar", notice)


@page("dnc")
async def dnc_import(request: Request, session: auth.Session) -> Response:
    """A list of numbers (one per line, or the first CSV column, e.g. a REPEP extract)."""
    form = await request.form()
    upload = form.get("archivo")
    if upload is None or isinstance(upload, str) or not upload.filename:
        return _back("/no-llamar", "Elija un archivo con los números.")
    content = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        return _back("/no-llamar", "El archivo pasa de 5 MB.")
    store = settings(request).store
    try:
        report = dnc.import_upload(store, content, session.principal.name, str(form.get("origen") or "import"))
    except ImportFileError as e:
        return _back("/no-llamar", f"No se pudo leer el archivo: {spanish_reason(str(e))}")
    rejected = "; ".join(f"línea {line}: {spanish_reason(reason)}" for line, reason in report.errors[:10])
    return _back("/no-llamar", f"{report.imported} números importados, {len(report.errors)} rechazados"
                               + (f" ({rejected})" if rejected else "") + ".")


# -- Usuarios ------------------------------------------------------------------------------------
@page("users")
async def users_page(request: Request, session: auth.Session) -> Response:
    store = settings(request).store
    return render(request, "usuarios.html", session, active="usuarios", users=accounts.users(store),
                  tokens=accounts.tokens(store), roles=accounts.ROLES, log=audit.recent(store, 100))


@page("users")
async def user_change(request: Request, session: auth.Session) -> Response:
    form = await request.form()
    store = settings(request).store
    name = str(form.get("usuario", "")).strip()
    try:
        if form.get("contrasena"):
            accounts.add_user(store, name, str(form.get("rol", "")), str(form.get("contrasena")))
            audit.record(store, session.principal.name, "user_add", name, role=str(form.get("rol")))
            return _back("/usuarios", f"Usuario {name} guardado.")
        if name == session.principal.name:
            return _back("/usuarios", "No puede cambiar su propia cuenta desde aquí.")
        if form.get("rol"):
            accounts.set_role(store, name, str(form.get("rol")))
        if form.get("activo") in ("0", "1"):
            accounts.set_active(store, name, form.get("activo") == "1")
            if form.get("activo") == "0":
                store.execute("DELETE FROM console_sessions WHERE user_name = ?", (name,))
        audit.record(store, session.principal.name, "user_update", name, role=form.get("rol"),
                     active=form.get("activo"))
    except accounts.AccountError as e:
        return _back("/usuarios", str(e))
    return _back("/usuarios", f"Usuario {name} actualizado.")
