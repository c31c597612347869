"""The supervisors' console and the CRM API, end to end: a real ``encuestador console`` (uvicorn) on
127.0.0.1, Debian's chromium driven by Selenium through chromium-driver, and plain HTTP for the API.

The data is made with the real store API: a finished call with a WAV recording and its event log
beside it (the SIP agent's layout), a ticket, and a customer waiting to be dialled.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.cookiejar import CookieJar
from pathlib import Path

import numpy as np
import pytest

PASSWORD = "contraseña-de-prueba"
DUE_AT = "2026-12-01T10:00:00-06:00"   # a Tuesday morning in Mexico City, no holiday: inside the window
CALL_ID = "llamada0001"
WAITING_PHONE = "+528112345678"      # Monterrey customer C-3003, never called
RECORDING_S = 3.0


def encuestador(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "encuestador", *map(str, args)], capture_output=True, text=True,
                          input=stdin, env={**os.environ, "PYTHONIOENCODING": "utf-8"}, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


# -- fixture data through the store API ---------------------------------------------------------------
def make_call_with_recording(store, folder: Path) -> None:
    """A completed outbound survey: score 2, not resolved, a ticket, a WAV and its event log."""
    from encuestador.audio.wavio import write_wav
    from encuestador.events import AnswerRecorded, Hangup, Heard, JsonLinesLog, Say, TicketOpened

    rate = 16000
    t = np.arange(int(RECORDING_S * rate)) / rate
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 220 * t)], axis=1)
    wav = write_wav(folder / f"{CALL_ID}.wav", stereo.astype(np.float32), rate)
    log = JsonLinesLog(folder / f"{CALL_ID}.jsonl")
    for event in (Say(0, "greeting", "Buenos días, habla el asistente de Telecom del Norte."),
                  Say(1800, "score", "Del uno al cinco, ¿qué tan satisfecho quedó con la atención?"),
                  Heard(2600, "score", "dos", "score", {"score": 2}, 0.91, 240),
                  AnswerRecorded(2700, "score", 2, "dos"),
                  Heard(2900, "resolved", "no, sigue igual", "no", {}, 0.88, 210),
                  AnswerRecorded(2950, "resolved", False, "no, sigue igual"),
                  TicketOpened(2960, "low score; not resolved"),
                  Hangup(3000, "completed")):
        log.handle(event)
    log.close()
    store.upsert_customer("C-1001", "Mariana López", "+525512345678", "internet lento")
    store.start_call(CALL_ID, "C-1001", "+525512345678", direction="outbound")
    store.record_answer(CALL_ID, "consent", True, "sí", at_ms=1500)
    store.record_answer(CALL_ID, "score", 2, "dos", at_ms=2700)
    store.record_answer(CALL_ID, "resolved", False, "no, sigue igual", at_ms=2950)
    store.open_ticket(CALL_ID, "low score; not resolved")
    store.finish_call(CALL_ID, "completed", int(RECORDING_S * 1000), str(wav))


@dataclass
class Console:
    url: str
    db: str
    folder: Path
    token: str            # supervisor
    analyst_token: str


def start_console(db: str) -> tuple[subprocess.Popen, str]:
    """``encuestador console`` on a free port; returns the process and its base URL once it listens."""
    proc = subprocess.Popen([sys.executable, "-m", "encuestador", "console", "--listen", "127.0.0.1:0", "--db", db],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    deadline, seen = time.monotonic() + 60, []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        if "listening" in line:
            return proc, line.split("listening on ", 1)[1].strip().rstrip("/")
    proc.kill()
    raise AssertionError("console did not start:\n" + "".join(seen))


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM (uvicorn's graceful shutdown), then SIGKILL if it is still there after 15 s."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def prepare(db: str, folder: Path) -> tuple[str, str]:
    from encuestador.console.accounts import add_user
    from encuestador.console.schema import ensure_tables
    from encuestador.store import open_store

    encuestador("users", "add", "sofia", "--role", "supervisor", "--password-stdin", "--db", db, stdin=PASSWORD + "\n")
    store = open_store(db)
    ensure_tables(store)
    add_user(store, "alberto", "analyst", PASSWORD)
    add_user(store, "admin", "admin", PASSWORD)
    make_call_with_recording(store, folder)
    store.upsert_customer("C-3003", "Rogelio Garza", WAITING_PHONE, "facturación")
    store.close()
    token = encuestador("tokens", "add", "crm", "--role", "supervisor", "--db", db).stdout.strip()
    analyst = encuestador("tokens", "add", "tablero", "--role", "analyst", "--db", db).stdout.strip()
    return token, analyst


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    folder = tmp_path_factory.mktemp("console")
    db = str(folder / "encuestador.db")
    token, analyst = prepare(db, folder)
    proc, url = start_console(db)
    yield Console(url, db, folder, token, analyst)
    stop(proc)


# -- plain HTTP ------------------------------------------------------------------------------------------
def request(url: str, method: str = "GET", body: dict | None = None, token: str | None = None,
            headers: dict | None = None, opener=None, raw: bytes | None = None) -> tuple[int, dict, bytes]:
    data = json.dumps(body).encode() if body is not None else raw
    req = urllib.request.Request(url, data=data, method=method, headers={**(headers or {})})
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with (opener or urllib.request.build_opener()).open(req, timeout=20) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def logged_in(console: Console, name: str):
    """An opener holding ``name``'s session cookie, logged in through the login form."""
    import re

    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(console.url + "/login", timeout=20).read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"usuario": name, "contrasena": PASSWORD, "csrf": csrf}).encode()
    opener.open(urllib.request.Request(console.url + "/login", data=form), timeout=20).read()
    assert any(c.name == "encuestador_sesion" for c in jar), f"{name} could not log in"
    return opener


def test_recording_is_served_with_range_requests(console):
    opener = logged_in(console, "sofia")
    status, headers, body = request(f"{console.url}/llamadas/{CALL_ID}/grabacion", headers={"Range": "bytes=0-99"},
                                    opener=opener)
    size = (console.folder / f"{CALL_ID}.wav").stat().st_size
    assert status == 206 and len(body) == 100 and body[:4] == b"RIFF"
    assert headers["content-range"] == f"bytes 0-99/{size}"
    status, _, body = request(f"{console.url}/llamadas/{CALL_ID}/grabacion", headers={"Range": f"bytes={size - 10}-"},
                              opener=opener)
    assert status == 206 and len(body) == 10


def test_analyst_gets_403_on_a_recording_and_masked_numbers(console):
    opener = logged_in(console, "alberto")
    status, _, _ = request(f"{console.url}/llamadas/{CALL_ID}/grabacion", opener=opener)
    assert status == 403
    status, _, page = request(f"{console.url}/llamadas/{CALL_ID}", opener=opener)
    assert status == 200 and "+525512345678" not in page.decode() and "+5255••••5678" in page.decode()
    assert "<audio" not in page.decode()
    status, _, csv_bytes = request(f"{console.url}/resumen.csv", opener=opener)
    assert status == 200 and b"+525512345678" not in csv_bytes and b"+5255\xe2\x80\xa2\xe2\x80\xa2" in csv_bytes
    from encuestador.store import open_store

    exports = open_store(console.db).query("SELECT actor FROM console_audit WHERE action = 'export_csv'")
    assert exports[-1]["actor"] == "alberto"


def test_forms_need_the_csrf_token(console):
    opener = logged_in(console, "sofia")
    form = urllib.parse.urlencode({"telefono": "5598765432", "motivo": "prueba"}).encode()
    try:
        opener.open(urllib.request.Request(console.url + "/no-llamar/agregar", data=form), timeout=20)
        status = 200
    except urllib.error.HTTPError as e:
        status = e.code
    assert status == 403
    from encuestador.store import open_store

    assert not open_store(console.db).is_dnc("+525598765432")


def test_login_attempts_are_rate_limited(console):
    import re

    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(console.url + "/login", timeout=20).read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    codes = []
    for password in ["mala"] * 5 + [PASSWORD]:
        form = urllib.parse.urlencode({"usuario": "admin", "contrasena": password, "csrf": csrf}).encode()
        try:
            opener.open(urllib.request.Request(console.url + "/login", data=form), timeout=20)
            codes.append(200)
        except urllib.error.HTTPError as e:
            codes.append(e.code)
    assert codes == [401] * 5 + [429]   # even the right password waits once the limit is reached


# -- the API ---------------------------------------------------------------------------------------------
def test_api_needs_a_token_and_the_right_role(console):
    assert request(console.url + "/api/v1/calls")[0] == 401
    assert request(console.url + "/api/v1/calls", token="enc_no-such-token")[0] == 401
    survey = {"customer_id": "C-9", "name": "Luis", "phone": "3312345678"}
    assert request(console.url + "/api/v1/surveys", "POST", survey, token=console.analyst_token)[0] == 403
    encuestador("tokens", "revoke", "crm", "--db", console.db)
    try:
        assert request(console.url + "/api/v1/calls", token=console.token)[0] == 401
    finally:
        console.token = encuestador("tokens", "add", "crm", "--role", "supervisor", "--db", console.db).stdout.strip()


def test_api_call_has_the_webhook_shape(console):
    from encuestador.store import open_store

    status, _, body = request(f"{console.url}/api/v1/calls/{CALL_ID}", token=console.token)
    owed = open_store(console.db).query("SELECT payload FROM outbox WHERE call_id = ?", (CALL_ID,))[0]["payload"]
    assert status == 200 and json.loads(body) == json.loads(owed)
    status, _, body = request(f"{console.url}/api/v1/calls?since=2020-01-01T00:00:00Z", token=console.token)
    assert status == 200 and [c["call_id"] for c in json.loads(body)["calls"]] == [CALL_ID]
    status, _, body = request(f"{console.url}/api/v1/calls?since=2999-01-01", token=console.token)
    assert json.loads(body)["calls"] == []
    assert request(f"{console.url}/api/v1/calls?since=ayer", token=console.token)[0] == 422
    assert request(f"{console.url}/api/v1/calls/nope", token=console.token)[0] == 404
    status, _, body = request(f"{console.url}/api/v1/calls/{CALL_ID}", token=console.analyst_token)
    assert status == 200 and json.loads(body)["phone"] == "+5255••••5678"


def test_openapi_lists_the_routes(console):
    status, _, body = request(console.url + "/api/v1/openapi.json")
    spec = json.loads(body)
    assert status == 200 and spec["openapi"].startswith("3.")
    assert {"/api/v1/surveys", "/api/v1/calls", "/api/v1/calls/{call_id}", "/api/v1/dnc",
            "/api/v1/dnc/{phone}"} <= set(spec["paths"])


@pytest.fixture(params=["sqlite", "postgresql"])
def api_console(request, tmp_path):
    """A console on an empty store (SQLite, then PostgreSQL) with one supervisor token."""
    db = str(tmp_path / "api.db") if request.param == "sqlite" else request.getfixturevalue("postgres").new_database()
    token = encuestador("tokens", "add", "crm", "--role", "supervisor", "--db", db).stdout.strip()
    proc, url = start_console(db)
    yield Console(url, db, tmp_path, token, "")
    stop(proc)


def due(db: str) -> list[dict]:
    return json.loads(encuestador("campaign", "due", "--db", db, "--at", DUE_AT, "--explain", "--json").stdout)


def test_survey_twice_with_one_case_is_one_customer_due(api_console):
    survey = {"customer_id": "CRM-77", "name": "Patricia Ruiz", "phone": "+52 1 (55) 8765-4321",
              "topic": "cambio de plan", "case_id": "CASO-2026-001"}
    first = request(api_console.url + "/api/v1/surveys", "POST", survey, token=api_console.token)
    again = request(api_console.url + "/api/v1/surveys", "POST", survey, token=api_console.token)
    assert (first[0], again[0]) == (201, 200)
    assert json.loads(first[2])["phone"] == "+525587654321"
    assert json.loads(again[2])["status"] == "already_requested"
    listed = due(api_console.db)
    assert [(c["customer_id"], c["due"]) for c in listed] == [("CRM-77", True)]
    other = {**survey, "customer_id": "CRM-78"}
    status, _, body = request(api_console.url + "/api/v1/surveys", "POST", other, token=api_console.token)
    assert status == 422 and json.loads(body)["errors"][0]["field"] == "case_id"


def test_survey_with_a_bad_phone_is_422_with_the_field(api_console):
    status, _, body = request(api_console.url + "/api/v1/surveys", "POST",
                              {"customer_id": "CRM-1", "name": "Ana", "phone": "12345"}, token=api_console.token)
    errors = json.loads(body)["errors"]
    assert status == 422 and [e["field"] for e in errors] == ["phone"] and "10" in errors[0]["reason"]
    status, _, body = request(api_console.url + "/api/v1/surveys", "POST",
                              {"name": "Ana", "phone": "5512345678", "not_before": "mañana", "extra": 1},
                              token=api_console.token)
    assert status == 422
    assert {e["field"] for e in json.loads(body)["errors"]} == {"customer_id", "not_before", "extra"}
    assert due(api_console.db) == []


def test_survey_not_before_waits_and_dnc_refuses(api_console):
    survey = {"customer_id": "CRM-5", "name": "Hugo", "phone": "6641234567", "not_before": "2026-12-02T09:00:00-08:00"}
    assert request(api_console.url + "/api/v1/surveys", "POST", survey, token=api_console.token)[0] == 201
    [waiting] = due(api_console.db)
    assert not waiting["due"] and "callback" in waiting["reason"]
    status, _, body = request(api_console.url + "/api/v1/dnc", "POST", {"phone": "664 123 4567", "reason": "CRM"},
                              token=api_console.token)
    assert status == 201 and json.loads(body)["phone"] == "+526641234567"
    assert "do-not-call" in due(api_console.db)[0]["reason"]
    assert request(api_console.url + "/api/v1/dnc/6641234567", "DELETE", token=api_console.token)[0] == 200
    assert request(api_console.url + "/api/v1/dnc/6641234567", "DELETE", token=api_console.token)[0] == 404
    assert "do-not-call" not in due(api_console.db)[0]["reason"]


def test_upload_and_api_show_the_reasons_in_spanish(console):
    """The importer's and the calling rules' English reasons reach the page and the API in Spanish."""
    import re

    opener = logged_in(console, "sofia")
    csrf = re.search(r'name="csrf" value="([^"]+)"', opener.open(console.url + "/campanas", timeout=20).read()
                     .decode()).group(1)
    rows = ("customer_id,name,phone\nC-6001,Lupe,55 2222 4444\n,Sin id,5544443333\nC-6002,Ramón,12\n"
            "C-6001,Lupe otra vez,55 2222 5555\n")
    boundary = "frontera-de-prueba"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"archivo\"; filename=\"clientes.csv\"\r\n"
            f"Content-Type: text/csv\r\n\r\n{rows}\r\n--{boundary}--\r\n").encode()
    status, _, page = request(console.url + "/campanas/carga", "POST", opener=opener,
                              headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}, raw=body)
    page = page.decode()
    assert status == 200 and "1 clientes cargados, 3 filas rechazadas" in page
    assert "falta customer_id" in page and "se esperaban 10 dígitos nacionales y hay 2 en «12»" in page
    assert "customer_id «C-6001» repetido (se conservó la línea 2)" in page
    assert "missing" not in page and "expected" not in page and "duplicate" not in page
    survey = {"customer_id": "C-6003", "name": "Hugo", "phone": "6641234567", "not_before": "2030-01-15T10:00:00-08:00"}
    status, _, answer = request(console.url + "/api/v1/surveys", "POST", survey, token=console.token)
    assert status == 201 and json.loads(answer)["reason"] == \
        "pidió que le llamen el 15 de enero de 2030 a las 10:00 (hora local)"
    status, _, answer = request(console.url + "/api/v1/dnc", "POST", {"phone": "12"}, token=console.token)
    assert status == 422 and json.loads(answer)["errors"][0]["reason"].startswith("se esperaban 10 dígitos")


# -- the browser -----------------------------------------------------------------------------------------
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM or not CHROMEDRIVER:
        pytest.skip("Debian's chromium and chromium-driver are not installed (`make setup` installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--mute-audio",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1280,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def log_in(browser, console: Console, name: str) -> None:
    from selenium.webdriver.common.by import By

    browser.delete_all_cookies()
    browser.get(console.url + "/login")
    browser.find_element(By.ID, "usuario").send_keys(name)
    browser.find_element(By.ID, "contrasena").send_keys(PASSWORD)
    browser.find_element(By.ID, "entrar").click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "header.top"), "the console after logging in")


def wait_for(condition, what: str, timeout_s: float = 15.0):
    """``condition()`` once it is truthy; an element of the page being replaced counts as not yet."""
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = condition()
        except StaleElementReferenceException:
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_browser_login_open_a_call_and_play_its_recording(browser, console):
    from selenium.webdriver.common.by import By

    from encuestador.store import open_store

    log_in(browser, console, "sofia")
    assert "Tasa de contacto" in browser.find_element(By.ID, "kpis").text
    browser.find_element(By.LINK_TEXT, "Llamadas").click()
    browser.find_element(By.CSS_SELECTOR, "a.call-link").click()
    conversation = browser.find_element(By.ID, "conversacion").text
    assert "¿qué tan satisfecho quedó" in conversation and "dos" in conversation and "confianza 0.91" in conversation
    assert "+525512345678" in browser.find_element(By.ID, "telefono").text
    browser.execute_script("document.getElementById('grabacion').play();")
    state = wait_for(lambda: (lambda s: s if s["readyState"] >= 2 and s["currentTime"] > 0 else None)(
        browser.execute_script("const a = document.getElementById('grabacion'); return {readyState: a.readyState, "
                               "duration: a.duration, currentTime: a.currentTime, error: a.error && a.error.code};")),
        "the recording to load and play")
    assert abs(state["duration"] - RECORDING_S) < 0.05 and state["error"] is None
    listened = open_store(console.db).query("SELECT actor FROM console_audit WHERE action = 'listen' AND target = ?",
                                            (CALL_ID,))
    assert [r["actor"] for r in listened][-1:] == ["sofia"]


def test_browser_close_a_ticket(browser, console):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from encuestador.store import open_store

    log_in(browser, console, "sofia")
    browser.get(console.url + "/seguimiento")
    row = browser.find_element(By.CSS_SELECTOR, "#tickets tbody tr[id^=ticket-]")
    assert "low score" in row.text and " h" in row.text
    row.find_element(By.NAME, "responsable").send_keys("sofia")
    row.find_element(By.NAME, "nota").send_keys("Se le llamó y se resolvió la falla.")
    Select(row.find_element(By.NAME, "estado")).select_by_value("cerrado")
    row.find_element(By.TAG_NAME, "button").click()
    assert "actualizado" in wait_for(lambda: browser.find_elements(By.ID, "aviso"), "the notice")[0].text
    assert "No hay tickets pendientes" in browser.find_element(By.ID, "tickets").text
    [followup] = open_store(console.db).query("SELECT owner, status, closed_at FROM ticket_followup")
    assert followup["owner"] == "sofia" and followup["status"] == "cerrado" and followup["closed_at"]


def test_browser_dnc_number_is_refused_by_campaign_due(browser, console):
    from selenium.webdriver.common.by import By

    def line_for_waiting_customer() -> str:
        out = encuestador("campaign", "due", "--db", console.db, "--at", DUE_AT, "--explain").stdout
        return next(line for line in out.splitlines() if "C-3003" in line)

    assert line_for_waiting_customer().startswith("DUE")
    log_in(browser, console, "sofia")
    browser.get(console.url + "/no-llamar")
    browser.find_element(By.ID, "dnc-telefono").send_keys("81 1234 5678")
    browser.find_element(By.ID, "dnc-motivo").send_keys("Lo pidió por correo")
    browser.find_element(By.ID, "dnc-agregar").click()
    assert WAITING_PHONE in wait_for(lambda: browser.find_elements(By.ID, "aviso"), "the notice")[0].text
    assert WAITING_PHONE in browser.find_element(By.ID, "numeros").text
    line = line_for_waiting_customer()
    assert line.startswith("wait") and "do-not-call" in line


def test_browser_analyst_sees_no_recording(browser, console):
    from selenium.webdriver.common.by import By

    log_in(browser, console, "alberto")
    browser.get(f"{console.url}/llamadas/{CALL_ID}")
    assert not browser.find_elements(By.ID, "grabacion")
    assert "no permite escuchar" in browser.page_source
    browser.get(f"{console.url}/llamadas/{CALL_ID}/grabacion")
    assert "Sin permiso" in browser.find_element(By.TAG_NAME, "h1").text


def test_browser_campaign_upload_lists_bad_rows(browser, console, tmp_path):
    from selenium.webdriver.common.by import By

    upload = tmp_path / "clientes.csv"
    upload.write_text("customer_id,name,phone,topic\nC-5001,Laura,55 2222 3333,internet\n"
                      "C-5002,Pedro,12,internet\n,Sin id,5544443333,\n", encoding="utf-8")
    log_in(browser, console, "sofia")
    browser.get(console.url + "/campanas")
    browser.find_element(By.ID, "archivo").send_keys(str(upload))
    browser.find_element(By.ID, "cargar").click()
    result = wait_for(lambda: browser.find_elements(By.ID, "resultado-carga"), "the upload report")[0].text
    assert result.startswith("1 clientes cargados, 2 filas rechazadas")
    rejected = browser.find_element(By.ID, "filas-rechazadas").text
    assert "3 " in rejected and "4 " in rejected and "falta customer_id" in rejected
    browser.find_element(By.ID, "pausa").click()
    assert wait_for(lambda: browser.find_elements(By.ID, "aviso"), "the notice")[0].text == "Marcador en pausa."
    assert browser.find_element(By.ID, "estado-marcador").text == "en pausa"


def test_dialer_places_no_call_while_the_console_pauses_it(tmp_path):
    """«Pausar» in the console stops the real dialer from claiming and placing calls; «Reanudar» lets it."""
    from datetime import datetime

    from encuestador.campaign.dialer import Dialer
    from encuestador.campaign.rules import CallingRules
    from encuestador.console.campaign import set_paused
    from encuestador.store import open_store

    store = open_store(tmp_path / "dialer.db")
    store.upsert_customer("C-1", "Ana", "+525512345678")
    placed = []
    dialer = Dialer(store, CallingRules.load(), placed.append, pace_s=0.0,
                    clock=lambda: datetime.fromisoformat(DUE_AT))
    set_paused(store, True)
    for _ in range(3):
        dialer.tick()
    assert placed == [] and store.query("SELECT COUNT(*) AS n FROM attempts")[0]["n"] == 0
    set_paused(store, False)
    time.sleep(1.1)   # the dialer reads the switch at most once a second
    dialer.tick()
    assert [r.customer_id for r in placed] == ["C-1"]


def test_browser_dnc_import_reports_bad_lines(browser, console, tmp_path):
    from selenium.webdriver.common.by import By

    from encuestador.store import open_store

    listing = tmp_path / "repep.csv"
    listing.write_text("telefono,fecha\n33 1111 2222,2026-11-01\n12345,2026-11-01\n+52 999 123 4567,2026-11-02\n",
                       encoding="utf-8")
    log_in(browser, console, "sofia")
    browser.get(console.url + "/no-llamar")
    browser.find_element(By.ID, "dnc-archivo").send_keys(str(listing))
    browser.find_element(By.ID, "dnc-importar").click()
    notice = wait_for(lambda: browser.find_elements(By.ID, "aviso"), "the notice")[0].text
    assert notice.startswith("2 números importados, 1 rechazados (línea 3:")
    store = open_store(console.db)
    assert store.is_dnc("+523311112222") and store.is_dnc("+529991234567")
    assert store.query("SELECT actor FROM console_audit WHERE action = 'dnc_import'")[-1]["actor"] == "sofia"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_console(request, tmp_path):
    """The module's data (a call with its recording, a ticket, accounts) on SQLite, then PostgreSQL."""
    db = str(tmp_path / "pages.db") if request.param == "sqlite" else request.getfixturevalue("postgres").new_database()
    token, analyst = prepare(db, tmp_path)
    proc, url = start_console(db)
    yield Console(url, db, tmp_path, token, analyst)
    stop(proc)


def test_every_page_renders_and_filters(any_console):
    c = any_console
    opener = logged_in(c, "admin")
    pages = {"/": "Tasa de contacto", "/llamadas": "Mariana López", f"/llamadas/{CALL_ID}": "qué tan satisfecho",
             "/seguimiento": "low score", "/campanas": "Cargar clientes", "/no-llamar": "No llamar",
             "/usuarios": "alberto", "/resumen.csv": "call_id"}
    for path, text in pages.items():
        status, _, body = request(c.url + path, opener=opener)
        assert status == 200 and text in body.decode(), path
    assert b"Mariana" in request(c.url + "/llamadas?resultado=completed&calificacion=2", opener=opener)[2]
    assert b"Mariana" not in request(c.url + "/llamadas?calificacion=5", opener=opener)[2]
    assert b"Mariana" not in request(c.url + "/llamadas?desde=2999-01-01", opener=opener)[2]
    assert "Sin llamadas en estas fechas" in request(c.url + "/?desde=2999-01-01", opener=opener)[2].decode()
    status, _, _ = request(c.url + "/usuarios", opener=logged_in(c, "sofia"))
    assert status == 403   # supervisors do not manage accounts
    status, headers, _ = request(c.url + "/llamadas", opener=urllib.request.build_opener(NoRedirect()))
    assert status == 303 and headers["location"].startswith("/login")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
