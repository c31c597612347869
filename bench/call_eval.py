"""Whole-call evaluation: every caller script of ``bench/caller_scripts/`` run through ``CallSession``
(``run_scripted_call``) and its stored answers checked against what the caller meant.

    python -m bench.call_eval [--quick] [--scripts DIR] [--only TEXT] [--line SNR_DB,LOSS] [--show-mismatches]

Makes the callers' audio first if missing (``bench.caller_audio``). One runtime for all calls:
faster-whisper ``base``, espeak-ng prompts (cached on disk). Prints, for the dev voices (em_santa,
em_alex, espeak-ng, keys) and the held-out voice (ef_dora) apart: scripts whose stored results match
exactly, per question right / wrong-stored / not-stored, closed answers right within the call,
read-backs per answer, destructive actions on misheard audio, missed opt-outs, call length, and the
end-of-speech → agent-audio latency. Writes
``bench/results/calls.json`` (``calls_snr20_loss3.json`` with ``--line 20,0.03``).

``--line`` puts every script that keeps the default line (30 dB, no loss) on the given one instead, the
caller's audio then passing μ-law, band-pass, noise at that SNR and that share of lost 20 ms frames; the
noise scripts keep their own, noisier lines.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import statistics
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from . import save_result
from .caller_audio import SCRIPTS, _use_repo_models, make_audio

QUESTIONS = ("consent", "score", "resolved", "feedback", "offer_human")
CLOSED = ("consent", "score", "resolved", "offer_human")
GROUPS = ("dev", "held_out")
LATENCY_NOTE = (
    "gap: the caller's last voiced 20 ms frame (measured on the clean recording) → the first frame of agent "
    "audio after it, in simulated call time: the endpointing wait (the 200 ms pause when decided early, else the "
    "450 ms hang-over) plus any queueing. The simulation stops the clock while the recogniser runs, so asr is "
    "that time (Heard.asr_ms, wall clock on this machine). estimate is what a live call takes, where the "
    "recognition runs in the background while the call's audio keeps arriving: the agent speaks when the "
    "endpointing wait is over and the recognition, begun at Heard.recognized_at_ms (100 ms into the silence), "
    "has run — max(gap, gap - wait + asr), wait being how long before the end of the turn the recognition began. "
    "Measured only where the agent was silent when the caller stopped and answered before the caller spoke "
    "again.")


def category(name: str) -> str:
    return re.split(r"_\d", name, maxsplit=1)[0]


def quick_subset(scripts: list) -> list:
    """The first script of each category in each voice group."""
    seen, out = set(), []
    for s in scripts:
        key = (category(s.name), s.group)
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out


def _pct(n: int, d: int) -> str:
    return f"{100 * n / d:.1f} %" if d else "-"


def _p(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def parse_line(text: str) -> dict:
    """``"20,0.03"`` → ``{"snr_db": 20.0, "loss": 0.03}``."""
    try:
        snr, loss = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SNR_DB,LOSS such as 20,0.03, got {text!r}") from None
    if not 0 <= loss < 0.5:
        raise argparse.ArgumentTypeError(f"LOSS is a share of lost frames below 0.5, got {loss}")
    return {"snr_db": snr, "loss": loss}


def on_line(scripts: list, line: dict | None) -> list:
    """The scripts with the default line moved to ``line`` (same seeds); the others as they are."""
    from encuestador.caller_script import LINE_DEFAULTS

    if line is None:
        return scripts
    return [dataclasses.replace(s, line={**s.line, **line})
            if (s.line["snr_db"], s.line["loss"]) == (LINE_DEFAULTS["snr_db"], LINE_DEFAULTS["loss"]) else s
            for s in scripts]


def call_metrics(call) -> dict:
    """What one scripted call did, beyond its check."""
    from encuestador.script_check import response_gaps

    check = call.script_check
    result = call.result
    events = call.events
    stored_answers = [e for e in events if e.kind == "AnswerRecorded" and e.value is not None
                      and e.question in (*QUESTIONS, "opt_out", "callback")]
    confirms = [e for e in events if e.kind == "ConfirmAsked"]
    replies = Counter(entry.get("reply") for entry in call.caller.log if entry.get("reply"))
    want = {k: c["expected"] for k, c in check["checks"].items()}
    destructive = []
    if result.opt_out and not want.get("opt_out"):
        destructive.append("opt_out")
    if result.outcome == "wrong_person" and want.get("outcome") != "wrong_person":
        destructive.append("wrong_person")
    if result.transferred and not want.get("transferred"):
        destructive.append("transfer")
    if result.outcome == "declined" and want.get("outcome") != "declined":
        destructive.append("decline")
    return {
        "outcome": result.outcome, "seconds": call.session.now_ms / 1000,
        "answers": len(stored_answers), "confirmations": len(confirms),
        "confirm_replies": dict(replies), "destructive": destructive,
        "opt_out_meant": bool(want.get("opt_out")), "opt_out_missed": bool(want.get("opt_out")) and not result.opt_out,
        "via": dict(Counter(result.via.values())), "latency": response_gaps(call),
        "corrections": sum(e.kind == "AnswerCorrected" for e in events),
    }


def summarize(rows: list[dict]) -> dict:
    n = len(rows)
    per_q = {q: Counter() for q in QUESTIONS}
    for r in rows:
        for q, info in r["check"]["questions"].items():
            per_q[q][info["status"]] += 1
    answers = sum(r["metrics"]["answers"] for r in rows)
    closed_right = sum(per_q[q]["right"] for q in CLOSED)
    closed_meant = sum(per_q[q][k] for q in CLOSED for k in ("right", "wrong", "not_stored"))
    confirms = sum(r["metrics"]["confirmations"] for r in rows)
    replies = Counter()
    for r in rows:
        replies.update(r["metrics"]["confirm_replies"])
    destructive = Counter(d for r in rows for d in r["metrics"]["destructive"])
    gaps = [g for r in rows for g in r["metrics"]["latency"]]
    seconds = [r["metrics"]["seconds"] for r in rows]
    walls = [r["wall_s"] for r in rows]
    via = Counter()
    for r in rows:
        via.update(r["metrics"]["via"])
    return {
        "scripts": n,
        "matches": sum(r["check"]["matches"] for r in rows),
        "match_rate": round(sum(r["check"]["matches"] for r in rows) / n, 4) if n else None,
        "per_question": {q: {"right": c["right"], "wrong_stored": c["wrong"], "not_stored": c["not_stored"],
                             "extra": c["extra"], "not_applicable": c["n/a"]} for q, c in per_q.items()},
        "closed_right_within_call": {"right": closed_right, "meant": closed_meant,
                                     "rate": round(closed_right / closed_meant, 4) if closed_meant else None},
        "answers_stored": answers, "confirmations": confirms,
        "confirmations_per_answer": round(confirms / answers, 3) if answers else None,
        "confirm_replies": dict(replies),
        "answered_via": dict(via),
        "corrections": sum(r["metrics"]["corrections"] for r in rows),
        "destructive_on_misheard": {"total": sum(destructive.values()), **{k: destructive[k] for k in
                                    ("opt_out", "wrong_person", "transfer", "decline")}},
        "opt_outs_meant": sum(r["metrics"]["opt_out_meant"] for r in rows),
        "opt_outs_missed": sum(r["metrics"]["opt_out_missed"] for r in rows),
        "call_seconds": {"mean": round(statistics.mean(seconds), 1) if seconds else None,
                         "p50": _p(seconds, 0.5), "max": max(seconds) if seconds else None},
        "wall_seconds_per_call": round(statistics.mean(walls), 2) if walls else None,
        "latency_ms": {"n": len(gaps),
                       "gap": {"p50": _p([g["gap_ms"] for g in gaps], 0.5), "p95": _p([g["gap_ms"] for g in gaps], 0.95)},
                       "asr": {"p50": _p([g["asr_ms"] for g in gaps], 0.5), "p95": _p([g["asr_ms"] for g in gaps], 0.95)},
                       "estimate": {"p50": _p([g["estimate_ms"] for g in gaps], 0.5),
                                    "p95": _p([g["estimate_ms"] for g in gaps], 0.95)}},
    }


def _why(check: dict) -> str:
    parts = []
    for q, info in check["questions"].items():
        if info["status"] not in ("right", "n/a"):
            parts.append(f"{q} {info['status']} (meant {info['means']!r}, stored {info['stored']!r})")
    for name, c in check["checks"].items():
        if not c["ok"]:
            parts.append(f"{name} {c['got']!r} ≠ {c['expected']!r}")
    return "; ".join(parts)


def print_summary(title: str, s: dict) -> None:
    print(f"\n== {title}: {s['scripts']} scripts")
    if not s["scripts"]:
        return
    print(f"  stored results match exactly: {s['matches']}/{s['scripts']} ({_pct(s['matches'], s['scripts'])})")
    print("  per question (right / wrong-stored / not-stored; extra = stored though not on the meant path):")
    for q, c in s["per_question"].items():
        print(f"    {q:<12} {c['right']:>3} / {c['wrong_stored']:>2} / {c['not_stored']:>2}"
              + (f"   extra {c['extra']}" if c["extra"] else "") + f"   (n/a {c['not_applicable']})")
    closed = s["closed_right_within_call"]
    print(f"  closed answers right within the call: {closed['right']}/{closed['meant']} "
          f"({_pct(closed['right'], closed['meant'])})")
    r = s["confirm_replies"]
    print(f"  read-backs: {s['confirmations']} for {s['answers_stored']} stored answers "
          f"({s['confirmations_per_answer']} per answer); the caller's replies (re-asks included): yes {r.get('yes', 0)}, "
          f"no {r.get('no', 0)}; "
          f"stored answers corrected when the caller went on: {s['corrections']}")
    via = s["answered_via"]
    print(f"  answers by voice {via.get('voice', 0)}, by keypad {via.get('dtmf', 0)}")
    d = s["destructive_on_misheard"]
    print(f"  destructive actions on misheard audio: {d['total']} (opt_out {d['opt_out']}, wrong_person "
          f"{d['wrong_person']}, transfer {d['transfer']}, decline {d['decline']})")
    print(f"  missed opt-outs: {s['opt_outs_missed']} of {s['opt_outs_meant']}")
    c = s["call_seconds"]
    print(f"  call length (simulated): mean {c['mean']} s, p50 {c['p50']} s, max {c['max']} s; "
          f"{s['wall_seconds_per_call']} s wall per call")
    lat = s["latency_ms"]
    print(f"  end of speech → agent audio (n={lat['n']}): gap p50 {lat['gap']['p50']} / p95 {lat['gap']['p95']} ms; "
          f"+ ASR p50 {lat['asr']['p50']} / p95 {lat['asr']['p95']} ms → estimate p50 {lat['estimate']['p50']} "
          f"/ p95 {lat['estimate']['p95']} ms")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.call_eval")
    parser.add_argument("--quick", action="store_true", help="the first script of each category per voice group")
    parser.add_argument("--scripts", type=Path, default=SCRIPTS, help="caller-script directory (with phrases.yaml)")
    parser.add_argument("--only", help="only scripts whose name contains this")
    parser.add_argument("--line", type=parse_line, metavar="SNR_DB,LOSS",
                        help="the phone line of the scripts that keep the default one, e.g. 20,0.03")
    parser.add_argument("--show-mismatches", action="store_true", help="print the transcript of each mismatch")
    args = parser.parse_args()
    _use_repo_models()
    from encuestador.caller_script import CallerScriptError, load_caller_scripts
    from encuestador.scripted_caller import run_scripted_call
    from encuestador.models.registry import MissingModelError, installed_path, load_manifest
    from encuestador.runtime import Runtime, RuntimeOptions
    from encuestador.simulate import transcript_lines

    try:
        scripts = load_caller_scripts(args.scripts)
        if args.quick:
            scripts = quick_subset(scripts)
        if args.only:
            scripts = [s for s in scripts if args.only in s.name]
        scripts = on_line(scripts, args.line)
        if not scripts:
            print(f"error: no caller scripts in {args.scripts}", file=sys.stderr)
            return 2
        if (args.scripts / "phrases.yaml").is_file():  # made (again) when missing or its recipe changed
            made = make_audio(args.scripts, only={w.name for s in scripts for w in s.wavs()})
        else:
            made = {"made": 0}
            missing = [w for s in scripts for w in s.missing_audio()]
            if missing:
                raise CallerScriptError(f"{args.scripts}: missing audio {missing[0]} and no phrases.yaml to make it")
        whisper = installed_path(load_manifest()[0]["faster-whisper-base"])
        if whisper is None:
            raise MissingModelError("faster-whisper-base", Path("models"))
        runtime = Runtime(RuntimeOptions(company="Telecom del Norte", asr="whisper", tts="espeak", whisper_model=whisper))
    except (CallerScriptError, ValueError, MissingModelError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rendered = runtime.prerender()
    line = (f"; phone line {args.line['snr_db']:g} dB SNR, {100 * args.line['loss']:g} % lost frames"
            if args.line else "")
    print(f"{len(scripts)} caller scripts ({made['made']} recordings made now); ASR {runtime.recognizer.name}, "
          f"agent voice {runtime.synthesizer.voice_id} ({rendered} prompts rendered now){line}\n")
    print(f"{'script':<22} {'group':<9} {'match':<6} {'outcome':<15} {'sim s':>6} {'wall s':>6}  why not")
    rows = []
    started = time.perf_counter()
    for script in scripts:
        t0 = time.perf_counter()
        call = run_scripted_call(runtime, script)
        wall = time.perf_counter() - t0
        check = call.script_check
        row = {"script": script.name, "description": script.description, "voice": script.voice,
               "group": script.group, "wall_s": round(wall, 2), "check": check, "metrics": call_metrics(call),
               "caller_log": call.caller.log}
        rows.append(row)
        print(f"{script.name:<22} {script.group:<9} {'yes' if check['matches'] else 'NO':<6} "
              f"{str(call.result.outcome):<15} {call.session.now_ms / 1000:>6.1f} {wall:>6.1f}  {_why(check)}", flush=True)
        if args.show_mismatches and not check["matches"]:
            print("    " + "\n    ".join(transcript_lines(call.events)))
    summaries = {g: summarize([r for r in rows if r["group"] == g]) for g in GROUPS}
    summaries["all"] = summarize(rows)
    for g, title in (("dev", "DEV (em_santa, em_alex, espeak-ng, keys)"), ("held_out", "HELD-OUT (ef_dora)"),
                     ("all", "ALL")):
        print_summary(title, summaries[g])
    print(f"\nlatency: {LATENCY_NOTE}")
    total = time.perf_counter() - started
    result = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "quick": args.quick,
              "line": args.line,
              "backend": runtime.recognizer.name, "agent_voice": runtime.synthesizer.voice_id,
              "wall_seconds": round(total, 1), "summary": summaries, "latency_note": LATENCY_NOTE, "calls": rows}
    name = (f"calls_snr{args.line['snr_db']:g}_loss{100 * args.line['loss']:g}.json" if args.line
            else "calls.json")
    path = save_result(name, result)
    print(f"\n{len(rows)} calls in {total:.0f} s; written: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
