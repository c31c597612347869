"""``encuestador demo``: a whole survey call with a synthetic caller, transcript printed."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from .audio import SAMPLE_RATE
from .audio.phoneline import phone_line
from .audio.wavio import write_wav
from .dialogue.survey import CustomerContext
from .runtime import Runtime, RuntimeOptions
from .prompts_data import load_yaml
from .simulate import transcript_lines, write_outputs
from .cli_prompts import DEMO_COMPANY
from .speak.tts import EspeakSynthesizer, Synthesizer
from .store import StoreSink, open_store

def caller_voice() -> Synthesizer:
    """The synthetic caller: a Kokoro Spanish voice when installed (Whisper understands it as it would
    a person), else espeak-ng, which Whisper hardly understands at all."""
    from .models.registry import installed

    kokoro = installed("kokoro-82m")
    if kokoro is not None:
        from .speak.kokoro import KokoroSynthesizer

        return KokoroSynthesizer(kokoro, voice="em_alex")
    return EspeakSynthesizer(voice="es-419+m3", words_per_minute=140, pitch=40)


def _with_wavs(turns: list, wavs: dict[str, str]) -> list:
    """A caller-script turn list with each line key replaced by its WAV file."""
    return [wavs.get(t, t) if isinstance(t, str) else t for t in turns]


def run_demo(out: Path, options: RuntimeOptions) -> int:
    from .caller_script import parse_caller_script
    from .scripted_caller import run_scripted_call

    out = Path(out).resolve()  # the caller script names its WAVs by absolute path
    options.company = options.company if options.company != "Servicios Ejemplo" else DEMO_COMPANY
    data = load_yaml("demo_caller.yaml")
    voice = caller_voice()
    wavs: dict[str, str] = {}
    for i, (key, text) in enumerate(data["lines"].items()):
        audio = phone_line(voice.synthesize(text), SAMPLE_RATE, snr_db=30, seed=i, out_rate=SAMPLE_RATE)
        wavs[key] = str(write_wav(out / "caller" / f"{key}.wav", audio, SAMPLE_RATE))
    raw = {qid: ({**spec, "say": _with_wavs(spec["say"], wavs)} if "say" in spec
                 else {k: _with_wavs(v, wavs) for k, v in spec.items()})
           for qid, spec in data["script"].items()}
    script = parse_caller_script({**raw, "customer": data["customer"]}, out / "caller" / "script.yaml")
    print(f"Synthetic caller ({voice.voice_id}, 8 kHz μ-law line) answers what it is asked: "
          + " / ".join(f"«{t}»" for t in list(data["lines"].values())[:5]) + "; read-backs truthfully")
    runtime = Runtime(options)
    print(f"ASR: {runtime.recognizer.name}; voice: {runtime.synthesizer.voice_id}; "
          f"rendering fixed prompts… {runtime.prerender()} new\n")
    customer = CustomerContext(company=options.company, name=data["customer"]["name"], customer_id="C-1001",
                               phone="+525512345678", topic=data["customer"]["topic"], local_hour=11)
    store, call_id = open_store(out / "encuestador.db"), uuid.uuid4().hex[:12]  # what `encuestador console` shows
    store.upsert_customer(customer.customer_id, customer.name, customer.phone, customer.topic)
    store.start_call(call_id, customer.customer_id, customer.phone, direction="simulated")
    sink = StoreSink(store, call_id, customer.phone)
    call = run_scripted_call(runtime, script, sinks=[sink], call_id=call_id, customer=customer)
    result = write_outputs(call, customer, out)
    sink.finish(result["outcome"], result["duration_ms"], str((out / "conversation.wav").resolve()))
    print("\n".join(transcript_lines(call.events)))
    print("\nresult:", json.dumps({k: result[k] for k in ("consent", "score", "resolved", "feedback", "opt_out",
                                                            "outcome", "transferred", "ticket")}, ensure_ascii=False))
    check = call.script_check
    print("stored answers match what the caller meant:", "yes" if check["matches"] else f"NO — {check}")
    print(f"written: {out}/result.json, {out}/events.jsonl, {out}/conversation.wav (agent left, caller right), "
          f"{out}/encuestador.db (see it with `encuestador console --db {out}/encuestador.db`)")
    return 0 if check["matches"] else 1
