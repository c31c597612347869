"""First agent audio of an inbound call as the caller hears it.

A real ``encuestador serve`` (with the voice asked for) on 127.0.0.1 and a raw-socket SIP caller who
phones in as a known customer whose name that process has never said. Per call: how long it rang
(INVITE sent → 200 OK received: the agent makes the personal greeting meanwhile) and how long after
the 200 the first non-silent RTP packet of the agent arrived (pjmedia sends silence until the
session speaks). Loopback only; every wait bounded.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

SILENCE_LEVEL = 300   # int16 peak below which a packet counts as silence (as ``bench.voice._first_sound_ms``)
START_TIMEOUT_S = 300  # serve loads the recogniser and the voice and renders missing prompts first


@dataclass
class InboundTiming:
    name: str
    ring_ms: float          # INVITE sent → 200 OK received
    first_audio_ms: float   # 200 OK received → the first non-silent RTP packet received


def _free_port() -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port on 127.0.0.1")


@dataclass
class Serve:
    proc: subprocess.Popen
    port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, count: int = 1, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.log().count(text) < count:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve: {text!r} ×{count} not seen:\n{self.log()[-3000:]}")
            time.sleep(0.05)


@contextmanager
def serve(tts: str, customers: list[tuple[str, str, str]]) -> Iterator[Serve]:
    """``encuestador serve --tts tts`` on a free port, its store holding ``customers``
    (customer_id, name, phone)."""
    import yaml

    from encuestador.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        db = tmp_path / "calls.db"
        store = Store(db)
        for customer_id, name, phone in customers:
            store.upsert_customer(customer_id, name, phone)
        store.close()
        config = tmp_path / "serve.yaml"
        config.write_text(yaml.safe_dump({"recordings_dir": str(tmp_path / "rec")}))
        config.chmod(0o600)
        port = _free_port()
        log_path = tmp_path / "serve.log"
        with open(log_path, "w") as log:
            proc = subprocess.Popen([sys.executable, "-m", "encuestador", "serve", "--listen", f"127.0.0.1:{port}",
                                     "--db", str(db), "--config", str(config), "--tts", tts],
                                    stdout=log, stderr=subprocess.STDOUT, text=True)
            server = Serve(proc, port, log_path)
            try:
                server.wait_for("listening", timeout=START_TIMEOUT_S)
                yield server
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _header(message: str, name: str) -> str:
    return re.search(rf"^{name}:.*$", message, re.M | re.I).group(0).strip()


def _request(method: str, uri: str, via_branch: str, local: tuple[str, int], lines: list[str], cseq: int,
             body: str = "", content_type: str | None = None) -> bytes:
    host, port = local
    head = [f"{method} {uri} SIP/2.0", f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{via_branch};rport", *lines,
            f"CSeq: {cseq} {method}", "Max-Forwards: 70"]
    if content_type:
        head.append(f"Content-Type: {content_type}")
    head.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(head) + "\r\n\r\n" + body).encode()


def offer_sdp(media_port: int, host: str = "127.0.0.1") -> str:
    """A caller's SDP offer: PCMU and telephone-event on ``media_port`` (also used by the tests' raw peers)."""
    return (f"v=0\r\no=peer 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
            f"m=audio {media_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n")


def sip_responses(sock: socket.socket, deadline: float) -> Iterator[tuple[int, bytes, float]]:
    """(status, message, arrival) of each SIP response arriving on ``sock`` until ``deadline``
    (also used by the tests' raw peers)."""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65535)
        except socket.timeout:
            return
        arrived = time.monotonic()
        match = re.match(rb"SIP/2\.0 (\d{3}) ", data)
        if match:
            yield int(match.group(1)), data, arrived


def _first_sound(rtp: socket.socket, deadline: float) -> float | None:
    """Arrival time of the first PCMU packet with sound in it, or None by ``deadline``."""
    from encuestador.audio.g711 import mulaw_decode

    while time.monotonic() < deadline:
        rtp.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            packet = rtp.recv(2048)
        except socket.timeout:
            return None
        arrived = time.monotonic()
        if len(packet) > 12 and packet[1] & 0x7F == 0:   # PCMU
            samples = mulaw_decode(np.frombuffer(packet[12:], dtype=np.uint8))
            if np.abs(samples.astype(np.int32)).max() > SILENCE_LEVEL:
                return arrived
    return None


def call_in(server: Serve, name: str, phone: str, index: int) -> InboundTiming:
    """One inbound call from ``phone``: INVITE, ACK the 200, time the first sound, BYE."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sip, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtp:
        sip.bind(("127.0.0.1", 0))
        rtp.bind(("127.0.0.1", 0))
        local, target = sip.getsockname(), ("127.0.0.1", server.port)
        uri = f"sip:encuesta@127.0.0.1:{server.port}"
        call_id, tag = f"bench-inbound-{index}-{time.time_ns()}", f"b{index}"
        dialog = [f"From: <sip:{phone}@127.0.0.1:{local[1]}>;tag={tag}", f"To: <{uri}>", f"Call-ID: {call_id}",
                  f"Contact: <sip:{phone}@127.0.0.1:{local[1]}>"]
        offer = offer_sdp(rtp.getsockname()[1])
        sent = time.monotonic()
        sip.sendto(_request("INVITE", uri, f"inv{index}", local, dialog, 1, offer, "application/sdp"), target)
        answered = ok = None
        for status, message, arrived in sip_responses(sip, sent + 15):
            if status == 200:
                answered, ok = arrived, message.decode(errors="replace")
                break
            if status >= 300:
                raise RuntimeError(f"call refused: {message.decode(errors='replace').splitlines()[0]}")
        if ok is None:
            raise RuntimeError(f"no 200 OK within 15 s:\n{server.log()[-2000:]}")
        contact = re.search(r"<([^>]+)>", _header(ok, "Contact")).group(1)
        in_dialog = [dialog[0], _header(ok, "To"), dialog[2]]
        sip.sendto(_request("ACK", contact, f"ack{index}", local, in_dialog, 1), target)
        sound = _first_sound(rtp, answered + 15)
        sip.sendto(_request("BYE", contact, f"bye{index}", local, in_dialog, 2), target)
        for status, _, _ in sip_responses(sip, time.monotonic() + 5):
            if status == 200:
                break
    if sound is None:
        raise RuntimeError(f"no sound from the agent within 15 s of the answer:\n{server.log()[-2000:]}")
    return InboundTiming(name, round((answered - sent) * 1000, 1), round((sound - answered) * 1000, 1))


def first_audio_of_inbound_calls(tts: str, names: list[str]) -> list[InboundTiming]:
    """One call per name, one after another, to a fresh ``serve --tts tts``."""
    customers = [(f"B-{i}", name, f"+52559900{i:04d}") for i, name in enumerate(names)]
    timings = []
    with serve(tts, customers) as server:
        for i, (_, name, phone) in enumerate(customers):
            timings.append(call_in(server, name, phone, i))
            server.wait_for("ended:", count=i + 1, timeout=30)
            time.sleep(0.5)
    return timings
