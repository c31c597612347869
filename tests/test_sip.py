"""Real phone calls: the pjsua2 agent (``encuestador serve`` / ``call``) against SIPp on 127.0.0.1."""

from __future__ import annotations

import shutil
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

from sip_harness import (PJSUA_TELEPHONE_EVENT_PT, bueno_greeting, call_server, caller_scenario, callers_csv,
                         free_port, key_presses, self_signed, template)

pytestmark = pytest.mark.skipif(shutil.which("sipp") is None, reason="SIPp (Debian sip-tester) is not installed")


def rows(db, sql="SELECT call_id, customer_id, phone, consent, score, resolved, outcome, recording_path FROM calls"):
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    return [dict(r) for r in conn.execute(sql)]


@pytest.mark.parametrize("mode", ["rfc4733", "info", "inband"])
def test_keypad_answers_are_stored(server, tmp_path, mode):
    from encuestador.store import Store

    srv = server()
    store = Store(srv.db)
    store.upsert_customer("C-1", "Ana López", "+525512345678", topic="su internet")
    store.close()
    call_server(srv, caller_scenario(tmp_path, "142", mode), callers_csv(tmp_path, [("+525512345678", "C-1")]))
    srv.wait_for("ended:")
    [call] = rows(srv.db)
    assert (call["consent"], call["score"], call["resolved"]) == (1, 4, 0), srv.log()[-2000:]
    assert call["customer_id"] == "C-1" and call["outcome"] == "hung_up"  # BYE mid-survey keeps every answer
    log = (srv.recordings.glob("*/*.jsonl")).__next__().read_text()
    assert "Buenos días, Ana López" in log or "Buenas tardes, Ana López" in log or "Buenas noches, Ana López" in log
    from encuestador.audio.wavio import read_wav

    audio, rate = read_wav(call["recording_path"], rate=None)
    assert rate == 16000 and len(audio) > 16000 * 5


def test_speaking_caller_is_understood(server, tmp_path, wavs):
    """The caller's voice streamed as PCMU RTP (SIPp rtp_stream): barge-in, VAD, ASR, dialogue."""
    from encuestador.audio import g711
    from encuestador.audio.wavio import read_wav
    import numpy as np

    srv = server()
    presses = []
    for i, name in enumerate(("ks_si", "k_cuatro")):  # Kokoro voices: Whisper hears espeak-ng's «sí» as «C»
        audio, _ = read_wav(wavs[name], rate=8000)
        ul = tmp_path / f"{name}.ul"
        ul.write_bytes(g711.mulaw_encode(np.clip(audio * 32767, -32768, 32767).astype(np.int16)).tobytes())
        presses.append(f'  <pause milliseconds="{3000 if i == 0 else 6000}"/>\n'
                       f'  <nop><action><exec rtp_stream="{ul},1,0"/></action></nop>')
    scenario = tmp_path / "uac_speech.xml"
    scenario.write_text(template("uac_keys.xml", payload_types="0", telephone_event="", presses="\n".join(presses),
                                 hold_ms=5000))
    call_server(srv, scenario, callers_csv(tmp_path, [("+525511112222", "")]))
    srv.wait_for("ended:")
    [call] = rows(srv.db)
    assert (call["consent"], call["score"]) == (1, 4), srv.log()[-3000:]


def _outbound(tmp_path, srv_config: dict, keys: str, ending: str, whisper_dir,
              presses: str | None = None) -> tuple[subprocess.CompletedProcess, subprocess.Popen, str]:
    """``encuestador call`` to a SIPp UAS (the customer's phone behind the trunk). The UAS answers
    with "¿Bueno?" (so the agent's answering-machine detection hears a person), then ``presses``."""
    import yaml

    uas_port, media = free_port(), free_port()
    if presses is None:
        presses = bueno_greeting(tmp_path) + "\n" + key_presses(tmp_path, keys, payload_type=PJSUA_TELEPHONE_EVENT_PT,
                                                     first_ms=2500)
    scenario = tmp_path / "uas.xml"
    scenario.write_text(template("uas_survey.xml", te_pt=PJSUA_TELEPHONE_EVENT_PT, ending=ending, presses=presses))
    uas = subprocess.Popen(["sipp", "-sf", str(scenario), "-m", "1", "-i", "127.0.0.1", "-p", str(uas_port),
                            "-mi", "127.0.0.1", "-mp", str(media), "-nostdin", "-trace_err", "-timeout", "120s",
                            "-timeout_error"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.5)
    config = tmp_path / "call.yaml"
    config.write_text(yaml.safe_dump({"recordings_dir": str(tmp_path / "rec"),
                                      "trunk": {"proxy": f"sip:127.0.0.1:{uas_port}", "caller_id": "+525550001111"},
                                      **srv_config}))
    from encuestador.store import Store

    db = tmp_path / "out.db"
    Store(db).upsert_customer("C-9", "Luis Pérez", "+525533334444")
    call = subprocess.run([sys.executable, "-m", "encuestador", "call", "+525533334444", "--customer", "C-9",
                           "--listen", f"127.0.0.1:{free_port()}", "--db", str(db), "--config", str(config),
                           "--whisper-model", str(whisper_dir), "--tts", "espeak"],
                          capture_output=True, text=True, timeout=180)
    uas_out, _ = uas.communicate(timeout=60)
    return call, uas, uas_out


def test_outbound_call_to_voicemail_leaves_the_message(tmp_path, whisper_dir):
    """The customer's line answers with a voicemail greeting and a beep (PCMU from a pcap)."""
    import numpy as np

    from encuestador.audio.phoneline import phone_line
    from encuestador.audio.tones import sine
    from encuestador.speak.tts import EspeakSynthesizer
    from rtp_pcap import pcmu_stream

    text = "Hola, habla Juan. En este momento no puedo contestar, deja tu mensaje y te llamo."
    speech = EspeakSynthesizer().synthesize(text)
    greeting = phone_line(np.concatenate([np.zeros(4000, np.float32), speech, np.zeros(4000, np.float32),
                                          sine(1000, 400, amplitude=0.3)]), 16000, snr_db=30, out_rate=8000)
    pcap = pcmu_stream(tmp_path / "voicemail.pcap", greeting)
    presses = f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>'
    call, uas, uas_out = _outbound(tmp_path, {"callback_number": "55 1234 5678"}, "", template("uas_end_bye.xml"),
                                   whisper_dir, presses=presses)
    assert uas.returncode == 0, uas_out[-3000:] + call.stdout[-3000:]
    import json

    summary = json.loads(call.stdout.strip().splitlines()[-1])
    assert summary["outcome"] == "voicemail", call.stdout[-2000:]
    log = next((tmp_path / "rec").glob("*/*.jsonl")).read_text()
    assert '"verdict": "machine"' in log and "55 1234 5678" in log


def test_outbound_call_completes(tmp_path, whisper_dir):
    call, uas, uas_out = _outbound(tmp_path, {}, "151#", template("uas_end_bye.xml"), whisper_dir)
    assert call.returncode == 0, call.stdout[-3000:] + call.stderr[-3000:]
    assert uas.returncode == 0, uas_out[-3000:]
    import json

    summary = json.loads(call.stdout.strip().splitlines()[-1])
    assert (summary["consent"], summary["score"], summary["resolved"], summary["outcome"]) == (1, 5, 1, "completed")


def test_low_score_transfers_by_refer(tmp_path, whisper_dir):
    ending = template("uas_end_refer.xml", refer_status="202 Accepted", after_refer=template("uas_notify_ok.xml"))
    call, uas, uas_out = _outbound(tmp_path, {"transfer_uri": "sip:asesores@127.0.0.1"}, "112#1", ending, whisper_dir)
    assert uas.returncode == 0, uas_out[-3000:] + call.stdout[-3000:]
    import json

    summary = json.loads(call.stdout.strip().splitlines()[-1])
    assert (summary["score"], summary["outcome"]) == (1, "transferred"), call.stdout[-2000:]
    assert "transferred to sip:asesores@127.0.0.1" in call.stdout


def test_refused_transfer_opens_a_ticket(tmp_path, whisper_dir):
    ending = template("uas_end_refer.xml", refer_status="403 Forbidden", after_refer="")
    call, uas, uas_out = _outbound(tmp_path, {"transfer_uri": "sip:asesores@127.0.0.1"}, "112#1", ending, whisper_dir)
    assert uas.returncode == 0, uas_out[-3000:] + call.stdout[-3000:]
    conn = sqlite3.connect(tmp_path / "out.db")
    outcome, ticket, transferred = conn.execute("SELECT outcome, ticket, transferred FROM calls").fetchone()
    assert (outcome, ticket, transferred) == ("transfer_failed", 1, 0), call.stdout[-2000:]
    assert conn.execute("SELECT reason FROM tickets").fetchone()[0].startswith("transfer failed")


def test_one_endpoint_takes_four_calls_and_says_busy_beyond(server, tmp_path):
    """This pjsua2 wheel is built with PJSUA_MAX_CALLS = 4: a fifth call gets 486, cleanly. (One source
    may hold every slot only when configured so, as for a trusted trunk; see test_sip_edge.)"""
    srv = server(source_max_calls=4)
    csv = callers_csv(tmp_path, [(f"+52552000{i:04d}", "") for i in range(5)])
    proc = call_server(srv, caller_scenario(tmp_path, "152"), csv, calls=5, rate=20, check=False)
    assert "486 Busy Here" in "".join(p.read_text() for p in tmp_path.glob("*errors.log")), proc.stdout[-1500:]
    srv.wait_for("ended:", count=4, timeout=60)
    assert sum(1 for c in rows(srv.db) if c["score"] == 5) == 4


def test_ten_concurrent_calls_over_three_workers(server, tmp_path):
    srv = server(workers=3)
    csv = callers_csv(tmp_path, [(f"+52551000{i:04d}", f"C-{i}") for i in range(10)])
    call_server(srv, caller_scenario(tmp_path, "152"), csv, calls=10, rate=10, timeout=120)
    srv.wait_for("ended:", count=10, timeout=60)
    calls = rows(srv.db)
    assert len(calls) == 10
    assert all((c["consent"], c["score"], c["resolved"]) == (1, 5, 0) for c in calls), calls
    assert {c["customer_id"] for c in calls} == {f"C-{i}" for i in range(10)}
    assert srv.log().count("listening on 127.0.0.1:") == 4  # three workers and the front


HOSTILE = [
    b"\x00\xff" * 200,
    b"INVITE sip:x SIP/2.0\r\n\r\n",
    b"INVITE sip:encuesta@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK1\r\n"
    b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: evil\r\nCSeq: x INVITE\r\nContent-Length: 99999\r\n\r\nv=0",
    b"OPTIONS sip:encuesta@127.0.0.1 SIP/2.0\r\n" + b"X-Long: " + b"A" * 60000 + b"\r\n\r\n",
    "BYE sip:ñ@127.0.0.1 SIP/2.0\r\nCall-ID: \udcff\r\n\r\n".encode("utf-8", "surrogateescape"),
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKnone\r\nCSeq: 1 INVITE\r\n\r\n",
]


def test_hostile_messages_do_not_disturb_a_call(server, tmp_path):
    import threading

    srv = server()
    done = {}

    def place():
        done["proc"] = call_server(srv, caller_scenario(tmp_path, "131"), callers_csv(tmp_path, [("+525544445555", "")]))

    caller = threading.Thread(target=place)
    caller.start()
    srv.wait_for("live calls: 1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for _ in range(20):
            for message in HOSTILE:
                udp.sendto(message[:65000], ("127.0.0.1", srv.port))
    for message in HOSTILE[1:4]:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=2) as tcp:
            tcp.sendall(message)
    caller.join(timeout=120)
    srv.wait_for("ended:")
    [call] = rows(srv.db)
    assert (call["consent"], call["score"], call["resolved"]) == (1, 3, 1)
    assert srv.proc.poll() is None


def test_silent_line_is_hung_up_after_rtp_timeout(server, tmp_path):
    srv = server(rtp_timeout_s=3)
    scenario = tmp_path / "uac_mute.xml"
    scenario.write_text(template("uac_keys.xml", payload_types="0", telephone_event="", presses="",
                                 hold_ms=60000).replace(
        '<pause milliseconds="60000"/>', '<recv request="BYE"/>\n  <send><![CDATA[\n      SIP/2.0 200 OK\n'
        '      [last_Via:]\n      [last_From:]\n      [last_To:]\n      [last_Call-ID:]\n      [last_CSeq:]\n'
        '      Content-Length: 0\n    ]]></send>\n  <pause milliseconds="500"/>', 1))
    text = scenario.read_text()
    bye_at = text.index("<send retrans=\"500\">\n    <![CDATA[\n      BYE")
    scenario.write_text(text[:bye_at] + "</scenario>\n")
    call_server(srv, scenario, callers_csv(tmp_path, [("+525566667777", "")]), timeout=60)
    srv.wait_for("ended:")
    assert rows(srv.db)[0]["outcome"] == "rtp_timeout"


def test_registers_to_the_trunk_with_digest_auth(server, tmp_path):
    registrar_port = free_port()
    scenario = tmp_path / "registrar.xml"
    scenario.write_text(template("registrar.xml"))
    registrar = subprocess.Popen(["sipp", "-sf", str(scenario), "-m", "1", "-i", "127.0.0.1", "-p", str(registrar_port),
                                  "-nostdin", "-trace_err", "-timeout", "30s", "-timeout_error"],
                                 cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.3)
    srv = server(trunk={"registrar": f"sip:127.0.0.1:{registrar_port}", "username": "encuestador",
                        "password": "s3creto", "realm": "trunk.example.mx"})
    out, _ = registrar.communicate(timeout=40)
    assert registrar.returncode == 0, out[-2000:]
    srv.wait_for("registration: 200")


def test_tls_listener_when_certificates_are_configured(server, tmp_path):
    import ssl

    cert, key = self_signed(tmp_path)
    tls_port = free_port()
    srv = server(tls_port=tls_port, tls_cert=str(cert), tls_key=str(key))
    assert f"TLS :{tls_port}" in srv.log()
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    with socket.create_connection(("127.0.0.1", tls_port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"OPTIONS sip:encuesta@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:1;branch=z9hG4bKtls1\r\n"
                        b"From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:encuesta@127.0.0.1>\r\nCall-ID: tls-probe\r\n"
                        b"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
            assert tls.recv(4096).startswith(b"SIP/2.0 ")


def test_inbound_call_rings_until_its_greeting_is_ready(server, tmp_path):
    """A known customer's call: 180 Ringing first (the greeting is synthesised meanwhile), then 200;
    SIPp fails the call if the 200 comes without the 180. The survey then runs to the end."""
    from encuestador.store import Store

    srv = server()
    store = Store(srv.db)
    store.upsert_customer("C-7", "Rosalía Quintero Ibarra", "+525577778888")
    store.close()
    scenario = caller_scenario(tmp_path, "152")
    text = scenario.read_text()
    assert text.count('<recv response="180" optional="true"/>') == 1
    scenario.write_text(text.replace('<recv response="180" optional="true"/>', '<recv response="180"/>'))
    call_server(srv, scenario, callers_csv(tmp_path, [("+525577778888", "C-7")]))
    srv.wait_for("ended:")
    [call] = rows(srv.db)
    assert (call["customer_id"], call["consent"], call["score"], call["resolved"]) == ("C-7", 1, 5, 0), srv.log()[-2000:]
    assert "answered before its greeting was ready" not in srv.log()
