"""The voice as callers get it, per installed backend (Piper es_MX, Kokoro-82M, espeak-ng):

* synthesis RTF (median over the survey's fixed prompts);
* first agent audio of a personal greeting after the call is answered, through ``CallSession``:
  cold (synthesised at answer) and prepared while the phone rang (``Runtime.prepare_greeting``);
* first agent audio of an inbound call as the caller hears it (full run, or ``--inbound`` alone): a
  real ``encuestador serve`` with the voice and a raw-socket caller on 127.0.0.1, phoning in as
  customers that process never greeted: ``inbound_first_audio_ms`` from the 200 OK to the first
  non-silent RTP packet, ``inbound_ring_ms`` from the INVITE to the 200 (the agent rings while it
  makes the greeting; ``bench.inbound_call``);
* level of every phone-ready prompt (speech-active RMS dBFS), peak, clipped samples, spread;
* intelligibility: WER of a standard faster-whisper decode (base, language es, beam 5, temperature 0,
  no prompt) of every fixed prompt through the phone line (8 kHz μ-law) against its text: ``wer``
  with case and punctuation normalised; ``wer_spoken`` also counts as one what sounds the same
  (accents, «sí»/«si»; digits as the words they are read as, «1»/«uno»);
* with Kokoro (full run): a per-call greeting's synthesis time while two recognitions run, the
  recognition latency while Kokoro synthesises, and ``max_concurrent_calls`` with each call's
  personal sentences synthesised by Kokoro as the calls arrive.

    python -m bench.voice [--quick | --inbound] [--voices kokoro,espeak]

Prints a table and writes bench/results/voice.json (``--inbound``: voice_inbound.json).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from dataclasses import asdict, dataclass

import numpy as np

from . import save_result
from .human_eval import normalise, word_errors

COMPANY = "Telecom del Norte"
# Personal greetings, one per trial: other names when answered cold and when prepared while ringing
# (a name made for one trial is never found ready by another).
GREETED = {False: ["Ana López", "Luis Hernández", "María Guadalupe Torres"],
           True: ["Rosa Martínez", "Jorge Ramírez", "Juana Isabel Castillo"]}
RING_S = 2.0          # an outbound call rings at least this long before anyone answers
# Inbound callers, one per call to a fresh ``serve``: names that process has never synthesised.
INBOUND_NAMES = ["Rosalinda Echeverría", "Maximiliano Zúñiga", "Guadalupe Ixchel Bautista"]
CALL_S = 60.0         # a survey call's length, for the rate at which new calls need their greeting
TARGET_SPREAD_DB = 2.0
QUICK_PROMPTS = 6


@dataclass
class PromptResult:
    text: str
    seconds: float        # audio length
    synth_s: float        # synthesis time (raw synthesizer, before phone_ready)
    rms_dbfs: float       # phone-ready, speech-active
    peak_dbfs: float
    clipped: int
    heard: str            # faster-whisper's transcript through the phone line
    errors: int           # word errors against the text (case and punctuation normalised)
    words: int
    errors_spoken: int    # the same with accents off and digits as words (``spoken_words``)
    words_spoken: int


@dataclass
class VoiceResult:
    voice: str
    prompts: int
    rtf_median: float
    level_dbfs_min: float
    level_dbfs_max: float
    level_spread_db: float
    worst_offset_from_target_db: float
    peak_dbfs_max: float
    clipped_samples: int
    wer: float
    wer_spoken: float
    first_audio_cold_ms: float
    first_audio_prepared_ms: float
    prepare_ms: float       # how long making the personal sentences took (must fit in the ringing)
    worst_prompts: list[dict]
    inbound_first_audio_ms: float | None = None  # median, 200 OK → first non-silent RTP packet (real serve)
    inbound_ring_ms: float | None = None         # median, INVITE → 200 OK (the greeting made meanwhile)


def standard_decoder():
    """faster-whisper base as anyone would run it: language es, beam 5, temperature 0, no prompt."""
    from encuestador.models.registry import installed
    from faster_whisper import WhisperModel

    directory = installed("faster-whisper-base")
    if directory is None:
        raise SystemExit("faster-whisper-base is not installed: run `make models`")
    model = WhisperModel(str(directory), device="cpu", compute_type="int8", cpu_threads=2)

    def decode(audio: np.ndarray) -> str:
        segments, _ = model.transcribe(audio, language="es", beam_size=5, temperature=0.0,
                                       initial_prompt=None, condition_on_previous_text=False)
        return " ".join(s.text.strip() for s in segments)

    return decode


def installed_voices(wanted: list[str] | None) -> dict[str, object]:
    """Backend name → its synthesizer, for the backends installed here (Piper only with an es_MX voice)."""
    from encuestador.models.registry import MissingModelError
    from encuestador.runtime import RuntimeOptions, build_synthesizer

    voices = {}
    for name in wanted or ["piper", "kokoro", "espeak"]:
        try:
            voices[name] = build_synthesizer(RuntimeOptions(tts=name))
        except MissingModelError:
            print(f"{name}: not installed, skipped")
    return voices


def spoken_words(text: str) -> list[str]:
    """Words as they sound: lower case, no punctuation, no accents, digits as Spanish words."""
    from encuestador.speak.normalize import number_words
    from encuestador.understand.text import tokenize

    return [w for t in tokenize(text) for w in (number_words(int(t)).split() if t.isdigit() else [t])]


def measure_prompts(synthesizer, texts: list[str], decode) -> list[PromptResult]:
    from encuestador.audio import SAMPLE_RATE
    from encuestador.audio.phoneline import phone_line
    from encuestador.speak.normalize import normalize_for_speech
    from encuestador.speak.phone_ready import measure, phone_ready

    rows = []
    for text in texts:
        start = time.perf_counter()
        raw = synthesizer.synthesize(normalize_for_speech(text))  # what the prompt cache renders
        took = time.perf_counter() - start
        ready = phone_ready(raw)
        level = measure(ready)
        line = phone_line(ready, SAMPLE_RATE, codec="ulaw", out_rate=SAMPLE_RATE)
        heard = decode(line)
        rows.append(PromptResult(text, round(len(raw) / SAMPLE_RATE, 2), round(took, 3), level.rms_dbfs,
                                 level.peak_dbfs, level.clipped, heard,
                                 word_errors(normalise(text), normalise(heard)), len(normalise(text)),
                                 word_errors(spoken_words(text), spoken_words(heard)), len(spoken_words(text))))
    return rows


def _first_sound_ms(session) -> float:
    """ms of silence at the start of what the session queued (the synthesis delay is timed apart)."""
    from encuestador.audio import FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE

    out = np.zeros(FRAME_SAMPLES, np.int16)
    for k in range(500):
        session.pull_audio(out)
        loud = np.flatnonzero(np.abs(out) > 300)
        if loud.size:
            return float(k * FRAME_MS + loud[0] * 1000 / SAMPLE_RATE)
    return float("nan")


def first_audio(runtime, prepared: bool) -> tuple[float, float]:
    """Median ms from the answer to the first sound of a personal greeting, and (prepared) the
    median ms the preparation took. Prepared: started at dial time, answered ``RING_S`` later
    whether it is done or not (the session waits for what is still being made)."""
    from encuestador.dialogue.survey import CustomerContext

    answer, prepare = [], []
    for name in GREETED[prepared]:
        customer = CustomerContext(COMPANY, name=name, local_hour=10)
        if prepared:
            dialled = time.perf_counter()
            done: list[float] = []
            futures = runtime.prepare_greeting(customer)
            for future in futures:
                future.add_done_callback(lambda _: done.append(time.perf_counter()))
            time.sleep(RING_S)
        session = runtime.new_session(customer, record=False)
        start = time.perf_counter()  # answered
        session.start()
        answer.append((time.perf_counter() - start) * 1000 + _first_sound_ms(session))
        if prepared:
            for future in futures:
                future.result()
            prepare.append((max(done) - dialled) * 1000)
    return statistics.median(answer), statistics.median(prepare) if prepare else 0.0


def inbound_first_audio(voice: str) -> dict:
    """Inbound calls to a real ``serve --tts voice`` (``bench.inbound_call``): the medians and each call."""
    from .inbound_call import first_audio_of_inbound_calls

    print(f"{voice}: {len(INBOUND_NAMES)} inbound calls to encuestador serve…", flush=True)
    calls = first_audio_of_inbound_calls(voice, INBOUND_NAMES)
    return {"inbound_first_audio_ms": statistics.median(c.first_audio_ms for c in calls),
            "inbound_ring_ms": statistics.median(c.ring_ms for c in calls),
            "calls": [asdict(c) for c in calls]}


def bench_voice(name: str, synthesizer, texts: list[str], decode, recognizer) -> tuple[VoiceResult, list[PromptResult]]:
    from encuestador.runtime import Runtime, RuntimeOptions
    from encuestador.speak.phone_ready import TARGET_DBFS

    print(f"{name}: {synthesizer.voice_id}, {len(texts)} prompts…", flush=True)
    synthesizer.synthesize("Hola.")  # one-time costs (model warm-up) are not per-prompt costs
    rows = measure_prompts(synthesizer, texts, decode)
    runtime = Runtime(RuntimeOptions(company=COMPANY), recognizer=recognizer, synthesizer=synthesizer)
    runtime.prerender()
    cold, _ = first_audio(runtime, prepared=False)
    ready, prep = first_audio(runtime, prepared=True)
    levels = [r.rms_dbfs for r in rows]
    worst = sorted(rows, key=lambda r: r.errors / max(r.words, 1), reverse=True)[:5]
    result = VoiceResult(
        voice=synthesizer.voice_id, prompts=len(rows),
        rtf_median=round(statistics.median(r.synth_s / r.seconds for r in rows if r.seconds), 3),
        level_dbfs_min=min(levels), level_dbfs_max=max(levels), level_spread_db=round(max(levels) - min(levels), 2),
        worst_offset_from_target_db=round(max(abs(v - TARGET_DBFS) for v in levels), 2),
        peak_dbfs_max=max(r.peak_dbfs for r in rows), clipped_samples=sum(r.clipped for r in rows),
        wer=round(sum(r.errors for r in rows) / sum(r.words for r in rows), 4),
        wer_spoken=round(sum(r.errors_spoken for r in rows) / sum(r.words_spoken for r in rows), 4),
        first_audio_cold_ms=round(cold, 1), first_audio_prepared_ms=round(ready, 1), prepare_ms=round(prep, 1),
        worst_prompts=[{"text": r.text, "heard": r.heard, "errors": r.errors} for r in worst if r.errors])
    return result, rows


def _busy(stop: threading.Event, work) -> threading.Thread:
    def loop() -> None:
        while not stop.is_set():
            work()
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def kokoro_under_load(runtime, clips) -> dict:
    """Kokoro and recognition competing for the cores: a per-call greeting's synthesis time idle and
    while two recognitions run without pause; a closed answer's recognition time idle and while
    Kokoro synthesises without pause."""
    voice = runtime.prompts
    greeting = "Buenos días, María Guadalupe Torres."
    question = runtime.script.questions["score"]

    def synth_ms(n: int = 5) -> float:
        times = []
        for _ in range(n):
            start = time.perf_counter()
            voice.render(greeting)
            times.append((time.perf_counter() - start) * 1000)
        return round(statistics.median(times), 1)

    def recognise_ms(n: int = 8) -> float:
        times = []
        for i in range(n):
            start = time.perf_counter()
            runtime.understander.understand(clips[i % len(clips)].audio, question)
            times.append((time.perf_counter() - start) * 1000)
        return round(statistics.median(times), 1)

    result = {"greeting_synthesis_ms_idle": synth_ms(), "recognition_ms_idle": recognise_ms()}
    stop = threading.Event()
    threads = [_busy(stop, lambda i=i: runtime.understander.understand(clips[i].audio, question)) for i in range(2)]
    result["greeting_synthesis_ms_with_2_recognitions"] = synth_ms()
    stop.set()
    for t in threads:
        t.join()
    stop = threading.Event()
    thread = _busy(stop, lambda: voice.render(greeting))
    result["recognition_ms_while_kokoro_speaks"] = recognise_ms()
    stop.set()
    thread.join()
    return result


def concurrency_with_kokoro(runtime, clips, calls: int = 8) -> dict:
    """``bench.speech.max_concurrent_calls`` (short steps) while Kokoro makes the personal sentences
    of new calls as ``calls`` calls of ``CALL_S`` would need them (one call starting every
    ``CALL_S / calls`` seconds), against the same measure without the voice."""
    from encuestador.dialogue.survey import CustomerContext

    from .speech import max_concurrent_calls

    alone = max_concurrent_calls(runtime, clips, quick=True)
    stop = threading.Event()
    made = [0]

    def new_calls() -> None:
        while not stop.wait(CALL_S / calls):
            customer = CustomerContext(COMPANY, name=f"{GREETED[True][made[0] % 3]} {made[0]}",
                                       topic="su internet", local_hour=10)
            for future in runtime.prepare_greeting(customer):
                future.result()
            made[0] += 1

    thread = threading.Thread(target=new_calls, daemon=True)
    thread.start()
    with_voice = max_concurrent_calls(runtime, clips, quick=True)
    stop.set()
    thread.join()
    return {"without_voice": alone, "with_kokoro_greetings": with_voice, "greetings_made": made[0],
            "greeting_every_s": CALL_S / calls}


def print_table(results: dict) -> None:
    from encuestador.speak.phone_ready import CEILING_DBFS, TARGET_DBFS

    rows = [("voice", "RTF", "first audio cold / rung ms", "prepare ms", "level dBFS min…max (spread)",
             "peak max", "clipped", "WER strict / as heard")]
    for name, v in results["voices"].items():
        if "rtf_median" not in v:   # --inbound: only the inbound calls were measured
            continue
        rows.append((name, f"{v['rtf_median']}", f"{v['first_audio_cold_ms']} / {v['first_audio_prepared_ms']}",
                     f"{v['prepare_ms']}", f"{v['level_dbfs_min']}…{v['level_dbfs_max']} ({v['level_spread_db']})",
                     f"{v['peak_dbfs_max']}", f"{v['clipped_samples']}", f"{v['wer']:.1%} / {v['wer_spoken']:.1%} of {v['prompts']}"))
    if len(rows) > 1:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    for name, v in results["voices"].items():
        if v.get("inbound_first_audio_ms") is not None:
            print(f"{name}: inbound call to serve, first audio {v['inbound_first_audio_ms']} ms after the 200 OK "
                  f"(rang {v['inbound_ring_ms']} ms while the greeting was made; medians of {len(INBOUND_NAMES)} calls)")
    print(f"targets: WER ≤ 5 % (Kokoro), first audio ≤ 300 ms after answer, no clipping (peaks ≤ {CEILING_DBFS} dBFS), "
          f"levels {TARGET_DBFS} dBFS ± {TARGET_SPREAD_DB / 2:g} dB")
    load = results.get("kokoro_under_load")
    if load:
        print(f"kokoro greeting synthesis: idle {load['greeting_synthesis_ms_idle']} ms, with 2 recognitions running "
              f"{load['greeting_synthesis_ms_with_2_recognitions']} ms; closed-answer recognition: idle "
              f"{load['recognition_ms_idle']} ms, while Kokoro speaks {load['recognition_ms_while_kokoro_speaks']} ms")
    conc = results.get("concurrency")
    if conc:
        print(f"max_concurrent_calls (spoken p95 ≤ 1.5 s, steps 2/8/16): without voice {conc['without_voice']['max_concurrent_calls']}, "
              f"with Kokoro greetings every {conc['greeting_every_s']:g} s {conc['with_kokoro_greetings']['max_concurrent_calls']} "
              f"(p95 by calls: {conc['with_kokoro_greetings']['by_calls']})")


def run(quick: bool, wanted: list[str] | None = None, recognizer=None) -> dict:
    """Measure every installed (or ``wanted``) voice; the load measures only in a full run.
    ``recognizer``: the product's (faster-whisper) recogniser when the caller has one loaded."""
    from encuestador.dialogue.script import SurveyScript
    from encuestador.runtime import RuntimeOptions, build_recognizer, fixed_prompt_texts

    started = time.monotonic()
    texts = fixed_prompt_texts(SurveyScript.load(), COMPANY)
    if quick:
        texts = texts[:QUICK_PROMPTS]
    decode = standard_decoder()
    recognizer = recognizer or build_recognizer(RuntimeOptions(asr="whisper"))
    results: dict = {"quick": quick, "decoder": "faster-whisper base int8, language es, beam 5, temperature 0, no prompt",
                     "line": "phone_line: 300–3400 Hz, 8 kHz, G.711 μ-law", "voices": {}, "prompts": {}}
    kokoro_runtime = None
    for name, synthesizer in installed_voices(wanted).items():
        result, rows = bench_voice(name, synthesizer, texts, decode, recognizer)
        if not quick:
            inbound = inbound_first_audio(name)
            result.inbound_first_audio_ms, result.inbound_ring_ms = inbound["inbound_first_audio_ms"], inbound["inbound_ring_ms"]
            results.setdefault("inbound_calls", {})[name] = inbound["calls"]
        results["voices"][name] = asdict(result)
        results["prompts"][name] = [asdict(r) for r in rows]
        if name == "kokoro":
            from encuestador.runtime import Runtime

            kokoro_runtime = Runtime(RuntimeOptions(company=COMPANY), recognizer=recognizer, synthesizer=synthesizer)
    if kokoro_runtime is not None and not quick:
        from .speech import answers

        clips = answers(quick=True)
        print("kokoro against recognition for the cores…", flush=True)
        results["kokoro_under_load"] = kokoro_under_load(kokoro_runtime, clips)
        results["concurrency"] = concurrency_with_kokoro(kokoro_runtime, clips)
    results["bench_seconds"] = round(time.monotonic() - started, 1)
    return results


def run_inbound(voices: list[str]) -> dict:
    """Only the inbound-call figures, per voice."""
    started = time.monotonic()
    results: dict = {"voices": {}, "inbound_calls": {}}
    for voice in voices:
        inbound = inbound_first_audio(voice)
        results["inbound_calls"][voice] = inbound.pop("calls")
        results["voices"][voice] = inbound
    results["bench_seconds"] = round(time.monotonic() - started, 1)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.voice")
    parser.add_argument("--quick", action="store_true", help=f"the first {QUICK_PROMPTS} prompts, no load measures")
    parser.add_argument("--inbound", action="store_true",
                        help="only the first audio of inbound calls to a real serve (default voice: kokoro)")
    parser.add_argument("--voices", help="comma-separated backends (piper, kokoro, espeak); default: all installed")
    args = parser.parse_args()
    wanted = args.voices.split(",") if args.voices else None
    if args.inbound:
        results = run_inbound(wanted or ["kokoro"])
        path = save_result("voice_inbound.json", results)
    else:
        results = run(args.quick, wanted)
        path = save_result("voice_quick.json" if args.quick else "voice.json", results)
    print_table(results)
    print(f"written: {path}  ({results['bench_seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
