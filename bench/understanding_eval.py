"""Understanding evaluation: the parser on written answers, and the whole path (ASR + decision) on
phone-line audio. Prints per-intent accuracy, the confusion matrix and latency; writes
bench/results/understanding.json.

    python -m bench.understanding_eval [--quick] [--text-only]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import Counter, defaultdict

from . import save_result
from .understanding_sets import VOICES, Item, audio_items, written_set


def _correct(item: Item, intent: str, score: int | None) -> bool:
    return intent == item.intent and (item.intent != "score" or score == item.score)


def _summary(rows: list[tuple[Item, str, int | None]]) -> dict:
    per_intent: dict[str, list[bool]] = defaultdict(list)
    confusion: dict[str, Counter] = defaultdict(Counter)
    misses = []
    for item, intent, score in rows:
        ok = _correct(item, intent, score)
        per_intent[item.intent].append(ok)
        label = intent if intent != "score" or score == item.score else f"score:{score}"
        confusion[item.intent][label if not ok else item.intent] += 1
        if not ok:
            misses.append({"question": item.question, "text": item.text, "expected": item.intent,
                           "expected_score": item.score, "got": intent, "got_score": score})
    total = sum(sum(v) for v in per_intent.values())
    # A wrong answer is worse than asking again: split the errors.
    reasked = sum(1 for item, intent, _ in rows if intent in ("unknown", "repeat", "silence") and item.intent not in
                  ("unknown", "repeat"))
    return {"n": len(rows), "accuracy": round(total / len(rows), 4),
            "asked_again": round(reasked / len(rows), 4),
            "wrong": round((len(rows) - total - reasked) / len(rows), 4),
            "per_intent": {k: {"n": len(v), "accuracy": round(sum(v) / len(v), 4)} for k, v in sorted(per_intent.items())},
            "confusion": {k: dict(v) for k, v in sorted(confusion.items())}, "misses": misses}


def evaluate_text() -> dict:
    from encuestador.understand.parser import IntentParser

    parser = IntentParser()
    items = written_set()
    rows = []
    for item in items:
        u = parser.parse(item.text, "score" if item.question == "score" else "yes_no")
        rows.append((item, u.intent, u.score))
    return _summary(rows)


def evaluate_audio(quick: bool, asr: str = "whisper") -> dict:
    from encuestador.audio import SAMPLE_RATE
    from encuestador.audio.phoneline import phone_line
    from encuestador.models.registry import installed_path, load_manifest
    from encuestador.runtime import Runtime, RuntimeOptions
    from encuestador.speak.tts import EspeakSynthesizer

    specs, _ = load_manifest()
    runtime = Runtime(RuntimeOptions(asr=asr, tts="espeak",
                                     whisper_model=installed_path(specs["faster-whisper-base"])))
    items = audio_items(per_voice=int(os.environ.get("UE_PER_VOICE", 12 if quick else 40)))
    voices = VOICES[:2] if quick else VOICES
    conditions = [("snr20_loss3", 20, 0.03)] if quick else [("snr20_loss3", 20, 0.03), ("snr10_loss5", 10, 0.05)]
    out = {"backend": runtime.recognizer.name}
    for name, snr, loss in conditions:
        rows, latency, early = [], [], []
        for v, (voice, wpm, pitch) in enumerate(voices):
            synth = EspeakSynthesizer(voice, wpm, pitch)
            for k, item in enumerate(items):
                audio = phone_line(synth.synthesize(item.text), SAMPLE_RATE, snr_db=snr, loss=loss, conceal=True,
                                   seed=1000 * v + k, out_rate=SAMPLE_RATE)
                start = time.perf_counter()
                question = runtime.script.questions[item.question]
                u, transcript = runtime.understander.understand(audio, question)
                latency.append((time.perf_counter() - start) * 1000)
                rows.append((item, u.intent, u.score))
                if runtime.understander.decisive(u, transcript, question):
                    early.append(_correct(item, u.intent, u.score))
        summary = _summary(rows)
        # What a call would take at the first pause, before the hang-over ends (see CallSession).
        summary["taken_at_pause"] = {"share": round(len(early) / len(rows), 4),
                                     "accuracy": round(sum(early) / len(early), 4) if early else None}
        summary["latency_ms"] = {"p50": round(statistics.median(latency), 1),
                                 "p95": round(sorted(latency)[int(0.95 * len(latency))], 1),
                                 "note": "end of speech → intent, after the endpointing hang-over"}
        out[name] = summary
    return out


def _print(title: str, s: dict) -> None:
    print(f"\n{title}: {s['n']} utterances, accuracy {s['accuracy']:.1%} "
          f"(asked again {s['asked_again']:.1%}, wrong {s['wrong']:.1%})")
    for intent, v in s["per_intent"].items():
        print(f"  {intent:<15} {v['accuracy']:>7.1%}  (n={v['n']})")
    print("  confusion (expected → heard):")
    for intent, row in s["confusion"].items():
        print(f"    {intent:<15} " + ", ".join(f"{k} {n}" for k, n in sorted(row.items(), key=lambda kv: -kv[1])))
    if "taken_at_pause" in s:
        t = s["taken_at_pause"]
        print(f"  taken at the pause: {t['share']:.1%} of answers, "
              f"{t['accuracy']:.1%} of those right" if t["accuracy"] is not None else "  taken at the pause: none")
    if "latency_ms" in s:
        print(f"  latency ms p50 {s['latency_ms']['p50']} / p95 {s['latency_ms']['p95']}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.understanding_eval")
    parser.add_argument("--quick", action="store_true", help="fewer voices and one line condition")
    parser.add_argument("--text-only", action="store_true")
    parser.add_argument("--asr", choices=("whisper", "vosk", "auto"), default="whisper",
                        help="closed answers by faster-whisper (default), Vosk (vosk-model-small-es-0.42 "
                             "installed), or whichever the runtime picks")
    args = parser.parse_args()
    result = {"text": evaluate_text()}
    _print("written answers (parser)", result["text"])
    if not args.text_only:
        from encuestador.models.registry import MissingModelError

        try:
            result["audio"] = evaluate_audio(args.quick, args.asr)
        except MissingModelError as missing:
            print(f"\n{missing}")
            return 2
        for name, summary in result["audio"].items():
            if isinstance(summary, dict):
                _print(f"audio {name} ({result['audio']['backend']})", summary)
    path = save_result("understanding.json", result)
    print(f"\nwritten: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
