"""Evaluate answering-machine detection on the generated clips: accuracy, confusion, decision time.

    python -m bench.amd_eval [--quick] [--heldout]   → bench/results/amd[-heldout].json and a table
"""

from __future__ import annotations

import argparse
import statistics
from collections import Counter

from encuestador.amd.detector import detect

from . import save_result
from .amd_clips import make_clips


def evaluate(recognizer=None, quick: bool = False, heldout: bool = False) -> dict:
    clips = make_clips(quick, heldout)
    confusion: Counter = Counter()
    times: dict[str, list[int]] = {"human": [], "machine": []}
    wrong = []
    intercepts_right = intercepts = 0
    for clip in clips:
        decision, detector = detect(clip.audio, recognizer=recognizer)
        confusion[(clip.truth, decision.verdict)] += 1
        if decision.verdict == clip.truth and clip.truth in times:
            times[clip.truth].append(decision.decided_at_ms)
        if decision.verdict != clip.truth:
            wrong.append({"clip": clip.name, "truth": clip.truth, "verdict": decision.verdict, "reason": decision.reason})
        if clip.intercept:
            intercepts += 1
            intercepts_right += detector.intercept
    labels = ("human", "machine", "unknown")
    correct = sum(confusion[(label, label)] for label in labels)
    return {
        "clips": len(clips),
        "accuracy": round(correct / len(clips), 4),
        "confusion": {t: {p: confusion[(t, p)] for p in labels} for t in labels},
        "median_decision_ms": {k: (statistics.median(v) if v else None) for k, v in times.items()},
        "intercepts_recognised": f"{intercepts_right}/{intercepts}",
        "wrong": wrong,
        "with_recogniser": recognizer is not None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.amd_eval")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--heldout", action="store_true", help="the held-out voices and words")
    args = parser.parse_args()
    from encuestador.listen.asr import WhisperRecognizer
    from encuestador.models.registry import installed_path, load_manifest

    specs, _ = load_manifest()
    recognizer = WhisperRecognizer(installed_path(specs["faster-whisper-base"]))
    result = evaluate(recognizer, args.quick, args.heldout)
    save_result("amd-heldout.json" if args.heldout else "amd.json", result)
    print(f"clips {result['clips']}  accuracy {result['accuracy']:.1%}  median decision ms {result['median_decision_ms']}"
          f"  intercepts {result['intercepts_recognised']}")
    print("truth \\ verdict   human  machine  unknown")
    for truth, row in result["confusion"].items():
        print(f"{truth:16} {row['human']:6} {row['machine']:8} {row['unknown']:8}")
    for w in result["wrong"]:
        print(f"  wrong: {w['clip']}: {w['truth']} → {w['verdict']} ({w['reason']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
