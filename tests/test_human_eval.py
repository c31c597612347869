"""The word error rate of bench/human_eval.py, and the real-speech clips it reads (when present)."""

from __future__ import annotations

import pytest

from bench.human_eval import DEFAULT_AUDIO, load_clips, normalise, word_errors


def test_word_errors_count_substitutions_deletions_and_insertions():
    ref = normalise("¿Quedó resuelto su problema?")
    assert ref == ["quedó", "resuelto", "su", "problema"]
    assert word_errors(ref, ref) == 0
    assert word_errors(ref, normalise("quedo resuelto su problema")) == 1  # an accent is a different word
    assert word_errors(ref, normalise("resuelto su problema")) == 1
    assert word_errors(ref, normalise("quedó resuelto, sí, su problema")) == 1
    assert word_errors(ref, []) == 4 and word_errors([], ref) == 4


def test_fleurs_clips_decode_to_16k_mono_with_their_transcripts():
    if not (DEFAULT_AUDIO / "transcripts.tsv").exists():
        pytest.skip("no ../shared/eval-audio beside the checkout")
    clips = load_clips(DEFAULT_AUDIO)
    assert len(clips) == 10
    name, audio, transcript = clips[0]
    assert audio.dtype.name == "float32" and audio.ndim == 1
    assert abs(len(audio) / 16000 - 12.85) < 0.1  # transcripts.tsv lists 12.85 s
    assert transcript.startswith("se recomienda")
