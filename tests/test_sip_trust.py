"""Who may call in and whose identity counts: ``sip_allow``, ``sip_auth`` (digest done by the agent),
SRTP; real SIPp callers on 127.0.0.1 (trusted) and 127.0.0.2 (a foreign source) against ``serve``."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from encuestador.sip.config import check_settings
from encuestador.sip.digest import DigestCredentials, DigestServer, expected_response, parse_authorization
from encuestador.sip.trust import InboundPolicy

needs_sipp = pytest.mark.skipif(shutil.which("sipp") is None, reason="SIPp (Debian sip-tester) is not installed")
CREDENTIALS = {"username": "troncal", "password": "s3creto-largo"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def answer(challenge: str, username: str, password: str, nc: str = "00000001") -> str:
    """The Authorization a client sends for ``challenge`` (qop=auth)."""
    params = parse_authorization(challenge)
    assert params is not None
    params.update(username=username, uri="sip:encuesta@127.0.0.1", qop="auth", nc=nc, cnonce="0a4f113b")
    response = expected_response(params, password, "INVITE")
    return (f'Digest username="{username}", realm="{params["realm"]}", nonce="{params["nonce"]}", '
            f'uri="{params["uri"]}", response="{response}", algorithm=MD5, qop=auth, nc={nc}, cnonce="0a4f113b"')


# -- digest, on its own ------------------------------------------------------------------------
def test_digest_response_matches_rfc_2617_example():
    params = {"username": "Mufasa", "realm": "testrealm@host.com", "nonce": "dcd98b7102dd2f0e8b11d0f600bfb0c093",
              "uri": "/dir/index.html", "qop": "auth", "nc": "00000001", "cnonce": "0a4f113b"}
    assert expected_response(params, "Circle Of Life", "GET") == "6629fae49393a05397450978507c4ef1"


def test_digest_accepts_the_password_once_and_refuses_the_rest():
    clock = Clock()
    server = DigestServer(DigestCredentials("troncal", "s3creto-largo"), clock=clock)
    assert server.check(None, "INVITE").stale  # no credentials: challenge
    right = answer(server.challenge(), "troncal", "s3creto-largo")
    assert server.check(right, "INVITE").ok
    replayed = server.check(right, "INVITE")
    assert not replayed.ok and replayed.stale  # a nonce is taken once: challenged again
    wrong = server.check(answer(server.challenge(), "troncal", "otra"), "INVITE")
    assert not wrong.ok and not wrong.stale and wrong.reason == "wrong username or password"
    assert not server.check(answer(server.challenge(), "intruso", "s3creto-largo"), "INVITE").ok
    late = answer(server.challenge(), "troncal", "s3creto-largo")
    clock.now += 31
    assert server.check(late, "INVITE").stale  # expired: challenged again
    forged = answer('Digest realm="encuestador", nonce="5f5e100-00.deadbeef"', "troncal", "s3creto-largo")
    assert server.check(forged, "INVITE").reason == "a nonce we did not issue"
    assert "s3creto" not in repr(server.credentials)


def test_inbound_policy_allowlist_cidr_and_digest():
    open_policy = InboundPolicy()
    assert open_policy.open and open_policy.check("203.0.113.9", "INVITE x SIP/2.0\r\n\r\n").trusted
    assert "any peer" in open_policy.describe()
    policy = InboundPolicy(["127.0.0.1", "10.20.0.0/16"])
    assert policy.check("10.20.3.4", "").trusted and policy.check("::ffff:127.0.0.1", "").status == 0
    refused = policy.check("127.0.0.2", "")
    assert (refused.status, refused.trusted) == (403, False)
    with_auth = InboundPolicy(["127.0.0.1"], DigestCredentials("troncal", "s3creto-largo"))
    challenged = with_auth.check("127.0.0.2", "INVITE sip:a@b SIP/2.0\r\nVia: x\r\n\r\n")
    assert challenged.status == 401 and 'qop="auth"' in challenged.challenge
    authorization = answer(challenged.challenge, "troncal", "s3creto-largo")
    invite = f"INVITE sip:a@b SIP/2.0\r\nAuthorization: {authorization}\r\n\r\n"
    taken = with_auth.check("127.0.0.2", invite)
    assert (taken.status, taken.trusted) == (0, False)  # authenticated, but not believed about identity


def test_config_checks_sip_allow_sip_auth_and_srtp():
    errors = check_settings({"sip_allow": ["10.0.0.5", "10.1.0.0/24", "pbx.local"], "srtp": "siempre",
                             "sip_auth": {"username": "troncal", "pasword": "x"}})
    assert errors == ["sip_allow: 'pbx.local' is not an IP address or CIDR range (e.g. '10.0.0.5' or '10.0.0.0/24')",
                      "srtp: expected mandatory, optional or off, got 'siempre' (text)",
                      "sip_auth.pasword: unknown setting (did you mean 'password'?)",
                      "sip_auth.password: a value is required"]
    assert check_settings({"sip_allow": ["::1", "127.0.0.0/8"], "srtp": False, "sip_auth": CREDENTIALS,
                           "privacy_notice_url": "https://ejemplo.mx/privacidad",
                           "privacy_notice_interruptible": False}) == []


# -- real calls --------------------------------------------------------------------------------
def rows(db, sql="SELECT call_id, customer_id, phone, consent, score, outcome FROM calls"):
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    return [dict(r) for r in conn.execute(sql)]


def auth_scenario(tmp_path, username: str, password: str, answered: bool, keys: str = "") -> object:
    from sip_harness import SIPP_DIR, key_presses, template

    if answered:
        part = template("uac_auth_answered.xml", presses=key_presses(tmp_path, keys, first_ms=2500), hold_ms=3000)
    else:
        part = (SIPP_DIR / "uac_auth_refused.xml").read_text()
    path = tmp_path / f"uac_auth_{username}_{answered}.xml"
    path.write_text(template("uac_auth.xml", auth_user=username, auth_pass=password, call_part=part))
    return path


def refused_scenario(tmp_path, status: int) -> object:
    from sip_harness import template

    path = tmp_path / f"uac_refused_{status}.xml"
    path.write_text(template("uac_refused.xml", status=status))
    return path


@needs_sipp
def test_a_caller_not_on_the_allowlist_gets_403_and_nothing_is_stored(server, tmp_path):
    from sip_harness import call_server, callers_csv

    srv = server(sip_allow=["127.0.0.1"])
    assert "inbound calls taken from 127.0.0.1/32" in srv.log()
    call_server(srv, refused_scenario(tmp_path, 403), callers_csv(tmp_path, [("+525512345678", "C-1")]),
                local_ip="127.0.0.2")
    srv.wait_for("refused INVITE from 127.0.0.2: 403 not on sip_allow")
    assert rows(srv.db) == [] and not list(srv.recordings.glob("*/*"))


@needs_sipp
def test_an_untrusted_caller_claiming_a_customer_is_greeted_generically_and_stored_anonymously(server, tmp_path):
    """Authenticated from 127.0.0.2 (not on sip_allow), claiming X-Customer-Id C-7 and Rosa's number."""
    from encuestador.store import Store
    from sip_harness import call_server, callers_csv

    srv = server(sip_allow=["127.0.0.1"], sip_auth=CREDENTIALS)
    store = Store(srv.db)
    store.upsert_customer("C-7", "Rosa Jiménez", "+525511110007", topic="su factura")
    store.close()
    call_server(srv, auth_scenario(tmp_path, CREDENTIALS["username"], CREDENTIALS["password"], True, "15"),
                callers_csv(tmp_path, [("+525511110007", "C-7")]), local_ip="127.0.0.2")
    srv.wait_for("ended:")
    assert "anonymous call; its claims X-Customer-Id=C-7 From=+525511110007 not believed" in srv.log()
    [call] = rows(srv.db)
    assert (call["customer_id"], call["phone"], call["consent"], call["score"]) == (None, None, 1, 5), srv.log()[-2000:]
    assert rows(srv.db, "SELECT call_id FROM calls WHERE customer_id = 'C-7' OR phone = '+525511110007'") == []
    [log] = srv.recordings.glob("*/*.jsonl")
    said = [line for line in log.read_text().splitlines() if '"event": "Say"' in line]
    assert "Le llamamos de" in said[0] and "Rosa" not in log.read_text() and "factura" not in log.read_text()


@needs_sipp
def test_an_untrusted_callers_opt_out_does_not_put_the_customers_number_on_dnc(server, tmp_path, wavs):
    """He says «No me vuelvan a llamar» (Kokoro voice, streamed as PCMU) from Rosa's number: his call
    ends as an opt-out, stored anonymously; Rosa's number stays callable."""
    import numpy as np

    from encuestador.audio import g711
    from encuestador.audio.wavio import read_wav
    from encuestador.store import Store
    from sip_harness import call_server, callers_csv, template

    srv = server(sip_allow=["127.0.0.1"], sip_auth=CREDENTIALS)
    store = Store(srv.db)
    store.upsert_customer("C-7", "Rosa Jiménez", "+525511110007")
    store.close()
    audio, _ = read_wav(wavs["ks_opt_out"], rate=8000)
    ul = tmp_path / "opt_out.ul"
    ul.write_bytes(g711.mulaw_encode(np.clip(audio * 32767, -32768, 32767).astype(np.int16)).tobytes())
    speak = f'  <pause milliseconds="2500"/>\n  <nop><action><exec rtp_stream="{ul},1,0"/></action></nop>'
    scenario = tmp_path / "uac_auth_opt_out.xml"
    scenario.write_text(template("uac_auth.xml", auth_user=CREDENTIALS["username"], auth_pass=CREDENTIALS["password"],
                                 call_part=template("uac_auth_hung_up.xml", presses=speak)))
    call_server(srv, scenario, callers_csv(tmp_path, [("+525511110007", "C-7")]), local_ip="127.0.0.2")
    srv.wait_for("ended:")
    [call] = rows(srv.db)
    assert (call["customer_id"], call["phone"], call["outcome"]) == (None, None, "opt_out"), srv.log()[-2000:]
    assert rows(srv.db, "SELECT phone FROM dnc") == []


@needs_sipp
def test_a_trusted_caller_is_believed(server, tmp_path):
    from encuestador.store import Store
    from sip_harness import call_server, caller_scenario, callers_csv

    srv = server(sip_allow=["127.0.0.0/30"], sip_auth=CREDENTIALS, privacy_notice_url="https://telecom.mx/privacidad")
    store = Store(srv.db)
    store.upsert_customer("C-7", "Rosa Jiménez", "+525511110007")
    store.close()
    call_server(srv, caller_scenario(tmp_path, "1"), callers_csv(tmp_path, [("+525511110007", "C-7")]))
    srv.wait_for("ended:")
    [call] = rows(srv.db)
    assert call["customer_id"] == "C-7" and call["consent"] == 1
    events = [json.loads(line) for line in next(srv.recordings.glob("*/*.jsonl")).read_text().splitlines()]
    said = [(e["prompt"], e["text"]) for e in events if e["event"] == "Say"]
    assert said[0][0] == "greeting" and "Rosa Jiménez" in said[0][1]
    assert said[1] == ("privacy_notice", "Servicios Ejemplo graba esta llamada para mejorar su atención; "
                                         "aviso de privacidad en telecom punto mx diagonal privacidad.")


@needs_sipp
def test_a_caller_who_asks_not_to_be_recorded_leaves_no_recording(server, tmp_path, wavs):
    """«No quiero que me graben» (Kokoro voice, streamed as PCMU) in a real call: the call goes on, and
    no recording is written or stored."""
    import numpy as np

    from encuestador.audio import g711
    from encuestador.audio.wavio import read_wav
    from sip_harness import call_server, callers_csv, template

    srv = server()
    audio, _ = read_wav(wavs["ks_stop_recording"], rate=8000)
    ul = tmp_path / "stop.ul"
    ul.write_bytes(g711.mulaw_encode(np.clip(audio * 32767, -32768, 32767).astype(np.int16)).tobytes())
    speak = f'  <pause milliseconds="3000"/>\n  <nop><action><exec rtp_stream="{ul},1,0"/></action></nop>'
    scenario = tmp_path / "uac_stop_recording.xml"
    scenario.write_text(template("uac_keys.xml", payload_types="0", telephone_event="", presses=speak, hold_ms=6000))
    call_server(srv, scenario, callers_csv(tmp_path, [("+525511112222", "")]))
    srv.wait_for("ended:")
    [call] = rows(srv.db, "SELECT outcome, recording_path FROM calls")
    assert call == {"outcome": "hung_up", "recording_path": None}, srv.log()[-2000:]
    assert not list(srv.recordings.glob("*/*.wav*"))
    events = [json.loads(line) for line in next(srv.recordings.glob("*/*.jsonl")).read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert "StopRecording" in kinds
    said = [e["text"] for e in events if e["event"] == "Say"]
    assert said[said.index("Entendido, dejamos de grabar.") + 1].startswith("¿Tiene unos minutos")


@needs_sipp
def test_digest_wrong_credentials_get_403_and_nothing_is_stored(server, tmp_path):
    from sip_harness import call_server, callers_csv

    srv = server(sip_allow=["127.0.0.1"], sip_auth=CREDENTIALS)
    call_server(srv, auth_scenario(tmp_path, CREDENTIALS["username"], "adivinanza", False),
                callers_csv(tmp_path, [("+525512345678", "")]), local_ip="127.0.0.2")
    srv.wait_for("refused INVITE from 127.0.0.2: 403 wrong username or password")
    assert rows(srv.db) == [] and CREDENTIALS["password"] not in srv.log()


@needs_sipp
def test_srtp_mandatory_refuses_a_plain_rtp_offer_and_answers_an_srtp_one(server, tmp_path):
    from sip_harness import SIPP_DIR, call_server, callers_csv

    srv = server(srtp="mandatory")
    assert "SRTP mandatory on the calls' audio" in srv.log()
    call_server(srv, refused_scenario(tmp_path, 488), callers_csv(tmp_path, [("+525512345678", "")]))
    assert rows(srv.db) == []
    offer = tmp_path / "uac_srtp_offer.xml"
    offer.write_text((SIPP_DIR / "uac_srtp_offer.xml").read_text())
    call_server(srv, offer, callers_csv(tmp_path, [("+525512345678", "")]))  # fails unless RTP/SAVP + a=crypto
    srv.wait_for("ended:")
    assert len(rows(srv.db)) == 1


@needs_sipp
def test_srtp_off_by_default_answers_plain_rtp(server, tmp_path):
    """Without ``srtp`` an SRTP-only offer finds no common profile (pjsua: 488), as before."""
    from sip_harness import call_server, callers_csv

    srv = server()
    assert "SRTP" not in srv.log()
    path = tmp_path / "uac_srtp_refused.xml"
    path.write_text(refused_scenario(tmp_path, 488).read_text().replace("RTP/AVP 0", "RTP/SAVP 0").replace(
        "a=rtpmap:0 PCMU/8000", "a=rtpmap:0 PCMU/8000\n      a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
                                "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"))
    call_server(srv, path, callers_csv(tmp_path, [("+525512345678", "")]))


@needs_sipp
def test_behind_the_front_a_forged_via_received_is_not_trusted(server, tmp_path):
    """With --workers, a caller from 127.0.0.2 writing «received=127.0.0.1» (an allowed address) in his
    own Via is still refused: the workers trust the source Kamailio stamps, not the caller's Via."""
    import socket

    from raw_sip import final_status, invite, sdp

    srv = server(workers=2, sip_allow=["127.0.0.1"])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.2", 0))
        local = sock.getsockname()
        forged = invite(srv.port, local, "forged-via", sdp(40000, "127.0.0.2")).replace(
            b";rport\r\n", b";received=127.0.0.1;rport\r\n", 1)
        sock.sendto(forged, ("127.0.0.1", srv.port))
        status, _ = final_status(sock, timeout=10.0)
    assert status == 403
    assert rows(srv.db) == []
