"""Phone-ready prompts: one level, no clipping, no clicks, telephone band; fixed prompts rendered at
set-up (a second render renders nothing); personal sentences made while the phone rings."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from encuestador.audio import SAMPLE_RATE
from encuestador.dialogue.survey import CustomerContext
from encuestador.models.registry import installed
from encuestador.speak.cache import PromptCache
from encuestador.speak.phone_ready import CEILING_DBFS, TARGET_DBFS, band_limit, measure, phone_ready
from encuestador.speak.tts import EspeakSynthesizer
from encuestador.speak.tunes import render_tune

T = np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE


def tone(freq: float, amplitude: float = 0.3) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * T)).astype(np.float32)


def speechlike(amplitude: float, seed: int = 0) -> np.ndarray:
    """Syllables of harmonics and noise, with pauses, at roughly ``amplitude`` peak."""
    rng = np.random.default_rng(seed)
    voiced = sum(np.sin(2 * np.pi * f * T) / k for k, f in enumerate((180, 360, 540, 900, 1800), 1))
    envelope = np.clip(np.sin(2 * np.pi * 2.5 * T), 0, None) ** 2
    x = envelope * (voiced + 0.3 * rng.standard_normal(T.size))
    return (amplitude * x / np.max(np.abs(x))).astype(np.float32)


def in_band_db(x: np.ndarray, y: np.ndarray) -> float:
    middle = slice(SAMPLE_RATE // 4, -SAMPLE_RATE // 4)
    return 20 * np.log10(np.std(y[middle]) / np.std(x[middle]))


@pytest.mark.parametrize("signal", [
    speechlike(0.02), speechlike(0.6, seed=1), speechlike(1.4, seed=2),  # quiet, normal, clipping
    tone(1000, 0.9), np.clip(3 * tone(700), -1, 1),                     # a loud tone, a squared-off one
])
def test_level_is_the_target_and_nothing_clips(signal):
    ready = phone_ready(signal)
    level = measure(ready)
    assert ready.dtype == np.float32 and len(ready) == len(signal)
    assert abs(level.rms_dbfs - TARGET_DBFS) <= 1.0, level
    assert level.peak_dbfs <= CEILING_DBFS + 0.01 and level.clipped == 0, level


def test_fades_start_and_end_near_zero():
    ready = phone_ready(tone(1000, 0.5))  # full level up to the very first and last sample
    assert abs(ready[0]) < 1e-3 and abs(ready[-1]) < 1e-3
    ms = SAMPLE_RATE // 1000
    loudest = np.max(np.abs(ready))
    assert np.max(np.abs(ready[:ms])) < 0.1 * loudest and np.max(np.abs(ready[-ms:])) < 0.1 * loudest
    assert np.max(np.abs(ready[20 * ms : 40 * ms])) > 0.9 * loudest  # full level after the fade


def test_band_limit_keeps_the_voice_band_and_drops_the_rest():
    assert in_band_db(tone(100), band_limit(tone(100))) < -40
    assert in_band_db(tone(3800), band_limit(tone(3800))) < -40
    for inside in (400, 1000, 3000):
        assert abs(in_band_db(tone(inside), band_limit(tone(inside)))) < 0.1


def test_silence_and_nothing_come_back_unchanged():
    assert phone_ready(np.zeros(0, np.float32)).size == 0
    assert not np.any(phone_ready(np.zeros(1600, np.float32)))


def test_tunes_are_as_loud_as_the_voice():
    from encuestador.dialogue.script import SurveyScript

    for notes in SurveyScript.load().tunes.values():
        level = measure(render_tune(notes))
        assert abs(level.rms_dbfs - TARGET_DBFS) <= 1.0 and level.clipped == 0


@pytest.mark.slow
def test_a_kokoro_prompt_is_phone_ready(tmp_path):
    from encuestador.speak.kokoro import KokoroSynthesizer

    directory = installed("kokoro-82m")
    if directory is None:
        pytest.fail("kokoro-82m is not installed: run `make models`")
    cache = PromptCache(KokoroSynthesizer(directory), tmp_path)
    audio = cache.get("Disculpe, no le entendí. ¿Tiene unos minutos?")
    level = measure(audio)
    assert audio.dtype == np.int16 and len(audio) > SAMPLE_RATE
    assert abs(level.rms_dbfs - TARGET_DBFS) <= 1.0 and level.peak_dbfs <= CEILING_DBFS + 0.01 and level.clipped == 0
    assert abs(int(audio[0])) < 50 and abs(int(audio[-1])) < 50


class CountingVoice:
    """The real espeak-ng voice, counting what it is asked to say."""

    name = "espeak-ng"

    def __init__(self) -> None:
        self.voice = EspeakSynthesizer()
        self.voice_id = self.voice.voice_id
        self.said: list[str] = []

    def synthesize(self, text: str) -> np.ndarray:
        self.said.append(text)
        return self.voice.synthesize(text)


def test_prepared_sentences_are_made_once_and_never_stored(tmp_path):
    voice = CountingVoice()
    cache = PromptCache(voice, tmp_path)
    (future,) = cache.prepare(["Buenos días, Ana López."])
    again = cache.prepare(["Buenos días, Ana López."])[0]  # asked twice (a retried INVITE): made once
    made = future.result(timeout=30)
    assert again is future and cache.get("Buenos días, Ana López.", cache=False) is made
    assert voice.said == ["Buenos días, Ana López."] and not list(tmp_path.iterdir())
    assert abs(measure(made).rms_dbfs - TARGET_DBFS) <= 1.0


def test_greeting_prepared_while_ringing_is_what_the_session_plays(runtime):
    from encuestador.runtime import Runtime, personal_prompt_texts

    voice = CountingVoice()
    ringing = Runtime(runtime.options, recognizer=runtime.recognizer, synthesizer=voice)
    ringing.prerender()
    customer = CustomerContext("Telecom del Norte", name="Ana López", topic="su internet", local_hour=10)
    assert personal_prompt_texts(ringing.script, customer) == ["Buenos días, Ana López.",
                                                               "¿Quedó resuelto su problema de su internet?"]
    assert personal_prompt_texts(ringing.script, CustomerContext("Telecom del Norte", local_hour=10)) == []
    for future in ringing.prepare_greeting(customer):
        future.result(timeout=30)
    voice.said.clear()
    session = ringing.new_session(customer, record=False)
    session.start()
    assert session.playing and voice.said == []  # answered: nothing left to synthesise for the greeting


def test_render_at_setup_then_nothing_to_render(tmp_path):
    """``encuestador prompts render`` (run by ``make setup``) fills the cache; run again, it renders 0."""
    def render() -> str:
        proc = subprocess.run([sys.executable, "-m", "encuestador", "prompts", "render", "--tts", "espeak",
                               "--company", "Telecom del Norte", "--cache-dir", str(tmp_path)],
                              capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    first = render()
    count = int(first.split(": ")[1].split(" fixed")[0])
    assert count >= 60 and f"{count} rendered now" in first and len(list(tmp_path.glob("*.wav"))) == count
    assert ", 0 rendered now" in render()
