"""Digest authentication behind ``serve --workers 2``: the workers share one memory of used nonces
(a SQLite file in the cluster's run directory), so an authenticated INVITE replayed to the Kamailio
front is challenged again by every worker. Real SIPp, real serve, real SQLite, 127.0.0.1/127.0.0.2."""

from __future__ import annotations

import logging
import multiprocessing
import re
import socket
import sqlite3
import stat
import time
from pathlib import Path

from encuestador.sip.digest import (NONCE_TTL_S, DigestCredentials, DigestServer, expected_response,
                                    parse_authorization)
from encuestador.sip.trust import InboundPolicy
from encuestador.sip.used_nonces import SqliteUsedNonces

from test_sip_trust import CREDENTIALS, Clock, needs_sipp


def answer(challenge: str, username: str, password: str) -> str:
    """The Authorization a client sends for ``challenge`` (qop=auth)."""
    params = parse_authorization(challenge)
    assert params is not None
    params.update(username=username, uri="sip:encuesta@127.0.0.1", qop="auth", nc="00000001", cnonce="0a4f113b")
    return (f'Digest username="{username}", realm="{params["realm"]}", nonce="{params["nonce"]}", '
            f'uri="{params["uri"]}", response="{expected_response(params, password, "INVITE")}", algorithm=MD5, '
            f'qop=auth, nc=00000001, cnonce="0a4f113b"')


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- the shared store, on its own --------------------------------------------------------------
def test_two_stores_on_one_file_take_a_nonce_once_and_prune_expired_rows(tmp_path):
    clock = Clock()
    path = tmp_path / "run" / "used-nonces.db"
    first, second = SqliteUsedNonces(path, clock), SqliteUsedNonces(path, clock)
    assert first.take("n1", clock.now + NONCE_TTL_S)
    assert not second.take("n1", clock.now + NONCE_TTL_S) and not first.take("n1", clock.now + NONCE_TTL_S)
    assert second.take("n2", clock.now + 5)
    clock.now += 6  # n2 expired, n1 not
    assert first.take("n3", clock.now + NONCE_TTL_S)
    with sqlite3.connect(path) as conn:
        assert sorted(n for (n,) in conn.execute("SELECT nonce FROM used_nonces")) == ["n1", "n3"]
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    files = {p.name: mode(p) for p in path.parent.glob("used-nonces.db*")}
    assert files == dict.fromkeys(["used-nonces.db", "used-nonces.db-wal", "used-nonces.db-shm"], 0o600), files
    first.close(), second.close()


def _take_all(path: str, nonces: list[str], start: float, results) -> None:
    store = SqliteUsedNonces(path)
    while time.time() < start:  # all processes begin together
        time.sleep(0.001)
    results.put([n for n in nonces if store.take(n, time.time() + NONCE_TTL_S)])
    store.close()


def test_processes_racing_for_the_same_nonces_take_each_exactly_once(tmp_path):
    path = tmp_path / "used-nonces.db"
    SqliteUsedNonces(path).prepare()
    nonces = [f"nonce-{i}" for i in range(100)]
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    start = time.time() + 0.5
    procs = [context.Process(target=_take_all, args=(str(path), nonces, start, results)) for _ in range(4)]
    for p in procs:
        p.start()
    taken = [n for _ in procs for n in results.get(timeout=30)]
    for p in procs:
        p.join(timeout=10)
    assert sorted(taken) == sorted(nonces)  # every nonce taken once, by one of the four


def test_a_store_that_cannot_be_written_refuses_with_a_fresh_challenge_and_one_log_line(tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    policy = InboundPolicy([], DigestCredentials(**CREDENTIALS))
    policy.digest.used = SqliteUsedNonces(blocker / "used-nonces.db")  # its folder is a file: never writable

    caplog.set_level(logging.INFO, logger="encuestador.sip")
    for _ in range(2):
        challenge = policy.check("127.0.0.2", "INVITE sip:a@b SIP/2.0\r\n\r\n").challenge
        authorization = answer(challenge, CREDENTIALS["username"], CREDENTIALS["password"])
        verdict = policy.check("127.0.0.2", f"INVITE sip:a@b SIP/2.0\r\nAuthorization: {authorization}\r\n\r\n")
        assert (verdict.status, verdict.why) == (401, "a used nonce") and "stale=true" in verdict.challenge
    failures = [r.getMessage() for r in caplog.records if "cannot be written" in r.getMessage()]
    assert len(failures) == 1 and str(blocker) in failures[0], caplog.text
    blocker.unlink()  # the folder can be made now: the next right answer is taken, and that is said once
    challenge = policy.check("127.0.0.2", "INVITE sip:a@b SIP/2.0\r\n\r\n").challenge
    authorization = answer(challenge, CREDENTIALS["username"], CREDENTIALS["password"])
    assert policy.check("127.0.0.2", f"INVITE sip:a@b SIP/2.0\r\nAuthorization: {authorization}\r\n\r\n").status == 0
    assert "writable again" in caplog.text


def test_without_the_environment_variable_a_single_serve_keeps_used_nonces_in_memory(monkeypatch):
    from encuestador.sip.used_nonces import NONCE_STORE_ENV, MemoryUsedNonces

    monkeypatch.delenv(NONCE_STORE_ENV, raising=False)
    assert isinstance(InboundPolicy([], DigestCredentials(**CREDENTIALS)).digest.used, MemoryUsedNonces)
    server = DigestServer(DigestCredentials(**CREDENTIALS))
    assert isinstance(server.used, MemoryUsedNonces)


# -- real calls through the Kamailio front -----------------------------------------------------
def calls(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute("SELECT customer_id, phone FROM calls"))


def replay(port: int, call_id: str, authorization: str) -> tuple[int | None, bytes]:
    """An INVITE from 127.0.0.2 carrying ``authorization``, new Call-ID/branch/tag: its final status."""
    from raw_sip import final_status, invite, sdp

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.2", 0))
        message = invite(port, sock.getsockname(), call_id, sdp(40000, "127.0.0.2"))
        message = message.replace(b"Max-Forwards:", f"Authorization: {authorization}\r\nMax-Forwards:".encode(), 1)
        sock.sendto(message, ("127.0.0.1", port))
        return final_status(sock, timeout=8.0)


@needs_sipp
def test_behind_the_front_a_digest_call_is_taken_and_its_replays_are_refused_by_every_worker(server, tmp_path):
    """(a) SIPp from 127.0.0.2 (not on sip_allow) answers the 401 and its call is stored; (b) its
    Authorization, replayed twice within the nonce's lifetime (round robin: once to each worker, one
    of which never saw it used), gets 401 stale both times and stores nothing."""
    from sip_harness import call_server, callers_csv, template

    srv = server(workers=2, sip_allow=["127.0.0.1"], sip_auth=CREDENTIALS)
    run_dir = srv.db.parent / "kamailio"
    assert mode(run_dir) == 0o700 and mode(run_dir / "used-nonces.db") == 0o600
    scenario = tmp_path / "uac_auth_workers.xml"
    scenario.write_text(template("uac_auth.xml", auth_user=CREDENTIALS["username"], auth_pass=CREDENTIALS["password"],
                                 call_part=template("uac_auth_answered.xml", presses="", hold_ms=1000)))
    call_server(srv, scenario, callers_csv(tmp_path, [("+525511110007", "C-7")]), local_ip="127.0.0.2",
                extra=["-trace_msg", "-message_file", str(tmp_path / "messages.log")])
    srv.wait_for("ended:")
    assert calls(srv.db) == [(None, None)], srv.log()[-3000:]  # taken, anonymously
    [authorization] = re.findall(r"^\s*Authorization: (Digest .+?)\s*$", (tmp_path / "messages.log").read_text(),
                                 re.MULTILINE)
    nonce = parse_authorization(authorization)["nonce"]
    issued = int(nonce.split("-", 1)[0], 16) / 1000

    answers = [replay(srv.port, f"replay-{i}", authorization) for i in range(2)]
    assert time.time() - issued < NONCE_TTL_S  # still within its lifetime: refused as used, not as expired
    for status, response in answers:
        assert status == 401 and b"stale=true" in response, (status, response[:300], srv.log()[-2000:])
    time.sleep(1)
    assert calls(srv.db) == [(None, None)]
    assert srv.log().count("ended:") == 1
