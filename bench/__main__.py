"""``python -m bench [--quick] [--sip]``: measure, print a table, write bench/results/latest.json."""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import datetime, timezone

from . import save_result


class _NoSpeechRecognizer:
    """For the per-frame core measurement only: recognition is measured on its own below."""

    name = "none"

    def recognize(self, audio, hints):
        from encuestador.listen.asr import Transcript

        return Transcript("", 0.0, self.name, 0)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="fewer samples; under a minute")
    parser.add_argument("--sip", action="store_true", help="also measure CPU per call over real SIP (SIPp)")
    args = parser.parse_args()

    from encuestador.models.registry import installed_path, load_manifest
    from encuestador.runtime import Runtime, RuntimeOptions

    from . import core, speech

    specs, _ = load_manifest()
    whisper_dir = installed_path(specs["faster-whisper-base"])
    started = time.monotonic()
    runtime = Runtime(RuntimeOptions(asr="whisper", tts="espeak", whisper_model=whisper_dir))
    runtime.prerender()
    core_runtime = Runtime(runtime.options, recognizer=_NoSpeechRecognizer(), synthesizer=runtime.synthesizer)
    results: dict = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "quick": args.quick,
                     "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                     "backends": {"asr": runtime.recognizer.name, "tts": runtime.synthesizer.voice_id}}
    results.update(core.run(core_runtime, args.quick))
    clips = speech.answers(args.quick)
    # Warm-up: one-time costs (candidate priors, caches) are not per-turn costs.
    for question in ("consent", "score", "resolved"):
        runtime.understander.understand(clips[0].audio, runtime.script.questions[question])
    results["turn_latency_ms"] = speech.turn_latency(runtime, clips)
    results["asr"] = speech.asr_speed(runtime, clips)
    streaming = speech.streaming_stand_in(runtime, args.quick)
    if streaming is not None:
        results["asr"]["vosk (stand-in, streaming)"] = streaming.pop("asr")
        results["turn_latency_ms"]["spoken_closed_streaming_stand_in"] = streaming
    results["tts"] = speech.tts_speed(runtime)
    from . import voice  # the phone-ready voices on a few fixed prompts (python -m bench.voice: all)

    results["voice"] = voice.run(quick=True, recognizer=runtime.recognizer)["voices"]
    results.update(speech.max_concurrent_calls(runtime, clips, args.quick))
    from .amd_eval import evaluate

    amd = evaluate(runtime.recognizer, args.quick)
    results["amd"] = {k: amd[k] for k in ("clips", "accuracy", "median_decision_ms", "confusion", "intercepts_recognised")}
    if args.sip:
        from . import sip_load

        results["sip"] = sip_load.run(whisper_dir)
    results["bench_seconds"] = round(time.monotonic() - started, 1)
    path = save_result("latest.json", results)
    print_table(results)
    print(f"written: {path}  ({results['bench_seconds']} s)")
    return 0


def print_table(r: dict) -> None:
    rows = [
        ("core_us_per_frame (median)", r["core_us_per_frame"], "target ≤ 20"),
        ("core_speedup_vs_baseline", r["core_speedup_vs_baseline"], f"baseline {r['core_baseline_us_per_frame']} µs"),
        ("turn_latency_ms.dtmf p50 / p95", f"{r['turn_latency_ms']['dtmf']['p50']} / {r['turn_latency_ms']['dtmf']['p95']}",
         "target p50 ≤ 100"),
        ("turn_latency_ms.spoken_closed p50 / p95",
         f"{r['turn_latency_ms']['spoken_closed']['p50']} / {r['turn_latency_ms']['spoken_closed']['p95']}",
         f"{r['turn_latency_ms']['spoken_closed']['taken_at_pause']:.0%} taken at the "
         f"{r['turn_latency_ms']['spoken_closed']['pause_ms']} ms pause, the rest at the "
         f"{r['turn_latency_ms']['spoken_closed']['hangover_ms']} ms hang-over; {r['turn_latency_ms']['spoken_closed']['voices']}; target p50 ≤ 500"),
    ]
    streaming = r["turn_latency_ms"].get("spoken_closed_streaming_stand_in")
    if streaming:
        rows.append(("turn_latency_ms.spoken_closed_streaming_stand_in p50 / p95", f"{streaming['p50']} / {streaming['p95']}",
                     f"Vosk fed while spoken, {streaming['taken_at_pause']:.0%} taken at the pause, "
                     f"last chunk {streaming['processing_p50']} ms"
                     + (f", {streaming['max_concurrent_calls']} calls" if "max_concurrent_calls" in streaming else "")
                     + f"; {streaming['model']}"))
    for name, a in r["asr"].items():
        rows.append((f"asr.{name} rtf / latency_ms_p50", f"{a['rtf']} / {a['latency_ms_p50']}", f"free-form rtf {a['free_form_rtf']}"))
    for name, t in r["tts"].items():
        rows.append((f"tts.{name} rtf / first_audio_ms", f"{t['rtf']} / {t['first_audio_ms']}",
                     f"cached prompt {t['cached_prompt_ms']} ms"))
    for name, v in r.get("voice", {}).items():
        rows.append((f"voice.{name} rtf / WER / first audio ms", f"{v['rtf_median']} / {v['wer']:.1%} / {v['first_audio_prepared_ms']}",
                     f"{v['prompts']} phone-ready prompts at {v['level_dbfs_min']}…{v['level_dbfs_max']} dBFS, "
                     f"peak ≤ {v['peak_dbfs_max']}, {v['clipped_samples']} clipped; greeting cold "
                     f"{v['first_audio_cold_ms']} ms (python -m bench.voice: every prompt)"))
    rows.append(("max_concurrent_calls", r["max_concurrent_calls"], "spoken p95 ≤ 1.5 s, one process"))
    a = r["amd"]
    rows.append(("amd accuracy / median ms person, machine",
                 f"{a['accuracy']:.1%} / {a['median_decision_ms']['human']}, {a['median_decision_ms']['machine']}",
                 f"{a['clips']} clips (python -m bench.amd_eval [--heldout] for all)"))
    if "sip" in r:
        s = r["sip"]
        rows.append(("sip.cpu_per_call_keypad (cores)", s["cpu_per_call_keypad"],
                     f"{s['calls']} SIPp calls, {s['wall_s']} s; ≤ {s['calls_per_endpoint_limit']} calls per endpoint"))
    width = max(len(n) for n, _, _ in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {str(value):>16}  {note}")


if __name__ == "__main__":
    raise SystemExit(main())
