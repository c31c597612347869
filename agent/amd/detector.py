"""Person, answering machine or carrier intercept, decided from the first seconds of audio.

Frame by frame (20 ms, 16 kHz) it combines:
- timing, in the spirit of Asterisk's AMD: a short greeting ("¿Bueno?", "¿Diga?") followed by silence
  is a person; a greeting that goes on, or many words, is a machine; long initial silence is unknown;
- tones: a sustained single tone of 400–2000 Hz for ≥ 150 ms is a voicemail beep; two or more of the
  special-information tones (913.8 / 1370.6 / 1776.7 Hz) are a carrier intercept;
- words: once a greeting has gone on for a while, the recogniser (if given) looks for voicemail or
  intercept phrases ("deje su mensaje", "el número que usted marcó", …) from ``prompts/es_MX``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import webrtcvad

from ..audio import FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE
from ..audio.spectrum import FREQS, flatness, power_spectrum
from ..prompts_data import load_yaml
from ..understand.text import tokenize

SIT_TONES_HZ = (913.8, 1370.6, 1776.7)


@dataclass(frozen=True)
class AmdConfig:
    initial_silence_ms: int = 3500      # nothing heard this long: unknown (dead air), greet anyway
    max_greeting_ms: int = 1800         # a person's "¿Bueno?" is shorter than this
    after_greeting_silence_ms: int = 700  # …and then waits for us
    short_greeting_ms: int = 900        # one word ("¿Bueno?", "¿Diga?"): a shorter wait will do
    short_greeting_silence_ms: int = 300
    max_words: int = 4                  # more separate bursts of speech than this: a recording
    min_word_ms: int = 100
    between_words_ms: int = 120
    total_analysis_ms: int = 6000
    beep_min_ms: int = 160
    keyword_check_at_ms: int = 1600     # speech this long: ask the recogniser for machine phrases
    end_of_greeting_silence_ms: int = 1000  # a machine's greeting is over after this much silence…
    max_machine_greeting_ms: int = 20000    # …or after this long, whatever it says
    vad_aggressiveness: int = 2
    min_speech_dbfs: float = -50.0
    max_flatness: float = 0.45
    min_greeting_ms: int = 200          # shorter bursts (clicks, the line opening) are not a greeting


@dataclass(frozen=True)
class GreetingOver:
    """After a machine verdict: the recording has finished (beep, or silence after it), so a
    message can start now; ``intercept`` when it was a carrier's "number does not exist"."""

    at_ms: int
    reason: str
    intercept: bool


@dataclass(frozen=True)
class AmdDecision:
    verdict: str          # "human" | "machine" | "unknown"
    decided_at_ms: int
    reason: str
    intercept: bool = False  # carrier intercept (invalid number) rather than voicemail
    beep: bool = False       # decided on the voicemail beep: the message can start now


class _ToneTracker:
    """Counts consecutive frames dominated by one stable frequency (beep) and SIT tones."""

    def __init__(self) -> None:
        self._freqs = FREQS
        self._band = (FREQS >= 400) & (FREQS <= 2000)
        self.run_frames = 0
        self.flatness = 1.0   # spectral flatness of the last frame: ≈ 1 for hiss, low for speech
        self.power_dbfs = -120.0
        self._run_freq = 0.0
        self.sit_seen: list[int] = []

    def process(self, frame: np.ndarray) -> None:
        spectrum = power_spectrum(frame)
        total = float(spectrum.sum())
        self.flatness = flatness(spectrum)
        self.power_dbfs = 10 * np.log10(float(np.mean(frame.astype(np.float32) ** 2)) / 32768.0**2 + 1e-12)
        if total < 1e3 * FRAME_SAMPLES:  # too quiet to be a tone
            self.run_frames = 0
            return
        peak = int(np.argmax(spectrum))
        around = float(spectrum[max(peak - 2, 0) : peak + 3].sum())
        freq = float(self._freqs[peak])
        pure = around / total > 0.85 and self._band[peak]
        if pure and (self.run_frames == 0 or abs(freq - self._run_freq) <= 60):
            self.run_frames += 1
            self._run_freq = freq
        elif pure:
            self.run_frames, self._run_freq = 1, freq
        else:
            self.run_frames = 0
        if pure:
            for i, sit in enumerate(SIT_TONES_HZ):
                if abs(freq - sit) <= 40 and (not self.sit_seen or self.sit_seen[-1] != i):
                    self.sit_seen.append(i)

    @property
    def run_freq(self) -> float:
        return self._run_freq


class AnsweringMachineDetector:
    def __init__(self, config: AmdConfig | None = None, recognizer=None) -> None:
        self.config = config or AmdConfig()
        self.recognizer = recognizer
        self._vad = webrtcvad.Vad(self.config.vad_aggressiveness)
        data = load_yaml("amd.yaml")
        self._machine_phrases = [tokenize(p) for p in data["machine_phrases"]]
        self._intercept_phrases = [tokenize(p) for p in data["intercept_phrases"]]
        self._tones = _ToneTracker()
        self._speech = np.zeros(SAMPLE_RATE * 8, dtype=np.int16)
        self._speech_len = 0
        self.reset()

    def reset(self) -> None:
        self.elapsed_ms = 0
        self.decision: AmdDecision | None = None
        self._voiced_run = 0      # ms of the current burst of speech
        self._silence_run = 0     # ms of silence since the last speech
        self._greeting_ms = 0     # ms of speech heard in all
        self._words = 0
        self._heard_speech = False
        self._keywords_checked = False
        self._speech_len = 0
        self.intercept = False
        self.greeting_over: GreetingOver | None = None

    def _decide(self, verdict: str, reason: str, **kw) -> AmdDecision:
        self.decision = AmdDecision(verdict, self.elapsed_ms, reason, **kw)
        self.intercept = self.intercept or self.decision.intercept
        if self.decision.beep or self.decision.intercept and "tones" in reason:
            self.greeting_over = GreetingOver(self.elapsed_ms, reason, self.intercept)
        return self.decision

    def process(self, frame: np.ndarray) -> AmdDecision | GreetingOver | None:
        """Feed one 20 ms int16 frame. Returns the verdict once, when it is made; after a machine
        verdict, keep feeding: it returns ``GreetingOver`` once the recording has finished."""
        if self.decision is not None:
            if self.decision.verdict != "machine" or self.greeting_over is not None:
                return None
            return self._follow_machine(frame)
        c = self.config
        self.elapsed_ms += FRAME_MS
        self._tones.process(frame)
        if len(self._tones.sit_seen) >= 2:
            return self._decide("machine", "special information tones (carrier intercept)", intercept=True)
        if self._tones.run_frames * FRAME_MS >= c.beep_min_ms and not any(
                abs(self._tones.run_freq - f) <= 40 for f in SIT_TONES_HZ):
            return self._decide("machine", f"beep at {self._tones.run_freq:.0f} Hz", beep=True)
        tone_frame = self._tones.run_frames > 0
        self._track_speech(frame, tone_frame)
        if not self._heard_speech:
            if self.elapsed_ms >= c.initial_silence_ms:
                return self._decide("unknown", f"no speech in the first {c.initial_silence_ms} ms")
            return None
        if self._words > c.max_words:
            return self._decide("machine", f"more than {c.max_words} words")
        if not self._keywords_checked and self._greeting_ms >= c.keyword_check_at_ms and self.recognizer is not None:
            self._keywords_checked = True
            found = self._keyword_decision()
            if found is not None:
                return found
        if self._greeting_ms > c.max_greeting_ms:
            return self._decide("machine", f"greeting longer than {c.max_greeting_ms} ms")
        wait = c.short_greeting_silence_ms if self._greeting_ms <= c.short_greeting_ms else c.after_greeting_silence_ms
        if self._silence_run >= wait and self._greeting_ms >= c.min_greeting_ms:
            return self._decide("human", f"short greeting ({self._greeting_ms} ms) then silence")
        if self.elapsed_ms >= c.total_analysis_ms:
            return self._decide("unknown", "no decision within the analysis time")
        return None

    def _follow_machine(self, frame: np.ndarray) -> GreetingOver | None:
        c = self.config
        self.elapsed_ms += FRAME_MS
        self._tones.process(frame)
        beep = self._tones.run_frames * FRAME_MS >= c.beep_min_ms
        self._track_speech(frame, self._tones.run_frames > 0)
        if len(self._tones.sit_seen) >= 2:
            self.intercept = True
        over = None
        if beep:
            over = f"beep at {self._tones.run_freq:.0f} Hz"
        elif self._silence_run >= c.end_of_greeting_silence_ms:
            over = f"{c.end_of_greeting_silence_ms} ms of silence after the greeting"
        elif self.elapsed_ms >= c.max_machine_greeting_ms:
            over = "greeting too long"
        if over is None:
            return None
        if not self.intercept and self.recognizer is not None:
            found = self._keyword_decision(final=True)
            self.intercept = found is not None and found.intercept
        self.greeting_over = GreetingOver(self.elapsed_ms, over, self.intercept)
        return self.greeting_over

    def _track_speech(self, frame: np.ndarray, tone_frame: bool) -> bool:
        c = self.config
        # Speech: webrtcvad says so, loud enough, and not flat like line hiss.
        voiced = (not tone_frame and self._tones.power_dbfs > c.min_speech_dbfs
                  and self._tones.flatness < c.max_flatness and self._vad.is_speech(frame.tobytes(), SAMPLE_RATE))
        if voiced:
            if self._voiced_run == 0 and self._silence_run >= c.between_words_ms or not self._heard_speech:
                self._words += 1
            self._heard_speech = True
            self._voiced_run += FRAME_MS
            self._greeting_ms += FRAME_MS
            self._silence_run = 0
            end = self._speech_len + FRAME_SAMPLES
            if end <= len(self._speech):
                self._speech[self._speech_len : end] = frame
                self._speech_len = end
        else:
            if self._voiced_run and self._voiced_run < c.min_word_ms:
                self._words = max(0, self._words - 1)  # a click, not a word
            self._voiced_run = 0
            self._silence_run += FRAME_MS
        return voiced

    def _keyword_decision(self, final: bool = False) -> AmdDecision | None:
        """Look for intercept or voicemail phrases in what was said; with ``final`` only report
        (the verdict is already made)."""
        from ..listen.asr import Hints

        audio = self._speech[: self._speech_len].astype(np.float32) / 32768.0
        words = tokenize(self.recognizer.recognize(audio, Hints(max_words=30)).text)
        text = " ".join(words)
        for phrase in self._intercept_phrases:
            if " ".join(phrase) in text:
                if final:
                    return AmdDecision("machine", self.elapsed_ms, "intercept phrase", intercept=True)
                return self._decide("machine", f"intercept phrase «{' '.join(phrase)}»", intercept=True)
        for phrase in self._machine_phrases:
            if " ".join(phrase) in text and not final:
                return self._decide("machine", f"voicemail phrase «{' '.join(phrase)}»")
        return None


def detect(audio: np.ndarray, config: AmdConfig | None = None,
           recognizer=None) -> tuple[AmdDecision, AnsweringMachineDetector]:
    """Run the detector over a whole recording (16 kHz float). After a machine verdict it goes on
    to the end of the greeting, so ``detector.intercept`` and ``detector.greeting_over`` are known."""
    detector = AnsweringMachineDetector(config, recognizer)
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)
    for i in range(0, len(pcm) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        detector.process(pcm[i : i + FRAME_SAMPLES])
        if detector.decision is not None and (detector.decision.verdict != "machine" or detector.greeting_over):
            break
    decision = detector.decision or AmdDecision("unknown", detector.elapsed_ms, "recording ended before a decision")
    return decision, detector
