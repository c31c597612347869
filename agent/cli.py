"""The ``encuestador`` command."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import __version__


def _runtime_options(args: argparse.Namespace):
    from .runtime import RuntimeOptions

    return RuntimeOptions(
        company=getattr(args, "company", None) or "Servicios Ejemplo",
        asr=args.asr, tts=args.tts, vosk_model=args.vosk_model, whisper_model=args.whisper_model,
        piper_voice=args.piper_voice, transfer_enabled=not getattr(args, "no_transfer", False),
        callback_number=getattr(args, "callback_number", None),
    )


def _add_engine_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("speech engines")
    g.add_argument("--asr", choices=["auto", "vosk", "whisper"], default="auto",
                   help="recogniser: Vosk when its Spanish model is installed (auto), else faster-whisper")
    g.add_argument("--tts", choices=["auto", "piper", "kokoro", "espeak"], default="auto",
                   help="voice: Piper when an es_MX voice is installed (auto), else Kokoro-82M when installed, "
                        "else espeak-ng es-419")
    g.add_argument("--vosk-model", type=Path, help="Vosk model directory (overrides the installed one)")
    g.add_argument("--whisper-model", type=Path, help="faster-whisper model directory")
    g.add_argument("--piper-voice", type=Path, help="Piper voice .onnx (with its .onnx.json beside it)")


def cmd_models(args: argparse.Namespace) -> int:
    from .models.registry import describe, fetch_model, load_manifest, models_home

    specs, _ = load_manifest()
    if args.models_command == "list":
        rows = [describe(s) for s in specs.values()]
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            for r in rows:
                state = "installed" if r["installed"] else "missing"
                print(f"{r['name']:28} {r['kind']:8} {state:9} {'required' if r['required'] else 'optional'}"
                      f"  {r['bytes'] / 1e6:7.1f} MB  {r['license']}")
            print(f"models directory: {models_home()}")
        return 0
    names = args.names or list(specs)
    unknown = [n for n in names if n not in specs]
    if unknown:
        print(f"unknown model(s): {', '.join(unknown)}; known: {', '.join(specs)}", file=sys.stderr)
        return 2
    mirror = args.mirror or (Path(os.environ["ENCUESTADOR_MODEL_MIRROR"]) if os.environ.get("ENCUESTADOR_MODEL_MIRROR") else None)
    failed_required = False
    for name in names:
        spec = specs[name]
        report = fetch_model(spec, mirror=mirror)
        origin = f"mirror {mirror}" if mirror else "official source"
        if report.complete:
            what = f"installed {len(report.installed)} file(s)" if report.installed else "already installed"
            print(f"{name}: {what} ({origin}), sha256 verified")
            continue
        failed_required |= spec.required
        level = "ERROR" if spec.required else "not available"
        detail = "; ".join(report.errors) or f"missing from {origin}: {', '.join(report.missing)}"
        fallback = {"vosk": " → closed questions use faster-whisper",
                    "piper": " → speech uses Kokoro when installed, else espeak-ng es-419"}.get(spec.kind, "")
        print(f"{name}: {level}: {detail}{fallback}")
    return 1 if failed_required else 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from .audio.wavio import AudioFormatError, read_wav
    from .dialogue.survey import CustomerContext
    from .runtime import Runtime
    from .caller_script import CallerScriptError, load_caller_script
    from .scripted_caller import run_scripted_call
    from .privacy.crypto import load_keyring
    from .privacy.notice import warn_if_clear
    from .simulate import run_call, transcript_lines, write_outputs

    script = None
    try:
        if args.caller_script:
            if args.answered_by:
                raise CallerScriptError("--answered-by cannot be used with --caller-script")
            script = load_caller_script(args.caller_script)
            missing = script.missing_audio()
            if missing:
                raise CallerScriptError(f"{script.path}: missing audio {missing[0]}"
                                        + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
        caller = [read_wav(p)[0] for p in args.caller_audio]
        answered_by = read_wav(args.answered_by)[0] if args.answered_by else None
    except (AudioFormatError, CallerScriptError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    scripted = script.customer if script is not None else {}
    name = args.customer or scripted.get("name")
    if script is None and not name:
        print("error: --customer is required (or give --caller-script with a customer)", file=sys.stderr)
        return 2
    keyring = load_keyring()                   # $ENCUESTADOR_KEY_FILE: the outputs and the stored call encrypted
    if args.db:
        warn_if_clear(keyring)
    runtime = Runtime(_runtime_options(args))
    customer = CustomerContext(company=runtime.options.company, name=name, customer_id=args.customer_id,
                               phone=args.phone, topic=args.topic or scripted.get("topic"),
                               local_hour=args.hour if args.hour is not None else int(scripted.get("hour", 10)))
    sinks = []
    store = None
    call_id = None
    if args.db:
        import uuid

        from .store import StoreSink, open_store

        store = open_store(args.db)
        call_id = uuid.uuid4().hex[:12]
        store.start_call(call_id, args.customer_id, args.phone, direction="simulated")
        sinks.append(StoreSink(store, call_id, args.phone))
    if script is not None:
        call = run_scripted_call(runtime, script, sinks=sinks, call_id=call_id, customer=customer)
    else:
        call = run_call(runtime, customer, caller, sinks=sinks, call_id=call_id, answered_by=answered_by)
    result = write_outputs(call, customer, args.out, keyring)
    if store is not None:
        recording = args.out / "conversation.wav"
        sinks[0].finish(result["outcome"], result["duration_ms"], str(recording.resolve()) if recording.exists() else None)
        store.close()
    if not args.quiet:
        print("\n".join(transcript_lines(call.events)))
        print(f"\nresult: {json.dumps({k: result[k] for k in ('consent', 'score', 'resolved', 'feedback', 'opt_out', 'outcome')}, ensure_ascii=False)}")
        check = result.get("script_check")
        if check is not None:
            wrong = [f"{q}: stored {r['stored']!r}, meant {r['means']!r} ({r['status']})"
                     for q, r in check["questions"].items() if r["status"] not in ("right", "n/a")]
            wrong += [f"{k}: {c['got']!r}, expected {c['expected']!r}" for k, c in check["checks"].items() if not c["ok"]]
            print(f"script check: {'matches' if check['matches'] else 'DOES NOT MATCH'} the caller script"
                  + "".join(f"\n  {w}" for w in wrong))
        recorded = ", conversation.wav" if (args.out / "conversation.wav").exists() else " (not recorded, as the caller asked)"
        print(f"written: {args.out}/result.json, events.jsonl{recorded}")
    return 0


def cmd_understand(args: argparse.Namespace) -> int:
    """One JSON line per file; the models load once. A file that cannot be read gets a line with
    "error" and the others go on (exit 2 if any failed)."""
    from .audio.wavio import AudioFormatError, read_wav
    from .runtime import Runtime
    from .understand.utterance import understand_file

    runtime = None
    failed = False
    for path in args.files:
        try:
            audio, _ = read_wav(path)
        except (AudioFormatError, OSError) as e:
            print(json.dumps({"file": str(path), "error": str(e)}, ensure_ascii=False), flush=True)
            failed = True
            continue
        if runtime is None:
            runtime = Runtime(_runtime_options(args))
        question = runtime.script.questions[args.question]
        u, transcript = understand_file(runtime.understander, audio, question)
        print(json.dumps({"file": str(path), "intent": u.intent, "score": u.slots.get("score"), "text": u.text,
                          "confidence": round(u.confidence, 3), "confirm": bool(getattr(u, "confirm", False)),
                          "slots": u.slots, "backend": transcript.backend if transcript else None,
                          "asr_ms": transcript.elapsed_ms if transcript else 0}, ensure_ascii=False), flush=True)
    return 2 if failed else 0


def cmd_amd(args: argparse.Namespace) -> int:
    from .amd.detector import detect
    from .audio.wavio import AudioFormatError, read_wav
    from .runtime import build_recognizer

    try:
        audio, _ = read_wav(args.file)
    except (AudioFormatError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    recognizer = None if args.no_asr else build_recognizer(_runtime_options(args))
    decision, detector = detect(audio, recognizer=recognizer)
    print(json.dumps({"verdict": decision.verdict, "decided_at_ms": decision.decided_at_ms, "reason": decision.reason,
                      "intercept": detector.intercept, "beep": decision.beep}, ensure_ascii=False))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args.out, _runtime_options(args))


def cmd_calls(args: argparse.Namespace) -> int:
    from .store import open_store

    store = open_store(args.db, create=False)
    calls = store.calls()
    if args.json:
        print(json.dumps(calls, ensure_ascii=False, indent=2))
        return 0
    print(f"{'call':12} {'started (UTC)':23} {'outcome':15} {'score':5} {'resolved':8} {'opt_out':7} {'dur s':>6}  recording")
    for c in calls:
        resolved = {None: "-", 0: "no", 1: "sí"}[c["resolved"]]
        dur = f"{c['duration_ms'] / 1000:.1f}" if c["duration_ms"] is not None else "-"
        print(f"{c['call_id'][:12]:12} {c['started_at'][:23]:23} {c['outcome'] or 'in progress':15} "
              f"{c['score'] if c['score'] is not None else '-':5} {resolved:8} {'sí' if c['opt_out'] else 'no':7} "
              f"{dur:>6}  {c['recording_path'] or '-'}")
    return 0


def _host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def _load_config(args: argparse.Namespace, default_port: int):
    """The validated settings (``SettingsError`` lists every mistake) with the command line's overrides."""
    from .report.webhooks import webhook_secret
    from .settings import SettingsError
    from .sip.config import SipConfig

    host, port = args.listen or ("127.0.0.1", default_port)
    config = SipConfig.load(args.config, listen_host=host, listen_port=port, transfer_uri=args.transfer_uri,
                            recordings_dir=str(args.recordings) if args.recordings else None,
                            company=getattr(args, "company", None))
    if getattr(args, "proxy", None):
        config.trunk.proxy = args.proxy
    if config.webhook_url and not webhook_secret(config.webhook_secret):
        raise SettingsError([f"{args.config}: webhook_url is set but there is no webhook_secret "
                             "(or ENCUESTADOR_WEBHOOK_SECRET)"])
    return config


def _open_writable_store(location: str, create: bool, notices=None, key_file=None):
    """The store, refused (``StoreError``) unless this process can write to it; made when missing only
    with ``create`` (said on ``notices``, default stdout); encrypted under ``key_file`` (or $ENCUESTADOR_KEY_FILE)."""
    from .store import open_store

    store = open_store(location, create=create, key_file=key_file)
    store.check_writable()
    if store.created:
        print(f"new database created: {location}", file=notices or sys.stdout, flush=True)
    return store


def _recover(store, config) -> None:
    """Finalise calls and campaign attempts left open by processes that died (crash recovery)."""
    from datetime import datetime, timezone

    from .campaign.queue import recover_interrupted
    from .store.recovery import recover_abandoned_calls

    stale_after_s = config.max_call_s + 300   # no live call is older than this (the agent hangs up first)
    report = recover_abandoned_calls(store, config.recordings_dir, stale_after_s=stale_after_s)
    for call in report.calls:
        print(f"call {call.call_id} left open by a process that died: closed as 'interrupted' "
              f"({call.answers} answer(s){', recording kept' if call.recording_path else ''})", flush=True)
    attempts = recover_interrupted(store, datetime.now(timezone.utc), stale_after_s=stale_after_s)
    if attempts:
        print(f"{attempts} campaign attempt(s) left open by a dialer that died closed as 'interrupted'", flush=True)


def _sip_setup(args: argparse.Namespace, default_port: int, create_db: bool = True):
    """Config (validated), store (writable; crash recovery done), runtime (prompts pre-rendered) and a
    started SIP agent. Everything that can be refused is checked before the models load."""
    from .cli_logging import safe_print, setup_logging
    from .privacy.notice import warn_if_clear
    from .runtime import Runtime
    from .sip.agent import FRONT_ENV, SipAgent

    setup_logging()
    config = _load_config(args, default_port)
    store = _open_writable_store(args.db, create_db, key_file=config.encryption_key_file)
    if not os.environ.get(FRONT_ENV):       # a worker of `serve --workers`: its supervisor said it once
        warn_if_clear(store.keyring)
    _recover(store, config)
    options = _runtime_options(args)
    options.company = config.company
    options.callback_number = config.callback_number
    runtime = Runtime(options)
    rendered = runtime.prerender()
    print(f"prompts ready ({rendered} rendered now); ASR {runtime.recognizer.name}, voice {runtime.synthesizer.voice_id}",
          flush=True)
    agent = SipAgent(config, runtime, store, on_line=safe_print)
    agent.start()
    return agent, store, config


def cmd_serve(args: argparse.Namespace) -> int:
    import signal
    import threading

    if args.workers > 1:
        from .privacy.notice import warn_if_clear
        from .sip.cluster import run_cluster
        from .store import is_database_url

        config = _load_config(args, 5060)                 # refused here, not in N workers
        store = _open_writable_store(args.db, create=True, key_file=config.encryption_key_file)
        warn_if_clear(store.keyring)
        store.close()
        host, port = args.listen or ("127.0.0.1", 5060)
        passthrough = _worker_args(args)
        state_dir = Path("var") if is_database_url(args.db) else Path(args.db).parent
        return run_cluster(passthrough, host, port, args.workers, state_dir / "kamailio")
    from .report.webhooks import start_sender

    agent, store, config = _sip_setup(args, 5060)
    sender = start_sender(store, config.webhook_url, config.webhook_secret)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        agent.run(stop)
    finally:
        agent.shutdown()
        if sender is not None:
            sender.stop()
        print("stopped; live calls: 0", flush=True)
    return 0


def _worker_args(args: argparse.Namespace) -> list[str]:
    """The options a supervisor passes on to each of its workers."""
    out = ["--db", str(args.db)]
    for flag, value in (("--config", args.config), ("--transfer-uri", args.transfer_uri),
                        ("--recordings", args.recordings), ("--company", args.company), ("--asr", args.asr),
                        ("--tts", args.tts), ("--vosk-model", args.vosk_model),
                        ("--whisper-model", args.whisper_model), ("--piper-voice", args.piper_voice)):
        if value is not None:
            out += [flag, str(value)]
    return out


def cmd_call(args: argparse.Namespace) -> int:
    import threading

    agent, store, _ = _sip_setup(args, 0)
    done = threading.Event()
    try:
        agent.post(lambda: agent.place_call(args.number, args.customer))
        agent.run(done, until_idle_after=0)
    finally:
        agent.shutdown()
    call = store.call(agent.completed[-1]) if agent.completed else None
    if call is None:
        print("error: the call was not placed", file=sys.stderr)
        return 1
    summary = {k: call[k] for k in ("call_id", "outcome", "consent", "score", "resolved", "opt_out", "duration_ms",
                                    "recording_path")}
    print(json.dumps(summary, ensure_ascii=False))
    return 0 if call["outcome"] not in (None, "no_media", "error") else 1


def _add_sip_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--proxy", help="trunk / outbound proxy URI (overrides the config file)")
    p.add_argument("--listen", type=_host_port, help="HOST:PORT for SIP (UDP and TCP)")
    p.add_argument("--db", default="var/encuestador.db", help="SQLite file, or a postgresql:// DSN")
    p.add_argument("--config", type=Path, help="YAML settings (trunk, transfer_uri, TLS, recordings…)")
    p.add_argument("--transfer-uri", help="human queue for blind transfers, e.g. sip:asesores@pbx")
    p.add_argument("--recordings", type=Path, help="directory for call recordings")
    p.add_argument("--company")
    _add_engine_options(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="encuestador", description="Offline CSAT survey calls in Mexican Spanish")
    parser.add_argument("--version", action="version", version=f"encuestador {__version__}")
    parser.add_argument("--debug", action="store_true", help="on an error, also print its traceback")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("simulate", help="run one whole survey call from WAV files of the caller's answers "
                                        "or from a caller script")
    p.add_argument("--customer", help="customer name, spoken in the greeting (required without --caller-script; "
                                      "overrides the script's)")
    p.add_argument("--company", help="company name, spoken in the greeting")
    p.add_argument("--customer-id")
    p.add_argument("--phone")
    p.add_argument("--topic", help="topic of the earlier case, spoken in the 'resolved' question")
    p.add_argument("--hour", type=int, help="customer's local hour (for buenos días / buenas tardes; default 10)")
    said = p.add_mutually_exclusive_group()
    said.add_argument("--caller-audio", nargs="*", type=Path, default=[], metavar="WAV",
                      help="the caller's answers, each spoken when the agent next waits for one")
    said.add_argument("--caller-script", type=Path, metavar="CALLER.yaml",
                      help="a caller script (bench/caller_scripts/*.yaml): answers per question, pauses, keys, "
                           "read-back replies; result.json gets a script_check section")
    p.add_argument("--answered-by", type=Path, metavar="WAV",
                   help="outbound call: what the line says when answered (a greeting or a voicemail); "
                        "answering-machine detection decides how the agent starts")
    p.add_argument("--callback-number", help="the company's number, said in voicemail messages")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--db", help="also store the call and its answers here (SQLite file or postgresql:// DSN)")
    p.add_argument("--no-transfer", action="store_true", help="offer a follow-up ticket instead of a person")
    p.add_argument("--quiet", action="store_true")
    _add_engine_options(p)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("understand", help="understand recorded answers: one JSON line per file")
    p.add_argument("--question", choices=["consent", "score", "resolved", "feedback"], required=True)
    p.add_argument("files", type=Path, nargs="+", metavar="FILE")
    _add_engine_options(p)
    p.set_defaults(func=cmd_understand)

    p = sub.add_parser("amd", help="person or answering machine, from the start of an answered call")
    p.add_argument("file", type=Path)
    p.add_argument("--no-asr", action="store_true", help="timing and tones only, no phrase check")
    _add_engine_options(p)
    p.set_defaults(func=cmd_amd)

    p = sub.add_parser("demo", help="a simulated survey call with a synthetic caller; prints the transcript")
    p.add_argument("--out", type=Path, default=Path("var/demo"))
    p.add_argument("--company")
    _add_engine_options(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("models", help="list or fetch speech models")
    msub = p.add_subparsers(dest="models_command", required=True)
    f = msub.add_parser("fetch", help="download (sha256-checked) or copy from a mirror")
    f.add_argument("names", nargs="*")
    f.add_argument("--mirror", type=Path, help="copy from this directory instead of downloading "
                                               "(default: $ENCUESTADOR_MODEL_MIRROR)")
    listing = msub.add_parser("list")
    listing.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)

    for name, help_text in (("serve", "answer SIP calls and run the survey"),
                            ("call", "place one outbound survey call through the trunk")):
        p = sub.add_parser(name, help=help_text)
        if name == "call":
            p.add_argument("number", help="number to dial (E.164) or a full sip: URI")
            p.add_argument("--customer", help="customer id in the store (name, topic)")
        _add_sip_options(p)
        if name == "serve":
            p.add_argument("--workers", type=int, default=1,
                           help="worker processes behind a Kamailio dispatcher (each pjsua2 endpoint takes ≤ 4 calls)")
        p.set_defaults(func=cmd_serve if name == "serve" else cmd_call)

    from .cli_campaign import add_commands

    add_commands(sub, _add_sip_options)
    from .cli_console import add_commands as add_console_commands
    add_console_commands(sub)
    from .cli_prompts import add_commands as add_prompt_commands
    add_prompt_commands(sub, _add_engine_options)
    from .cli_privacy import add_commands as add_privacy_commands
    add_privacy_commands(sub)

    p = sub.add_parser("calls", help="stored calls with their answers")
    p.add_argument("--db", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_calls)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command. Every error is one line on stderr and an exit code (2: bad input or settings,
    3: a model missing, 1: anything else); ``--debug`` adds the traceback."""
    os.umask(0o077)   # databases, recordings, logs and reports are personal data: 0600 files, 0700 directories
    args = build_parser().parse_args(argv)
    from .cli_errors import run_reporting_errors

    return run_reporting_errors(args.func, args, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
