"""Answering-machine detection clips, made reproducibly from espeak-ng voices on a phone line.

Kinds (truth label in brackets):
- person greetings ("¿Bueno?", "¿Diga?", …) followed by the silence of someone waiting [human];
- voicemail greetings of 2–8 s, personal and carrier, with and without a 1 kHz / 425 Hz beep [machine];
- carrier intercepts: the three special-information tones then a recorded message, or the message
  alone [machine, intercept];
- line silence and line noise [unknown].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from encuestador.audio import SAMPLE_RATE
from encuestador.audio.phoneline import phone_line
from encuestador.audio.tones import sine
from encuestador.speak.tts import EspeakSynthesizer

PERSON = ["¿Bueno?", "¿Diga?", "Sí, bueno.", "¿Bueno? ¿Quién habla?", "¿Aló?", "Sí, dígame.", "¿Mande?", "Bueno, sí."]
VOICEMAIL = [
    "Hola, habla Juan. En este momento no puedo contestar, deja tu mensaje y te llamo.",
    "Bienvenido al buzón de voz. La persona que usted llama no está disponible. Deje su mensaje después del tono.",
    "Hola, soy Mariana, no estoy disponible, deja tu recado por favor.",
    "Por el momento no podemos atenderle. Deje su nombre y número y le regresaremos la llamada.",
    "Está usted llamando a la oficina de la licenciada Pérez. Por favor grabe su mensaje.",
]
INTERCEPT = [
    "El número que usted marcó no existe. Verifique el número.",
    "El número que usted marcó está fuera de servicio.",
]
VOICES = [("es-419", 150, 50), ("es-419+f3", 160, 60), ("es-419+m3", 140, 40), ("es", 150, 50)]

# A second set the detector's thresholds were never chosen on: other voices, other words.
HELDOUT = {
    "voices": [("es-419+f4", 170, 55), ("es+m2", 135, 45), ("es-419+f2", 145, 65)],
    "person": ["¿Bueno, sí?", "¿Quién?", "Sí, ¿bueno?", "Bueno.", "¿Sí?", "Diga."],
    "voicemail": ["Gracias por llamar. En este momento no me encuentro, por favor deja tu mensaje.",
                  "Hola, soy Carlos. No puedo contestar ahorita. Te marco más tarde.",
                  "Ha llamado al buzón de voz de Alejandra, deje su mensaje."],
}


@dataclass(frozen=True)
class Clip:
    name: str
    truth: str          # human | machine | unknown
    intercept: bool
    audio: np.ndarray   # float32, 16 kHz


def _line(audio: np.ndarray, seed: int) -> np.ndarray:
    return phone_line(audio, SAMPLE_RATE, snr_db=25, seed=seed, out_rate=SAMPLE_RATE)


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


def sit_tones() -> np.ndarray:
    return np.concatenate([sine(913.8, 274, amplitude=0.3), sine(1370.6, 274, amplitude=0.3),
                           sine(1776.7, 380, amplitude=0.3), _silence(0.2)])


def make_clips(quick: bool = False, heldout: bool = False) -> list[Clip]:
    clips: list[Clip] = []
    voices = HELDOUT["voices"] if heldout else VOICES[:2] if quick else VOICES
    person = HELDOUT["person"] if heldout else PERSON
    voicemail = HELDOUT["voicemail"] if heldout else VOICEMAIL
    for v, (voice, wpm, pitch) in enumerate(voices):
        synth = EspeakSynthesizer(voice, wpm, pitch)
        for i, text in enumerate(person):
            audio = np.concatenate([_silence(0.3 + 0.1 * (i % 3)), synth.synthesize(text), _silence(3.0)])
            clips.append(Clip(f"person-{v}-{i}", "human", False, _line(audio, v * 100 + i)))
        for i, text in enumerate(voicemail):
            parts = [_silence(0.4), synth.synthesize(text), _silence(0.3)]
            if (i + v) % 2 == 0:
                parts.append(sine(1000 if i % 2 else 425, 400, amplitude=0.3))
            parts.append(_silence(2.0))
            clips.append(Clip(f"voicemail-{v}-{i}", "machine", False, _line(np.concatenate(parts), v * 200 + i)))
        for i, text in enumerate(INTERCEPT):
            with_sit = (i + v) % 2 == 0
            parts = ([sit_tones()] if with_sit else []) + [synth.synthesize(text), _silence(2.0)]
            clips.append(Clip(f"intercept-{v}-{i}{'-sit' if with_sit else ''}", "machine", True,
                              _line(np.concatenate(parts), v * 300 + i)))
    rng = np.random.default_rng(7)
    for i in range(4 if quick else 8):
        # Dead air and line hiss at realistic levels (phone_line normalises speech, so scale after it).
        for kind, dbfs in (("silence", -70.0), ("noise", -50.0 + 3 * i)):
            line = _line(rng.standard_normal(6 * SAMPLE_RATE).astype(np.float32), 60 + i)
            line *= 10 ** (dbfs / 20) / max(float(np.sqrt(np.mean(line**2))), 1e-9)
            clips.append(Clip(f"{kind}-{i}", "unknown", False, line.astype(np.float32)))
    return clips
