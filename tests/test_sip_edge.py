"""The SIP edge under attack from loopback (issue 17): peers that never complete a call, floods,
malformed INVITEs, foreign RTP and idle TCP connections must not lock out or hijack real callers.
Real ``encuestador serve``, real SIPp, raw sockets; every loop bounded."""

from __future__ import annotations

import shutil
import socket
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from raw_sip import RtpSink, final_status, invite, rfc4733_packets, sdp, sdp_media_port
from sip_harness import Server, call_server, caller_scenario, callers_csv

pytestmark = pytest.mark.skipif(shutil.which("sipp") is None, reason="SIPp (Debian sip-tester) is not installed")


def calls(db: Path) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    return [dict(r) for r in conn.execute("SELECT phone, consent, score, resolved, outcome FROM calls")]


def call_until_answered(srv: Server, tmp_path: Path, phone: str, budget_s: float, local_ip: str = "127.0.0.1",
                        extra: list[str] | None = None) -> float:
    """A legitimate caller who redials at once when turned away (486/503), for at most ``budget_s``;
    the seconds from now until the attempt that was answered (its survey then runs to the end)."""
    start = time.monotonic()
    scenario = caller_scenario(tmp_path, "152")
    csv = callers_csv(tmp_path, [(phone, "")])
    for attempt in range(200):
        began = time.monotonic()
        if began - start > budget_s:
            break
        proc = call_server(srv, scenario, csv, check=False, local_ip=local_ip, extra=extra, timeout=90)
        if proc.returncode == 0:
            return began - start
        errors = "".join(p.read_text(errors="replace") for p in tmp_path.glob("*errors.log"))
        assert "486" in errors or "503" in errors, proc.stdout[-2000:] + errors[-2000:]
        time.sleep(0.5)
    raise AssertionError(f"no answer within {budget_s} s:\n{srv.log()[-3000:]}")


def completed_survey(db: Path, phone: str) -> bool:
    return any((c["consent"], c["score"], c["resolved"]) == (1, 5, 0) for c in calls(db) if c["phone"] == phone)


def test_unacknowledged_invites_release_their_slots_and_get_no_media(server, tmp_path, capsys):
    srv = server()
    sink = RtpSink.open()
    statuses = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as attacker:
        attacker.bind(("127.0.0.1", 0))
        for i in range(4):
            attacker.sendto(invite(srv.port, attacker.getsockname(), f"noack{i}", sdp(sink.port)), ("127.0.0.1", srv.port))
        attacked = time.monotonic()
        for _ in range(4):
            statuses.append(final_status(attacker, timeout=2)[0])
        waited = time.monotonic() - attacked
        through = waited + call_until_answered(srv, tmp_path, "+525520000001", budget_s=5 - waited)
    with capsys.disabled():
        print(f"\nfour unacknowledged INVITEs {statuses}: a legitimate call got through after {through:.1f} s")
    assert 200 in statuses and set(statuses) <= {200, 503}, statuses
    srv.wait_for("ended:", count=statuses.count(200) + 1, timeout=60)
    assert completed_survey(srv.db, "+525520000001"), calls(srv.db)
    # pjmedia would stream silence from our 200 on (while another call keeps the bridge's clock running);
    # the agent holds each stream until the ACK, so an unacknowledged peer gets no RTP at all.
    sent = sink.received_bytes()
    with capsys.disabled():
        print(f"RTP towards the unacknowledged peers' SDP address: {sent} bytes")
    assert sent == 0
    sink.close()


def test_malformed_invites_get_400_before_any_media(server, tmp_path):
    srv = server()
    sink = RtpSink.open()
    cases = {
        "long": dict(body=sdp(sink.port), content_length=9999),
        "badaddr": dict(body=sdp(sink.port).replace("c=IN IP4 127.0.0.1", "c=IN IP4 victim.example")),
        "zeroaddr": dict(body=sdp(sink.port).replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0")),
    }
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        for name, case in cases.items():
            peer.sendto(invite(srv.port, peer.getsockname(), f"bad{name}", **case), ("127.0.0.1", srv.port))
            status, _ = final_status(peer, timeout=3)
            assert status == 400, (name, srv.log()[-2000:])
        no_audio = sdp(sink.port).replace("m=audio", "m=video")
        peer.sendto(invite(srv.port, peer.getsockname(), "badnoaudio", no_audio), ("127.0.0.1", srv.port))
        assert final_status(peer, timeout=3)[0] == 488  # pjsua: no audio stream offered, Not Acceptable Here
    time.sleep(1.0)
    assert sink.received_bytes() == 0
    assert calls(srv.db) == []
    assert srv.log().count("refused INVITE from 127.0.0.1") == len(cases)
    sink.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_flood_from_one_source_leaves_another_source_working(server, tmp_path, capsys, workers):
    """One worker drops the flood in its kernel filter; with ``--workers`` Kamailio's pike drops it."""
    srv = server(workers=workers)
    sink = RtpSink.open()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as flooder:
        flooder.bind(("127.0.0.1", 0))
        local = flooder.getsockname()
        flooded = time.monotonic()
        for i in range(2000):
            flooder.sendto(invite(srv.port, local, f"flood{i}", sdp(sink.port)), ("127.0.0.1", srv.port))
        sent_s = time.monotonic() - flooded
        through = time.monotonic() - flooded + call_until_answered(srv, tmp_path, "+525520000002", budget_s=30,
                                                                   local_ip="127.0.0.2")
    with capsys.disabled():
        print(f"\n{workers} worker(s), 2,000 INVITEs from one source (sent in {sent_s:.2f} s): a call from "
              f"127.0.0.2 got through after {through:.1f} s")
    deadline = time.monotonic() + 60
    while not completed_survey(srv.db, "+525520000002") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert completed_survey(srv.db, "+525520000002"), calls(srv.db)[-5:]
    assert through < 10
    assert srv.proc.poll() is None
    sink.close()


def test_foreign_rfc4733_events_do_not_count(server, tmp_path):
    """60 RFC 4733 packets for "2" from a foreign port while the caller answers 1 (consent) and 4."""
    srv = server()
    scenario = caller_scenario(tmp_path, "14", hold_ms=4000)
    csv = callers_csv(tmp_path, [("+525520000003", "")])
    done = {}
    caller = threading.Thread(target=lambda: done.update(proc=call_server(
        srv, scenario, csv, extra=["-trace_msg", "-message_file", str(tmp_path / "messages.log")])))
    caller.start()
    deadline = time.monotonic() + 20
    port = None
    while port is None and time.monotonic() < deadline:
        log = tmp_path / "messages.log"
        port = sdp_media_port(log.read_text(errors="replace")) if log.exists() else None
        time.sleep(0.05)
    assert port is not None, srv.log()[-2000:]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as foreign:
        foreign.bind(("127.0.0.1", 0))
        for packet in rfc4733_packets("2", 10, payload_type=101):   # 10 presses × 6 packets
            foreign.sendto(packet, ("127.0.0.1", port))
            time.sleep(0.05)
        foreign.setblocking(False)
        time.sleep(0.5)
        stolen = 0
        for _ in range(10_000):
            try:
                stolen += len(foreign.recv(65535))
            except BlockingIOError:
                break
    caller.join(timeout=90)
    srv.wait_for("ended:")
    [call] = calls(srv.db)
    assert (call["consent"], call["score"]) == (1, 4), (call, srv.log()[-2000:])
    assert stolen == 0  # the call's audio never went to the foreign port


def test_idle_tcp_connections_do_not_lock_out_a_tcp_caller(server, tmp_path, capsys):
    srv = server(tcp_idle_timeout_s=5)
    idle = [socket.create_connection(("127.0.0.1", srv.port), timeout=2) for _ in range(62)]
    try:
        time.sleep(1.5)
        began = time.monotonic()
        through = call_until_answered(srv, tmp_path, "+525520000004", budget_s=10, extra=["-t", "t1"])
        with capsys.disabled():
            print(f"\n62 idle TCP connections: a SIP-over-TCP call got through after {through:.1f} s")
        srv.wait_for("ended:", timeout=60)
        assert completed_survey(srv.db, "+525520000004"), calls(srv.db)
        assert "closed TCP connection from 127.0.0.1" in srv.log()
        assert time.monotonic() - began < 90
    finally:
        for s in idle:
            s.close()


def test_a_killed_worker_is_restarted(server, tmp_path):
    import os
    import re
    import signal

    srv = server(workers=2)
    pids = [int(p) for p in re.findall(r"worker 1 \(pid (\d+)\)", srv.log())]
    assert len(pids) == 1
    os.kill(pids[0], signal.SIGKILL)
    srv.wait_for("worker 1 exited with code -9", timeout=10)
    srv.wait_for("worker 1 (pid", count=2, timeout=30)
    srv.wait_for("[w1] encuestador listening", count=2, timeout=120)
    scenario = caller_scenario(tmp_path, "152")
    call_server(srv, scenario, callers_csv(tmp_path, [(f"+52552100{i:04d}", "") for i in range(4)]), calls=4, rate=4)
    srv.wait_for("ended:", count=4, timeout=60)
    assert sum(completed_survey(srv.db, f"+52552100{i:04d}") for i in range(4)) == 4


def test_housekeeping_survives_failing_calls(tmp_path, runtime):
    """A hangup pjsua2 refuses (no such call) and a call whose bookkeeping raises: logged, the loop
    goes on, the other call is still checked, and the endpoint shuts down cleanly."""
    from encuestador.dialogue.survey import CustomerContext
    from encuestador.sip.agent import AgentCall, SipAgent
    from encuestador.sip.config import SipConfig
    from encuestador.store import Store
    from sip_harness import free_port

    store = Store(tmp_path / "calls.db")
    lines: list[str] = []
    config = SipConfig(listen_port=free_port(), recordings_dir=str(tmp_path / "rec"), max_call_s=1)
    agent = SipAgent(config, runtime, store, on_line=lines.append)
    agent.start()
    try:
        assert agent._account is not None
        broken, overdue = AgentCall(agent, agent._account), AgentCall(agent, agent._account)  # no pjsua call behind
        for call in (broken, overdue):
            agent._register(call, "inbound", "+525530000000", CustomerContext(company="X"))
        broken.state.started = "not a time"          # TypeError in its housekeeping
        overdue.state.started -= 60                  # past max_call_s: to be hung up (no pjsua call: skipped)
        stop = threading.Event()
        threading.Timer(2.5, stop.set).start()
        agent.run(stop)
        assert overdue.state.outcome_override == "max_duration"
    finally:
        agent.shutdown()
        store.close()
    assert any("ended:" in line for line in lines)


def test_one_source_leaves_a_slot_for_another(server, tmp_path):
    """Four simultaneous calls from 127.0.0.1 get three slots (the fourth: 503); 127.0.0.2 gets the last."""
    srv = server()
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    done = {}
    busy = threading.Thread(target=lambda: done.update(proc=call_server(
        srv, caller_scenario(first, "152", hold_ms=6000),
        callers_csv(first, [(f"+52552200{i:04d}", "") for i in range(4)]), calls=4, rate=20, check=False)))
    busy.start()
    srv.wait_for("live calls: 3", timeout=30)
    call_server(srv, caller_scenario(second, "152"), callers_csv(second, [("+525522009999", "")]), local_ip="127.0.0.2")
    busy.join(timeout=120)
    errors = "".join(p.read_text(errors="replace") for p in first.glob("*errors.log"))
    assert "503 Service Unavailable" in errors, done["proc"].stdout[-1500:]
    assert "3 calls already from 127.0.0.1" in srv.log()
    srv.wait_for("ended:", count=4, timeout=60)
    assert sum(completed_survey(srv.db, f"+52552200{i:04d}") for i in range(4)) == 3
    assert completed_survey(srv.db, "+525522009999")
