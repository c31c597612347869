"""Text to speech: Piper when a Spanish voice is installed, espeak-ng ``es-419`` otherwise.

Both return float32 audio at 16 kHz, the call's rate.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Protocol

import numpy as np

from ..audio import SAMPLE_RATE
from ..audio.resample import resample
from ..audio.wavio import decode_wav


class Synthesizer(Protocol):
    name: str
    voice_id: str  # identifies the voice (and its settings) for the prompt cache

    def synthesize(self, text: str) -> np.ndarray: ...


class EspeakSynthesizer:
    """The always-present fallback: Debian's espeak-ng with a Latin-American Spanish voice."""

    name = "espeak-ng"

    def __init__(self, voice: str = "es-419", words_per_minute: int = 160, pitch: int = 45) -> None:
        self.binary = shutil.which("espeak-ng")
        if self.binary is None:
            raise RuntimeError("espeak-ng is not installed (Debian package 'espeak-ng'); run `make setup`")
        self.voice, self.wpm, self.pitch = voice, words_per_minute, pitch
        self.voice_id = f"espeak-ng:{voice}:{words_per_minute}:{pitch}"

    def synthesize(self, text: str) -> np.ndarray:
        proc = subprocess.run(
            [self.binary, "-v", self.voice, "-s", str(self.wpm), "-p", str(self.pitch), "--stdout", text],
            capture_output=True, check=True, timeout=60,
        )
        audio, _ = decode_wav(proc.stdout, SAMPLE_RATE, "espeak-ng output")
        return audio


def load_piper_config(config_path: Path) -> dict:
    """A Piper voice config, with the old ``"PhonemeType.ESPEAK"`` serialisation repaired."""
    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    phoneme_type = config.get("phoneme_type")
    if isinstance(phoneme_type, str) and phoneme_type.startswith("PhonemeType."):
        config["phoneme_type"] = phoneme_type.split(".", 1)[1].lower()
    return config


class PiperSynthesizer:
    """A Piper ONNX voice (``.onnx`` plus ``.onnx.json``), run with onnxruntime on the CPU."""

    name = "piper"

    def __init__(self, model_path: str | Path, config_path: str | Path | None = None,
                 espeak_voice: str | None = None, threads: int = 1) -> None:
        import onnxruntime
        from piper.config import PiperConfig
        from piper.voice import PiperVoice

        model_path = Path(model_path)
        config_path = Path(config_path) if config_path else model_path.with_name(model_path.name + ".json")
        if not model_path.is_file():
            raise FileNotFoundError(f"Piper voice weights {model_path} are missing")
        config = load_piper_config(config_path)
        if espeak_voice:
            config.setdefault("espeak", {})["voice"] = espeak_voice
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(str(model_path), sess_options=options,
                                               providers=["CPUExecutionProvider"])
        self._voice = PiperVoice(session=session, config=PiperConfig.from_dict(config))
        self.sample_rate = self._voice.config.sample_rate
        self.voice_id = f"piper:{model_path.name}:{config['espeak']['voice']}"

    def synthesize(self, text: str) -> np.ndarray:
        chunks = [c.audio_float_array for c in self._voice.synthesize(text)]
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        return resample(np.concatenate(chunks), self.sample_rate, SAMPLE_RATE)
