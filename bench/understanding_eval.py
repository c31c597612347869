"""Understanding evaluation: what the agent would do with each answer, on voices that sound like callers.

The parser on written answers (``--text-only``), then the whole path — the answer as the call's
endpointer would cut it, recognition, and the accept / confirm / ask-again decision — on the spoken
sets of ``bench/answer_sets.py`` (Kokoro voices with a DEV / HELD-OUT split, one espeak-ng voice,
real human recordings), each clean and through a phone line. Per set × condition it reports:

- right 1st: taken at once with the right value, no read-back (an out-of-grammar answer or a
  "¿cómo?" asked again also counts here: that is the right thing to do with it);
- confirm (right): read back for a yes/no check ("Entendí que nos da un cuatro. ¿Es correcto?"), and the share of
  those whose value was the right one;
- again: an answer the agent could have taken, asked again instead (a lost turn);
- WRONG: taken at once with a wrong value, or an out-of-grammar answer taken as an answer (the
  number that matters most); right 1st + confirm + again + WRONG = 100 %;
- destr: a destructive action taken at once on a mishearing (opt-out, wrong person, transfer to a
  person, a "no" to the consent question) when the caller said something else;
- opt-out missed: a caller's opt-out taken (at once or for read-back) as anything else;
- in call: right 1st + read back with the right value (the caller says yes), an estimate per
  clip — whole-call scripts (``encuestador simulate``) measure the real figure;
- heard: the most right 1st any decision could reach on these recognitions — clips to ask again,
  and answers the (final) transcript or the candidates' best label name; the rest recognition
  missed, so right 1st falls short of it only by what the decision left out;
- pause: share taken at the first pause (``Understander.decisive``); latency: recognition
  and decision of the cut utterance (as a call recognises it, 100 ms into the silence), p50 / p95.

Writes bench/results/understanding.json (summaries, most frequent wrong answers) and
bench/results/understanding_clips.json (every clip's outcome and transcript).

    python -m bench.understanding_eval [--quick] [--text-only] [--sets kokoro,real,espeak]
        [--conditions clean,snr20_loss3,snr10_loss5] [--real DIR ...] [--asr whisper|vosk|auto]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from . import save_result
from .answer_sets import (CONDITIONS, DEFAULT_REAL, KOKORO_VOICES, ClipAudio, build_sets, ensure_home,
                          kokoro_model_dir)
from .understanding_sets import Item, out_of_grammar_items, written_set

ASK_AGAIN = ("unknown", "repeat", "silence")
DESTRUCTIVE = ("opt_out", "wrong_person", "human")
OUTCOMES = ("right_first", "confirmed_right", "confirmed_wrong", "asked_again", "wrong_stored")


# --- written answers (the parser alone) ----------------------------------------------------------


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
    reasked = sum(1 for item, intent, _ in rows if intent in ASK_AGAIN and item.intent not in ("unknown", "repeat"))
    return {"n": len(rows), "accuracy": round(total / len(rows), 4),
            "asked_again": round(reasked / len(rows), 4),
            "wrong": round((len(rows) - total - reasked) / len(rows), 4),
            "per_intent": {k: {"n": len(v), "accuracy": round(sum(v) / len(v), 4)}
                           for k, v in sorted(per_intent.items())},
            "confusion": {k: dict(v) for k, v in sorted(confusion.items())}, "misses": misses}


def evaluate_text() -> dict:
    from encuestador.understand.parser import IntentParser

    parser = IntentParser()
    out = {}
    for name, items in (("written", written_set()), ("written_out_of_grammar", out_of_grammar_items())):
        rows = []
        for item in items:
            u = parser.parse(item.text, "score" if item.question == "score" else "yes_no")
            rows.append((item, u.intent, u.score))
        out[name] = _summary(rows)
    return out


def _print_text(title: str, s: dict) -> None:
    print(f"\n{title}: {s['n']} answers, accuracy {s['accuracy']:.1%} "
          f"(asked again {s['asked_again']:.1%}, wrong {s['wrong']:.1%})")
    for intent, v in s["per_intent"].items():
        print(f"  {intent:<15} {v['accuracy']:>7.1%}  (n={v['n']})")
    for miss in s["misses"][:8]:
        print(f"  miss: [{miss['question']}] {miss['text']!r} → {miss['got']}"
              + (f" {miss['got_score']}" if miss["got_score"] is not None else ""))


# --- spoken answers (recognition + decision) ------------------------------------------------------


def _label(u) -> str:
    return f"score:{u.score}" if u.intent == "score" else u.intent


def action(u, question_kind: str) -> str:
    """What the agent does with ``u``: accept (store / act at once), confirm (read back), again."""
    if question_kind == "free":  # any words are the feedback; only "¿cómo?" or nothing asks again
        return "again" if u.intent in ("repeat", "silence") else ("confirm" if u.confirm else "accept")
    if u.intent in ASK_AGAIN:
        return "again"
    return "confirm" if u.confirm else "accept"


def outcome(clip, u, question_kind: str) -> str:
    """One of ``OUTCOMES`` for the clip, given what the agent understood."""
    act = action(u, question_kind)
    should_ask_again = clip.intent == "repeat" or (clip.intent == "unknown" and question_kind != "free")
    if should_ask_again:
        return {"again": "right_first", "confirm": "confirmed_wrong", "accept": "wrong_stored"}[act]
    right = _label(u) == clip.label
    if act == "accept":
        return "right_first" if right else "wrong_stored"
    if act == "confirm":
        return "confirmed_right" if right else "confirmed_wrong"
    return "asked_again"


def _pct(k: int, n: int) -> float | None:
    return round(k / n, 4) if n else None


def _reachable(row: dict) -> bool:
    """Could any decision have been right at once on this clip? Asking again always can when that
    is right (out of grammar, «¿cómo?»); an answer only when the transcript or the candidates name it."""
    if row["truth"] in ("unknown", "repeat"):
        return True
    return row["truth"] in (row.get("transcript_says"), row.get("candidates_say"))


def summarise(rows: list[dict]) -> dict:
    n = len(rows)
    counts = Counter(r["outcome"] for r in rows)
    confirmed = counts["confirmed_right"] + counts["confirmed_wrong"]
    oog = [r for r in rows if r["out_of_grammar"]]
    opt_outs = [r for r in rows if r["truth"] == "opt_out"]
    latency = sorted(r["latency_ms"] for r in rows if r["latency_ms"] is not None)
    at_pause = [r for r in rows if r["at_pause"]]
    per_truth: dict[str, Counter] = defaultdict(Counter)
    confusion: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        per_truth[r["truth"]][r["outcome"]] += 1
        confusion[r["truth"]][r["got"] + ("?" if r["confirm"] else "")] += 1
    return {
        "n": n,
        "right_first": _pct(counts["right_first"], n),
        "confirmed": _pct(confirmed, n),
        "confirmed_right_share": _pct(counts["confirmed_right"], confirmed),
        "asked_again": _pct(counts["asked_again"], n),
        "wrong_stored": _pct(counts["wrong_stored"], n),
        "wrong_stored_n": counts["wrong_stored"],
        "out_of_grammar": {"n": len(oog), "stored": sum(r["outcome"] == "wrong_stored" for r in oog),
                           "confirmed": sum(r["outcome"] == "confirmed_wrong" for r in oog)},
        "destructive_on_misheard": _pct(sum(r["destructive"] for r in rows), n),
        "destructive_n": sum(r["destructive"] for r in rows),
        "missed_opt_outs": {"n": len(opt_outs), "missed": sum(r["missed_opt_out"] for r in opt_outs),
                            "asked_again": sum(r["outcome"] == "asked_again" for r in opt_outs)},
        "right_within_call_est": _pct(counts["right_first"] + counts["confirmed_right"], n),
        "heard_ceiling": _pct(sum(_reachable(r) for r in rows), n),
        "taken_at_pause": _pct(len(at_pause), n),
        "wrong_at_pause": sum(r["outcome"] == "wrong_stored" for r in at_pause),
        "latency_ms": {"p50": round(statistics.median(latency), 1) if latency else None,
                       "p95": round(latency[min(len(latency) - 1, int(0.95 * len(latency)))], 1) if latency else None},
        "outcomes": dict(counts),
        "per_truth": {k: dict(v) for k, v in sorted(per_truth.items())},
        "confusion": {k: dict(v) for k, v in sorted(confusion.items())},
    }


def evaluate_clip(runtime, audio_source: ClipAudio, clip, condition: str) -> dict:
    from encuestador.understand.utterance import speech_span

    question = runtime.script.questions[clip.question]
    span = speech_span(audio_source.heard(clip, condition), question)  # what a call would recognise
    transcript, latency, at_pause = None, None, False
    if span is None:
        from encuestador.understand.parser import Understanding

        u = Understanding("silence", confidence=1.0)
    else:
        start = time.perf_counter()
        u, transcript = runtime.understander.understand(span, question)
        latency = (time.perf_counter() - start) * 1000
        at_pause = bool(runtime.understander.decisive(u, question))
    result = outcome(clip, u, question.kind)
    said, best = runtime.understander.heard(transcript, question) if transcript else ("silence", "unknown")
    act = action(u, question.kind)
    got = _label(u)
    wrong_act = act == "accept" and got != clip.label
    return {
        "set": clip.set, "part": clip.part, "condition": condition, "voice": clip.voice, "speed": clip.speed,
        "question": clip.question, "text": clip.text, "file": Path(clip.path).name if clip.path else None,
        "truth": clip.label, "out_of_grammar": clip.out_of_grammar,
        "got": got, "confirm": bool(u.confirm), "action": act, "confidence": round(float(u.confidence), 3),
        "transcript": transcript.text if transcript else "", "outcome": result,
        "transcript_says": said, "candidates_say": best,
        "destructive": wrong_act and (u.intent in DESTRUCTIVE or (clip.question == "consent" and u.intent == "no")),
        "missed_opt_out": clip.intent == "opt_out" and act != "again" and u.intent != "opt_out",
        "at_pause": at_pause, "latency_ms": round(latency, 1) if latency is not None else None,
    }


def _warm_up(runtime) -> None:
    import numpy as np

    noise = (np.random.default_rng(0).standard_normal(8000) * 0.01).astype(np.float32)
    for question in runtime.script.questions.values():
        runtime.understander.understand(noise, question)


# --- printing -------------------------------------------------------------------------------------

_HEADER = (f"  {'condition':<12} {'part':<8} {'n':>4}  {'right1st':>8}  {'confirm (right)':>15}  {'again':>6}  "
           f"{'WRONG':>6}  {'destr':>5}  {'opt-out missed':>14}  {'in call':>7}  {'heard':>6}  {'pause':>6}  {'p50/p95 ms':>11}")


def _f(x: float | None) -> str:
    return "—" if x is None else f"{x:.1%}"


def _row(condition: str, part: str, s: dict) -> str:
    conf = f"{_f(s['confirmed'])} ({_f(s['confirmed_right_share'])})" if s["confirmed"] else "0.0%"
    opt = s["missed_opt_outs"]
    lat = s["latency_ms"]
    return (f"  {condition:<12} {part:<8} {s['n']:>4}  {_f(s['right_first']):>8}  {conf:>15}  "
            f"{_f(s['asked_again']):>6}  "
            f"{_f(s['wrong_stored']):>6}  {_f(s['destructive_on_misheard']):>5}  "
            f"{str(opt['missed']) + '/' + str(opt['n']):>14}  {_f(s['right_within_call_est']):>7}  "
            f"{_f(s['heard_ceiling']):>6}  {_f(s['taken_at_pause']):>6}  {str(lat['p50']) + '/' + str(lat['p95']):>11}")


def print_set(name: str, summaries: dict, seconds: float) -> None:
    note = {"kokoro": "Kokoro-82M; DEV = " + ", ".join(v for v, p in KOKORO_VOICES.items() if p == "dev")
                      + "; HELD-OUT = " + ", ".join(v for v, p in KOKORO_VOICES.items() if p == "heldout")
                      + " (tune on DEV, check on HELD-OUT)",
            "espeak": "espeak-ng es-419, one synthetic voice among others"}.get(name, "real human recordings")
    print(f"\n{name} ({note}; {seconds:.0f} s)")
    print(_HEADER)
    for condition, by_part in summaries.items():
        for part, s in by_part.items():
            print(_row(condition, part, s))
    oog = [(c, s["all"]["out_of_grammar"]) for c, s in summaries.items() if s["all"]["out_of_grammar"]["n"]]
    if oog:
        print("  out-of-grammar answers taken as answers: "
              + ", ".join(f"{c} {o['stored']}/{o['n']} (read back {o['confirmed']})" for c, o in oog))


def frequent_wrong(rows: list[dict], limit: int) -> list[dict]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        if r["outcome"] == "wrong_stored":
            groups[(r["set"], r["question"], r["file"] or r["text"], r["truth"], r["got"])].append(r)
    ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    out = []
    for (set_name, question, what, truth, got), rs in ranked[:limit]:
        out.append({"set": set_name, "question": question, "clip": what,
                    "text": rs[0]["text"], "truth": truth, "stored": got, "count": len(rs),
                    "conditions": dict(Counter(r["condition"] for r in rs)),
                    "voices": dict(Counter(f"{r['voice']}@{r['speed']:g}" for r in rs)),
                    "transcripts": [t for t, _ in Counter(r["transcript"] for r in rs).most_common(3)]})
    return out


# --- main -----------------------------------------------------------------------------------------


def _code_version() -> dict[str, str]:
    """sha256 (12 hex) of the files whose behaviour is measured, to tie the numbers to the code."""
    import hashlib

    from .answer_sets import REPO

    files = ["agent/understand/decide.py", "agent/understand/parser.py", "agent/listen/asr.py",
             "prompts/es_MX/understanding.yaml", "prompts/es_MX/survey.yaml"]
    return {f: hashlib.sha256((REPO / f).read_bytes()).hexdigest()[:12] for f in files if (REPO / f).is_file()}


def evaluate_audio(args) -> dict:
    from encuestador.models.registry import installed_path, load_manifest
    from encuestador.runtime import Runtime, RuntimeOptions

    specs, _ = load_manifest()
    runtime = Runtime(RuntimeOptions(asr=args.asr, tts="espeak",
                                     whisper_model=installed_path(specs["faster-whisper-base"])))
    sets = build_sets(args.sets, quick=args.quick, real_dirs=args.real or [DEFAULT_REAL],
                      per_cell=args.per_cell, seed=args.seed)
    kokoro_dir = args.kokoro_dir or (kokoro_model_dir() if "kokoro" in sets else None)
    out: dict = {"backend": runtime.recognizer.name, "code": _code_version(),
                 "conditions": {c: CONDITIONS[c] for c in args.conditions},
                 "quick": args.quick, "seed": args.seed, "sets": {}}
    if "kokoro" in sets and kokoro_dir is None:
        print("\nkokoro: skipped — the kokoro-82m model is not installed "
              "(encuestador models fetch kokoro-82m, or --kokoro-dir DIR)")
        out["sets"]["kokoro"] = {"skipped": "kokoro-82m not installed"}
        del sets["kokoro"]
    audio = ClipAudio(kokoro_dir)
    started = time.perf_counter()
    made = audio.prepare([c for clips in sets.values() for c in clips])
    out["synthesised"] = {"clips": made, "seconds": round(time.perf_counter() - started, 1)}
    _warm_up(runtime)
    all_rows: list[dict] = []
    for name, clips in sets.items():
        started = time.perf_counter()
        rows = []
        total = len(clips) * len(args.conditions)
        for condition in args.conditions:
            for clip in clips:
                rows.append(evaluate_clip(runtime, audio, clip, condition))
                if len(rows) % 100 == 0:
                    print(f"  {name}: {len(rows)}/{total} clips", file=sys.stderr, flush=True)
        seconds = time.perf_counter() - started
        summaries = {}
        for condition in args.conditions:
            cond_rows = [r for r in rows if r["condition"] == condition]
            by_part = {}
            if name == "kokoro":
                for part in dict.fromkeys(KOKORO_VOICES.values()):
                    by_part[part] = summarise([r for r in cond_rows if r["part"] == part])
            by_part["all"] = summarise(cond_rows)
            if name == "kokoro":
                by_part["by_speed"] = {f"{s:g}": summarise([r for r in cond_rows if r["speed"] == s])
                                       for s in sorted({r["speed"] for r in cond_rows})}
            summaries[condition] = by_part
        print_set(name, {c: {p: s for p, s in v.items() if p != "by_speed"} for c, v in summaries.items()}, seconds)
        out["sets"][name] = {"clips": len(clips), "seconds": round(seconds, 1), "conditions": summaries}
        all_rows += rows
    out["frequent_wrong_stored"] = frequent_wrong(all_rows, 50)
    out["_rows"] = all_rows
    return out


def _print_frequent(items: list[dict], limit: int) -> None:
    if not items:
        print("\nno answer was stored wrong")
        return
    print(f"\nthe {min(limit, len(items))} most frequent wrong-stored answers "
          "(counted over voices, speeds and conditions):")
    for w in items[:limit]:
        what = w["clip"] if w["clip"] == w["text"] else f"{w['clip']} ({w['text']})"
        print(f"  {w['count']:>3}× {w['set']:<20} [{w['question']}] {what!r}: "
              f"truth {w['truth']} → stored {w['stored']}"
              f"; heard {' | '.join(repr(t) for t in w['transcripts'])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.understanding_eval",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="about 60 clips, one condition (snr20_loss3 unless --conditions): a few minutes")
    parser.add_argument("--text-only", action="store_true", help="only the parser on written answers")
    parser.add_argument("--asr", choices=("whisper", "vosk", "auto"), default="whisper",
                        help="closed answers by faster-whisper (default), Vosk (vosk-model-small-es-0.42 "
                             "installed), or whichever the runtime picks")
    parser.add_argument("--sets", default="kokoro,real,espeak", help="comma-separated: kokoro, real, espeak")
    parser.add_argument("--conditions", help=f"comma-separated, of {', '.join(CONDITIONS)} (default: all; "
                                             "--quick: snr20_loss3)")
    parser.add_argument("--real", type=Path, action="append",
                        help=f"a directory of real clips with labels.tsv (repeatable; default {DEFAULT_REAL})")
    parser.add_argument("--kokoro-dir", type=Path, help="Kokoro model directory (default: the installed kokoro-82m)")
    parser.add_argument("--per-cell", type=int, help="answers sampled per voice and speed (default 40; quick 12)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--examples", type=int, default=10, help="wrong-stored examples to print")
    args = parser.parse_args(argv)
    args.sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    args.conditions = ([c.strip() for c in args.conditions.split(",") if c.strip()] if args.conditions
                       else ["snr20_loss3"] if args.quick else list(CONDITIONS))
    bad = ([c for c in args.conditions if c not in CONDITIONS]
           + [s for s in args.sets if s not in ("kokoro", "real", "espeak")])
    if bad:
        parser.error(f"unknown set or condition: {', '.join(bad)}")
    for folder in args.real or []:
        if not (folder / "labels.tsv").is_file():
            parser.error(f"no labels.tsv in {folder}")
    ensure_home()
    started = time.perf_counter()
    result = {"text": evaluate_text()}
    _print_text("written answers (parser)", result["text"]["written"])
    _print_text("written out-of-grammar answers (parser; all must be unknown)",
                result["text"]["written_out_of_grammar"])
    if not args.text_only:
        from encuestador.models.registry import MissingModelError

        print("\nlegend: right1st + confirm + again + WRONG = 100 %. right1st includes out-of-grammar answers and "
              "'¿cómo?' asked again; confirm = read back (share with the right value); again = an answer asked "
              "again; WRONG = taken at once with a wrong value or an out-of-grammar answer taken; destr = opt-out / "
              "wrong person / transfer / consent 'no' taken at once on a mishearing; in call = right1st + read back "
              "right (a per-clip estimate: whole-call scripts measure the real figure); heard = the most right1st "
              "any decision could reach (clips to ask again, and answers the transcript or the candidates name); "
              "pause = taken at the first pause.")
        try:
            audio = evaluate_audio(args)
        except MissingModelError as missing:
            print(f"\n{missing}")
            return 2
        rows = audio.pop("_rows")
        result["audio"] = audio
        _print_frequent(audio["frequent_wrong_stored"], args.examples)
        save_result("understanding_clips.json", {"rows": rows})
    result["seconds"] = round(time.perf_counter() - started, 1)
    path = save_result("understanding.json", result)
    print(f"\nwritten: {path} (every clip: {path.with_name('understanding_clips.json')}); "
          f"{result['seconds']:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
