"""Write pcap files of RTP streams for SIPp's ``play_pcap_audio``: RFC 4733 key presses and G.711
audio (e.g. in-band DTMF tones or speech).

SIPp's own ``dtmf_2833_N.pcap`` files all carry the same RTP timestamps, so a receiver rightly takes
a second press (of the same key, or after a few others) for a retransmission of the first. A real
phone gives every press its own timestamp; these files do too (``press_index`` sets it).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from encuestador.audio import g711

_EVENT_CODES = {**{str(d): d for d in range(10)}, "*": 10, "#": 11, "A": 12, "B": 13, "C": 14, "D": 15}


def _packet(payload: bytes, seq: int, ts: int, pt: int, marker: bool, ssrc: int = 0x5EC0FFEE) -> bytes:
    rtp = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload
    udp = struct.pack("!HHHH", 40000, 6000, 8 + len(rtp), 0) + rtp
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
    return b"\x00" * 12 + b"\x08\x00" + ip  # Ethernet: no MACs, IPv4


def _write(path: Path, packets: list[tuple[float, bytes]]) -> Path:
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t, frame in packets:
            sec = int(t)
            f.write(struct.pack("<IIII", sec, int((t - sec) * 1e6), len(frame), len(frame)))
            f.write(frame)
    return path


def rfc4733_press(path: Path, key: str, press_index: int, duration_ms: int = 120, payload_type: int = 101) -> Path:
    """One key press as RFC 4733 telephone-events (8 kHz clock), unique timestamp per ``press_index``."""
    code = _EVENT_CODES[key]
    seq, ts = 1000 * (press_index + 1), 400000 * (press_index + 1)
    packets = []
    steps = duration_ms // 20
    for i in range(steps):
        payload = struct.pack("!BBH", code, 10, (i + 1) * 160)
        packets.append((i * 0.02, _packet(payload, seq + i, ts, payload_type, marker=(i == 0))))
    end = struct.pack("!BBH", code, 0x80 | 10, steps * 160)
    for j in range(3):  # the end packet, sent three times as the RFC recommends
        packets.append((steps * 0.02 + j * 0.005, _packet(end, seq + steps + j, ts, payload_type, marker=False)))
    return _write(path, packets)


def pcmu_stream(path: Path, audio_8k: np.ndarray, press_index: int = 0) -> Path:
    """8 kHz float audio as PCMU RTP packets of 20 ms."""
    pcm = np.clip(np.round(audio_8k * 32767), -32768, 32767).astype(np.int16)
    codes = g711.mulaw_encode(pcm).tobytes()
    seq, ts = 1000 * (press_index + 1), 400000 * (press_index + 1)
    packets = [(i / 50, _packet(codes[i * 160 : (i + 1) * 160], seq + i, ts + i * 160, 0, marker=(i == 0)))
               for i in range(len(codes) // 160)]
    return _write(path, packets)
