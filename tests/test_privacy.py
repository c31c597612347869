"""Privacy of the stored data (issue 16): encryption at rest, key rotation, ARCO requests, secrets.

Real stores (SQLite and PostgreSQL), a real simulated call (faster-whisper + espeak-ng) and the
``encuestador`` command as an operator runs it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from encuestador.audio.wavio import read_wav
from encuestador.events import AnswerRecorded, Hangup, Heard, Say

FEEDBACK = "el técnico llegó muy tarde y fue grosero"


def encuestador(*args, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "encuestador", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONIOENCODING": "utf-8", **(env or {})}, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def new_key(path: Path) -> Path:
    proc = encuestador("keys", "new", "--out", path)
    assert path.stat().st_mode & 0o777 == 0o600 and "written" in proc.stdout
    return path


def config_with_key(path: Path, key: Path, **more) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({"encryption_key_file": str(key), **more}))
    return path


def raw_values(location: str, sql: str) -> list[tuple]:
    """Rows exactly as the database holds them (no decryption)."""
    if location.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(location) as conn:
            return [tuple(r) for r in conn.execute(sql).fetchall()]
    with sqlite3.connect(location) as conn:
        return conn.execute(sql).fetchall()


# -- a person's calls, written through the store API with a key ---------------------------------------
def make_person(store, folder: Path, call_id: str, customer_id: str, name: str, phone: str, score: int,
                opt_out: bool = False, corrected_from: int | None = None) -> str:
    """A finished call of one customer: answers (a corrected score leaves both in the history), feedback
    text, a ticket, an encrypted recording and event log beside it; the opted-out one on the DNC list."""
    from encuestador.privacy.files import EventLog, write_recording
    from encuestador.store import StoreSink

    store.upsert_customer(customer_id, name, phone, "internet lento")
    store.start_call(call_id, customer_id, phone, direction="outbound")
    sink = StoreSink(store, call_id, phone)
    rate = 16000
    t = np.arange(rate * 2) / rate
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 250 * t)], axis=1)
    recording = write_recording(folder / f"{call_id}.wav", stereo, rate, store.keyring)
    log = EventLog(folder / f"{call_id}.jsonl", store.keyring)
    log.handle(Say(0, "greeting", f"Buenos días, {name}."))
    log.handle(Heard(900, "feedback", FEEDBACK, "feedback", {}, 0.9, 200))
    log.handle(Hangup(1900, "completed"))
    log.close()
    sink.handle(AnswerRecorded(400, "consent", True, "sí"))
    if corrected_from is not None:
        sink.handle(AnswerRecorded(600, "score", corrected_from, f"{corrected_from}"))
    sink.handle(AnswerRecorded(700, "score", score, f"le doy un {score}"))
    sink.handle(AnswerRecorded(800, "resolved", False, "no, sigue igual"))
    sink.handle(AnswerRecorded(900, "feedback", FEEDBACK, FEEDBACK))
    sink.handle(AnswerRecorded(950, "feedback_analysis", {"topics": ["tiempo_de_espera"], "sentiment": "negative"}, ""))
    if opt_out:
        sink.handle(AnswerRecorded(1000, "opt_out", True, "ya no me llamen"))
    store.open_ticket(call_id, f"score {score}, not resolved")
    sink.finish("completed", 1900, str(recording))
    return call_id


@pytest.fixture
def keyed(db_location, tmp_path):
    """A store on both backends with two people's calls encrypted under a fresh key, and its config."""
    from encuestador.store import open_store

    key = new_key(tmp_path / "clave.key")
    config = config_with_key(tmp_path / "encuestador.yaml", key, recordings_dir=str(tmp_path / "grabaciones"))
    folder = tmp_path / "grabaciones" / "2026-07-15"
    store = open_store(db_location, key_file=key)
    make_person(store, folder, "llamada-1", "C-7", "Rosa Méndez", "+525511112222", 2, corrected_from=5)
    make_person(store, folder, "llamada-2", "C-8", "Juan Pérez", "+525533334444", 5, opt_out=True)
    store.close()
    return db_location, config, folder


def report(db: str, key: Path) -> dict:
    out = json.loads(encuestador("report", "--db", db, "--json", env={"ENCUESTADOR_KEY_FILE": str(key)}).stdout)
    return {k: out[k] for k in ("overall", "feedback", "by_topic")}


# -- encryption at rest ----------------------------------------------------------------------------
def test_values_are_encrypted_in_the_database_and_read_back_with_the_key(keyed, tmp_path):
    db, config, folder = keyed
    for score, feedback in raw_values(db, "SELECT score, feedback FROM calls"):
        assert str(score).startswith("enc1:") and feedback.startswith("enc1:")
    texts = raw_values(db, "SELECT value, text FROM answers")
    assert texts and all(v.startswith("enc1:") for v, _ in texts)
    assert not any(FEEDBACK in str(row) or "sigue igual" in str(row) for row in texts)
    assert all(r[0].startswith("enc1:") for r in raw_values(db, "SELECT payload FROM outbox"))
    assert all(r[0].startswith("enc1:") for r in raw_values(db, "SELECT reason FROM tickets"))
    nonces = {v.split(":")[2][:16] for v, _ in texts}
    assert len(nonces) == len(texts)                          # every value its own nonce
    key = tmp_path / "clave.key"
    calls = json.loads(encuestador("calls", "--db", db, "--json", env={"ENCUESTADOR_KEY_FILE": str(key)}).stdout)
    assert sorted(c["score"] for c in calls) == [2, 5] and {c["feedback"] for c in calls} == {FEEDBACK}
    kpis = report(db, key)["overall"]
    assert kpis["csat_average"] == 3.5 and kpis["customers_called"] == 2
    without = encuestador("report", "--db", db, "--json", check=False, env={"ENCUESTADOR_KEY_FILE": ""})
    assert without.returncode == 2 and "encrypted" in without.stderr and len(without.stderr.strip().splitlines()) == 1
    recording = folder / "llamada-1.wav"
    assert recording.read_bytes()[:4] != b"RIFF" and recording.stat().st_mode & 0o777 == 0o600
    assert all(line.startswith("enc1:") for line in (folder / "llamada-1.jsonl").read_text().splitlines())


def test_webhook_payload_is_sent_decrypted(keyed, tmp_path):
    from encuestador.store import open_store

    db, _, _ = keyed
    store = open_store(db, key_file=tmp_path / "clave.key")
    payload = json.loads(store.query("SELECT payload FROM outbox WHERE call_id = 'llamada-1'")[0]["payload"])
    assert payload["answers"]["score"] == 2 and payload["answers"]["feedback"] == FEEDBACK
    store.close()


def test_recording_of_a_simulated_call_is_encrypted_and_exported_sample_for_sample(runtime, wavs, load_wav,
                                                                                  db_location, tmp_path):
    """A real simulated call (Whisper + espeak) stored with a key: the recording is ciphertext, and
    ``recordings export`` gives back the very samples of the conversation, before and after ``keys rotate``."""
    from encuestador.dialogue.survey import CustomerContext
    from encuestador.simulate import run_call, write_outputs
    from encuestador.store import StoreSink, open_store

    key = new_key(tmp_path / "k1.key")
    config = config_with_key(tmp_path / "c1.yaml", key, recordings_dir=str(tmp_path / "none"))
    store = open_store(db_location, key_file=key)
    store.start_call("sim-1", "C-1", "+525512345678", direction="simulated")
    sink = StoreSink(store, "sim-1", "+525512345678")
    customer = CustomerContext(company="Telecom del Norte", name="Ana López", customer_id="C-1")
    call = run_call(runtime, customer, [load_wav(wavs[k]) for k in ("ks_si", "k_cuatro", "ks_no_sigue_igual")],
                    sinks=[sink], call_id="sim-1")
    out = tmp_path / "llamada"
    write_outputs(call, customer, out, store.keyring)
    sink.finish(call.result.outcome, call.session.now_ms, str((out / "conversation.wav").resolve()))
    store.close()
    assert call.result.score == 4
    assert (out / "conversation.wav").read_bytes()[:4] != b"RIFF"
    assert (out / "result.json").read_bytes()[:4] == b"ENCU"
    assert raw_values(db_location, "SELECT score FROM calls")[0][0] != 4
    expected = call.session.conversation()

    def exported(config_file: Path, name: str) -> np.ndarray:
        """The exported WAV's int16 samples, one column per channel."""
        import wave

        encuestador("recordings", "export", "sim-1", "--db", db_location, "--config", config_file,
                    "--out", tmp_path / name)
        with wave.open(str(tmp_path / name)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 2, 2)
            return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)

    assert np.array_equal(exported(config, "a.wav"), expected)   # the same samples, bit for bit
    assert np.abs(expected[:, 1]).max() > 1000                     # the caller's answers are in it

    new = new_key(tmp_path / "k2.key")
    proc = encuestador("keys", "rotate", "--db", db_location, "--config", config, "--new-key", new)
    assert "re-encrypted" in proc.stdout and "3 file(s)" in proc.stdout   # recording, event log, result.json
    new_config = config_with_key(tmp_path / "c2.yaml", new)
    assert np.array_equal(exported(new_config, "b.wav"), expected)
    stale = encuestador("recordings", "export", "sim-1", "--db", db_location, "--config", config, "--out",
                        tmp_path / "c.wav", check=False)
    assert stale.returncode == 2 and "not the configured key" in stale.stderr
    from encuestador.privacy.crypto import key_id, read_key

    new_id = key_id(read_key(new))
    sealed = [v for row in raw_values(db_location, "SELECT score, feedback FROM calls") for v in row if v]
    sealed += [v for row in raw_values(db_location, "SELECT value, text FROM answers") for v in row if v]
    assert sealed and all(v.startswith(f"enc1:{new_id}:") for v in sealed)


def test_rotate_encrypts_data_stored_in_the_clear(tmp_path):
    from encuestador.store import open_store

    db = str(tmp_path / "clear.db")
    store = open_store(db, key_file=None)
    store.start_call("c1", None, "+525500000000")
    store.record_answer("c1", "score", 3, "tres")
    store.finish_call("c1", "completed", 1000)
    store.close()
    assert raw_values(db, "SELECT score FROM calls") == [(3,)]
    key = new_key(tmp_path / "k.key")
    encuestador("keys", "rotate", "--db", db, "--new-key", key, env={"ENCUESTADOR_KEY_FILE": ""})
    assert raw_values(db, "SELECT score FROM calls")[0][0].startswith("enc1:")
    assert report(db, key)["overall"]["csat_average"] == 3.0


def test_bad_key_files_are_refused_in_one_line(tmp_path):
    key = new_key(tmp_path / "k.key")
    again = encuestador("keys", "new", "--out", key, check=False)
    assert again.returncode == 2 and "already exists" in again.stderr
    key.chmod(0o644)
    loose = encuestador("calls", "--db", tmp_path / "x.db", check=False, env={"ENCUESTADOR_KEY_FILE": str(key)})
    assert loose.returncode == 2 and "chmod 600" in loose.stderr and key.read_text().strip() not in loose.stderr
    bad = tmp_path / "bad.key"
    bad.write_text("no es una clave\n")
    bad.chmod(0o600)
    wrong = encuestador("calls", "--db", tmp_path / "x.db", check=False, env={"ENCUESTADOR_KEY_FILE": str(bad)})
    assert wrong.returncode == 2 and "not an encuestador key" in wrong.stderr


# -- ARCO ----------------------------------------------------------------------------------------------
def test_privacy_export_holds_every_stored_answer_and_the_recordings(keyed, tmp_path):
    db, config, _ = keyed
    out = tmp_path / "arco"
    encuestador("privacy", "export", "--db", db, "--config", config, "--customer", "C-7", "--out", out, "--by", "dpo")
    data = json.loads((out / "datos.json").read_text())
    assert [c["name"] for c in data["customers"]] == ["Rosa Méndez"]
    answers = [(a["question"], a["value"], a["text"]) for a in data["answer_history"]]
    assert ("score", 5, "5") in answers and ("score", 2, "le doy un 2") in answers   # the corrected one too
    assert ("feedback", FEEDBACK, FEEDBACK) in answers and len(answers) == 6
    assert data["calls"][0]["score"] == 2 and data["tickets"][0]["reason"] == "score 2, not resolved"
    wav = out / "grabaciones" / "llamada-1.wav"
    assert wav.read_bytes()[:4] == b"RIFF" and read_wav(wav, rate=None)[1] == 16000
    events = [json.loads(line) for line in (out / "eventos" / "llamada-1.jsonl").read_text().splitlines()]
    assert events[0]["text"] == "Buenos días, Rosa Méndez."
    by_phone = tmp_path / "arco2"
    encuestador("privacy", "export", "--db", db, "--config", config, "--phone", "55 3333 4444", "--out", by_phone)
    assert json.loads((by_phone / "datos.json").read_text())["do_not_call"][0]["phone"] == "+525533334444"
    audit = raw_values(db, "SELECT actor, action, subject FROM privacy_audit ORDER BY id")
    assert audit[0] == ("dpo", "export", "customer C-7") and audit[1][1:] == ("export", "phone +5255••••4444")


def test_privacy_delete_removes_the_person_and_keeps_the_counts(keyed, tmp_path):
    db, config, folder = keyed
    key = tmp_path / "clave.key"
    before = report(db, key)
    for person in ("C-7", "C-8"):
        proc = encuestador("privacy", "delete", "--db", db, "--config", config, "--customer", person, "--by", "dpo")
        assert "deleted the personal data" in proc.stdout
    assert report(db, key) == before                                   # anonymous counts unchanged
    assert not list(folder.iterdir())                                  # recordings and event logs gone
    from encuestador.store import open_store

    store = open_store(db, key_file=key)
    held = json.dumps([store.query(f"SELECT * FROM {t}") for t in ("customers", "calls", "answers", "tickets",
                                                                   "attempts", "outbox")], ensure_ascii=False)
    for personal in ("Rosa", "Juan", "5511112222", "le doy un", "sigue igual", FEEDBACK, "C-7", "C-8", ".wav"):
        assert personal not in held, personal
    assert sorted(r["score"] for r in store.query("SELECT score FROM calls")) == [2, 5]
    assert [r["phone"] for r in store.query("SELECT phone FROM dnc")] == ["+525533334444"]  # only who opted out
    audit = store.query("SELECT actor, action, subject FROM privacy_audit WHERE action = 'delete' ORDER BY id")
    assert [(a["actor"], a["subject"]) for a in audit] == [("dpo", "customer C-7"), ("dpo", "customer C-8")]
    store.close()
    gone = encuestador("privacy", "export", "--db", db, "--config", config, "--customer", "C-7", "--out",
                       tmp_path / "x", check=False)
    assert gone.returncode == 2 and "nothing is held" in gone.stderr


def test_privacy_correct_changes_the_record_and_audits_the_fields(keyed, tmp_path):
    db, config, _ = keyed
    encuestador("privacy", "correct", "--db", db, "--config", config, "--customer", "C-7", "--name", "Rosa Méndez Ruiz",
                "--new-phone", "+525599998888")
    row = raw_values(db, "SELECT name, phone FROM customers WHERE customer_id = 'C-7'")[0]
    assert row == ("Rosa Méndez Ruiz", "+525599998888")
    assert raw_values(db, "SELECT phone FROM calls WHERE call_id = 'llamada-1'")[0][0] == "+525599998888"
    detail = json.loads(raw_values(db, "SELECT detail FROM privacy_audit")[0][0])
    assert detail["fields"] == ["name", "phone"] and "Ruiz" not in json.dumps(detail)
    nothing = encuestador("privacy", "correct", "--db", db, "--config", config, "--customer", "C-7", check=False)
    assert nothing.returncode == 2 and "nothing to correct" in nothing.stderr


# -- secrets ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("secrets_yaml", [
    "trunk:\n  proxy: sip:127.0.0.1:5070\n  password: Tr0nco-Secreto\n",
    "webhook_url: https://crm.example.mx/hook\nwebhook_secret: Tr0nco-Secreto\n",
])
def test_config_with_secrets_readable_by_others_is_refused(tmp_path, secrets_yaml):
    config = tmp_path / "encuestador.yaml"
    config.write_text(secrets_yaml)
    config.chmod(0o644)
    for command in (["serve", "--db", tmp_path / "x.db"], ["recordings", "export", "x", "--db", tmp_path / "x.db",
                                                           "--out", tmp_path / "x.wav"]):
        proc = encuestador(*command, "--config", config, check=False)
        assert proc.returncode == 2, proc.stderr
        assert "readable by others" in proc.stderr and "chmod 600" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Tr0nco-Secreto" not in proc.stderr + proc.stdout


def test_a_malformed_secret_is_not_quoted_in_the_error(tmp_path):
    config = tmp_path / "encuestador.yaml"
    config.write_text("trunk:\n  password: 918273645\nwebhook_secret: [847362]\n")
    config.chmod(0o600)
    proc = encuestador("serve", "--db", tmp_path / "x.db", "--config", config, check=False)
    assert proc.returncode == 2 and "trunk.password" in proc.stderr and "webhook_secret" in proc.stderr
    assert "918273645" not in proc.stderr and "847362" not in proc.stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_start_up_says_clear_storage_once_and_prints_no_secret(server, tmp_path, workers):
    srv = server(workers=workers,
                 trunk={"proxy": "sip:127.0.0.1:5999", "username": "encuestador", "password": "Tr0nco-Secreto"},
                 webhook_url="http://127.0.0.1:9/hook", webhook_secret="Firma-Secreta")
    if workers > 1:
        srv.wait_for("listening", count=workers)
    log = srv.log()
    assert log.count("stored in the clear") == 1
    assert "Tr0nco-Secreto" not in log and "Firma-Secreta" not in log


def test_serve_with_a_key_says_nothing_about_clear_storage(server, tmp_path):
    key = new_key(tmp_path / "k.key")
    srv = server(encryption_key_file=str(key))
    assert "stored in the clear" not in srv.log() and key.read_text().strip() not in srv.log()


# -- the console ----------------------------------------------------------------------------------------
def test_recording_ranges_served_from_memory():
    from encuestador.console.media import wav_response

    data = bytes(range(200))
    whole = wav_response(data, "")
    assert whole.status_code == 200 and whole.body == data and whole.headers["accept-ranges"] == "bytes"
    part = wav_response(data, "bytes=10-19")
    assert part.status_code == 206 and part.body == data[10:20] and part.headers["content-range"] == "bytes 10-19/200"
    assert wav_response(data, "bytes=-5").body == data[-5:] and wav_response(data, "bytes=190-").body == data[190:]
    assert wav_response(data, "bytes=150-999").headers["content-range"] == "bytes 150-199/200"
    outside = wav_response(data, "bytes=300-")
    assert outside.status_code == 416 and outside.headers["content-range"] == "bytes */200"
    assert wav_response(data, "bytes=0-1,5-9").status_code == 200      # several ranges: the whole file


def test_console_decrypts_recordings_with_ranges_and_event_logs(tmp_path, monkeypatch):
    from test_console import PASSWORD, Console, logged_in, request, start_console, stop

    from encuestador.console.accounts import add_user
    from encuestador.console.schema import ensure_tables
    from encuestador.privacy.crypto import load_keyring
    from encuestador.store import open_store

    key = new_key(tmp_path / "clave.key")
    db, folder = str(tmp_path / "consola.db"), tmp_path / "grabaciones"
    store = open_store(db, key_file=key)
    ensure_tables(store)
    add_user(store, "sofia", "supervisor", PASSWORD)
    make_person(store, folder, "llamada-1", "C-7", "Rosa Méndez", "+525511112222", 2)
    store.close()
    plain = load_keyring(key).open_bytes((folder / "llamada-1.wav").read_bytes())
    monkeypatch.setenv("ENCUESTADOR_KEY_FILE", str(key))
    proc, url = start_console(db)
    try:
        opener = logged_in(Console(url, db, folder, "", ""), "sofia")
        status, headers, body = request(f"{url}/llamadas/llamada-1/grabacion", headers={"Range": "bytes=0-99"},
                                        opener=opener)
        assert status == 206 and body == plain[:100] and headers["content-range"] == f"bytes 0-99/{len(plain)}"
        status, _, body = request(f"{url}/llamadas/llamada-1/grabacion", opener=opener)
        assert status == 200 and body == plain
        status, _, page = request(f"{url}/llamadas/llamada-1", opener=opener)
        assert status == 200 and "Buenos días, Rosa Méndez." in page.decode() and "enc1:" not in page.decode()
    finally:
        stop(proc)


# -- a real SIP call ------------------------------------------------------------------------------------
@pytest.mark.skipif(__import__("shutil").which("sipp") is None, reason="SIPp (Debian sip-tester) is not installed")
def test_sipp_call_is_recorded_encrypted_and_exported(server, tmp_path):
    import wave

    from sip_harness import call_server, caller_scenario, callers_csv

    from encuestador.store import Store

    key = new_key(tmp_path / "clave.key")
    srv = server(encryption_key_file=str(key))
    store = Store(srv.db)
    store.upsert_customer("C-1", "Ana López", "+525512345678", topic="su internet")
    store.close()
    call_server(srv, caller_scenario(tmp_path, "142"), callers_csv(tmp_path, [("+525512345678", "C-1")]))
    srv.wait_for("ended:")
    [(call_id, score, recording)] = raw_values(str(srv.db), "SELECT call_id, score, recording_path FROM calls")
    assert str(score).startswith("enc1:") and Path(recording).read_bytes()[:4] != b"RIFF"
    log = Path(recording).with_suffix(".jsonl").read_text()
    assert "Ana López" not in log and all(line.startswith("enc1:") for line in log.splitlines())
    config = config_with_key(tmp_path / "export.yaml", key)
    encuestador("recordings", "export", call_id, "--db", srv.db, "--config", config, "--out", tmp_path / "x.wav")
    with wave.open(str(tmp_path / "x.wav")) as w:
        assert (w.getframerate(), w.getnchannels()) == (16000, 2) and w.getnframes() > 16000 * 5
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert np.abs(samples[:, 0]).max() > 1000                      # the agent's prompts are there
    calls = json.loads(encuestador("calls", "--db", srv.db, "--json", env={"ENCUESTADOR_KEY_FILE": str(key)}).stdout)
    assert calls[0]["score"] == 4 and any(a["question"] == "score" and a["value"] == 4 for a in calls[0]["answers"])


def test_console_admin_answers_arco_requests_and_others_cannot(keyed, tmp_path, monkeypatch):
    import io
    import re
    import urllib.error
    import urllib.parse
    import urllib.request
    import zipfile

    from test_console import PASSWORD, Console, logged_in, request, start_console, stop

    from encuestador.console.accounts import add_user
    from encuestador.console.schema import ensure_tables
    from encuestador.store import open_store

    db, _, folder = keyed
    key = tmp_path / "clave.key"
    store = open_store(db, key_file=key)
    ensure_tables(store)
    add_user(store, "admin", "admin", PASSWORD)
    add_user(store, "sofia", "supervisor", PASSWORD)
    store.close()
    before = report(db, key)
    monkeypatch.setenv("ENCUESTADOR_KEY_FILE", str(key))
    proc, url = start_console(db)
    try:
        assert request(f"{url}/privacidad", opener=logged_in(Console(url, db, folder, "", ""), "sofia"))[0] == 403
        admin = logged_in(Console(url, db, folder, "", ""), "admin")
        status, _, page = request(f"{url}/privacidad", opener=admin)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.decode()).group(1)

        def post(action: str, **fields) -> tuple[int, dict, bytes]:
            body = urllib.parse.urlencode({"csrf": csrf, **fields}).encode()
            req = urllib.request.Request(f"{url}/privacidad/{action}", data=body, method="POST")
            try:
                with admin.open(req, timeout=20) as response:
                    return response.status, dict(response.headers), response.read()
            except urllib.error.HTTPError as e:
                return e.code, dict(e.headers), e.read()

        status, headers, body = post("exportar", cliente="C-7")
        assert status == 200 and headers["content-type"] == "application/zip"
        bundle = zipfile.ZipFile(io.BytesIO(body))
        assert {"datos.json", "grabaciones/llamada-1.wav", "eventos/llamada-1.jsonl"} <= set(bundle.namelist())
        assert bundle.read("grabaciones/llamada-1.wav")[:4] == b"RIFF"
        assert len(json.loads(bundle.read("datos.json"))["answer_history"]) == 6
        post("borrar", telefono="55 1111 2222", confirmar="no")           # not confirmed: nothing deleted
        assert (folder / "llamada-1.wav").exists()
        status, _, page = post("borrar", telefono="55 1111 2222", confirmar="BORRAR")
        assert status == 200 and "borrados" in page.decode()
        assert not (folder / "llamada-1.wav").exists()
    finally:
        stop(proc)
    assert report(db, key) == before
    actions = raw_values(db, "SELECT actor, action FROM privacy_audit ORDER BY id")
    assert actions == [("admin", "export"), ("admin", "delete")]
