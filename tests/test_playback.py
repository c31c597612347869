"""``Playback`` (speak/playback.py) with the real espeak-ng voice and prompt cache; ``CallRecording``."""

import numpy as np

from encuestador.audio import FRAME_SAMPLES
from encuestador.audio.recording import CallRecording
from encuestador.speak.cache import PromptCache
from encuestador.speak.playback import Playback


def make_playback(runtime, tmp_path, named=(), speak_ahead_ms=1500):
    cache = PromptCache(runtime.synthesizer, tmp_path / "cache")
    return Playback(cache, runtime.tunes, lambda sentence: any(n in sentence for n in named),
                    seconds=30, speak_ahead_ms=speak_ahead_ms)


def drain(playback: Playback, frames: int) -> list[str | None]:
    """Pull ``frames`` frames, noting the prompt playing before each."""
    heard, frame = [], np.zeros(FRAME_SAMPLES, dtype=np.int16)
    for _ in range(frames):
        segment = playback.current()
        heard.append(segment.prompt if segment else None)
        playback.pull(frame)
        if playback.has_pending:
            playback.speak_ahead()
    return heard


def test_sentences_are_made_only_when_needed_and_played_in_order(runtime, tmp_path):
    playback = make_playback(runtime, tmp_path, speak_ahead_ms=200)
    playback.say("Buenos días. ¿Tiene unos minutos? Son tres preguntas.", "greeting", True)
    assert not playback.current() and playback.has_pending
    playback.speak_ahead()
    assert playback.current().prompt == "greeting"
    assert playback.has_pending                     # only the first sentence was made: it covers 200 ms
    heard = drain(playback, 50 * 10)
    assert heard[0] == "greeting" and heard[-1] is None
    assert not playback.busy and playback.played == playback.queued


def test_cut_keeps_what_may_not_be_interrupted(runtime, tmp_path):
    playback = make_playback(runtime, tmp_path)
    playback.say("Esta llamada se graba.", "notice", False)
    playback.say("¿Tiene unos minutos?", "consent", True)
    playback.play_tune("cheerful")
    playback.speak_ahead()
    playback.cut(keep_uninterruptible=True)
    assert playback.current() is None and playback.played == playback.queued
    playback.speak_ahead()
    assert [p for p in set(drain(playback, 50 * 8)) if p] == ["tune:cheerful"]  # the tune cannot be cut
    playback.say("Gracias.", "bye", True)
    playback.cut(keep_uninterruptible=False)
    assert not playback.busy


def test_sentences_naming_the_customer_are_never_cached(runtime, tmp_path):
    playback = make_playback(runtime, tmp_path, named=("Rosa",))
    playback.say("Buenos días, Rosa. Gracias.", "greeting", True)
    drain(playback, 50 * 4)
    cached = list((tmp_path / "cache").glob("*.wav"))
    assert len(cached) == 1                            # «Gracias.» only


def test_played_ms_counts_what_the_transport_took(runtime, tmp_path):
    playback = make_playback(runtime, tmp_path)
    playback.say("Uno, dos, tres, cuatro, cinco.", "count", True)
    playback.speak_ahead()
    segment = playback.current()
    drain(playback, 10)
    assert playback.played_ms(segment) == 200


def test_recording_keeps_both_sides_until_told_to_stop():
    recording = CallRecording()
    agent, caller = np.full(FRAME_SAMPLES, 100, np.int16), np.full(FRAME_SAMPLES, -7, np.int16)
    recording.agent(agent)
    agent[:] = 5                                       # the transport reuses its buffer
    recording.caller(caller)
    recording.caller(caller)
    stereo = recording.conversation()
    assert stereo.shape == (2 * FRAME_SAMPLES, 2)
    assert (stereo[:FRAME_SAMPLES, 0] == 100).all() and (stereo[FRAME_SAMPLES:, 0] == 0).all()
    assert (stereo[:, 1] == -7).all()
    recording.stop()
    recording.caller(caller)
    assert not recording.enabled and recording.conversation().shape == (0, 2)
