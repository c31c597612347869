"""Answering-machine detection on synthetic calls: person, voicemail with beep, carrier intercept, dead air."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from encuestador.amd.detector import SIT_TONES_HZ, detect
from encuestador.audio import SAMPLE_RATE
from encuestador.audio.phoneline import phone_line
from encuestador.audio.tones import sine
from encuestador.audio.wavio import write_wav
from encuestador.speak.tts import EspeakSynthesizer


def silence(seconds):
    return np.zeros(int(seconds * SAMPLE_RATE), np.float32)


def line(audio):
    return phone_line(audio, SAMPLE_RATE, snr_db=30, out_rate=SAMPLE_RATE)


def test_short_mexican_greeting_is_a_person():
    audio = line(np.concatenate([silence(0.3), EspeakSynthesizer().synthesize("¿Bueno?"), silence(3)]))
    decision, _ = detect(audio)
    assert decision.verdict == "human" and decision.decided_at_ms < 2000, decision


def test_long_greeting_is_a_machine_and_the_beep_ends_it():
    text = "Hola, habla Juan. En este momento no puedo contestar, deja tu mensaje y te llamo."
    audio = line(np.concatenate([silence(0.3), EspeakSynthesizer().synthesize(text), silence(0.3),
                                 sine(1000, 400, amplitude=0.3), silence(2)]))
    decision, detector = detect(audio)
    assert decision.verdict == "machine" and decision.decided_at_ms <= 3000, decision
    assert detector.greeting_over is not None and detector.greeting_over.reason.startswith("beep")
    assert not detector.intercept


def test_special_information_tones_are_a_carrier_intercept():
    tones = np.concatenate([sine(f, ms, amplitude=0.3) for f, ms in zip(SIT_TONES_HZ, (274, 274, 380))])
    decision, detector = detect(line(np.concatenate([tones, silence(2)])))
    assert decision.verdict == "machine" and decision.intercept and detector.intercept
    assert decision.decided_at_ms < 1000


def test_dead_air_and_hiss_are_unknown():
    rng = np.random.default_rng(3)
    hiss = (rng.standard_normal(5 * SAMPLE_RATE) * 10 ** (-45 / 20)).astype(np.float32)
    for audio in (silence(5), hiss):
        assert detect(audio)[0].verdict == "unknown"


def test_amd_command_prints_one_json_line(tmp_path):
    path = write_wav(tmp_path / "bueno.wav", line(np.concatenate([silence(0.2), EspeakSynthesizer().synthesize("¿Diga?"),
                                                                  silence(2)])), SAMPLE_RATE)
    proc = subprocess.run([sys.executable, "-m", "encuestador", "amd", str(path), "--no-asr"], capture_output=True,
                          text=True, check=True)
    line_out = json.loads(proc.stdout)
    assert line_out["verdict"] == "human" and line_out["decided_at_ms"] > 0 and line_out["reason"]


def _answered(runtime, audio, caller=()):
    from encuestador.dialogue.survey import CustomerContext
    from encuestador.simulate import run_call

    customer = CustomerContext(company="Telecom del Norte", name="Ana", callback_number="55 1234 5678")
    return run_call(runtime, customer, list(caller), answered_by=audio)


def test_outbound_call_answered_by_a_machine_gets_the_preset_message(runtime):
    text = "Bienvenido al buzón de voz. La persona que usted llama no está disponible. Deje su mensaje después del tono."
    audio = line(np.concatenate([silence(0.3), EspeakSynthesizer().synthesize(text), silence(0.3),
                                 sine(1000, 400, amplitude=0.3), silence(3)]))
    call = _answered(runtime, audio)
    says = [e for e in call.events if e.kind == "Say"]
    assert [s.prompt for s in says] == ["voicemail"]
    assert "Ana" in says[0].text and "Telecom del Norte" in says[0].text and "55 1234 5678" in says[0].text
    verdict = next(e for e in call.events if e.kind == "AmdVerdict")
    assert verdict.verdict == "machine" and says[0].at_ms > verdict.at_ms  # after the beep
    assert call.result.outcome == "voicemail" and call.session.finished


def test_outbound_call_answered_by_a_person_is_greeted_at_once(runtime, wavs, load_wav):
    audio = line(np.concatenate([silence(0.3), EspeakSynthesizer().synthesize("¿Bueno?"), silence(4)]))
    call = _answered(runtime, audio, [load_wav(wavs["si"])])
    verdict = next(e for e in call.events if e.kind == "AmdVerdict")
    greeting = next(e for e in call.events if e.kind == "Say")
    assert verdict.verdict == "human" and greeting.prompt == "greeting" and greeting.at_ms == verdict.at_ms
    assert call.result.consent is True


def test_outbound_call_to_an_invalid_number_hangs_up(runtime):
    tones = np.concatenate([sine(f, ms, amplitude=0.3) for f, ms in zip(SIT_TONES_HZ, (274, 274, 380))])
    call = _answered(runtime, line(np.concatenate([tones, silence(3)])))
    assert call.result.outcome == "invalid_number"
    assert not [e for e in call.events if e.kind == "Say"]


def test_a_key_during_detection_means_a_person(runtime):
    from encuestador.dialogue.survey import CustomerContext

    session = runtime.new_session(CustomerContext(company="Telecom del Norte"), amd=True)
    session.start()
    session.push_audio(np.zeros(320, np.int16))
    assert not session.playing
    session.push_dtmf("1")
    kinds = [e.kind for e in session.events]
    assert kinds[-3:] == ["AmdVerdict", "Say", "Say"] and session.events[-3].verdict == "human"
    assert session.events[-1].prompt == "consent.prompt"
    assert session.playing
