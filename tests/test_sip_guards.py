"""The SIP edge's policies on their own: per-source admission, malformed INVITEs, the TCP connection
policy, the kernel INVITE filter and RTP pinning (real sockets on loopback, no SIP stack)."""

from __future__ import annotations

import socket

from encuestador.sip.admission import Admission, SourceLimits
from encuestador.sip.flood_filter import attach
from encuestador.sip.headers import request_problem
from encuestador.sip.rtp_pin import Pin, pin, pinned, split_address
from encuestador.sip.tcp_guard import Connection, TcpLimits, to_close


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_admission_limits_calls_pending_and_rate_per_source():
    clock = Clock()
    admission = Admission(SourceLimits(max_calls=3, max_pending=2, burst=5, per_minute=60, total_burst=100), clock)
    assert admission.refusal("10.0.0.1", "a") is None
    assert admission.refusal("10.0.0.1", "b") is None
    assert "unacknowledged" in admission.refusal("10.0.0.1", "c")
    admission.confirmed("a")
    assert admission.refusal("10.0.0.1", "d") is None
    assert "3 calls already" in admission.refusal("10.0.0.1", "e")
    assert admission.refusal("10.0.0.2", "f") is None      # another source is not affected
    assert "too many new calls" in admission.refusal("10.0.0.1", "g")   # 5 INVITEs: bucket empty
    assert admission.flooding("10.0.0.1") and not admission.flooding("10.0.0.2")
    for key in "abd":
        admission.released(key)
    clock.now += 3                                         # 3 tokens back at one a second
    assert admission.refusal("10.0.0.1", "h") is None
    assert admission.live_calls("10.0.0.1") == 1


def test_admission_total_rate_marks_an_overload():
    clock = Clock()
    admission = Admission(SourceLimits(max_calls=3, total_burst=3, total_per_second=1), clock)
    refusals = [admission.refusal(f"10.0.1.{i}", f"k{i}") for i in range(4)]
    assert refusals[:3] == [None, None, None] and "all sources" in refusals[3] and admission.overloaded
    clock.now += 1
    assert admission.refusal("10.0.1.9", "k9") is None and not admission.overloaded


def test_request_problem_finds_lengths_and_unusable_sdp():
    sdp = "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n"

    def invite(body: str, length: int | None = None) -> str:
        n = len(body.encode()) if length is None else length
        return f"INVITE sip:x SIP/2.0\r\nContent-Type: application/sdp\r\nContent-Length: {n}\r\n\r\n{body}"

    assert request_problem(invite(sdp)) is None
    assert request_problem(invite("")) is None                       # offer in the ACK
    assert "Content-Length 9999" in request_problem(invite(sdp, 9999))
    assert "not an IP address" in request_problem(invite(sdp.replace("IN IP4 127.0.0.1\r\nt", "IN IP4 evil.mx\r\nt")))
    assert "cannot receive" in request_problem(invite(sdp.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0")))
    assert "out of range" in request_problem(invite(sdp.replace("audio 6000", "audio 0")))


def test_tcp_policy_closes_idle_excess_and_never_a_call():
    limits = TcpLimits(idle_s=30, per_source=2, total=4, per_round=10)
    conns = [Connection(10, ("10.0.0.1", 1), 40.0),   # idle too long
             Connection(11, ("10.0.0.1", 2), 5.0),
             Connection(12, ("10.0.0.1", 3), 3.0),
             Connection(13, ("10.0.0.1", 4), 1.0),
             Connection(14, ("10.0.0.2", 1), 50.0)]   # idle, but it brought a live call
    closing = {c.fd: why for c, why in to_close(conns, busy={("10.0.0.2", 1)}, limits=limits)}
    assert closing[10].startswith("idle") and "more than 2 connections" in closing[11]
    assert set(closing) == {10, 11}                   # the freshest of 10.0.0.1 kept, the call's kept


def test_invite_filter_drops_only_invites_from_blocked_addresses():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(0.3)
        attach(receiver.fileno(), ["127.0.0.2"])
        for source, payload in (("127.0.0.1", b"INVITE a"), ("127.0.0.2", b"INVITE b"), ("127.0.0.2", b"BYE c"),
                                ("127.0.0.2", b"\r\n")):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                sender.bind((source, 0))
                sender.sendto(payload, receiver.getsockname())
        got = []
        for _ in range(4):
            try:
                got.append(receiver.recv(100))
            except socket.timeout:
                break
        assert got == [b"INVITE a", b"BYE c", b"\r\n"]
        attach(receiver.fileno(), [], every_invite=True)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"INVITE d", receiver.getsockname())
            sender.sendto(b"ACK e", receiver.getsockname())
        assert receiver.recv(100) == b"ACK e"


def test_pinned_socket_ignores_other_sources():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtp, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        for s in (rtp, peer, stranger):
            s.bind(("127.0.0.1", 0))
        rtp.settimeout(0.3)
        done = pin([Pin(rtp.getsockname(), peer.getsockname())])
        assert len(done) == 1 and pinned(rtp.getsockname()) == peer.getsockname()
        stranger.sendto(b"foreign", rtp.getsockname())
        peer.sendto(b"negotiated", rtp.getsockname())
        assert rtp.recv(100) == b"negotiated"
        rtp.sendto(b"still sends", peer.getsockname())      # pjmedia's sendto keeps working
        peer.settimeout(0.3)
        assert peer.recv(100) == b"still sends"
    assert split_address("[::1]:4000") == ("::1", 4000) and split_address("127.0.0.1:0") is None
