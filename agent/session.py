"""``CallSession``: one call's logic, with no SIP in it.

Caller audio frames and keypad digits go in (``push_audio``, ``push_dtmf``); agent audio comes out
(``pull_audio``) and actions for the transport (``Transfer``, ``Hangup``) are queued in ``actions``.
``pull_audio`` only reads a preallocated ring buffer, so the media thread never waits; everything
else (VAD, ASR, dialogue, TTS) runs on the thread that calls ``push_audio`` — a per-call worker.

Which question an utterance answers, and when a turn ends, is the ``TurnTaker``'s job
(``listen/turns.py``); what is said next, sentence by sentence, the ``Playback``'s
(``speak/playback.py``); both sides of the call are kept by a ``CallRecording``. The session
conditions the caller's audio (DC, lost frames, keypad tones), decides barge-in and echo, runs the
timers and hands turns and keys to the dialogue (or, for an answer the caller went on with, has it
``revise`` one).
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .audio import FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE
from .audio.recording import CallRecording
from .audio.ringbuffer import AudioHistory
from .amd.detector import AmdDecision, AnsweringMachineDetector, GreetingOver
from .audio.echo import looks_like_echo
from .audio.level import DcRemover, LevelMeter
from .audio.plc import LossConcealer
from .audio.tones import DtmfDetector
from .audio.wavio import to_int16
from .dialogue.survey import SurveyDialogue
from .events import (AmdVerdict, BargeIn, Dtmf, EchoIgnored, Event, Hangup, Heard, NoInput, PlayTune, Say,
                     SpeechEnded, SpeechStarted, StopRecording, Transfer)
from .listen.turns import SpeechStart, Turn, TurnConfig, TurnTaker
from .speak.cache import PromptCache
from .speak.playback import Playback
from .speak.tunes import render_tune
from .understand.decide import Understander

SAME_KEY_WINDOW_MS = 600  # one press reported both in-band and as an RFC 4733 event counts once
ECHO_TAIL_SAMPLES = SAMPLE_RATE * 800 // 1000  # echo delays up to ~600 ms (round trip plus buffering)
ECHO_CHECK_SAMPLES = SAMPLE_RATE * 200 // 1000


def render_tunes(script) -> dict[str, np.ndarray]:
    """The survey's closing tunes as int16 audio (rendered once per process by the runtime)."""
    return {name: to_int16(render_tune(notes)) for name, notes in script.tunes.items()}


class EventSink(Protocol):
    def handle(self, event: Event) -> None: ...


@dataclass(frozen=True)
class SessionConfig:
    turns: TurnConfig = TurnConfig()   # endpointing timings and the continuation window
    barge_in: bool = True
    barge_in_grace_ms: int = 0     # speech this early in a prompt never barges in
    echo_threshold: float = 0.8    # caller audio this correlated with our prompt is its echo, not speech
    max_call_ms: int = 10 * 60 * 1000
    playback_seconds: int = 120
    speak_ahead_ms: int = 1500     # synthesise the next sentence when less than this is queued


class CallSession:
    def __init__(self, dialogue: SurveyDialogue, understander: Understander, prompts: PromptCache,
                 config: SessionConfig | None = None, sinks: list[EventSink] | None = None,
                 record: bool = True, tunes: dict[str, np.ndarray] | None = None,
                 amd: AnsweringMachineDetector | None = None) -> None:
        self.dialogue = dialogue
        self.understander = understander
        self.config = config or SessionConfig()
        self.sinks = list(sinks or [])
        self.events: list[Event] = []
        self.actions: "queue.Queue[Event]" = queue.Queue()
        self.playback = Playback(prompts, tunes if tunes is not None else render_tunes(dialogue.script),
                                 self._names_customer, self.config.playback_seconds, self.config.speak_ahead_ms)
        self.recording = CallRecording(record)
        self.turns = TurnTaker(understander, self.config.turns)
        self._reply_start: int | None = None  # playback position where our reply to the last turn began
        self._before_turn = dialogue.checkpoint()  # the dialogue as the last turn found it
        self._frames_in = 0
        self._no_input_deadline: int | None = None
        self._pending_end: Event | None = None   # Hangup/Transfer waiting for the prompt to finish
        self._lock = threading.Lock()
        self.finished = False
        self._agent_scratch = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self._agent_tail = AudioHistory(ECHO_TAIL_SAMPLES)  # what we played lately, for the echo check
        self._echo_logged_for: str | None = None
        self._silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self._inband = DtmfDetector()
        self._plc = LossConcealer(SAMPLE_RATE, FRAME_SAMPLES, dtype=np.int16)
        self._dc = DcRemover()
        self._level = LevelMeter()
        self._concealed = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self._resumed = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self._last_key: tuple[str, int, str] | None = None  # digit, at_ms, source
        self.amd = amd  # outbound calls: listen first, greet a person, leave a message on a machine
        self.started = False

    # -- time ----------------------------------------------------------------------------------
    @property
    def now_ms(self) -> int:
        """Call time, counted in caller frames received (works in real time and simulated time)."""
        return self._frames_in * FRAME_MS

    @property
    def playing(self) -> bool:
        """Audio queued for the caller, or sentences still to be synthesised."""
        return self.playback.busy

    @property
    def prompt_playing(self) -> str | None:
        """The id of the prompt the caller hears now, or None."""
        segment = self.playback.current()
        return segment.prompt if segment is not None and self.playback.busy else None

    @property
    def record(self) -> bool:
        """Whether the call is being recorded (until the caller asks it not to be)."""
        return self.recording.enabled

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self.started = True
        if self.amd is None:
            self._apply(self.dialogue.start(self.now_ms))

    def hangup_by_caller(self) -> None:
        """The caller hung up (BYE): keep every answer, close the call."""
        with self._lock:
            if self.finished:
                return
            self.dialogue.on_caller_hangup(self.now_ms)
            if any(isinstance(e, Hangup) for e in self.events):  # hung up during the closing words
                self.finished = True
                return
            self._finish(Hangup(self.now_ms, self.dialogue.result.outcome or "hung_up"), notify=False)

    def transfer_failed(self) -> None:
        with self._lock:
            # The transfer ended the session; the apology and ticket reopen it until the hang-up.
            self.finished = False
            self._apply(self.dialogue.on_transfer_failed(self.now_ms))

    # -- media in/out --------------------------------------------------------------------------
    def pull_audio(self, out: np.ndarray | None = None) -> np.ndarray:
        """The agent's next 20 ms frame (silence when nothing is queued). Never blocks."""
        frame = self._agent_scratch if out is None else out
        self.playback.pull(frame)
        self._agent_tail.push(frame)
        self.recording.agent(frame)
        return frame

    def push_audio(self, frame: np.ndarray) -> None:
        """One 20 ms int16 frame of the caller at 16 kHz (a DC offset on the line is removed in place)."""
        with self._lock:
            self._dc.process(frame)
            if self._plc.concealing:  # the first frame after a gap is cross-faded from the concealment
                self._resumed[:] = frame
                frame = self._plc.received(self._resumed)
            else:
                self._plc.received(frame)
            self._process(frame)

    def push_lost(self) -> None:
        """The transport knows a 20 ms caller frame was lost: conceal it and go on."""
        with self._lock:
            self._process(self._plc.missing(self._concealed))

    def _process(self, frame: np.ndarray) -> None:
        """One caller frame (received or concealed) through keypad, endpointing and timers."""
        self._frames_in += 1
        self.recording.caller(frame)
        if self.finished:
            return
        if self.amd is not None:
            self._step_amd(frame)
            self._check_timers()
            return
        if self.playback.has_pending:
            self.playback.speak_ahead()
        hit = self._inband.process(frame)
        # A key tone is not speech: the endpointer hears silence while one sounds.
        if self._inband.tone_present:
            self._listen(self._silence, 0.0)
        else:
            self._listen(frame, self._inband.frame_power)
        self._level.update(self._inband.frame_power, self.turns.in_speech)
        if hit is not None:
            self._key(hit.key, "inband")
        self._check_timers()

    def push_dtmf(self, digit: str) -> None:
        """A key reported by the transport (RFC 4733 event or SIP INFO)."""
        with self._lock:
            self._key(digit, "event")

    def _key(self, digit: str, source: str) -> None:
        if self.finished:
            return
        if self.amd is not None:  # a machine does not press keys: a person is there
            self.amd = None
            self._log(AmdVerdict(self.now_ms, "human", f"key {digit} pressed"))
            self._apply(self.dialogue.start(self.now_ms))
            return
        last = self._last_key
        self._last_key = (digit, self.now_ms, source)
        if last and last[0] == digit and last[2] != source and self.now_ms - last[1] <= SAME_KEY_WINDOW_MS:
            return
        self.turns.forget()  # whatever was being said is superseded by the key
        self._reply_start = None
        self._log(Dtmf(self.now_ms, digit))
        if self.dialogue.awaiting is None:
            return
        self._barge_in("dtmf", force=True)
        self._apply(self.dialogue.on_key(digit, self.now_ms))

    # -- internals -----------------------------------------------------------------------------
    def _step_amd(self, frame: np.ndarray) -> None:
        """Who answered? A person (or nobody clear) is greeted at once; a machine gets the preset
        message once its greeting is over; a carrier intercept is hung up on."""
        assert self.amd is not None
        result = self.amd.process(frame)
        if isinstance(result, AmdDecision):
            self._log(AmdVerdict(self.now_ms, result.verdict, result.reason, result.intercept))
            if result.verdict != "machine":
                self.amd = None
                self.turns.forget()
                self._apply(self.dialogue.start(self.now_ms))
                return
            result = self.amd.greeting_over  # SIT tones or a beep end the greeting at once
        if isinstance(result, GreetingOver):
            intercept = result.intercept
            self.amd = None
            self._apply(self.dialogue.carrier_intercept(self.now_ms) if intercept
                        else self.dialogue.leave_voicemail(self.now_ms))

    def _log(self, event: Event) -> None:
        self.events.append(event)
        for sink in self.sinks:
            sink.handle(event)

    def _barge_in(self, cause: str, force: bool = False) -> None:
        segment = self.playback.current()
        if segment is None or not self.playing:
            return
        if not segment.interruptible or not (self.config.barge_in or force):
            return
        self.playback.cut(keep_uninterruptible=True)
        self._log(BargeIn(self.now_ms, cause, segment.prompt))

    def _listen(self, frame: np.ndarray, power: float | None = None) -> None:
        """The frame to the turn-taker; speech that starts or a turn that ends goes on from here."""
        heard = self._heard_of_reply_ms()
        result = self.turns.process(frame, power, self.dialogue.awaiting, self.now_ms, heard)
        if result is None:
            return
        if isinstance(result, SpeechStart):
            self._speech_started(result)
        else:
            self._turn_ended(result)

    def _heard_of_reply_ms(self) -> int:
        """How much of our reply to the caller's last turn has played (0 until it starts)."""
        if self._reply_start is None:
            return 1 << 30  # no turn to continue
        return max(0, self.playback.played - self._reply_start) * 1000 // SAMPLE_RATE

    def _speech_started(self, start: SpeechStart) -> None:
        if self._is_echo():
            self.turns.drop_speech()  # our own prompt coming back: not the caller speaking
            return
        self._level.take_speech_dbfs()  # the utterance's level counts from here
        self._log(SpeechStarted(self.now_ms, start.continues))
        self._no_input_deadline = None
        segment = self.playback.current()
        if start.continues:
            self._barge_in("continues", force=True)  # the reply answered too soon: it is made again
        elif (self.dialogue.awaiting is not None and segment is not None
              and self.playback.played_ms(segment) >= self.config.barge_in_grace_ms):
            self._barge_in("speech")

    def _turn_ended(self, turn: Turn) -> None:
        """The caller's turn is over: let the dialogue answer it, or (a continued answer) decide the
        previous question again from where the dialogue stood before it."""
        self._log(SpeechEnded(self.now_ms, turn.speech_ms, round(self._level.take_speech_dbfs(), 1),
                              round(self._level.noise_floor_dbfs, 1)))
        u, transcript = turn.understanding, turn.transcript
        self._log(Heard(self.now_ms, turn.question.id, transcript.text, u.intent, dict(u.slots),
                        round(u.confidence, 3), transcript.elapsed_ms, turn.early, u.confirm, turn.continues,
                        turn.recognized_at_ms))
        if turn.continues:
            self._cut_reply()
            events = self.dialogue.revise(self._before_turn, u, self.now_ms)
        else:
            self._before_turn = self.dialogue.checkpoint()
            events = self.dialogue.on_understanding(u, self.now_ms)
        self._reply_start = max(self.playback.queued, self.playback.played)
        self._apply(events)

    def _cut_reply(self) -> None:
        """Drop whatever we were saying in reply to the previous turn, closing words included."""
        self.playback.cut(keep_uninterruptible=False)
        self._pending_end = None

    def _is_echo(self) -> bool:
        """Whether the audio that just started an utterance is the echo of what we played."""
        tail = self._agent_tail.latest()
        if not tail.any():
            return False
        echo, score = looks_like_echo(self.turns.endpointer.utterance()[-ECHO_CHECK_SAMPLES:],
                                      tail.astype(np.float32) / 32768.0, self.config.echo_threshold)
        if not echo:
            return False
        segment = self.playback.current()
        prompt = segment.prompt if segment else ""
        if self._echo_logged_for != prompt:  # once per prompt, not every 60 ms
            self._echo_logged_for = prompt
            self._log(EchoIgnored(self.now_ms, prompt, round(score, 3)))
        return True

    def _check_timers(self) -> None:
        now = self._frames_in * FRAME_MS
        if now >= self.config.max_call_ms and not self.finished:
            self.dialogue.on_caller_hangup(now)
            self.dialogue.result.outcome = "max_duration"
            self._finish(Hangup(now, "max_duration"))
            return
        if self.playback.busy:  # still speaking: no timer runs
            return
        if self._pending_end is not None:
            if not self.turns.continuing:  # the caller may be taking back what ended the call
                self._finish(self._pending_end)
            return
        question = self.dialogue.awaiting
        if question is None or self.turns.in_speech:
            self._no_input_deadline = None
            return
        if self._no_input_deadline is None:
            self._no_input_deadline = self.now_ms + question.no_input_ms
        elif self.now_ms >= self._no_input_deadline:
            self._no_input_deadline = None
            self.turns.forget()
            self._reply_start = None
            self._log(NoInput(self.now_ms, question.id))
            self._apply(self.dialogue.on_no_input(self.now_ms))

    def _names_customer(self, sentence: str) -> bool:
        """The sentence names the customer (name, topic): synthesised for this call, never cached."""
        customer = self.dialogue.customer
        return any(value and value in sentence for value in (customer.name, customer.topic))

    def _apply(self, events: list[Event]) -> None:
        before = self.dialogue.awaiting
        for event in events:
            self._log(event)
            if isinstance(event, Say):
                self.playback.say(event.text, event.prompt, event.interruptible)
            elif isinstance(event, PlayTune):
                self.playback.play_tune(event.tune)
            elif isinstance(event, (Hangup, Transfer)):
                self._pending_end = event
            elif isinstance(event, StopRecording):  # the caller asked: nothing of the call is kept
                self.recording.stop()
        self.playback.speak_ahead()
        after = self.dialogue.awaiting
        if after is not before:
            self.turns.listen(after)
        self._no_input_deadline = None

    def _finish(self, final: Event, notify: bool = True) -> None:
        self.finished = True
        self._pending_end = None
        if not any(e is final for e in self.events):
            self._log(final)
        if notify:
            self.actions.put(final)

    # -- results -------------------------------------------------------------------------------
    def conversation(self) -> np.ndarray:
        """Stereo int16: agent on the left, caller on the right, aligned frame by frame."""
        return self.recording.conversation()

    def write_recording(self, path: str | Path) -> Path:
        return self.recording.write(path)
