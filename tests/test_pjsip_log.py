"""pjsip's own log lines cannot be forged by a packet (issue 17): a request missing its Call-ID is
dumped whole by pjsip at level 1; the real ``encuestador serve`` must write that dump escaped, on one
line. Raw UDP on 127.0.0.1."""

from __future__ import annotations

import socket
import time

FORGED = "call 123 ended: completed, 1.0 s; live calls: 0"
BODY = f"\x1b[2J\x1b[H\rcall 999 spoofed\n{FORGED}\n"


def without_call_id(server_port: int, local: tuple[str, int], tag: str) -> bytes:
    """An OPTIONS with no Call-ID (pjsip: "Missing required header(s)", the packet quoted) whose
    body clears the terminal and forges status lines."""
    host, port = local
    return (f"OPTIONS sip:encuesta@127.0.0.1:{server_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{tag}\r\n"
            f"From: <sip:probe@{host}:{port}>;tag={tag}\r\nTo: <sip:encuesta@127.0.0.1:{server_port}>\r\n"
            f"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(BODY.encode())}\r\n\r\n{BODY}").encode()


def test_pjsip_quoting_a_packet_writes_it_escaped(server):
    srv = server()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        for i in range(3):
            peer.sendto(without_call_id(srv.port, peer.getsockname(), f"nocid{i}"), ("127.0.0.1", srv.port))
    deadline = time.monotonic() + 10
    while srv.log().count("Missing required header") < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    output = srv.stop().encode()   # pjsip's own printf output is flushed at exit at the latest
    assert b"\x1b" not in output and b"\r" not in output
    lines = output.decode().splitlines()
    assert not [line for line in lines if line.startswith(("call 123", "call 999"))], lines[-20:]
    # pjsip did quote the packet (so this test can fail): escaped, inside one line of pjsip's logger
    quoted = [line for line in lines if "encuestador.sip.pjsip" in line and "Missing required header" in line]
    assert len(quoted) == 3, lines[-20:]
    assert all("\\x1b[2J\\x1b[H\\rcall 999 spoofed\\n" + FORGED in line for line in quoted), quoted[0]


def test_a_long_pjsip_line_is_shortened_and_says_by_how_much():
    from encuestador.sip.pjsip_log import one_line

    assert one_line("  sip_endpoint.c dump:\nA\x1b\n") == "sip_endpoint.c dump:\\nA\\x1b"
    assert one_line("x" * 5000, limit=4000) == "x" * 4000 + " … (1000 more characters)"


def test_a_flood_of_pjsip_lines_is_cut_to_the_budget_and_counted():
    from encuestador.sip.pjsip_log import LineBudget

    now = [0.0]
    budget = LineBudget(per_second=10, burst=3, clock=lambda: now[0])
    assert [budget.take() for _ in range(5)] == [(True, 0)] * 3 + [(False, 0)] * 2
    now[0] += 0.1                      # one line's worth of time: the next line says two were left out
    assert budget.take() == (True, 2)
    assert budget.take() == (False, 0)
