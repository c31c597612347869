"""Kokoro-82M voice: espeak-ng IPA phonemes, real synthesis with the installed model, intelligibility
to faster-whisper, and its place in the choice of voice (``build_synthesizer``)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from encuestador.audio import SAMPLE_RATE
from encuestador.listen.asr import Hints
from encuestador.models.registry import installed, load_manifest
from encuestador.speak.kokoro import MAX_TOKENS, VOCAB, KokoroSynthesizer, _split_long, kokoro_phonemes
from encuestador.understand.text import tokenize

SURVEY_SENTENCE = "En una escala del uno al cinco, ¿qué tan satisfecho quedó con la atención que recibió?"
DIGITS = {"1": "uno", "2": "dos", "3": "tres", "4": "cuatro", "5": "cinco"}


def kokoro_dir():
    return installed("kokoro-82m")


@pytest.fixture(scope="module")
def kokoro() -> KokoroSynthesizer:
    directory = kokoro_dir()
    if directory is None:
        pytest.fail("kokoro-82m is not installed: run `encuestador models fetch kokoro-82m` "
                    "(with ENCUESTADOR_MODEL_MIRROR=../shared/models on a machine without internet)")
    return KokoroSynthesizer(directory)


def words(text: str) -> list[str]:
    return [DIGITS.get(w, w) for w in tokenize(text)]


def test_phonemes_are_kokoro_symbols_with_stress_and_punctuation():
    ph = kokoro_phonemes("Buenos días, Ana. ¿Quedó resuelto su problema?")
    assert ph == "bwˈenos ðˈias, ˈana. keðˈo reswˈelto su pɾoβlˈema?"
    assert all(c in VOCAB for c in ph)
    assert kokoro_phonemes("Muchas gracias.") == "mˈuʧas ɣɾˈasjas."  # tied t^ʃ folded to Kokoro's ʧ
    assert kokoro_phonemes("Sra. López, hay 1,200.").startswith("seɲˈoɾa lˈopes, ˈI mˈil")  # no stop after "Sra."
    assert kokoro_phonemes("") == kokoro_phonemes("¡¿?!") == ""


def test_long_phonemes_are_cut_at_sentences_under_the_limit():
    ph = kokoro_phonemes(" ".join([SURVEY_SENTENCE] * 8))
    chunks = _split_long(ph, MAX_TOKENS)
    assert len(ph) > MAX_TOKENS and len(chunks) > 1
    assert all(len(c) <= MAX_TOKENS and c.endswith("?") for c in chunks)
    assert " ".join(chunks) == ph


@pytest.mark.slow
def test_synthesis_is_speech_at_16k(kokoro):
    assert kokoro.name == "kokoro" and kokoro.voice_id.startswith("kokoro:") and "em_santa" in kokoro.voice_id
    audio = kokoro.synthesize("Buenos días, gracias por atender.")
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) >= 0.5 * SAMPLE_RATE
    frames = audio[: len(audio) // 320 * 320].reshape(-1, 320)  # 20 ms frames
    voiced = np.sqrt((frames ** 2).mean(axis=1)) > 0.02
    assert voiced.sum() * 0.02 >= 0.5 and np.max(np.abs(audio)) <= 1.0
    assert kokoro.synthesize("").size == 0 and kokoro.synthesize("  ¿? ").size == 0


@pytest.mark.slow
def test_long_text_is_synthesised_in_chunks(kokoro):
    text = " ".join([SURVEY_SENTENCE] * 7)
    assert len(kokoro_phonemes(text)) > MAX_TOKENS
    audio = kokoro.synthesize(text)
    assert len(audio) > 7 * 3 * SAMPLE_RATE  # seven sentences of some 4 s each, none dropped


@pytest.mark.slow
@pytest.mark.parametrize("text,question", [
    ("Cuatro.", "score"),
    ("Sí, claro.", "consent"),  # unprimed, the short-window decode hears "ciclado"; primed, "sí, claro"
    (SURVEY_SENTENCE, None),
])
def test_whisper_understands_kokoro(kokoro, runtime, text, question):
    """What the agent hears of the voice, with the question's hints (its answer words prime Whisper)."""
    pad = np.zeros(int(0.3 * SAMPLE_RATE), dtype=np.float32)
    audio = np.concatenate([pad, kokoro.synthesize(text), pad])
    hints = runtime.understander.hints_for(runtime.script.questions[question]) if question else Hints()
    heard = runtime.recognizer.recognize(audio, hints).text
    assert words(heard) in (words(text), ["4"] if text == "Cuatro." else None), heard


@pytest.mark.slow
def test_auto_voice_is_kokoro_when_installed_else_espeak(monkeypatch, tmp_path, caplog):
    from encuestador.runtime import RuntimeOptions, build_synthesizer

    monkeypatch.delenv("ENCUESTADOR_PIPER_VOICE", raising=False)
    caplog.set_level(logging.INFO, logger="encuestador.runtime")
    if kokoro_dir() is None:
        pytest.fail("kokoro-82m is not installed: run `encuestador models fetch kokoro-82m`")
    if installed("piper-es_MX-claude-high") is None and installed("piper-es_MX-ald-medium") is None:
        voice = build_synthesizer(RuntimeOptions(tts="auto"))
        assert voice.name == "kokoro" and "Kokoro em_santa" in caplog.text
    assert build_synthesizer(RuntimeOptions(tts="kokoro", kokoro_voice="ef_dora")).voice_id.startswith("kokoro:v1.0-int8:ef_dora:")

    monkeypatch.setenv("ENCUESTADOR_HOME", str(tmp_path))  # an empty models home
    caplog.clear()
    assert build_synthesizer(RuntimeOptions(tts="auto")).name == "espeak-ng"
    said = [r.getMessage() for r in caplog.records if r.name == "encuestador.runtime"]
    assert said == ["voice: espeak-ng es-419 (tts=auto: neither a Piper es_MX voice nor Kokoro-82M is installed)"]
    from encuestador.models.registry import MissingModelError

    with pytest.raises(MissingModelError, match="kokoro-82m"):
        build_synthesizer(RuntimeOptions(tts="kokoro"))


def test_manifest_entry_and_per_file_url(tmp_path):
    """The model file comes from its own ``url`` (a kokoro-onnx release), the voices from ``source``."""
    import hashlib
    import http.server
    import threading
    from functools import partial

    from encuestador.models.registry import FileSpec, ModelSpec, fetch_model

    specs, preferred = load_manifest()
    spec = specs["kokoro-82m"]
    assert spec.kind == "kokoro" and not spec.required and "Apache-2.0" in spec.license
    files = {f.path: f for f in spec.files}
    assert files["kokoro-v1.0.int8.onnx"].url.endswith("/model-files-v1.0/kokoro-v1.0.int8.onnx")
    assert {"em_santa.bin", "em_alex.bin", "ef_dora.bin"} <= set(files) and spec.source.endswith("/voices/")
    assert preferred["tts"][-1] == "kokoro-82m" and preferred["tts"].index("kokoro-82m") > 1

    root = tmp_path / "www"
    (root / "release").mkdir(parents=True)
    (root / "voices").mkdir()
    (root / "release" / "model.onnx").write_bytes(b"model")
    (root / "voices" / "v.bin").write_bytes(b"voice")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        pin = lambda path, data, url=None: FileSpec(path, len(data), hashlib.sha256(data).hexdigest(), url)  # noqa: E731
        tiny = ModelSpec("tiny-kokoro", "kokoro", "", "MIT", False,
                         (pin("model.onnx", b"model", base + "release/model.onnx"), pin("v.bin", b"voice")),
                         source=base + "voices/")
        report = fetch_model(tiny, tmp_path / "home")
    finally:
        server.shutdown()
    assert report.complete, report
    assert (tmp_path / "home" / "tiny-kokoro" / "model.onnx").read_bytes() == b"model"
