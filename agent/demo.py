"""``encuestador demo``: a whole survey call with a synthetic caller, transcript printed."""

from __future__ import annotations

import json
from pathlib import Path

from .audio import SAMPLE_RATE
from .audio.phoneline import phone_line
from .audio.wavio import write_wav
from .dialogue.survey import CustomerContext
from .runtime import Runtime, RuntimeOptions
from .simulate import run_call, transcript_lines, write_outputs
from .speak.tts import EspeakSynthesizer

# What the demo caller says, in order; each is spoken when the agent next waits for an answer.
DEMO_ANSWERS = [
    "Sí, claro.",
    "Cuatro.",
    "No, sigue igual.",
    "Que me atiendan más rápido, por favor.",
    "No, gracias.",
]


def run_demo(out: Path, options: RuntimeOptions) -> int:
    options.company = options.company if options.company != "Servicios Ejemplo" else "Telecom del Norte"
    caller_voice = EspeakSynthesizer(voice="es-419+m3", words_per_minute=140, pitch=40)
    caller = []
    for i, text in enumerate(DEMO_ANSWERS):
        audio = phone_line(caller_voice.synthesize(text), SAMPLE_RATE, snr_db=30, seed=i, out_rate=SAMPLE_RATE)
        write_wav(out / "caller" / f"{i + 1}.wav", audio, SAMPLE_RATE)
        caller.append(audio)
    print(f"Synthetic caller ({caller_voice.voice_id}, 8 kHz μ-law line) will answer: "
          + " / ".join(f"«{t}»" for t in DEMO_ANSWERS))
    runtime = Runtime(options)
    print(f"ASR: {runtime.recognizer.name}; voice: {runtime.synthesizer.voice_id}; "
          f"rendering fixed prompts… {runtime.prerender()} new\n")
    customer = CustomerContext(company=options.company, name="Ana López", customer_id="C-1001",
                               phone="+525512345678", topic="su servicio de internet", local_hour=11)
    call = run_call(runtime, customer, caller)
    result = write_outputs(call, customer, out)
    print("\n".join(transcript_lines(call.events)))
    print("\nresult:", json.dumps({k: result[k] for k in ("consent", "score", "resolved", "feedback", "opt_out",
                                                            "outcome", "transferred", "ticket")}, ensure_ascii=False))
    print(f"written: {out}/result.json, {out}/events.jsonl, {out}/conversation.wav (agent left, caller right)")
    return 0
