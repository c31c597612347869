"""SQLite store: migrations, answers durable when heard (even if the process is killed), DNC, tickets."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

from encuestador.events import AnswerRecorded, TicketOpened, Transfer
from encuestador.store import Store, open_store
from encuestador.store.sqlite import MIGRATIONS, StoreSink


def test_migrations_are_applied_once(tmp_path):
    db = tmp_path / "s.db"
    Store(db).close()
    Store(db).close()
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_workers_starting_together_migrate_a_new_database_once(db_location):
    """`serve --workers N` opens one new database from N processes at the same moment."""
    script = textwrap.dedent(f"""
        import sys, time
        from encuestador.store import open_store
        time.sleep(max(0.0, float(sys.argv[1]) - time.time()))
        open_store({db_location!r}).close()
    """)
    start_at = str(time.time() + 2.0)
    workers = [subprocess.Popen([sys.executable, "-c", script, start_at], stderr=subprocess.PIPE, text=True)
               for _ in range(4)]
    errors = [w.communicate(timeout=60)[1] for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0, 0], errors
    store = open_store(db_location)
    versions = [r["version"] for r in store.query("SELECT version FROM schema_version ORDER BY version")]
    assert versions == list(range(1, len(MIGRATIONS) + 1))
    store.close()


def test_an_older_database_is_upgraded_in_place(tmp_path, monkeypatch):
    import encuestador.store.base as base_store

    db = tmp_path / "s.db"
    monkeypatch.setattr(base_store, "MIGRATIONS", MIGRATIONS[:1])
    old = Store(db)
    old.upsert_customer("C-1", "Ana", "+525512345678")
    old.close()
    monkeypatch.undo()
    store = Store(db)
    assert store.find_customer("C-1")["name"] == "Ana" and store.find_customer("C-1")["callback_at"] is None
    assert store.query("SELECT COUNT(*) AS n FROM attempts")[0]["n"] == 0


def test_answers_are_visible_to_another_connection_at_once(tmp_path):
    db = tmp_path / "s.db"
    store = Store(db)
    store.start_call("c1", "C-1", "+525512345678")
    sink = StoreSink(store, "c1", "+525512345678")
    sink.handle(AnswerRecorded(100, "score", 4, "cuatro", "voice"))
    other = sqlite3.connect(db)
    assert other.execute("SELECT score FROM calls WHERE call_id='c1'").fetchone() == (4,)
    assert other.execute("SELECT question, value FROM answers").fetchall() == [("score", "4")]


def test_opt_out_goes_on_the_dnc_list_and_ticket_and_transfer_are_kept(db_location):
    store = open_store(db_location)
    store.start_call("c1", None, "+525512345678")
    sink = StoreSink(store, "c1", "+525512345678")
    sink.handle(AnswerRecorded(1, "opt_out", True, "no me vuelvan a llamar", "voice"))
    sink.handle(TicketOpened(2, "score 1"))
    sink.handle(Transfer(3, "score 1"))
    sink.finish("opt_out", 12000, "/rec/c1.wav")
    assert store.is_dnc("+525512345678")
    call = store.call("c1")
    assert (call["opt_out"], call["ticket"], call["transferred"], call["outcome"]) == (1, 1, 1, "opt_out")
    assert call["recording_path"] == "/rec/c1.wav" and call["duration_ms"] == 12000


def test_customer_lookup_by_id_and_by_phone_suffix(db_location):
    store = open_store(db_location)
    store.upsert_customer("C-7", "Luis", "+52 55 1234 5678", topic="su factura")
    assert store.find_customer("C-7")["name"] == "Luis"
    assert store.find_customer(phone="5512345678")["customer_id"] == "C-7"
    assert store.find_customer(phone="sip:+525512345678")["customer_id"] == "C-7"
    assert store.find_customer("nope", "123") is None


def test_an_answer_survives_the_process_being_killed(db_location):
    db = db_location
    code = textwrap.dedent(f"""
        import os, sys, time
        from encuestador.store import StoreSink, open_store
        from encuestador.events import AnswerRecorded
        store = open_store({db!r})
        store.start_call("k1", None, None)
        StoreSink(store, "k1", None).handle(AnswerRecorded(5, "score", 2, "dos", "voice"))
        print("stored", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "stored"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert open_store(db).call("k1")["score"] == 2


def test_a_new_database_is_private_0600_in_0700_directories(tmp_path):
    db = tmp_path / "var" / "data" / "s.db"
    store = Store(db)
    store.start_call("c1", None, None)   # the WAL and shared-memory files exist now
    for path in (db, db.with_name("s.db-wal"), db.with_name("s.db-shm")):
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert db.parent.stat().st_mode & 0o777 == 0o700 and db.parent.parent.stat().st_mode & 0o777 == 0o700


def test_open_store_without_create_refuses_what_is_not_a_database(tmp_path):
    import pytest

    from encuestador.store import StoreError

    with pytest.raises(StoreError, match="no such database: "):
        open_store(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()
    (tmp_path / "notes.txt").write_text("hola")
    with pytest.raises(StoreError, match="is not an SQLite database"):
        open_store(tmp_path / "notes.txt", create=False)
    with pytest.raises(StoreError, match="is a directory"):
        open_store(tmp_path, create=False)


def test_a_call_records_the_process_that_owns_it(db_location):
    from encuestador.store.owner import current_owner

    store = open_store(db_location)
    store.start_call("c1", None, None)
    assert store.call("c1")["owner"] == current_owner() and current_owner().split("/")[2] == str(os.getpid())


def test_with_a_key_values_read_back_as_written_and_are_sealed_at_rest(db_location, tmp_path):
    """The same rows with and without a key, as the readers see them (an int score stays an int, also
    in PostgreSQL's text column); at rest only ciphertext, each value with its own nonce."""
    from encuestador.privacy.crypto import Keyring, is_sealed_value

    def write(store, call_id):
        store.start_call(call_id, "C-1", "+525512345678")
        store.record_answer(call_id, "score", 4, "cuatro")
        store.record_answer(call_id, "feedback", "muy amables", "muy amables")
        store.finish_call(call_id, "completed", 1000)

    clear = open_store(db_location)
    write(clear, "plain")
    clear.keyring = Keyring.of(os.urandom(32))
    write(clear, "sealed")
    rows = {c["call_id"]: c for c in clear.calls()}
    for key in ("score", "feedback", "answers"):
        assert rows["plain"][key] == rows["sealed"][key], key
    assert rows["sealed"]["score"] == 4 and rows["sealed"]["answers"][0]["value"] == 4
    raw = clear._rows("SELECT score, feedback FROM calls WHERE call_id = 'sealed'")[0]
    assert all(is_sealed_value(v) for v in raw.values()) and raw["score"] != raw["feedback"]
    clear.close()
