"""An inbound call rings (180) while its personal greeting is synthesised and is answered (200) when
the greeting is ready (issue 14) — never after the caller gave up, and at the latest after
``GREETING_WAIT_S``. The real ``SipAgent`` in this process (so the voice's one preparing thread can be
held busy: the greeting stays "still being made" as long as the test wants), a raw UDP caller on
127.0.0.1, a real SQLite store."""

from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import pytest

from raw_sip import RtpSink, invite, sdp
from sip_harness import free_port

CALLER_PHONE = "+525500000000"   # the From of ``raw_sip.invite``


@dataclass
class Heard:
    """Responses a raw caller received: (status, CSeq method, whole message)."""

    responses: list[tuple[int, str, str]] = field(default_factory=list)

    def statuses(self, method: str) -> list[int]:
        return [status for status, m, _ in self.responses if m == method]

    def first(self, status: int, method: str = "INVITE") -> str | None:
        return next((text for s, m, text in self.responses if (s, m) == (status, method)), None)


def listen(sock: socket.socket, heard: Heard, until: Callable[[], bool], timeout: float) -> bool:
    """Collect responses on ``sock`` until ``until()`` holds (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while not until():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(min(0.1, left))
        try:
            data = sock.recv(65535).decode(errors="replace")
        except socket.timeout:
            continue
        status = re.match(r"SIP/2\.0 (\d{3}) ", data)
        method = re.search(r"^CSeq:\s*\d+\s+(\w+)", data, re.M | re.I)
        if status and method:
            heard.responses.append((int(status.group(1)), method.group(1).upper(), data))
    return True


def header_line(message: str, name: str) -> str:
    return re.search(rf"^{name}:.*$", message, re.M | re.I).group(0).strip()


def in_dialog(method: str, uri: str, invite_message: str, to_line: str, cseq: int, branch: str) -> bytes:
    """A request in the INVITE's transaction or dialog (CANCEL, ACK, BYE), its headers copied."""
    via = re.sub(r"branch=[^;\r\n]+", f"branch={branch}", header_line(invite_message, "Via"))
    lines = [f"{method} {uri} SIP/2.0", via, header_line(invite_message, "From"), to_line,
             header_line(invite_message, "Call-ID"), f"CSeq: {cseq} {method}", "Max-Forwards: 70", "Content-Length: 0"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class Ringing:
    agent: object                    # the started SipAgent
    lines: list[str]                 # its status lines
    release: Callable[[], None]      # frees the voice: the greeting gets made


@pytest.fixture
def ringing(tmp_path, runtime):
    """A started ``SipAgent`` on a free port whose voice is held busy until ``release()``, with a
    store knowing the raw caller's phone under a name no other test greets."""
    from encuestador.sip.agent import SipAgent
    from encuestador.sip.config import SipConfig
    from encuestador.store import Store

    store = Store(tmp_path / "calls.db")
    store.upsert_customer("C-RING", f"Ramona Timbre {tmp_path.name}", CALLER_PHONE)
    config = SipConfig(listen_port=free_port(), recordings_dir=str(tmp_path / "rec"))
    lines: list[str] = []
    agent = SipAgent(config, runtime, store, on_line=lines.append)
    gate = threading.Event()
    runtime.prompts.prepare([])                  # the voice's preparing thread exists …
    runtime.prompts._worker.submit(gate.wait, 60)  # … and is busy until the test releases it
    agent.start()
    try:
        yield Ringing(agent, lines, gate.set)
    finally:
        gate.set()
        agent.shutdown()
        store.close()


def run_agent_while(agent, caller) -> None:
    """Poll the agent on this thread while ``caller`` runs on another (bounded: 30 s)."""
    done = threading.Event()
    failure: list[BaseException] = []

    def play() -> None:
        try:
            caller()
        except BaseException as e:  # noqa: BLE001 — re-raised on the test's thread
            failure.append(e)
        finally:
            done.set()

    threading.Thread(target=play, daemon=True).start()
    deadline = time.monotonic() + 30
    finished: list[float] = []

    def enough() -> bool:   # half a second more once the caller is done: its last packets handled
        if done.is_set() and not finished:
            finished.append(time.monotonic())
        return bool(finished) and time.monotonic() - finished[0] > 0.5 or time.monotonic() > deadline

    agent.run(threading.Event(), tick=enough)
    if failure:
        raise failure[0]
    assert done.is_set(), "the caller did not finish within 30 s"


def test_a_call_cancelled_while_ringing_is_never_answered_and_leaves_nothing_open(ringing, tmp_path):
    agent = ringing.agent
    heard = Heard()
    media = RtpSink.open()

    def caller() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            message = invite(agent.config.listen_port, sock.getsockname(), "ringcancel", sdp(media.port)).decode()
            server = ("127.0.0.1", agent.config.listen_port)
            uri = message.split(" ")[1]
            sock.sendto(message.encode(), server)
            assert listen(sock, heard, lambda: 180 in heard.statuses("INVITE"), 5), heard.responses
            sock.sendto(in_dialog("CANCEL", uri, message, header_line(message, "To"), 1, "z9hG4bKringcancel"), server)
            assert listen(sock, heard, lambda: 487 in heard.statuses("INVITE"), 5), heard.responses
            to_line = header_line(heard.first(487), "To")
            sock.sendto(in_dialog("ACK", uri, message, to_line, 1, "z9hG4bKringcancel"), server)
            ringing.release()  # the greeting is ready now: its answer must find the call gone
            listen(sock, heard, lambda: False, 1.5)

    run_agent_while(agent, caller)
    assert heard.statuses("CANCEL") == [200], heard.responses
    assert "m=audio" not in heard.first(180)   # ringing answers no SDP: no media while it rings …
    assert media.received_bytes() == 0         # … nor after the caller gave up
    media.close()
    assert 200 not in heard.statuses("INVITE") and heard.statuses("INVITE")[-1] == 487, heard.responses
    assert agent.live_calls == 0 and agent.ringing_calls == 0
    assert agent.admission.live_calls("127.0.0.1") == 0
    row = _call_row(tmp_path)
    assert row["outcome"] == "abandoned" and row["ended_at"] is not None, row   # the caller gave up
    assert any("ended: abandoned" in line for line in ringing.lines), ringing.lines


def test_a_greeting_not_ready_in_time_does_not_keep_the_caller_ringing(ringing, caplog):
    from encuestador.sip.agent import GREETING_WAIT_S

    agent = ringing.agent
    heard = Heard()
    waited: list[float] = []

    def caller() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            message = invite(agent.config.listen_port, sock.getsockname(), "ringcap", sdp(free_port())).decode()
            server = ("127.0.0.1", agent.config.listen_port)
            sock.sendto(message.encode(), server)
            assert listen(sock, heard, lambda: 180 in heard.statuses("INVITE"), 5), heard.responses
            rang = time.monotonic()
            assert listen(sock, heard, lambda: 200 in heard.statuses("INVITE"), GREETING_WAIT_S + 3), heard.responses
            waited.append(time.monotonic() - rang)
            ok = heard.first(200)
            contact = re.search(r"^Contact:.*<([^>]+)>", ok, re.M | re.I).group(1)
            to_line = header_line(ok, "To")
            sock.sendto(in_dialog("ACK", contact, message, to_line, 1, "z9hG4bKringcapack"), server)
            ringing.release()
            time.sleep(0.5)
            sock.sendto(in_dialog("BYE", contact, message, to_line, 2, "z9hG4bKringcapbye"), server)
            assert listen(sock, heard, lambda: 200 in heard.statuses("BYE"), 5), heard.responses

    with caplog.at_level("INFO", logger="encuestador.sip"):
        run_agent_while(agent, caller)
    assert heard.statuses("INVITE")[-2:] == [180, 200], heard.responses
    # answered while the voice was still held busy: by the cap, not by the greeting
    assert "answered before its greeting was ready" in caplog.text
    assert waited[0] >= GREETING_WAIT_S - 0.5, waited
    assert not agent.calls and agent.admission.live_calls("127.0.0.1") == 0


def test_a_call_whose_greeting_names_nobody_is_answered_without_ringing(ringing):
    """An unknown number hears the generic greeting, made already: 200 at once, and no 180 just
    before it (behind Kamailio a 180 sent right before the 200 may overtake it)."""
    agent = ringing.agent
    heard = Heard()

    def caller() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            message = invite(agent.config.listen_port, sock.getsockname(), "ringnone", sdp(free_port())).decode()
            message = message.replace(CALLER_PHONE, "+525511112222")   # nobody the store knows
            server = ("127.0.0.1", agent.config.listen_port)
            sock.sendto(message.encode(), server)
            assert listen(sock, heard, lambda: 200 in heard.statuses("INVITE"), 5), heard.responses
            ok = heard.first(200)
            contact = re.search(r"^Contact:.*<([^>]+)>", ok, re.M | re.I).group(1)
            to_line = header_line(ok, "To")
            sock.sendto(in_dialog("ACK", contact, message, to_line, 1, "z9hG4bKringnoneack"), server)
            time.sleep(0.3)
            sock.sendto(in_dialog("BYE", contact, message, to_line, 2, "z9hG4bKringnonebye"), server)
            assert listen(sock, heard, lambda: 200 in heard.statuses("BYE"), 5), heard.responses

    run_agent_while(agent, caller)      # the voice is held busy all along: nothing waited for it
    assert 180 not in heard.statuses("INVITE"), heard.responses
    assert agent.live_calls == 0 and agent.ringing_calls == 0


def _call_row(tmp_path) -> dict:
    import sqlite3

    conn = sqlite3.connect(tmp_path / "calls.db")
    conn.row_factory = sqlite3.Row
    return dict(conn.execute("SELECT outcome, ended_at FROM calls").fetchone())
