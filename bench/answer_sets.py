"""Labelled spoken answers for the understanding evaluation, built reproducibly (seeded) and cached.

Three sets, each heard clean and through a phone line (``CONDITIONS``):

- ``kokoro``: Kokoro-82M voices (``em_santa``, ``em_alex``, ``ef_dora``) at speeds 0.85, 1.0 and 1.2
  speaking a seeded sample of the short answers of ``bench/understanding_sets.py`` plus every
  out-of-grammar answer (``OUT_OF_GRAMMAR``, labelled ``unknown``: never to be stored). Split by
  voice: DEV = em_santa + em_alex (tune on these), HELD-OUT = ef_dora (check the tuning there).
- ``espeak``: one espeak-ng voice (``es-419``), as one synthetic voice among others (smaller sample).
- ``real:<dir>``: real human recordings, one clip per row of ``<dir>/labels.tsv`` (columns ``file``,
  ``question``, ``intent``, ``score``; the clean 16 kHz copy ``audio/clean16k/<name>`` when present,
  else the labelled file). Any directory of that layout works (``--real DIR`` in the evaluation).

Synthesised audio is cached under ``$ENCUESTADOR_HOME/cache/eval-audio/`` (``var/`` in this repo),
one ``.npy`` per text + voice + speed + synthesiser version; the phone line is applied at evaluation
time with a seed derived from the clip and the condition, so every run hears the same audio.
"""

from __future__ import annotations

import csv
import hashlib
import os
import random
import subprocess
import sys
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .understanding_sets import base_items, out_of_grammar_items

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REAL = REPO.parent / "shared" / "eval-audio" / "real-words-dev"

KOKORO_VOICES = {"em_santa": "dev", "em_alex": "dev", "ef_dora": "heldout"}
KOKORO_SPEEDS = (0.85, 1.0, 1.2)
ESPEAK_VOICE = ("es-419", 150, 50)  # voice, words per minute, pitch
# name → (SNR dB, share of 20 ms frames lost) through the phone line; None = the clean audio.
CONDITIONS: dict[str, tuple[float, float] | None] = {
    "clean": None, "snr20_loss3": (20.0, 0.03), "snr10_loss5": (10.0, 0.05)}
PAD_S = 0.3       # silence around a synthesised answer (line noise there, like a caller's pause)
MAX_TEXT = 40     # short answers only: what callers say to a closed question


def ensure_home() -> Path:
    """``$ENCUESTADOR_HOME``, set to the repository's ``var/`` when unset (as the Makefile does)."""
    os.environ.setdefault("ENCUESTADOR_HOME", str(REPO / "var"))
    return Path(os.environ["ENCUESTADOR_HOME"])


def cache_dir() -> Path:
    return ensure_home() / "cache" / "eval-audio"


@dataclass(frozen=True)
class Clip:
    """One labelled spoken answer."""

    set: str            # kokoro | espeak | real:<dir name>
    part: str           # kokoro: dev | heldout; real: the directory; espeak: ""
    voice: str          # synthetic voice, or the real speaker
    speed: float        # synthetic speaking rate (1.0 for real clips)
    question: str       # consent | score | resolved | feedback
    text: str           # what is said (real clips: the label's transcript)
    intent: str         # expected intent (unknown = not an answer: ask again / free text)
    score: int | None = None
    path: str = ""      # real clips: the audio file
    out_of_grammar: bool = False

    @property
    def id(self) -> str:
        if self.path:
            return f"{self.set}/{Path(self.path).name}"
        return f"{self.set}/{self.voice}@{self.speed:g}/{self.question}/{self.text}"

    @property
    def label(self) -> str:
        """The expected answer as one label: ``score:4``, ``yes``, ``opt_out``, ``unknown``…"""
        return f"score:{self.score}" if self.intent == "score" else self.intent


# --- building the sets -------------------------------------------------------------------------


def _short_answers() -> list:
    """The short in-grammar-or-global answers (the out-of-grammar ones are added separately)."""
    oog = _oog_keys()
    return [i for i in base_items() if len(i.text) <= MAX_TEXT and (i.question, i.text) not in oog]


def _draw(rng: random.Random, pool: list, oog: list, n: int, quick: bool) -> list:
    """Full: ``n`` answers from the pool plus every out-of-grammar one. Quick: ``n`` in all, a
    quarter of them out-of-grammar."""
    if not quick:
        return rng.sample(pool, n) + oog
    k = max(1, n // 4)
    return rng.sample(pool, n - k) + rng.sample(oog, k)


def _oog_keys() -> set[tuple[str, str]]:
    return {(i.question, i.text) for i in out_of_grammar_items()}


def _synthetic(set_name: str, part: str, voice: str, speed: float, items: Iterable) -> list[Clip]:
    oog = _oog_keys()
    return [Clip(set_name, part, voice, speed, i.question, i.text, i.intent, i.score,
                 out_of_grammar=(i.question, i.text) in oog) for i in items]


def kokoro_clips(per_cell: int = 40, seed: int = 11, quick: bool = False) -> list[Clip]:
    """Per voice and speed, a seeded sample of ``per_cell`` short answers plus every out-of-grammar
    answer. ``quick``: speed 1.0 only, ``per_cell`` answers of which a quarter out-of-grammar."""
    pool, oog = _short_answers(), out_of_grammar_items()
    clips: list[Clip] = []
    for voice, part in KOKORO_VOICES.items():
        for speed in (1.0,) if quick else KOKORO_SPEEDS:
            rng = random.Random(f"kokoro:{seed}:{voice}:{speed:g}")  # str seeds are hashed stably
            clips += _synthetic("kokoro", part, voice, speed, _draw(rng, pool, oog, per_cell, quick))
    return clips


def espeak_clips(per_cell: int = 40, seed: int = 11, quick: bool = False) -> list[Clip]:
    """A seeded sample of ``per_cell`` short answers plus every out-of-grammar one (quick: ``per_cell``
    in all, a quarter of them out-of-grammar)."""
    pool, oog = _short_answers(), out_of_grammar_items()
    rng = random.Random(f"espeak:{seed}")
    return _synthetic("espeak", "", ESPEAK_VOICE[0], 1.0, _draw(rng, pool, oog, per_cell, quick))


def real_clips(folder: Path, sample: int | None = None, seed: int = 11) -> list[Clip]:
    """One clip per row of ``folder/labels.tsv`` (a seeded sample of ``sample`` rows if given)."""
    folder = Path(folder)
    labels = folder / "labels.tsv"
    if not labels.is_file():
        raise FileNotFoundError(f"no labels.tsv in {folder}")
    name = f"real:{folder.name}"
    clips = []
    with labels.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            labelled = folder / row["file"]
            clean = folder / "audio" / "clean16k" / labelled.name
            score = (row.get("score") or "").strip()
            question, intent = row["question"].strip(), row["intent"].strip()
            clips.append(Clip(name, folder.name, (row.get("speaker") or "").strip(), 1.0, question,
                              (row.get("transcript") or "").strip(), intent, int(score) if score else None,
                              str(clean if clean.is_file() else labelled),
                              out_of_grammar=intent == "unknown" and question != "feedback"))
    if sample is not None and sample < len(clips):
        clips = random.Random(f"{name}:{seed}").sample(clips, sample)
    return clips


# --- audio ---------------------------------------------------------------------------------------


def kokoro_model_dir() -> Path | None:
    """The installed ``kokoro-82m`` model (manifest entry), or None."""
    ensure_home()
    from encuestador.models.registry import installed

    return installed("kokoro-82m")


def _espeak_version() -> str:
    try:
        out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    return " ".join(out.split()[:4])


class ClipAudio:
    """Clean and line-degraded audio of clips; synthesised audio from the disk cache, made on a miss."""

    def __init__(self, kokoro_dir: Path | None = None, cache: Path | None = None,
                 log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True)) -> None:
        self.kokoro_dir = Path(kokoro_dir) if kokoro_dir else None
        self.cache = cache or cache_dir()
        self.log = log
        self._synth: tuple[tuple, object] | None = None  # one synthesiser alive at a time (Kokoro: ~400 MB)
        self._espeak_version: str | None = None

    def _version(self, clip: Clip) -> str:
        if clip.set == "kokoro":
            from encuestador.speak import kokoro

            model = (self.kokoro_dir / kokoro.MODEL_FILE) if self.kokoro_dir else None
            size = model.stat().st_size if model and model.is_file() else 0
            return f"kokoro|{kokoro.MODEL_FILE}:{size}|p{kokoro.PIPELINE_VERSION}|{clip.voice}|{clip.speed:g}"
        if self._espeak_version is None:
            self._espeak_version = _espeak_version()
        voice, wpm, pitch = ESPEAK_VOICE
        return f"espeak-ng|{self._espeak_version}|{voice}|{wpm}|{pitch}|{clip.speed:g}"

    def _cache_path(self, clip: Clip) -> Path:
        key = hashlib.sha256(f"{self._version(clip)}\n{clip.text}".encode()).hexdigest()[:32]
        return self.cache / clip.set / f"{key}.npy"

    def _synthesizer(self, clip: Clip):
        want = (clip.set, clip.voice, clip.speed)
        if self._synth is None or self._synth[0] != want:
            self._synth = None
            if clip.set == "kokoro":
                from encuestador.speak.kokoro import KokoroSynthesizer

                if self.kokoro_dir is None:
                    raise RuntimeError("Kokoro model not installed (manifest entry kokoro-82m); use --kokoro-dir")
                synth = KokoroSynthesizer(self.kokoro_dir, voice=clip.voice, speed=clip.speed)
            else:
                from encuestador.speak.tts import EspeakSynthesizer

                voice, wpm, pitch = ESPEAK_VOICE
                synth = EspeakSynthesizer(voice, int(round(wpm * clip.speed)), pitch)
            self._synth = (want, synth)
        return self._synth[1]

    def prepare(self, clips: Iterable[Clip]) -> int:
        """Synthesise every clip not in the cache yet (grouped by voice); returns how many were made."""
        missing = [c for c in clips if not c.path and not self._cache_path(c).is_file()]
        missing.sort(key=lambda c: (c.set, c.voice, c.speed))
        groups = Counter((c.set, c.voice, c.speed) for c in missing)
        previous = None
        for clip in missing:
            if (clip.set, clip.voice, clip.speed) != previous:
                previous = (clip.set, clip.voice, clip.speed)
                self.log(f"  synthesising {groups[previous]} answer(s) not cached yet: "
                         f"{clip.set} {clip.voice} speed {clip.speed:g}")
            self.clean(clip)
        self._synth = None
        return len(missing)

    def clean(self, clip: Clip) -> np.ndarray:
        """The clip as spoken, float32 16 kHz (synthetic answers padded with ``PAD_S`` of silence)."""
        if clip.path:
            from encuestador.audio.wavio import read_wav

            return read_wav(clip.path)[0]
        path = self._cache_path(clip)
        if path.is_file():
            audio = np.load(path)
        else:
            audio = np.asarray(self._synthesizer(clip).synthesize(clip.text), dtype=np.float32)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(tmp, audio)
            os.replace(tmp, path)
        pad = np.zeros(int(PAD_S * 16000), dtype=np.float32)
        return np.concatenate([pad, audio, pad])

    def heard(self, clip: Clip, condition: str) -> np.ndarray:
        """The clip as the agent hears it under ``condition`` (float32 16 kHz)."""
        from encuestador.audio.phoneline import phone_line

        audio = self.clean(clip)
        line = CONDITIONS[condition]
        if line is None:
            return audio
        snr, loss = line
        seed = zlib.crc32(f"{clip.id}|{condition}".encode())
        return phone_line(audio, 16000, snr_db=snr, loss=loss, conceal=True, seed=seed, out_rate=16000)


def build_sets(names: Iterable[str], quick: bool = False, real_dirs: Iterable[Path] = (DEFAULT_REAL,),
               per_cell: int | None = None, seed: int = 11) -> dict[str, list[Clip]]:
    """The requested sets (kokoro, espeak, real) by name; ``real`` gives one set per directory.
    ``quick``: about 60 clips in all (12 per Kokoro voice, 10 espeak, 12 per real directory)."""
    sets: dict[str, list[Clip]] = {}
    for name in names:
        if name == "kokoro":
            sets["kokoro"] = kokoro_clips(per_cell or (12 if quick else 40), seed, quick)
        elif name == "espeak":
            sets["espeak"] = espeak_clips(per_cell or (10 if quick else 40), seed, quick)
        elif name == "real":
            for folder in real_dirs:
                clips = real_clips(Path(folder), sample=12 if quick else None, seed=seed)
                key = f"real:{Path(folder).name}"
                while key in sets:  # two directories of the same name: tell them apart
                    key += "'"
                sets[key] = [replace(c, set=key) for c in clips]
        else:
            raise ValueError(f"unknown set {name!r} (kokoro, espeak, real)")
    return sets
