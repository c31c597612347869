"""Kokoro-82M (v1.0, int8 ONNX) speaking Mexican Spanish from espeak-ng ``es-419`` IPA phonemes.

Model and voices: hexgrad Kokoro-82M (Apache-2.0); ONNX export by the kokoro-onnx project (MIT).
The phoneme vocabulary (``kokoro_vocab.json``) is the ``vocab`` of Kokoro-82M's ``config.json``.
Phonemes come from Debian's ``espeak-ng`` binary (no ``phonemizer``), post-processed the way
Kokoro's own non-English G2P (misaki ``EspeakG2P``) does: stress marks kept, tied multi-letter
phonemes folded to Kokoro's single symbols, punctuation restored between clauses.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np

from ..audio import SAMPLE_RATE
from ..audio.resample import resample

KOKORO_RATE = 24000
MODEL_FILE = "kokoro-v1.0.int8.onnx"
VOCAB: dict[str, int] = json.loads(Path(__file__).with_name("kokoro_vocab.json").read_text(encoding="utf-8"))["vocab"]
# The model's context is 512 positions (510 tokens + a pad at each end); a voice file has 510 style
# rows indexed by the token count, so 509 is the longest sequence with its own style vector.
MAX_TOKENS = 509
# Bump when the phonemes or the audio post-processing change: it is part of ``voice_id``, so
# prompts cached with the old output are rendered again.
PIPELINE_VERSION = 1

# misaki's EspeakG2P table: espeak's tied phonemes (``--tie=^``) to Kokoro's one-letter symbols.
_TIED = {"a^ɪ": "I", "a^ʊ": "W", "d^z": "ʣ", "d^ʒ": "ʤ", "e^ɪ": "A", "o^ʊ": "O", "ə^ʊ": "Q",
         "s^s": "S", "t^s": "ʦ", "t^ʃ": "ʧ", "ɔ^ɪ": "Y"}
_LANGUAGE_FLAG = re.compile(r"\([a-z]{2,3}(?:-[a-z0-9]+)?\)")  # espeak's "(en)…(es)" switches
# Clause punctuation espeak-ng pauses on, when it ends a word (not "3.5" or "1,200").
_CLAUSE_END = re.compile(r"[,;:.!?…—]+(?=\s|$)")
_TITLES = {"sr", "sra", "srta", "lic", "ing", "dr", "dra", "mtro", "mtra", "prof", "núm", "tel"}  # "Sra. López"
_PAUSE_AFTER = {".": 0.30, "!": 0.30, "?": 0.30, "…": 0.30}  # seconds between chunks; else 0.15


def _espeak_binary() -> str:
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise RuntimeError("espeak-ng is not installed (Debian package 'espeak-ng'); run `make setup`")
    return binary


def _after_title(text: str, cut: re.Match) -> bool:
    """Whether ``cut`` is the period of a title such as "Sra." (no pause there)."""
    word = re.search(r"(\w+)$", text[: cut.start()])
    return cut.group() == "." and word is not None and word.group(1).lower() in _TITLES


def _clauses(text: str) -> list[tuple[str, str]]:
    """``text`` cut after each clause punctuation: (clause text with its punctuation, the one
    punctuation symbol Kokoro gets for it, or "")."""
    text = " ".join(text.replace("...", "…").split())
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # Mexican thousands separator: "1,200" is 1200
    cuts = [m for m in _CLAUSE_END.finditer(text) if not _after_title(text, m)]
    pieces: list[tuple[str, str]] = []
    start = 0
    for m in cuts + [None]:
        end = m.end() if m else len(text)
        piece = text[start:end].strip()
        start = end
        if not piece:
            continue
        mark = next((c for c in reversed(m.group()) if c in VOCAB), "") if m else ""
        if not re.search(r"\w", piece):  # punctuation alone: it belongs to the clause before
            if pieces and mark:
                pieces[-1] = (pieces[-1][0], mark)
            continue
        pieces.append((piece, mark))
    return pieces


def _clean(line: str) -> str:
    """One line of espeak IPA as Kokoro symbols (unknown symbols dropped)."""
    line = _LANGUAGE_FLAG.sub("", line)
    for tied, symbol in _TIED.items():
        line = line.replace(tied, symbol)
    line = line.replace("^", "").replace("-", "")
    return " ".join("".join(c for c in line if c in VOCAB).split())


def kokoro_phonemes(text: str) -> str:
    """Kokoro's phoneme string for Spanish ``text``: espeak-ng ``es-419`` IPA (one subprocess call)
    with stress marks, clauses joined by the punctuation that ended them ("ˈola, kˈomo estˈa?")."""
    clauses = _clauses(text)
    if not clauses:
        return ""
    # A blank line between clauses makes espeak print an empty line there, so its output lines map
    # back to the clauses (and their punctuation) even where espeak breaks a clause further
    # ("Sr. López"): those extra breaks are joined with a plain space.
    proc = subprocess.run([_espeak_binary(), "-q", "--ipa", "--tie=^", "-v", "es-419"],
                          input="\n\n".join(c for c, _ in clauses) + "\n", capture_output=True,
                          text=True, check=True, timeout=60)
    groups = [[_clean(line) for line in group.split("\n")] for group in proc.stdout.strip().split("\n\n")]
    groups = [[line for line in group if line] for group in groups]
    if len(groups) != len(clauses):  # unexpected layout: keep the words, pause at every break
        lines = [line for group in groups for line in group]
        return ", ".join(lines) + ("." if lines else "")
    parts = [" ".join(group) + mark for group, (_, mark) in zip(groups, clauses) if group]
    return " ".join(parts)


def _split_long(phonemes: str, limit: int) -> list[str]:
    """Pieces of ``phonemes`` of at most ``limit`` symbols, cut after sentences, then clauses,
    then words, packed greedily."""
    if len(phonemes) <= limit:
        return [phonemes]
    for boundary in (r"(?<=[.!?…]) ", r"(?<=[,;:—]) ", r" "):
        parts = re.split(boundary, phonemes)
        if len(parts) > 1:
            break
    else:
        return [phonemes[i : i + limit] for i in range(0, len(phonemes), limit)]
    chunks: list[str] = []
    for part in parts:
        for piece in _split_long(part, limit):
            if chunks and len(chunks[-1]) + 1 + len(piece) <= limit:
                chunks[-1] += " " + piece
            else:
                chunks.append(piece)
    return chunks


def _trim(audio: np.ndarray, rate: int, keep_s: float = 0.05, threshold: float = 0.01) -> np.ndarray:
    """``audio`` without leading and trailing near-silence (``keep_s`` of it left at each end)."""
    loud = np.flatnonzero(np.abs(audio) > threshold)
    if not loud.size:
        return audio[:0]
    keep = int(keep_s * rate)
    return audio[max(0, loud[0] - keep) : loud[-1] + keep + 1]


class KokoroSynthesizer:
    """Kokoro-82M on onnxruntime (CPU): float32 mono audio at 16 kHz, like the other synthesizers."""

    name = "kokoro"

    def __init__(self, model_dir: Path, voice: str = "em_santa", speed: float = 1.0, threads: int = 2) -> None:
        import onnxruntime

        self.model_dir = Path(model_dir)
        model_path = self.model_dir / MODEL_FILE
        if not model_path.is_file():
            raise FileNotFoundError(f"Kokoro model {model_path} is missing")
        if not 0.5 <= speed <= 2.0:
            raise ValueError(f"speed {speed} is outside 0.5–2.0")
        self.voice, self.speed = voice, float(speed)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle threads sleep instead of spinning: the voice shares the cores with the calls'
        # recognition. On the 2 shared cores (load ~6), a greeting took 2.0–2.9 s with spinning
        # threads, 1.1–1.8 s without.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(str(model_path), sess_options=options,
                                                     providers=["CPUExecutionProvider"])
        self._voices: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self.style(voice)  # a missing voice file fails here, not on the first call

    @property
    def voice_id(self) -> str:
        """Model, voice, speed and pipeline version: the prompt cache's key for this voice."""
        return f"kokoro:v1.0-int8:{self.voice}:{self.speed:g}:p{PIPELINE_VERSION}"

    def style(self, voice: str) -> np.ndarray:
        """The voice's style table, shape (510, 1, 256), loaded on first use."""
        with self._lock:
            table = self._voices.get(voice)
            if table is None:
                path = self.model_dir / f"{voice}.bin"
                if not path.is_file():
                    raise FileNotFoundError(f"Kokoro voice {path} is missing")
                table = np.fromfile(path, dtype="<f4").reshape(-1, 1, 256)
                self._voices[voice] = table
            return table

    def _infer(self, phonemes: str, table: np.ndarray) -> np.ndarray:
        ids = [VOCAB[c] for c in phonemes if c in VOCAB]
        tokens = np.array([[0, *ids, 0]], dtype=np.int64)
        style = table[min(len(ids), len(table) - 1)]
        audio = self._session.run(None, {"tokens": tokens, "style": style,
                                         "speed": np.array([self.speed], dtype=np.float32)})[0]
        return _trim(np.asarray(audio, dtype=np.float32).reshape(-1), KOKORO_RATE)

    def synthesize(self, text: str) -> np.ndarray:
        phonemes = kokoro_phonemes(text)
        if not phonemes:
            return np.zeros(0, dtype=np.float32)
        table = self.style(self.voice)
        chunks = _split_long(phonemes, MAX_TOKENS)
        pieces: list[np.ndarray] = []
        for i, chunk in enumerate(chunks):
            if i:
                pause = _PAUSE_AFTER.get(chunks[i - 1][-1], 0.15) / self.speed
                pieces.append(np.zeros(int(pause * KOKORO_RATE), dtype=np.float32))
            pieces.append(self._infer(chunk, table))
        audio = np.clip(np.concatenate(pieces), -1.0, 1.0)
        return resample(audio, KOKORO_RATE, SAMPLE_RATE).astype(np.float32, copy=False)
