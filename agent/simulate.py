"""Run one whole call through ``CallSession`` from WAV files, faster than real time.

Each caller recording is "spoken" when the agent next waits for an answer (after its prompt has
finished and a short human gap); between recordings the caller is silent. ``drive`` is the frame loop;
what the caller does each frame is a ``Caller`` (``RecordedCaller`` here, the scripted caller of
``scripted_caller.py``).
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio import FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE
from .dialogue.survey import CustomerContext, SurveyResult
from .events import Event, Heard, Say
from .runtime import Runtime
from .session import CallSession, EventSink

HUMAN_GAP_MS = 400


@dataclass
class SimulatedCall:
    call_id: str
    session: CallSession
    caller: "Caller | None" = None          # who spoke: its log of turns, for evaluations
    script_check: dict | None = None        # a scripted caller's call scored against its script

    @property
    def result(self) -> SurveyResult:
        return self.session.dialogue.result

    @property
    def events(self) -> list[Event]:
        return self.session.events


class Caller:
    """What the caller does, frame by frame. ``drive`` calls ``step`` once per 20 ms, after the agent's
    frame was pulled and before the caller's frame is pushed: the caller adds its voice to ``frame``
    (float32, the line noise already in it) and may press keys (``session.push_dtmf``).

    The helpers here are the human timing both callers share: answer a new prompt once the agent
    waits for an answer (a question open, nothing left to play) and a short human gap has passed."""

    def __init__(self, gap_ms: int = HUMAN_GAP_MS) -> None:
        self.gap_ms = gap_ms
        self.prompts_said = 0          # Say events of the agent so far
        self.prompt_times: list[int] = []   # ... and when each was said (ms)
        self.last_prompt: Say | None = None
        self._events_seen = 0
        self._waited_ms = 0

    def begin(self, session: CallSession) -> None:
        """The call has started (``session.start()`` was called)."""

    def step(self, session: CallSession, frame: np.ndarray) -> None:
        raise NotImplementedError

    def watch(self, session: CallSession) -> None:
        """Count the agent's prompts (only events new since the last frame are read)."""
        events = session.events
        for event in events[self._events_seen:]:
            if isinstance(event, Say):
                self.prompts_said += 1
                self.prompt_times.append(event.at_ms)
                self.last_prompt = event
        self._events_seen = len(events)

    def agent_waits(self, session: CallSession) -> bool:
        return session.dialogue.awaiting is not None and not session.playing

    def gap_passed(self, session: CallSession) -> bool:
        """Call once per frame while a turn is due: True once the agent has waited ``gap_ms``."""
        if not self.agent_waits(session):
            return False
        self._waited_ms += FRAME_MS
        return self._waited_ms >= self.gap_ms

    def reset_gap(self) -> None:
        self._waited_ms = 0


class Voice:
    """Audio being spoken into the caller's frames."""

    def __init__(self, audio: np.ndarray) -> None:
        self.audio = np.asarray(audio, dtype=np.float32)
        self.position = 0

    def add_to(self, frame: np.ndarray) -> bool:
        """Add the next 20 ms to ``frame``; True when the audio is over."""
        chunk = self.audio[self.position : self.position + FRAME_SAMPLES]
        frame[: len(chunk)] += chunk
        self.position += FRAME_SAMPLES
        return self.position >= len(self.audio)


class RecordedCaller(Caller):
    """Each recording is spoken when the agent next waits for an answer (after its prompt and a human
    gap); between recordings the caller is silent. ``answered_by`` plays from the first frame (an
    outbound call's "¿Bueno?" or voicemail greeting)."""

    def __init__(self, recordings: list[np.ndarray], gap_ms: int = HUMAN_GAP_MS,
                 answered_by: np.ndarray | None = None) -> None:
        super().__init__(gap_ms)
        self.pending = deque(np.asarray(a, dtype=np.float32) for a in recordings)
        self.speaking: Voice | None = None if answered_by is None else Voice(answered_by)
        self.prompts_heard = -1  # agent prompts said when the caller last answered

    def step(self, session: CallSession, frame: np.ndarray) -> None:
        self.watch(session)
        if self.speaking is None and self.pending and self.prompts_said > self.prompts_heard:
            if self.gap_passed(session):
                self.speaking = Voice(self.pending.popleft())
                self.reset_gap()
                self.prompts_heard = self.prompts_said
        if self.speaking is not None and self.speaking.add_to(frame):
            self.speaking = None


def drive(session: CallSession, caller: Caller, line_noise_dbfs: float = -70.0, seed: int = 0) -> None:
    """The frame loop: agent frame out, caller frame in, 50 times per simulated second, until the call
    ends (or its maximum length); the caller hangs up if the agent has not."""
    rng = np.random.default_rng(seed)
    noise_rms = 10 ** (line_noise_dbfs / 20)
    session.start()
    caller.begin(session)
    limit_frames = session.config.max_call_ms // FRAME_MS + 1
    frame = np.zeros(FRAME_SAMPLES, dtype=np.float32)
    for _ in range(limit_frames):
        if session.finished:
            break
        session.pull_audio()
        frame[:] = rng.standard_normal(FRAME_SAMPLES) * noise_rms
        caller.step(session, frame)
        session.push_audio(np.clip(np.round(frame * 32767), -32768, 32767).astype(np.int16))
    if not session.finished:
        session.hangup_by_caller()


def run_call(runtime: Runtime, customer: CustomerContext, caller_audio: list[np.ndarray],
             sinks: list[EventSink] | None = None, call_id: str | None = None,
             gap_ms: int = HUMAN_GAP_MS, line_noise_dbfs: float = -70.0, seed: int = 0,
             answered_by: np.ndarray | None = None) -> SimulatedCall:
    """Drive a session frame by frame with recorded answers (``RecordedCaller``).

    ``answered_by`` makes it an outbound call: that audio (a person's "¿Bueno?" or a voicemail
    greeting) plays from the moment the call is answered, and answering-machine detection decides
    how the agent starts.
    """
    session = runtime.new_session(customer, sinks, amd=answered_by is not None)
    caller = RecordedCaller(caller_audio, gap_ms, answered_by)
    drive(session, caller, line_noise_dbfs, seed)
    return SimulatedCall(call_id or uuid.uuid4().hex[:12], session, caller)


def write_outputs(call: SimulatedCall, customer: CustomerContext, out_dir: Path, keyring=None) -> dict:
    """``result.json``, ``events.jsonl`` and ``conversation.wav`` (agent left, caller right; not written
    when the caller asked not to be recorded); encrypted under ``keyring`` (``privacy.crypto``) if given."""
    from .privacy.files import EventLog, write_private, write_recording

    out_dir.mkdir(parents=True, exist_ok=True)
    r = call.result
    result = {
        "call_id": call.call_id,
        "customer": {"id": customer.customer_id, "name": customer.name, "company": customer.company},
        "consent": r.consent, "score": r.score, "resolved": r.resolved, "feedback": r.feedback,
        "feedback_analysis": r.feedback_analysis, "opt_out": r.opt_out, "recording_stopped": r.recording_stopped,
        "outcome": r.outcome,
        "transferred": r.transferred, "ticket": r.ticket,
        "callback": r.callback, "answered_via": r.via,
        "duration_ms": call.session.now_ms,
    }
    if call.script_check is not None:  # a scripted caller: its stored answers against what it meant
        result["script_check"] = call.script_check
    summary = (json.dumps(result, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    write_private(out_dir / "result.json", keyring.seal_bytes(summary) if keyring else summary)
    (out_dir / "events.jsonl").unlink(missing_ok=True)
    log = EventLog(out_dir / "events.jsonl", keyring)
    for e in call.events:
        log.handle(e)
    log.close()
    recording = out_dir / "conversation.wav"
    if call.session.record:
        write_recording(recording, call.session.conversation(), SAMPLE_RATE, keyring)
    else:  # the caller asked not to be recorded: no recording, not even an older one in its place
        recording.unlink(missing_ok=True)
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
