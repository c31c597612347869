"""Hostile SIP and RTP peers made of raw sockets on loopback: INVITEs that are never acknowledged,
malformed requests, floods, and RFC 4733 packets from a foreign port. Every loop is bounded."""

from __future__ import annotations

import re
import socket
import struct
import time
from dataclasses import dataclass

from bench.inbound_call import offer_sdp, sip_responses

sdp = offer_sdp  # the offer every raw peer here makes


def invite(server_port: int, local: tuple[str, int], call_id: str, body: str, content_length: int | None = None,
           transport: str = "UDP") -> bytes:
    host, port = local
    length = len(body.encode()) if content_length is None else content_length
    return (f"INVITE sip:encuesta@127.0.0.1:{server_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport} {host}:{port};branch=z9hG4bK{call_id};rport\r\n"
            f"From: <sip:+525500000000@{host}:{port}>;tag={call_id}\r\n"
            f"To: <sip:encuesta@127.0.0.1:{server_port}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:+525500000000@{host}:{port}>\r\nMax-Forwards: 70\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {length}\r\n\r\n{body}").encode()


def final_status(sock: socket.socket, timeout: float = 5.0) -> tuple[int | None, bytes]:
    """The first final (≥ 200) response arriving on ``sock`` within ``timeout``."""
    for status, message, _ in sip_responses(sock, time.monotonic() + timeout):
        if status >= 200:
            return status, message
    return None, b""


@dataclass
class RtpSink:
    """A UDP socket standing in for an SDP's media address: counts what arrives."""

    sock: socket.socket

    @classmethod
    def open(cls, host: str = "127.0.0.1") -> "RtpSink":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((host, 0))
        sock.setblocking(False)
        return cls(sock)

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def packets(self, limit: int = 100_000) -> list[bytes]:
        """Every datagram waiting (taken off the socket)."""
        out = []
        for _ in range(limit):
            try:
                out.append(self.sock.recv(65535))
            except BlockingIOError:
                break
        return out

    def received_bytes(self) -> int:
        return sum(len(packet) for packet in self.packets())

    def close(self) -> None:
        self.sock.close()


def rfc4733_packets(key: str, events: int, payload_type: int, ssrc: int = 0x0BADF00D) -> list[bytes]:
    """``events`` separate presses of ``key`` (distinct timestamps), each as 3 updates and 3 ends."""
    code = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}[key]
    packets, seq = [], 7000
    for e in range(events):
        ts = 900_000 + e * 8000
        for i in range(6):
            end = i >= 3
            payload = struct.pack("!BBH", code, (0x80 if end else 0) | 10, (i + 1) * 160 if not end else 480)
            header = struct.pack("!BBHII", 0x80, (0x80 if i == 0 else 0) | payload_type, seq & 0xFFFF, ts, ssrc)
            packets.append(header + payload)
            seq += 1
    return packets


def sdp_media_port(message_log: str) -> int | None:
    """The agent's RTP port: the m=audio port in the 200 OK a SIPp message trace holds."""
    for block in message_log.split("SIP/2.0 200 OK")[1:]:
        match = re.search(r"m=audio (\d+)", block)
        if match:
            return int(match.group(1))
    return None
