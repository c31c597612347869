"""Make the WAV fixtures of the test suite, reproducibly.

Every caller fixture is Spanish speech from Debian's espeak-ng (voice, rate and pitch as listed) or,
for ``voice="kokoro:NAME"``, from the Kokoro-82M voice NAME (installed by `make models`), passed through ``encuestador.audio.phoneline.phone_line``: 300–3400 Hz band-pass, resampled to 8 kHz,
G.711 μ-law encoded and decoded, line noise at the listed SNR (seeded), then written as 8 kHz 16-bit
mono WAV (a few as μ-law WAV, to exercise the reader). espeak-ng output is deterministic for a given
version, so the files are the same on every run; they are made at test time, never committed.

    python tests/make_fixtures.py [OUT_DIR]      (default: tests/fixtures)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from encuestador.audio import g711
from encuestador.audio.phoneline import phone_line
from encuestador.audio.wavio import write_wav
from encuestador.speak.tts import EspeakSynthesizer

FIXTURE_VERSION = 5


@dataclass(frozen=True)
class Fixture:
    name: str
    text: str            # what the caller says ("" = silence on the line)
    voice: str = "es-419"
    wpm: int = 150
    pitch: int = 50
    snr_db: float = 30.0
    mulaw_file: bool = False  # store as a μ-law WAV (format 7) instead of PCM
    seconds: float = 0.0      # for silence


FIXTURES = [
    Fixture("si", "sí"),
    Fixture("cuatro", "cuatro"),
    Fixture("no_sigue_igual", "no, sigue igual", mulaw_file=True),
    Fixture("cinco", "cinco", wpm=140),
    Fixture("dos", "dos", voice="es-419", wpm=140, pitch=40),
    Fixture("no", "no"),
    Fixture("opt_out", "no me vuelvan a llamar"),
    Fixture("human", "quiero hablar con una persona"),
    Fixture("feedback", "el técnico llegó muy tarde y nadie me avisó", wpm=140),
    Fixture("silence", "", seconds=2.0),
    # Voices Whisper understands as it would a person (espeak-ng it hardly does).
    Fixture("k_si", "Sí.", voice="kokoro:em_alex"),
    Fixture("k_claro", "Claro.", voice="kokoro:em_alex"),
    Fixture("k_cuatro", "Cuatro.", voice="kokoro:em_alex"),
    Fixture("k_ocho", "Ocho.", voice="kokoro:em_alex"),
    Fixture("k_no_cinco", "No, cinco.", voice="kokoro:em_alex"),
    Fixture("k_como_no", "Cómo no.", voice="kokoro:em_alex"),
    Fixture("k_nel", "Nel.", voice="kokoro:em_alex"),
    Fixture("ks_si", "Sí.", voice="kokoro:em_santa"),
    Fixture("ks_no", "No.", voice="kokoro:em_santa"),
    Fixture("ks_cinco", "Cinco.", voice="kokoro:em_santa"),
    Fixture("ks_no_sigue_igual", "No, sigue igual.", voice="kokoro:em_santa"),
    Fixture("ks_opt_out", "No me vuelvan a llamar.", voice="kokoro:em_santa"),
    Fixture("ks_human", "Quiero hablar con una persona.", voice="kokoro:em_santa"),
    Fixture("ks_stop_recording", "No quiero que me graben.", voice="kokoro:em_santa"),
    Fixture("ks_mas_o_menos", "Más o menos.", voice="kokoro:em_santa"),
    Fixture("ks_yo_diria_que_tres", "Yo diría que tres.", voice="kokoro:em_santa"),
]


_voices: dict[str, object] = {}


def synthesizer(fixture: Fixture):
    if fixture.voice in _voices:
        return _voices[fixture.voice]
    if not fixture.voice.startswith("kokoro:"):
        return EspeakSynthesizer(fixture.voice, fixture.wpm, fixture.pitch)
    from encuestador.models.registry import installed
    from encuestador.speak.kokoro import KokoroSynthesizer

    model = installed("kokoro-82m")
    if model is None:
        raise RuntimeError("kokoro-82m is not installed: run `make models` (it copies from ../shared/models)")
    return _voices.setdefault(fixture.voice, KokoroSynthesizer(model, voice=fixture.voice.split(":", 1)[1]))


def make(fixture: Fixture, out_dir: Path) -> Path:
    path = out_dir / f"{fixture.name}.wav"
    seed = sum(map(ord, fixture.name))
    if fixture.text:
        audio = phone_line(synthesizer(fixture).synthesize(fixture.text), 16000, snr_db=fixture.snr_db, seed=seed)
    else:
        rng = np.random.default_rng(seed)
        audio = (rng.standard_normal(int(8000 * fixture.seconds)) * 10 ** (-60 / 20)).astype(np.float32)
    lead = np.zeros(1600, dtype=np.float32)  # 200 ms of line before and after the words
    audio = np.concatenate([lead, audio, lead])
    if fixture.mulaw_file:
        _write_mulaw_wav(path, audio)
    else:
        write_wav(path, audio, 8000)
    return path


def _write_mulaw_wav(path: Path, audio: np.ndarray) -> None:
    import struct

    codes = g711.mulaw_encode(np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)).tobytes()
    fmt = struct.pack("<HHIIHHH", 7, 1, 8000, 8000, 1, 8, 0)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(codes)) + codes
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def make_all(out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = out_dir / ".version"
    paths = {f.name: out_dir / f"{f.name}.wav" for f in FIXTURES}
    if stamp.exists() and stamp.read_text() == str(FIXTURE_VERSION) and all(p.exists() for p in paths.values()):
        return paths
    for f in FIXTURES:
        make(f, out_dir)
    stamp.write_text(str(FIXTURE_VERSION))
    return paths


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("fixtures")
    for name, p in make_all(target).items():
        print(f"{name:16} {p}")
