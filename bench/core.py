"""The per-frame cost of one call's audio path, against a straightforward implementation.

Measured path, per 20 ms frame (320 samples at 16 kHz): receive (bytes from the media port into the
inbound ring buffer), the worker (ring read, in-band DTMF, VAD endpointing, session bookkeeping) and
send (the agent's frame out of the playback buffer, to bytes). The baseline does the same work the
obvious way: Python lists as buffers, a per-sample Goertzel recursion for the eight DTMF tones, and
per-sample energy; its VAD call is the same webrtcvad.
"""

from __future__ import annotations

import math
import statistics
import time

import numpy as np
import webrtcvad
from encuestador.audio import FRAME_SAMPLES, SAMPLE_RATE
from encuestador.audio.ringbuffer import RingBuffer
from encuestador.audio.tones import DTMF_COLS, DTMF_ROWS


def _frames(n: int, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    t = np.arange(n * FRAME_SAMPLES) / SAMPLE_RATE
    speechy = 3000 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 2 * t) > 0) + rng.standard_normal(t.size) * 200
    pcm = np.clip(speechy, -32768, 32767).astype("<i2")
    return [pcm[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES].tobytes() for i in range(n)]


def measure_core(new_session, frames: list[bytes]) -> list[float]:
    """µs per frame for the real path through a live ``CallSession`` (a finished session is replaced,
    outside the timing, so every measured frame does the full work)."""
    inbound = RingBuffer(SAMPLE_RATE * 10)
    frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
    out = np.zeros(FRAME_SAMPLES, dtype=np.int16)
    session = new_session()
    costs = []
    for raw in frames:
        if session.finished:
            session = new_session()
        start = time.perf_counter()
        inbound.write(np.frombuffer(raw, dtype="<i2"))          # media thread: receive
        inbound.read_into(frame)                                 # worker
        session.push_audio(frame)
        session.pull_audio(out)                                  # media thread: send
        out.tobytes()
        costs.append((time.perf_counter() - start) * 1e6)
    return costs


class BaselinePath:
    """The same per-frame work written plainly (lists, per-sample loops)."""

    def __init__(self) -> None:
        self.inbound: list[int] = []
        self.playback: list[int] = [0] * (SAMPLE_RATE * 5)
        self.vad = webrtcvad.Vad(2)
        self.coeffs = [2 * math.cos(2 * math.pi * f / SAMPLE_RATE) for f in DTMF_ROWS + DTMF_COLS]

    def process(self, raw: bytes) -> None:
        samples = [int.from_bytes(raw[i : i + 2], "little", signed=True) for i in range(0, len(raw), 2)]
        self.inbound.extend(samples)
        frame, self.inbound = self.inbound[:FRAME_SAMPLES], self.inbound[FRAME_SAMPLES:]
        energy = sum(s * s for s in frame) / len(frame)
        powers = []
        for c in self.coeffs:
            s1 = s2 = 0.0
            for s in frame:
                s1, s2 = s + c * s1 - s2, s1
            powers.append(s1 * s1 + s2 * s2 - c * s1 * s2)
        if energy > 10:
            self.vad.is_speech(b"".join(s.to_bytes(2, "little", signed=True) for s in frame), SAMPLE_RATE)
        out, self.playback = self.playback[:FRAME_SAMPLES], self.playback[FRAME_SAMPLES:] + [0] * FRAME_SAMPLES
        b"".join(s.to_bytes(2, "little", signed=True) for s in out)


def measure_baseline(frames: list[bytes]) -> list[float]:
    path = BaselinePath()
    costs = []
    for raw in frames:
        start = time.perf_counter()
        path.process(raw)
        costs.append((time.perf_counter() - start) * 1e6)
    return costs


def run(runtime, quick: bool) -> dict:
    """Our path and the baseline in alternating rounds (the machine's speed drifts; both see it),
    reported as the median over all frames and the ratio of the medians."""
    from encuestador.dialogue.survey import CustomerContext

    def new_session():
        session = runtime.new_session(CustomerContext("Bench"), record=False)
        session.config = type(session.config)(**{**session.config.__dict__, "barge_in": False})
        session.start()
        return session

    rounds, per_round = (3, 500) if quick else (8, 750)
    frames = _frames(per_round)
    ours: list[float] = []
    base: list[float] = []
    round_ratios = []
    for _ in range(rounds):
        ours_round = measure_core(new_session, frames)
        base_round = measure_baseline(frames[: per_round // 5])
        ours += ours_round
        base += base_round
        round_ratios.append(statistics.median(base_round) / statistics.median(ours_round))
    ours_median, base_median = statistics.median(ours), statistics.median(base)
    return {"core_us_per_frame": round(ours_median, 1),
            "core_us_per_frame_p95": round(sorted(ours)[int(0.95 * len(ours))], 1),
            "core_baseline_us_per_frame": round(base_median, 1),
            "core_speedup_vs_baseline": round(base_median / ours_median, 2),
            "core_speedup_per_round": [round(r, 1) for r in round_ratios],
            "core_frames_measured": len(ours)}
