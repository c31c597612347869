"""The console's Privacidad page (admins): ARCO requests — download everything held about a person
(a ZIP), correct the customer's record, delete the personal data. Each is audited in ``privacy_audit``
(with the admin's name) and in the console's audit log, exactly like ``encuestador privacy``."""

from __future__ import annotations

import io
import zipfile
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..privacy import arco
from ..privacy.crypto import SealedDataError
from . import audit, auth
from .web import page, render, settings

DELETE_WORD = "BORRAR"   # typed by the admin to confirm a deletion


def _back(notice: str) -> RedirectResponse:
    return RedirectResponse(f"/privacidad?aviso={quote(notice)}", status_code=303)


async def _subject(request: Request) -> tuple[arco.Subject | None, str | None, dict]:
    """The person a form names (``cliente`` or ``telefono``), or the reason why not."""
    form = dict(await request.form())
    customer, phone = str(form.get("cliente", "")).strip(), str(form.get("telefono", "")).strip()
    try:
        return arco.find_subject(settings(request).store, customer or None, phone or None), None, form
    except arco.ArcoError as e:
        return None, str(e), form


@page("privacy")
async def privacy_page(request: Request, session: auth.Session) -> Response:
    recent = settings(request).store.query("SELECT * FROM privacy_audit ORDER BY id DESC LIMIT 50")
    return render(request, "privacidad.html", session, active="privacidad", requests=recent, delete_word=DELETE_WORD)


@page("privacy")
async def privacy_export(request: Request, session: auth.Session) -> Response:
    subject, problem, _ = await _subject(request)
    if subject is None:
        return _back(problem or "")
    store = settings(request).store
    try:
        files = arco.export_bundle(store, subject)
    except (SealedDataError, OSError) as e:
        return _back(f"No se pudo exportar: {e}")
    arco.audit_export(store, subject, files, session.principal.name)
    audit.record(store, session.principal.name, "arco_export", subject.asked)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, content in sorted(files.items()):
            bundle.writestr(name, content)
    return Response(buffer.getvalue(), media_type="application/zip",
                    headers={"Content-Disposition": 'attachment; filename="arco.zip"', "Cache-Control": "no-store"})


@page("privacy")
async def privacy_correct(request: Request, session: auth.Session) -> Response:
    subject, problem, form = await _subject(request)
    if subject is None:
        return _back(problem or "")
    changes = {"name": str(form.get("nombre", "")).strip() or None,
               "phone": str(form.get("telefono_nuevo", "")).strip() or None}
    try:
        result = arco.correct(settings(request).store, subject, changes, session.principal.name)
    except arco.ArcoError as e:
        return _back(str(e))
    audit.record(settings(request).store, session.principal.name, "arco_correct", subject.asked)
    return _back(f"Corregido ({', '.join(result.detail['fields'])}) de {subject.asked}.")


@page("privacy")
async def privacy_delete(request: Request, session: auth.Session) -> Response:
    subject, problem, form = await _subject(request)
    if subject is None:
        return _back(problem or "")
    if str(form.get("confirmar", "")).strip() != DELETE_WORD:
        return _back(f"Para borrar escriba {DELETE_WORD} en la confirmación.")
    result = arco.delete(settings(request).store, subject, session.principal.name)
    audit.record(settings(request).store, session.principal.name, "arco_delete", subject.asked)
    return _back(f"Datos personales de {subject.asked} borrados: {result.detail['calls']} llamada(s) anonimizadas, "
                 f"{result.detail['files_removed']} archivo(s) eliminados.")
