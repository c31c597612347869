"""Free-form recognition on real human Spanish speech (audio the product did not make).

The clips are FLEURS read speech with transcripts (``../shared/eval-audio/fleurs-es``, or the folder
given with ``--audio``). Each clip is recognised as a caller's open feedback would be — the
recogniser and hints the survey uses — clean at 16 kHz and through a phone line (8 kHz μ-law,
20 dB SNR, 3 % lost frames concealed). faster-whisper's own ``transcribe`` (30 s window) on the clean
clips is the reference point. Prints word error rate, RTF and latency; writes
bench/results/human.json.

    python -m bench.human_eval [--audio DIR]
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
import unicodedata
from pathlib import Path

import numpy as np

from . import save_result

DEFAULT_AUDIO = Path(__file__).resolve().parents[2] / "shared" / "eval-audio" / "fleurs-es"


def normalise(text: str) -> list[str]:
    """Lower case, punctuation out, accents kept (they spell different words in Spanish)."""
    text = unicodedata.normalize("NFC", text.lower())
    return re.sub(r"[^\w\s]|_", " ", text).split()


def word_errors(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance over words (substitutions + deletions + insertions)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i] + [0] * len(hypothesis)
        for j, hyp in enumerate(hypothesis, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp))
        previous = current
    return previous[-1]


def load_clips(folder: Path) -> list[tuple[str, np.ndarray, str]]:
    """(name, float32 mono 16 kHz audio, transcript) for each clip listed in transcripts.tsv."""
    import av

    clips = []
    lines = (folder / "transcripts.tsv").read_text(encoding="utf-8").splitlines()[1:]
    for line in lines:
        name, _, transcript = line.split("\t")
        with av.open(str(folder / name)) as container:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
            chunks = [out.to_ndarray().ravel() for frame in container.decode(audio=0)
                      for out in resampler.resample(frame)]
            chunks += [out.to_ndarray().ravel() for out in resampler.resample(None)]
        clips.append((name, np.concatenate(chunks).astype(np.float32), transcript))
    return clips


def _score(rows: list[tuple[str, str, float, float]]) -> dict:
    """rows: (reference, hypothesis, seconds of audio, seconds taken)."""
    errors = sum(word_errors(normalise(ref), normalise(hyp)) for ref, hyp, _, _ in rows)
    words = sum(len(normalise(ref)) for ref, _, _, _ in rows)
    return {"wer": round(errors / words, 4), "words": words,
            "rtf": round(sum(r[3] for r in rows) / sum(r[2] for r in rows), 3),
            "latency_ms_p50": round(statistics.median(r[3] for r in rows) * 1000, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.human_eval")
    parser.add_argument("--audio", type=Path, default=DEFAULT_AUDIO, help="folder with transcripts.tsv")
    args = parser.parse_args()
    if not (args.audio / "transcripts.tsv").exists():
        parser.error(f"no transcripts.tsv in {args.audio}")

    from encuestador.audio import SAMPLE_RATE
    from encuestador.audio.phoneline import phone_line
    from encuestador.models.registry import installed_path, load_manifest
    from encuestador.runtime import Runtime, RuntimeOptions

    specs, _ = load_manifest()
    runtime = Runtime(RuntimeOptions(asr="whisper", tts="espeak",
                                     whisper_model=installed_path(specs["faster-whisper-base"])))
    hints = runtime.understander.hints_for(runtime.script.questions["feedback"])
    clips = load_clips(args.audio)
    seconds = sum(len(audio) for _, audio, _ in clips) / SAMPLE_RATE
    result: dict = {"clips": len(clips), "seconds": round(seconds, 1), "source": str(args.audio)}
    conditions = {
        "clean_16k": lambda audio, k: audio,
        "phone_8k_ulaw_snr20_loss3": lambda audio, k: phone_line(audio, SAMPLE_RATE, snr_db=20, loss=0.03,
                                                                  conceal=True, seed=k, out_rate=SAMPLE_RATE),
    }
    runtime.recognizer.recognize(clips[0][1][:SAMPLE_RATE], hints)  # warm-up
    examples = {}
    for condition, line in conditions.items():
        rows = []
        for k, (name, audio, transcript) in enumerate(clips):
            heard = line(audio, k)
            start = time.perf_counter()
            text = runtime.recognizer.recognize(heard, hints).text
            rows.append((transcript, text, len(heard) / SAMPLE_RATE, time.perf_counter() - start))
        result[condition] = _score(rows)
        examples[condition] = rows[0][1]
    # Reference point: faster-whisper's own pipeline (30 s window, no hints) on the clean clips.
    model = runtime.recognizer._model
    rows = []
    for name, audio, transcript in clips:
        start = time.perf_counter()
        segments, _ = model.transcribe(audio, language="es", beam_size=1, temperature=0)
        text = " ".join(s.text for s in segments)
        rows.append((transcript, text, len(audio) / SAMPLE_RATE, time.perf_counter() - start))
    result["reference_transcribe_clean"] = _score(rows)
    result["example"] = {"reference": clips[0][2], **examples}

    print(f"{len(clips)} clips, {seconds:.1f} s of real human Spanish (FLEURS read speech)")
    for condition in (*conditions, "reference_transcribe_clean"):
        r = result[condition]
        print(f"  {condition:<28} WER {r['wer']:.1%}  RTF {r['rtf']}  latency p50 {r['latency_ms_p50']} ms")
    path = save_result("human.json", result)
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
