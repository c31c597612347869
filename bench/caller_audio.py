"""The scripted callers' recordings, made from ``bench/caller_scripts/phrases.yaml`` (file name → text,
voice, speed) into ``bench/caller_scripts/audio/`` (not committed), reproducibly.

    python -m bench.caller_audio [--scripts DIR] [--force]

Voices: Kokoro-82M ``em_santa``, ``em_alex``, ``ef_dora`` (model ``kokoro-82m``, installed by
``encuestador models fetch``) and espeak-ng (``espeak:<voice>``, speed 1.0 = 160 words a minute).
A file is made again only when its recipe (text, voice, speed and the engine's version: Kokoro's model
file and pipeline version, or espeak-ng) differs from the one recorded in ``audio/.recipes.json``, or
with ``--force``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SCRIPTS = Path(__file__).with_name("caller_scripts")
KOKORO_VOICES = ("em_santa", "em_alex", "ef_dora")
RECIPES = ".recipes.json"


@dataclass(frozen=True)
class Phrase:
    file: str
    text: str
    voice: str
    speed: float = 1.0


def _use_repo_models() -> None:
    """Like the Makefile: models under the checkout's var/ unless ENCUESTADOR_HOME says otherwise."""
    var = Path(__file__).resolve().parent.parent / "var"
    if "ENCUESTADOR_HOME" not in os.environ and (var / "models").is_dir():
        os.environ["ENCUESTADOR_HOME"] = str(var)


def load_phrases(path: Path) -> dict[str, Phrase]:
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of WAV file name → {{text, voice, speed}}")
    phrases = {}
    for name, spec in data.items():
        where = f"{path}: {name}"
        if not str(name).endswith(".wav") or "/" in str(name):
            raise ValueError(f"{where}: the key is a WAV file name (no folder)")
        if not isinstance(spec, dict) or not isinstance(spec.get("text"), str) or not spec["text"].strip():
            raise ValueError(f"{where}: expected {{text: \"…\", voice: …, speed: …}}")
        unknown = set(spec) - {"text", "voice", "speed"}
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        voice = str(spec.get("voice", "em_santa"))
        if voice not in KOKORO_VOICES and not voice.startswith("espeak:"):
            raise ValueError(f"{where}: voice {voice!r} is not one of {', '.join(KOKORO_VOICES)} or espeak:<voice>")
        speed = float(spec.get("speed", 1.0))
        if not 0.5 <= speed <= 2.0:
            raise ValueError(f"{where}: speed {speed} is outside 0.5–2.0")
        phrases[str(name)] = Phrase(str(name), spec["text"], voice, speed)
    return phrases


def needed_files(scripts_dir: Path) -> set[str]:
    """File names under ``audio/`` that the directory's caller scripts reference."""
    from encuestador.caller_script import load_caller_scripts

    audio = (scripts_dir / "audio").resolve()
    names = set()
    for script in load_caller_scripts(scripts_dir):
        for wav in script.wavs():
            if wav.parent != audio:
                raise ValueError(f"{script.path}: {wav} is not under {audio} (bench scripts use audio/NAME.wav)")
            names.add(wav.name)
    return names


class _Voices:
    """Synthesisers made on first use, one per (voice, speed)."""

    def __init__(self) -> None:
        self._made: dict[tuple[str, float], object] = {}
        self._kokoro_dir: Path | None = None

    def get(self, voice: str, speed: float):
        key = (voice, speed)
        if key not in self._made:
            if voice.startswith("espeak:"):
                from encuestador.speak.tts import EspeakSynthesizer

                self._made[key] = EspeakSynthesizer(voice.split(":", 1)[1], words_per_minute=round(160 * speed))
            else:
                from encuestador.models.registry import MissingModelError, installed, models_home
                from encuestador.speak.kokoro import KokoroSynthesizer

                if self._kokoro_dir is None:
                    self._kokoro_dir = installed("kokoro-82m")
                    if self._kokoro_dir is None:
                        raise MissingModelError("kokoro-82m", models_home())
                self._made[key] = KokoroSynthesizer(self._kokoro_dir, voice=voice, speed=speed)
        return self._made[key]


def _recipe(phrase: Phrase) -> str:
    """What a file is made from, without loading a model: text, voice, speed and the engine's version."""
    if phrase.voice.startswith("espeak:"):
        engine = "espeak-ng"
    else:
        from encuestador.speak import kokoro

        engine = f"kokoro {kokoro.MODEL_FILE} p{kokoro.PIPELINE_VERSION}"
    return f"{phrase.text}|{phrase.voice}|{phrase.speed:g}|{engine}"


def make_audio(scripts_dir: Path = SCRIPTS, only: set[str] | None = None, force: bool = False,
               log=print) -> dict[str, int]:
    """Make the WAVs the scripts need (or ``only`` these names) that are missing or made from another
    recipe. Returns counts: made, kept."""
    from encuestador.audio import SAMPLE_RATE
    from encuestador.audio.wavio import write_wav

    _use_repo_models()
    if not (scripts_dir / "phrases.yaml").is_file():
        raise ValueError(f"{scripts_dir}: no phrases.yaml to make the callers' audio from")
    phrases = load_phrases(scripts_dir / "phrases.yaml")
    wanted = needed_files(scripts_dir) if only is None else set(only)
    undefined = sorted(wanted - set(phrases))
    if undefined:
        raise ValueError(f"{scripts_dir / 'phrases.yaml'}: no recipe for {', '.join(undefined)}")
    audio_dir = scripts_dir / "audio"
    audio_dir.mkdir(exist_ok=True)
    recipes_path = audio_dir / RECIPES
    recipes = json.loads(recipes_path.read_text()) if recipes_path.is_file() else {}
    voices = _Voices()
    made = kept = 0
    started = time.perf_counter()
    for name in sorted(wanted):
        phrase = phrases[name]
        recipe = _recipe(phrase)
        target = audio_dir / name
        if not force and target.is_file() and recipes.get(name) == recipe:
            kept += 1
            continue
        synth = voices.get(phrase.voice, phrase.speed)
        audio = synth.synthesize(phrase.text)
        write_wav(target, audio, SAMPLE_RATE)
        recipes[name] = recipe
        recipes_path.write_text(json.dumps(recipes, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
        made += 1
        log(f"  made {name} ({len(audio) / SAMPLE_RATE:.1f} s, {synth.voice_id})")
    if made:
        log(f"caller audio: {made} made, {kept} kept ({time.perf_counter() - started:.0f} s) in {audio_dir}")
    return {"made": made, "kept": kept}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.caller_audio", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scripts", type=Path, default=SCRIPTS, help="caller-script directory (with phrases.yaml)")
    parser.add_argument("--force", action="store_true", help="make every file again")
    args = parser.parse_args()
    from encuestador.models.registry import MissingModelError

    try:
        counts = make_audio(args.scripts, force=args.force)
    except (ValueError, MissingModelError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{counts['made']} made, {counts['kept']} already there")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
