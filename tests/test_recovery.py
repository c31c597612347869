"""Crash recovery (issue 17): a call left open by a process killed with SIGKILL is finalised at the next
start-up — outcome 'interrupted', end time, recording, webhook owed, counted by the report — and its
customer, whose survey is complete, is not due again. Calls of live processes are never touched.
Real processes, real SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from encuestador.campaign import queue
from encuestador.campaign.rules import CallingRules
from encuestador.report import kpis
from encuestador.store import open_store
from encuestador.store.owner import current_owner, owner_alive
from encuestador.store.recovery import recover_abandoned_calls

UTC = timezone.utc
PHONE = "+525512345678"

CALLER = textwrap.dedent("""
    import sys, time
    from encuestador.events import AnswerRecorded
    from encuestador.store import StoreSink, open_store
    store = open_store(sys.argv[1])
    store.start_call(sys.argv[2], "C-1", "+525512345678", "inbound")
    sink = StoreSink(store, sys.argv[2], "+525512345678")
    for at_ms, question, value in ((900, "consent", True), (4200, "score", 4), (7100, "resolved", True)):
        sink.handle(AnswerRecorded(at_ms, question, value, str(value), "voice"))
    print("answered", flush=True)
    time.sleep(120)
""")


def start_caller(location: str, call_id: str) -> subprocess.Popen:
    """A process that opens a call, stores three answers the way the SIP agent does, then waits."""
    proc = subprocess.Popen([sys.executable, "-c", CALLER, location, call_id], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "answered"
    return proc


def kill_9(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


@pytest.fixture
def store(db_location):
    s = open_store(db_location)
    s.upsert_customer("C-1", "Ana López", PHONE, topic="internet")
    return s


def test_a_killed_calls_answers_are_finalised_counted_owed_and_not_dialled_again(store, db_location, tmp_path):
    recordings = tmp_path / "recordings"
    (recordings / "2026-07-15").mkdir(parents=True)
    wav = recordings / "2026-07-15" / "dead1.wav"
    wav.write_bytes(b"RIFF")
    proc = start_caller(db_location, "dead1")
    store.start_call("live1", None, "+525598765432")           # this process's own call: alive
    assert store.call("dead1")["ended_at"] is None
    assert kpis.compute(store)["overall"]["calls"] == 0        # the report skips open calls
    kill_9(proc)

    report = recover_abandoned_calls(store, recordings)

    assert [(c.call_id, c.answers) for c in report.calls] == [("dead1", 3)] and report.left_open == 1
    call = store.call("dead1")
    last_answer = max(r["recorded_at"] for r in store.query("SELECT recorded_at FROM answers WHERE call_id = 'dead1'"))
    assert call["outcome"] == "interrupted" and call["ended_at"] == last_answer
    assert call["recording_path"] == str(wav.resolve()) and call["duration_ms"] >= 0
    assert store.call("live1")["ended_at"] is None
    overall = kpis.compute(store)["overall"]
    assert (overall["calls"], overall["csat_average"], overall["completion_rate"], overall["contact_rate"]) == \
        (1, 4.0, 1.0, 1.0)
    owed = store.query("SELECT payload FROM outbox WHERE call_id = 'dead1' AND delivered_at IS NULL")
    payload = json.loads(owed[0]["payload"])
    assert payload["outcome"] == "interrupted" and payload["answers"]["score"] == 4
    # 'interrupted' is a retry outcome, but this customer answered everything: never due again.
    later = datetime.now(UTC) + timedelta(days=3)
    due = {c.customer_id: c.verdict for c in queue.candidates(store, CallingRules.load(), later)}
    assert not due["C-1"].due and due["C-1"].reason.startswith("survey complete")
    assert recover_abandoned_calls(store, recordings).calls == []   # once only


def test_a_live_workers_call_is_left_alone_until_that_worker_dies(store, db_location):
    other_worker = start_caller(db_location, "w2call")
    try:
        report = recover_abandoned_calls(store)
        assert report.calls == [] and report.left_open == 1
        assert store.call("w2call")["ended_at"] is None
    finally:
        kill_9(other_worker)
    assert [c.call_id for c in recover_abandoned_calls(store).calls] == ["w2call"]


def test_owner_of_this_process_is_alive_and_a_reaped_one_is_not():
    assert owner_alive(current_owner()) is True
    gone = subprocess.Popen([sys.executable, "-c", "from encuestador.store.owner import current_owner; "
                             "print(current_owner())"], stdout=subprocess.PIPE, text=True)
    owner = gone.communicate(timeout=30)[0].strip()
    assert owner_alive(owner) is False
    host, boot, pid, ticks = current_owner().split("/")
    assert owner_alive(f"{host}/{boot}/{pid}/{int(ticks) + 1}") is False     # the pid now belongs to another
    assert owner_alive(f"{host}/another-boot/{pid}/{ticks}") is False
    assert owner_alive(f"elsewhere.example/{boot}/{pid}/{ticks}") is None     # cannot tell from here
    assert owner_alive(None) is None


def test_calls_of_unknown_owners_wait_until_no_call_can_still_be_live(store):
    store.start_call("old", "C-1", PHONE, owner="pbx-2.example/x/123/456")    # another host
    store.start_call("legacy", "C-1", PHONE)
    store.execute("UPDATE calls SET owner = NULL WHERE call_id = 'legacy'")    # opened before owners existed
    assert recover_abandoned_calls(store, stale_after_s=900).calls == []
    in_an_hour = datetime.now(UTC) + timedelta(hours=1)
    recovered = recover_abandoned_calls(store, now=in_an_hour, stale_after_s=900)
    assert sorted(c.call_id for c in recovered.calls) == ["legacy", "old"]
    assert store.call("legacy")["ended_at"] == in_an_hour.isoformat(timespec="milliseconds")


def test_an_older_database_gets_the_owner_columns(db_location, monkeypatch):
    import encuestador.store.base as base_store

    monkeypatch.setattr(base_store, "MIGRATIONS", base_store.MIGRATIONS[:2])
    old = open_store(db_location)
    old._run("INSERT INTO calls (call_id, started_at) VALUES ('before', '2026-07-01T10:00:00.000+00:00')")
    old.close()
    monkeypatch.undo()
    store = open_store(db_location)
    assert store.call("before")["owner"] is None
    assert [c.call_id for c in recover_abandoned_calls(store, stale_after_s=900).calls] == ["before"]
    versions = [r["version"] for r in store.query("SELECT version FROM schema_version ORDER BY version")]
    assert versions == list(range(1, len(base_store.MIGRATIONS) + 1))


def test_serve_finalises_a_killed_processs_call_before_it_listens(tmp_path):
    """The real ``encuestador serve`` start-up after a SIGKILL: recovery is reported before the models
    load; then the report counts the call and the dialer would not call the customer again."""
    db = str(tmp_path / "calls.db")
    store = open_store(db)
    store.upsert_customer("C-1", "Ana López", PHONE)
    kill_9(start_caller(db, "k9call"))
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    serve = subprocess.Popen([sys.executable, "-m", "encuestador", "serve", "--db", db, "--listen", "127.0.0.1:0",
                              "--recordings", str(tmp_path / "rec")], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, env=env)
    try:
        lines = [serve.stdout.readline() for _ in range(3)]   # recovery is said before the models load
    finally:
        serve.kill()
        serve.wait(timeout=30)
    said = "call k9call left open by a process that died: closed as 'interrupted' (3 answer(s))\n"
    assert said in lines, lines
    report = subprocess.run([sys.executable, "-m", "encuestador", "report", "--db", db, "--json"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert json.loads(report.stdout)["overall"]["csat_average"] == 4.0
    due = subprocess.run([sys.executable, "-m", "encuestador", "campaign", "due", "--db", db, "--explain",
                          "--at", "2026-07-15T11:00-06:00"], capture_output=True, text=True, env=env, timeout=60)
    assert "survey complete" in due.stdout and "0 of 1 due" in due.stderr
    assert Path(db).stat().st_mode & 0o777 == 0o600


def test_serve_killed_mid_call_then_restarted_finalises_the_call(tmp_path, whisper_dir):
    """The issue's case end to end: a real SIPp call answers consent, score and 'resolved' on the keypad,
    ``serve`` is killed with SIGKILL, restarted on the same database: the call is finalised, counted by
    ``report``, its webhook owed, and the customer is not due again."""
    import threading

    from sip_harness import Server, call_server, caller_scenario, callers_csv

    first = Server(tmp_path, whisper_dir, {"retention_days": 30})
    store = open_store(first.db)
    store.upsert_customer("C-1", "Ana López", PHONE, topic="su internet")
    caller = threading.Thread(target=call_server, daemon=True, kwargs=dict(
        server=first, scenario=caller_scenario(tmp_path, "142", hold_ms=15000),
        csv=callers_csv(tmp_path, [(PHONE, "C-1")]), timeout=25, check=False))
    caller.start()
    deadline = time.monotonic() + 60
    while not store.query("SELECT 1 AS hit FROM calls WHERE resolved IS NOT NULL"):
        assert time.monotonic() < deadline and first.proc.poll() is None, first.log()[-2000:]
        time.sleep(0.2)
    kill_9(first.proc)
    [open_call] = store.query("SELECT call_id, ended_at FROM calls")
    assert open_call["ended_at"] is None

    second = Server(tmp_path, whisper_dir, {"retention_days": 30})
    try:
        assert f"call {open_call['call_id']} left open by a process that died: closed as 'interrupted'" in second.log()
    finally:
        assert second.stop() and second.proc.returncode == 0
    call = store.call(open_call["call_id"])
    assert (call["outcome"], call["consent"], call["score"], call["resolved"]) == ("interrupted", 1, 4, 0)
    assert call["ended_at"] >= max(a["recorded_at"] for a in store.query(
        "SELECT recorded_at FROM answers WHERE call_id = ?", (call["call_id"],)))
    assert store.query("SELECT COUNT(*) AS n FROM outbox WHERE call_id = ?", (call["call_id"],))[0]["n"] == 1
    report = subprocess.run([sys.executable, "-m", "encuestador", "report", "--db", str(first.db), "--json"],
                            capture_output=True, text=True, timeout=60)
    overall = json.loads(report.stdout)["overall"]
    assert (overall["calls"], overall["csat_average"], overall["resolution_rate"]) == (1, 4.0, 0.0)
    later = datetime.now(UTC) + timedelta(days=3)
    verdict = {c.customer_id: c.verdict for c in queue.candidates(store, CallingRules.load(), later)}["C-1"]
    assert not verdict.due and verdict.reason.startswith("survey complete")
    caller.join(timeout=60)
    written = [p for p in (tmp_path / "recordings").rglob("*")]
    assert written and all(p.stat().st_mode & 0o077 == 0 for p in written)   # event logs 0600 in 0700 dirs
