"""Run one whole call through ``CallSession`` from WAV files, faster than real time.

Each caller recording is "spoken" when the agent next waits for an answer (after its prompt has
finished and a short human gap); between recordings the caller is silent.
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio import FRAME_SAMPLES
from .dialogue.survey import CustomerContext, SurveyResult
from .events import Event, Heard, Say
from .runtime import Runtime
from .session import CallSession, EventSink

HUMAN_GAP_MS = 400


@dataclass
class SimulatedCall:
    call_id: str
    session: CallSession

    @property
    def result(self) -> SurveyResult:
        return self.session.dialogue.result

    @property
    def events(self) -> list[Event]:
        return self.session.events


def run_call(runtime: Runtime, customer: CustomerContext, caller_audio: list[np.ndarray],
             sinks: list[EventSink] | None = None, call_id: str | None = None,
             gap_ms: int = HUMAN_GAP_MS, line_noise_dbfs: float = -70.0, seed: int = 0,
             answered_by: np.ndarray | None = None) -> SimulatedCall:
    """Drive a session frame by frame: agent frame out, caller frame in, 50 times per simulated second.

    ``answered_by`` makes it an outbound call: that audio (a person's "¿Bueno?" or a voicemail
    greeting) plays from the moment the call is answered, and answering-machine detection decides
    how the agent starts.
    """
    session = runtime.new_session(customer, sinks, amd=answered_by is not None)
    pending = deque(np.asarray(a, dtype=np.float32) for a in caller_audio)
    rng = np.random.default_rng(seed)
    noise_rms = 10 ** (line_noise_dbfs / 20)
    speaking: np.ndarray | None = None if answered_by is None else np.asarray(answered_by, dtype=np.float32)
    position = 0
    waited_ms = 0
    prompts_heard = -1  # agent prompts said when the caller last answered
    session.start()
    limit_frames = session.config.max_call_ms // 20 + 1
    frame = np.zeros(FRAME_SAMPLES, dtype=np.float32)
    for _ in range(limit_frames):
        if session.finished:
            break
        session.pull_audio()
        prompts_said = sum(isinstance(e, Say) for e in session.events)
        agent_waits = session.dialogue.awaiting is not None and not session.playing
        if speaking is None and pending and agent_waits and prompts_said > prompts_heard:
            waited_ms += 20
            if waited_ms >= gap_ms:
                speaking, position, waited_ms = pending.popleft(), 0, 0
                prompts_heard = prompts_said
        frame[:] = rng.standard_normal(FRAME_SAMPLES) * noise_rms
        if speaking is not None:
            chunk = speaking[position : position + FRAME_SAMPLES]
            frame[: len(chunk)] += chunk
            position += FRAME_SAMPLES
            if position >= len(speaking):
                speaking = None
        session.push_audio(np.clip(np.round(frame * 32767), -32768, 32767).astype(np.int16))
    if not session.finished:
        session.hangup_by_caller()
    return SimulatedCall(call_id or uuid.uuid4().hex[:12], session)


def write_outputs(call: SimulatedCall, customer: CustomerContext, out_dir: Path) -> dict:
    """``result.json``, ``events.jsonl`` and ``conversation.wav`` (agent left, caller right)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    r = call.result
    result = {
        "call_id": call.call_id,
        "customer": {"id": customer.customer_id, "name": customer.name, "company": customer.company},
        "consent": r.consent, "score": r.score, "resolved": r.resolved, "feedback": r.feedback,
        "feedback_analysis": r.feedback_analysis, "opt_out": r.opt_out, "outcome": r.outcome,
        "transferred": r.transferred, "ticket": r.ticket,
        "callback": r.callback, "answered_via": r.via,
        "duration_ms": call.session.now_ms,
    }
    (out_dir / "result.json").write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    with open(out_dir / "events.jsonl", "w", encoding="utf-8") as f:
        for e in call.events:
            f.write(e.to_json() + "\n")
    call.session.write_recording(out_dir / "conversation.wav")
    return result


def transcript_lines(events: list[Event]) -> list[str]:
    """A readable transcript: what the agent said and what it understood from the caller."""
    lines = []
    for e in events:
        minutes, tenths = divmod(round(e.at_ms / 100), 600)
        stamp = f"[{minutes:02d}:{tenths / 10:04.1f}]"
        if isinstance(e, Say):
            lines.append(f"{stamp} Agente:  {e.text}")
        elif isinstance(e, Heard):
            slots = "".join(f" {k}={v}" for k, v in e.slots.items())
            lines.append(f"{stamp} Cliente: «{e.text}»  → {e.intent}{slots} "
                         f"(confianza {e.confidence:.2f}, {e.asr_ms} ms)")
        elif e.kind == "Dtmf":
            lines.append(f"{stamp} Cliente: tecla {e.digit}")  # type: ignore[attr-defined]
        elif e.kind == "NoInput":
            lines.append(f"{stamp} (silencio)")
        elif e.kind in ("Transfer", "Hangup", "TicketOpened", "AnswerRecorded"):
            detail = {k: v for k, v in e.__dict__.items() if k != "at_ms"}
            lines.append(f"{stamp} · {e.kind} {json.dumps(detail, ensure_ascii=False)}")
    return lines
