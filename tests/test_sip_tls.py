"""A whole inbound call over SIP-over-TLS with SRTP (issue 16): a trunk that speaks TLS offers SDES
keys; the agent answers RTP/SAVP with a key of its own, sends SRTP (not the clear audio), and the call
is stored. This SIPp build has no TLS, so the trunk is a Python ``ssl`` socket."""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import time

from collections import Counter

from raw_sip import RtpSink
from sip_harness import free_port, self_signed
from test_sip import rows

OFFER_KEY = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"


class SipStream:
    """SIP messages over one TLS connection, framed by Content-Length."""

    def __init__(self, sock: ssl.SSLSocket) -> None:
        self.sock, self.buffer = sock, b""

    def send(self, message: str) -> None:
        self.sock.sendall(message.encode())

    def next(self, timeout: float = 10.0) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end >= 0:
                match = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", self.buffer[:head_end])
                end = head_end + 4 + (int(match.group(1)) if match else 0)
                if len(self.buffer) >= end:
                    message, self.buffer = self.buffer[:end], self.buffer[end:]
                    return message
            left = deadline - time.monotonic()
            assert left > 0, f"no complete SIP message within {timeout} s: {self.buffer[:500]!r}"
            self.sock.settimeout(left)
            chunk = self.sock.recv(65535)
            assert chunk, "the agent closed the TLS connection"
            self.buffer += chunk

    def response(self, method: str, timeout: float = 10.0) -> bytes:
        """The next final response to ``method`` (provisional ones and requests skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.next(max(0.1, deadline - time.monotonic()))
            status = re.match(rb"SIP/2\.0 (\d{3}) ", message)
            if status and int(status.group(1)) >= 200 and re.search(rb"(?im)^cseq:\s*\d+ " + method.encode(), message):
                return message


def request(method: str, uri: str, port: int, local_port: int, call_id: str, cseq: int, to_tag: str = "",
            body: str = "") -> str:
    content = ("Content-Type: application/sdp\r\n" if body else "") + f"Content-Length: {len(body.encode())}\r\n"
    return (f"{method} {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/TLS 127.0.0.1:{local_port};branch=z9hG4bK{call_id}{cseq}{method};rport\r\n"
            f"From: <sip:+525512345678@127.0.0.1>;tag=trunk{call_id}\r\n"
            f"To: <sip:encuesta@127.0.0.1:{port}>{';tag=' + to_tag if to_tag else ''}\r\n"
            f"Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n"
            f"Contact: <sip:trunk@127.0.0.1:{local_port};transport=tls>\r\nMax-Forwards: 70\r\n"
            f"{content}\r\n{body}")


def srtp_offer(media_port: int) -> str:
    return (f"v=0\r\no=trunk 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {media_port} RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
            f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{OFFER_KEY}\r\n")


def test_an_inbound_call_over_tls_with_srtp_is_answered_encrypted_and_stored(server, tmp_path):
    cert, key = self_signed(tmp_path)
    tls_port = free_port()
    srv = server(tls_port=tls_port, tls_cert=str(cert), tls_key=str(key), srtp="mandatory")
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    media = RtpSink.open()
    try:
        with socket.create_connection(("127.0.0.1", tls_port), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            local_port = tls.getsockname()[1]
            sip = SipStream(tls)
            uri = f"sip:encuesta@127.0.0.1:{tls_port};transport=tls"
            sip.send(request("INVITE", uri, tls_port, local_port, "tls-srtp-1", 1, body=srtp_offer(media.port)))
            answer = sip.response("INVITE", timeout=15)
            assert answer.startswith(b"SIP/2.0 200 "), answer[:300]
            body = answer.split(b"\r\n\r\n", 1)[1].decode()
            assert re.search(r"m=audio \d+ RTP/SAVP ", body), body
            crypto = re.search(r"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:(\S+)", body)
            assert crypto and crypto.group(1).split("|")[0] != OFFER_KEY, body   # a key of its own
            to_tag = re.search(rb"(?im)^to:.*;tag=([^;\s]+)", answer).group(1).decode()
            contact = re.search(rb"(?im)^(?:contact|m)\s*:.*<([^>]+)>", answer).group(1).decode()
            sip.send(request("ACK", contact, tls_port, local_port, "tls-srtp-1", 1, to_tag))
            srv.wait_for("customer=")                     # the call is registered; let the greeting play
            time.sleep(2.0)
            sip.send(request("BYE", contact, tls_port, local_port, "tls-srtp-1", 2, to_tag))
            assert sip.response("BYE").startswith(b"SIP/2.0 200 ")
        srv.wait_for("ended:")
        sizes = Counter(len(packet) for packet in media.packets())
        # The greeting went out as SRTP: 12-byte header, 160 bytes of PCMU, a 10-byte authentication
        # tag (AES_CM_128_HMAC_SHA1_80); plain RTP would be 172 bytes.
        assert sizes[12 + 160 + 10] >= 50 and sizes[12 + 160] == 0, sizes
    finally:
        media.close()
    [call] = rows(srv.db)
    assert call["outcome"] == "hung_up", call


def test_an_outbound_call_goes_to_the_trunk_over_tls_with_srtp(tmp_path, whisper_dir):
    """``trunk.proxy`` with ``;transport=tls``: the agent's INVITE reaches the trunk over TLS and offers
    SRTP only (``srtp: mandatory``); the trunk answers with its own key, hangs up after 2 s, and the
    call ends cleanly."""
    import json
    import sys
    import threading

    import yaml

    cert, key = self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(str(cert), str(key))
    listener = socket.create_server(("127.0.0.1", 0))
    trunk_port = listener.getsockname()[1]
    media = RtpSink.open()
    seen: dict[str, bytes] = {}
    failures: list[str] = []

    def trunk() -> None:
        try:
            listener.settimeout(60)
            conn, _ = listener.accept()
            with server_context.wrap_socket(conn, server_side=True) as tls:
                sip = SipStream(tls)
                offer = sip.next(30)
                while not offer.startswith(b"INVITE "):
                    offer = sip.next(30)
                seen["invite"] = offer
                head = offer.split(b"\r\n\r\n", 1)[0].decode()
                copy = "".join(line + "\r\n" for line in head.split("\r\n")
                               if re.match(r"(?i)(via|from|call-id|cseq)\s*:", line))
                to = re.search(r"(?im)^to\s*:\s*(.*)$", head).group(1).strip()
                contact = re.search(r"(?im)^(?:contact|m)\s*:.*<([^>]+)>", head).group(1)
                # The answer takes the offered suite it supports, by the offer's tag (RFC 4568).
                tag = re.search(rb"a=crypto:(\d+) AES_CM_128_HMAC_SHA1_80 ", offer).group(1).decode()
                answer = (f"v=0\r\no=trunk 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                          f"m=audio {media.port} RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
                          f"a=crypto:{tag} AES_CM_128_HMAC_SHA1_80 inline:{OFFER_KEY}\r\n")
                sip.send(f"SIP/2.0 200 OK\r\n{copy}To: {to};tag=trunk1\r\n"
                         f"Contact: <sip:trunk@127.0.0.1:{trunk_port};transport=tls>\r\n"
                         f"Content-Type: application/sdp\r\nContent-Length: {len(answer)}\r\n\r\n{answer}")
                ack = sip.next(10)
                seen["ack"] = ack
                time.sleep(2.0)
                call_id = re.search(r"(?im)^call-id\s*:\s*(\S+)", head).group(1)
                from_ = re.search(r"(?im)^from\s*:\s*(.*)$", head).group(1).strip()
                sip.send(f"BYE {contact} SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:{trunk_port};branch=z9hG4bKtrunkbye\r\n"
                         f"From: {to};tag=trunk1\r\nTo: {from_}\r\nCall-ID: {call_id}\r\nCSeq: 1 BYE\r\n"
                         f"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
                seen["bye"] = sip.response("BYE")
        except Exception as e:  # reported by the test below
            failures.append(repr(e))

    thread = threading.Thread(target=trunk, daemon=True)
    thread.start()
    config = tmp_path / "call.yaml"
    config.write_text(yaml.safe_dump({
        "recordings_dir": str(tmp_path / "rec"), "srtp": "mandatory",
        "tls_port": free_port(), "tls_cert": str(cert), "tls_key": str(key),
        "trunk": {"proxy": f"sip:127.0.0.1:{trunk_port};transport=tls", "caller_id": "+525550001111"}}))
    config.chmod(0o600)
    try:
        call = subprocess.run([sys.executable, "-m", "encuestador", "call", "+525533334444",
                               "--listen", f"127.0.0.1:{free_port()}", "--db", str(tmp_path / "out.db"),
                               "--config", str(config), "--whisper-model", str(whisper_dir), "--tts", "espeak"],
                              capture_output=True, text=True, timeout=120)
        thread.join(30)
        sizes = Counter(len(packet) for packet in media.packets())
    finally:
        listener.close()
        media.close()
    assert not failures, failures + [call.stdout[-2000:], call.stderr[-2000:]]
    invite = seen["invite"].decode()
    assert re.search(r"(?im)^via\s*:\s*SIP/2\.0/TLS ", invite), invite[:600]
    assert re.search(r"m=audio \d+ RTP/SAVP ", invite) and "a=crypto:" in invite, invite
    assert seen["ack"].startswith(b"ACK ") and seen["bye"].startswith(b"SIP/2.0 200 ")
    assert sizes[12 + 160 + 10] >= 50 and sizes[12 + 160] == 0, sizes   # SRTP to the trunk's media address
    summary = json.loads(call.stdout.strip().splitlines()[-1])
    assert summary["outcome"] == "hung_up", call.stdout[-2000:]
