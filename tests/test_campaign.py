"""Campaign import, the do-not-call list, the queue (claim / finish / recovery), the dialer, reports
and CRM webhooks — against a real SQLite store and a real local HTTP server."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from encuestador.campaign import queue
from encuestador.campaign.dialer import Dialer
from encuestador.campaign.importer import ImportFileError, import_customers, import_dnc
from encuestador.campaign.rules import CallingRules
from encuestador.report import kpis, render
from encuestador.report.webhooks import deliver_due, verify
from encuestador.store import Store, StoreSink, open_store
from encuestador.events import AnswerRecorded

UTC = timezone.utc
WEDNESDAY_11_CDMX = datetime(2026, 7, 15, 17, 0, tzinfo=UTC)
RULES = CallingRules.load()

CSV = """customer_id,name,phone,topic,last_contact,notes
C-1,Ana López,55 1234 5678,internet,2026-07-01,
C-2,Luis Pérez,(664) 123-4567,telefonía,,cliente nuevo
C-3,Sin Teléfono,,internet,,
C-4,Marta Ruiz,+1 212 555 0100,,,
C-5,Pedro Gómez,044 998 123 4567,internet,el martes,
C-6,Rosa Díaz,01 81 8765 4321,,2026-06-30,
"""


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "encuestador", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def campaign_db(tmp_path, db_location):
    path = tmp_path / "customers.csv"
    path.write_text(CSV, encoding="utf-8")
    store = open_store(db_location)
    import_customers(path, store)
    return store


def test_import_reports_bad_rows_by_line_and_imports_the_rest(tmp_path, db_location):
    path = tmp_path / "customers.csv"
    path.write_text(CSV, encoding="utf-8")
    result = cli("campaign", "import", str(path), "--db", db_location, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["imported"] == 3
    assert [(e["line"], e["reason"].split(" ")[0]) for e in report["errors"]] == [(4, "missing"), (5, "not"), (6, "last_contact")]
    assert "line 4: missing phone" in result.stderr
    store = open_store(db_location)
    assert store.find_customer("C-2")["phone"] == "+526641234567"
    assert store.find_customer("C-6")["phone"] == "+528187654321"
    # Importing again changes nothing (idempotent) and updates what changed.
    path.write_text(CSV.replace("Ana López", "Ana María López"), encoding="utf-8")
    assert import_customers(path, store).imported == 3
    assert store.query("SELECT COUNT(*) AS n FROM customers")[0]["n"] == 3
    assert store.find_customer("C-1")["name"] == "Ana María López"


def test_import_json_and_a_file_missing_columns(tmp_path):
    data = tmp_path / "c.json"
    data.write_text(json.dumps([{"customer_id": "J-1", "name": "Eva", "phone": "3312345678"}, {"name": "x"}, 5]))
    report = import_customers(data, Store(tmp_path / "j.db"))
    assert report.imported == 1 and [line for line, _ in report.errors] == [2, 3]
    bad = tmp_path / "bad.csv"
    bad.write_text("id,nombre\n1,Ana\n")
    with pytest.raises(ImportFileError, match="missing required column"):
        import_customers(bad, Store(tmp_path / "b.db"))
    assert cli("campaign", "import", str(bad), "--db", str(tmp_path / "b.db")).returncode == 2


def test_import_of_a_latin1_file_reads_it_as_windows_1252_and_says_so(tmp_path, db_location):
    path = tmp_path / "excel.csv"
    path.write_bytes("customer_id,name,phone,topic\nC-1,José Peña,5512345678,facturación\n".encode("cp1252"))
    result = cli("campaign", "import", str(path), "--db", db_location, "--json")
    assert result.returncode == 0, result.stderr
    assert f"note: {path} is not UTF-8 (first at line 2); read as Windows-1252/Latin-1" in result.stderr
    customer = open_store(db_location).find_customer("C-1")
    assert (customer["name"], customer["topic"]) == ("José Peña", "facturación")


@pytest.mark.parametrize("content, expected", [
    (b"PK\x03\x04\x14\x00\x06\x00" + bytes(200),
     'this is a ZIP/Excel .xlsx file, not CSV or JSON (save it as "CSV UTF-8")'),
    (bytes(range(256)) * 4, "binary data, not CSV or JSON (control byte 0x00 at byte 0, line 1)"),
])
def test_a_binary_file_is_refused_in_one_line_and_imports_nothing(tmp_path, content, expected):
    path, db = tmp_path / "clientes.csv", tmp_path / "c.db"
    path.write_bytes(content)
    result = cli("campaign", "import", str(path), "--db", str(db))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"error: {path}: {expected}"]
    assert not db.exists()                                 # refused before a database was made


def test_duplicate_ids_keep_the_first_row_and_report_the_others_by_line(tmp_path, db_location):
    path = tmp_path / "dups.csv"
    path.write_text("customer_id,name,phone\nC-1,Ana,5512345678\nC-2,Luis,6641234567\nC-1,Otra Ana,5599999999\n"
                    "C-1,Tercera,5588888888\n", encoding="utf-8")
    store = open_store(db_location)
    report = import_customers(path, store)
    assert report.imported == 2
    assert report.errors == [(4, "duplicate customer_id 'C-1' (line 2 kept)"),
                             (5, "duplicate customer_id 'C-1' (line 2 kept)")]
    assert store.find_customer("C-1")["name"] == "Ana"


def test_control_characters_are_stripped_from_every_field(tmp_path, db_location):
    path = tmp_path / "nul.csv"
    path.write_bytes(b"customer_id,name,phone,notes\nC-\x001,Ana\x00 L\x1b[31m\xc3\xb3pez,55 1234 5678\x00,"
                     b"\"dos\nl\xc3\xadneas\"\n")
    store = open_store(db_location)
    report = import_customers(path, store)
    assert report.imported == 1 and report.errors == []
    assert report.notices == ["line 3: control characters removed from customer_id, name, phone"]
    customer = store.find_customer("C-1")
    assert (customer["name"], customer["phone"], customer["notes"]) == ("Ana L[31mópez", "+525512345678",
                                                                        "dos\nlíneas")
    dnc = tmp_path / "dnc.txt"
    dnc.write_bytes(b"66\x0041234567\n")
    assert import_dnc(dnc, store).imported == 1 and store.is_dnc("+526641234567")


def test_dnc_add_and_import_are_never_dialled(campaign_db, tmp_path, db_location):
    repep = tmp_path / "repep.csv"
    repep.write_text("telefono,fecha\n6641234567,2026-01-01\nnot-a-number,\n\n# comment\n")
    report = import_dnc(repep, campaign_db, source="REPEP")
    assert report.imported == 1 and report.errors[0][0] == 3
    db = db_location
    assert cli("dnc", "add", "55-1234-5678", "--db", db).returncode == 0
    due = json.loads(cli("campaign", "due", "--db", db, "--at", WEDNESDAY_11_CDMX.isoformat(), "--json", "--explain").stdout)
    reasons = {c["customer_id"]: c["reason"] for c in due}
    assert reasons["C-1"] == reasons["C-2"] == "on the do-not-call list"
    assert reasons["C-6"] == "due"


def test_due_explains_time_zones_and_windows(campaign_db, db_location):
    # 14:30 UTC on a Wednesday in July: 08:30 in Mexico City and Monterrey, 07:30 in Tijuana.
    at = datetime(2026, 7, 15, 14, 30, tzinfo=UTC).isoformat()
    out = cli("campaign", "due", "--db", db_location, "--at", at, "--explain")
    assert out.returncode == 0, out.stderr
    lines = {line.split()[1]: line for line in out.stdout.splitlines()}
    assert lines["C-1"].startswith("DUE") and lines["C-6"].startswith("DUE")
    assert lines["C-2"].startswith("wait") and "outside calling hours (local 07:30" in lines["C-2"]
    assert "2 of 3 due" in out.stderr


def claim_in_a_dialer_that_dies(location: str, customer_id: str, at: datetime) -> int:
    """Claim an attempt from another process, which then exits (a dialer that died mid-call)."""
    code = ("from datetime import datetime\nfrom encuestador.campaign import queue\n"
            "from encuestador.campaign.rules import CallingRules\nfrom encuestador.store import open_store\n"
            f"print(queue.claim(open_store({location!r}), CallingRules.load(), {customer_id!r}, "
            f"datetime.fromisoformat({at.isoformat()!r}), None))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def test_claim_is_exclusive_and_recovery_counts_the_attempt(campaign_db, db_location):
    first = claim_in_a_dialer_that_dies(db_location, "C-1", WEDNESDAY_11_CDMX)
    assert queue.claim(campaign_db, RULES, "C-1", WEDNESDAY_11_CDMX, None) is None   # no second dial
    live = queue.claim(campaign_db, RULES, "C-6", WEDNESDAY_11_CDMX, None)           # this process: alive
    # The dialer died; a restart closes its attempt as interrupted and does not dial again today.
    assert queue.recover_interrupted(campaign_db, WEDNESDAY_11_CDMX + timedelta(minutes=5)) == 1
    open_ids = [r["id"] for r in campaign_db.query("SELECT id FROM attempts WHERE ended_at IS NULL")]
    assert open_ids == [live] and first != live                                         # a live dialer's stays open
    assert queue.claim(campaign_db, RULES, "C-1", WEDNESDAY_11_CDMX + timedelta(hours=1), None) is None
    tomorrow = queue.claim(campaign_db, RULES, "C-1", WEDNESDAY_11_CDMX + timedelta(days=1), None)
    assert tomorrow is not None


def test_callback_and_opt_out_change_who_is_due(campaign_db):
    attempt = queue.claim(campaign_db, RULES, "C-1", WEDNESDAY_11_CDMX, None)
    queue.finish(campaign_db, RULES, attempt, "callback_later", WEDNESDAY_11_CDMX, "k1", {"day_part": "afternoon"})
    at_four = datetime(2026, 7, 15, 22, 0, tzinfo=UTC)
    assert campaign_db.find_customer("C-1")["callback_at"].startswith("2026-07-15T22:00")
    assert queue.claim(campaign_db, RULES, "C-1", at_four - timedelta(minutes=1), None) is None
    again = queue.claim(campaign_db, RULES, "C-1", at_four, None)
    assert again is not None
    # During that call the customer opts out: the number is on the DNC list before the call ends.
    campaign_db.start_call("k2", "C-1", "+525512345678", "outbound")
    StoreSink(campaign_db, "k2", "+525512345678").handle(AnswerRecorded(1000, "opt_out", True, "ya no me llamen"))
    assert campaign_db.is_dnc("+525512345678")
    queue.finish(campaign_db, RULES, again, "opt_out", at_four)
    later = [c for c in queue.candidates(campaign_db, RULES, at_four + timedelta(days=2)) if c.customer_id == "C-1"][0]
    assert later.verdict.reason == "on the do-not-call list"


def test_dialer_respects_concurrency_and_caller_id_pool(campaign_db):
    placed = []
    early = datetime(2026, 7, 15, 14, 30, tzinfo=UTC)   # 08:30 in Mexico City and Monterrey, 07:30 in Tijuana
    clock = [early]
    dialer = Dialer(campaign_db, RULES, placed.append, concurrency=2, pace_s=0, clock=lambda: clock[0], refresh_s=0,
                    caller_ids=["+525550000001", "+528180000002", "+526640000003"])
    for _ in range(5):
        dialer.tick()
    assert len(placed) == 2 and len(dialer.live) == 2                   # C-1 and C-6; C-2 is outside its window
    assert {p.customer_id: p.caller_id for p in placed} == {"C-1": "+525550000001", "C-6": "+528180000002"}
    dialer.ended(placed[0], "k1", "busy")
    dialer.ended(placed[1], "k2", "completed")
    clock[0] = early + timedelta(hours=1)                                 # 08:30 in Tijuana: open
    for _ in range(3):
        dialer.tick()
    assert [p.customer_id for p in placed[2:]] == ["C-2"] and placed[2].caller_id == "+526640000003"
    dialer.ended(placed[2], "k3", "voicemail")
    assert dialer.idle()                                                  # C-1 busy: retry tomorrow
    clock[0] = early + timedelta(days=1)
    dialer.tick()
    assert placed[-1].customer_id == "C-1" and dialer.stats.outcomes == {"busy": 1, "completed": 1, "voicemail": 1}


def _finished_call(store, call_id, customer, outcome, score=None, resolved=None, opt_out=False, topic_phone="+525512345678"):
    store.start_call(call_id, customer, topic_phone, "outbound")
    if score is not None:
        store.record_answer(call_id, "score", score)
    if resolved is not None:
        store.record_answer(call_id, "resolved", resolved)
    if opt_out:
        store.record_answer(call_id, "opt_out", True)
    store.finish_call(call_id, outcome, 60000)


def test_report_kpis_csv_png_and_html(campaign_db, tmp_path, db_location):
    _finished_call(campaign_db, "a1", "C-1", "completed", 5, True)
    _finished_call(campaign_db, "a2", "C-2", "voicemail")
    _finished_call(campaign_db, "a3", "C-2", "completed", 2, False)
    _finished_call(campaign_db, "a4", "C-6", "no_answer")
    _finished_call(campaign_db, "a5", "C-5", "opt_out", opt_out=True)
    report = kpis.compute(campaign_db)
    overall = report["overall"]
    assert overall["customers_called"] == 4 and overall["calls"] == 5
    assert overall["contact_rate"] == 0.75 and overall["completion_rate"] == 0.5
    assert overall["csat_average"] == 3.5 and overall["csat_top2_share"] == 0.5
    assert overall["resolution_rate"] == 0.5 and overall["voicemail_rate"] == 0.2
    assert overall["opt_out_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert set(report["by_topic"]) == {"internet", "telefonía", "(sin tema)"}
    out = cli("report", "--db", db_location, "--csv", str(tmp_path / "r.csv"), "--html", str(tmp_path / "r.html"),
              "--png", str(tmp_path / "r.png"))
    assert out.returncode == 0, out.stderr
    assert "contact_rate" in out.stdout and "75.0%" in out.stdout and "target ≥ 65.0%" in out.stdout
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = (tmp_path / "r.csv").read_text().splitlines()
    assert rows[0].startswith("call_id,day,customer_id") and len(rows) == 6
    page = (tmp_path / "r.html").read_text()
    assert "data:image/png;base64," in page and "http://" not in page and "https://" not in page
    assert "Tasa de contacto" in page and "contact_rate" not in page  # the supervisors' Spanish names
    assert render.text_table(report)


class CrmServer:
    """A real HTTP server on 127.0.0.1 that fails the first ``failures`` requests with 503."""

    def __init__(self, failures: int) -> None:
        self.failures, self.received = failures, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.failures > 0:
                    outer.failures -= 1
                    self.send_response(503)
                else:
                    outer.received.append((dict(self.headers), body))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/csat"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_webhooks_are_signed_retried_with_backoff_and_delivered_once(campaign_db):
    _finished_call(campaign_db, "w1", "C-1", "completed", 4, False)
    crm = CrmServer(failures=2)
    try:
        now = datetime.now(UTC)
        first = deliver_due(campaign_db, crm.url, "s3cret", now)
        assert first.failed and first.failed[0][1] == "HTTP 503" and first.pending == 1
        assert deliver_due(campaign_db, crm.url, "s3cret", now + timedelta(seconds=10)).failed == []  # backing off
        second = deliver_due(campaign_db, crm.url, "s3cret", now + timedelta(seconds=31))
        assert second.failed
        third = deliver_due(campaign_db, crm.url, "s3cret", now + timedelta(seconds=31 + 61))
        assert third.delivered == ["call-w1"] and third.pending == 0
        assert deliver_due(campaign_db, crm.url, "s3cret", now + timedelta(hours=1)).delivered == []
    finally:
        crm.close()
    (headers, body), = crm.received
    payload = json.loads(body)
    assert payload["call_id"] == "w1" and payload["answers"]["score"] == 4 and payload["answers"]["resolved"] is False
    assert payload["customer"]["name"] == "Ana López"
    assert headers["Idempotency-Key"] == "call-w1"
    assert verify("s3cret", headers["X-Encuestador-Timestamp"], body, headers["X-Encuestador-Signature"],
                  now=int(headers["X-Encuestador-Timestamp"]))
    assert not verify("other", headers["X-Encuestador-Timestamp"], body, headers["X-Encuestador-Signature"],
                      now=int(headers["X-Encuestador-Timestamp"]))
    row = campaign_db.query("SELECT tries, last_error FROM outbox")[0]
    assert row == {"tries": 3, "last_error": None}


def test_two_dialers_on_one_database_never_claim_a_customer_twice(campaign_db, db_location):
    """Two processes' worth of connections race for the same customers: each is dialled once."""
    stores = [open_store(db_location) for _ in range(2)]
    claimed: list[str] = []
    start = threading.Barrier(2)

    def dialer(store):
        start.wait()
        for customer in ["C-1", "C-6"] * 10:
            if queue.claim(store, RULES, customer, WEDNESDAY_11_CDMX, None) is not None:
                claimed.append(customer)

    threads = [threading.Thread(target=dialer, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(claimed) == ["C-1", "C-6"]
    assert campaign_db.query("SELECT COUNT(*) AS n FROM attempts")[0]["n"] == 2
