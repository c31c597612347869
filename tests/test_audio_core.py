"""G.711, resampling, ring buffer, tones and WAV I/O on synthetic signals."""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest
from scipy.signal import resample_poly

from encuestador.audio import g711
from encuestador.audio.resample import StreamResampler, resample
from encuestador.audio.ringbuffer import RingBuffer
from encuestador.audio.tones import DTMF_COLS, DTMF_KEYS, DTMF_ROWS, DtmfDetector, dtmf_tone, sine, tone_power
from encuestador.audio.wavio import AudioFormatError, read_wav, write_wav

# Reference values from the G.711 tables (ITU-T G.711, Tables 1a/2a; decoder outputs in 16-bit scale).
MULAW_REFERENCE = {0xFF: 0, 0x7F: 0, 0x80: 32124, 0x00: -32124, 0xF0: 120, 0x8F: 16764}
ALAW_REFERENCE = {0xD5: 8, 0x55: -8, 0xAA: 32256, 0x2A: -32256, 0xC5: 264}


def test_g711_decode_matches_itu_tables():
    for code, value in MULAW_REFERENCE.items():
        assert g711.mulaw_decode(np.array([code], np.uint8))[0] == value, hex(code)
    for code, value in ALAW_REFERENCE.items():
        assert g711.alaw_decode(np.array([code], np.uint8))[0] == value, hex(code)


def test_g711_matches_reference_implementation_for_every_sample():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")  # CPython's port of the Sun/ITU reference g711.c
    pcm = np.arange(-32768, 32768, dtype=np.int16)
    codes = np.arange(256, dtype=np.uint8)
    assert np.array_equal(g711.mulaw_encode(pcm), np.frombuffer(audioop.lin2ulaw(pcm.tobytes(), 2), np.uint8))
    assert np.array_equal(g711.alaw_encode(pcm), np.frombuffer(audioop.lin2alaw(pcm.tobytes(), 2), np.uint8))
    assert np.array_equal(g711.mulaw_decode(codes), np.frombuffer(audioop.ulaw2lin(codes.tobytes(), 2), np.int16))
    assert np.array_equal(g711.alaw_decode(codes), np.frombuffer(audioop.alaw2lin(codes.tobytes(), 2), np.int16))


def test_g711_round_trip_error_is_logarithmic():
    pcm = (np.sin(np.linspace(0, 200, 8000)) * 20000).astype(np.int16)
    for enc, dec in ((g711.mulaw_encode, g711.mulaw_decode), (g711.alaw_encode, g711.alaw_decode)):
        back = dec(enc(pcm)).astype(np.float64)
        snr = 10 * np.log10(np.sum(pcm.astype(np.float64) ** 2) / np.sum((back - pcm) ** 2))
        assert snr > 35


@pytest.mark.parametrize("src,dst", [(8000, 16000), (16000, 8000), (22050, 16000), (24000, 16000)])
def test_resample_close_to_scipy(src, dst):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(src).astype(np.float32) * 0.3
    ours = resample(x, src, dst)
    from math import gcd

    g = gcd(src, dst)
    ref = resample_poly(x, dst // g, src // g)
    assert ours.shape == ref.shape
    err_db = 10 * np.log10(np.mean((ours - ref) ** 2) / np.mean(ref**2))
    assert err_db < -40


def test_resample_rejects_aliases():
    tone = sine(6000, 500, rate=16000, amplitude=0.5)  # above the 4 kHz Nyquist of 8 kHz
    down = resample(tone, 16000, 8000)
    assert np.sqrt(np.mean(down**2)) < 0.01


def test_stream_resampler_matches_batch():
    x = sine(440, 400, rate=8000) + sine(1800, 400, rate=8000)
    stream = StreamResampler(8000, 16000, 160)
    out = np.concatenate([stream.process(x[i : i + 160]).copy() for i in range(0, len(x), 160)])
    batch = resample(x, 8000, 16000)
    delay = stream.bank.shape[1] - 1  # filter history
    lag = min(range(60), key=lambda d: float(np.max(np.abs(out[d : d + 4000] - batch[:4000]))))
    assert np.max(np.abs(out[lag : lag + 4000] - batch[:4000])) < 1e-3
    assert lag <= 2 * delay


def test_ring_buffer_wraps_and_counts_overruns():
    ring = RingBuffer(10)
    ring.write(np.arange(6, dtype=np.int16))
    out = np.zeros(4, np.int16)
    assert ring.read_into(out) == 4 and list(out) == [0, 1, 2, 3]
    ring.write(np.arange(6, 14, dtype=np.int16))  # wraps around the end
    assert len(ring) == 10 and ring.overruns == 0
    ring.write(np.array([99, 100], np.int16))  # full: oldest two dropped
    assert ring.overruns == 2
    out = np.zeros(12, np.int16)
    assert ring.read_into(out) == 10
    assert list(out) == [6, 7, 8, 9, 10, 11, 12, 13, 99, 100, 0, 0]
    ring.write(np.ones(5, np.int16))
    assert ring.clear() == 5 and len(ring) == 0


def test_dtmf_detects_every_key_and_nothing_else():
    keys = "".join(DTMF_KEYS)
    signal = [np.zeros(1600, np.float32)]
    for key in keys:
        signal += [dtmf_tone(key, 80), np.zeros(960, np.float32)]
    signal += [sine(1000, 300), np.zeros(800, np.float32), dtmf_tone("5", 20)]  # a plain tone; a 20 ms blip
    pcm = (np.concatenate(signal) * 32767).astype(np.int16)
    detector = DtmfDetector()
    hits = [detector.process(pcm[i : i + 320]) for i in range(0, len(pcm) - 319, 320)]
    assert "".join(h.key for h in hits if h) == keys


def _keys_heard(signal: np.ndarray, lead_samples: int = 640) -> str:
    pcm = (np.concatenate([np.zeros(lead_samples, np.float32), signal, np.zeros(1600, np.float32)]) * 32767)
    pcm = np.concatenate([pcm.astype(np.int16), np.zeros((-len(pcm)) % 320, np.int16)])
    detector = DtmfDetector()
    return "".join(h.key for h in (detector.process(pcm[i : i + 320]) for i in range(0, len(pcm), 320)) if h)


def _key_tone(key: str, ms: int, deviation: float = 0.0, twist_db: float = 0.0, amplitude: float = 0.2):
    """Both tones of ``key``, shifted by ``deviation`` (relative), the high tone ``twist_db`` louder."""
    r = next(i for i, row in enumerate(DTMF_KEYS) if key in row)
    c = DTMF_KEYS[r].index(key)
    return (sine(DTMF_ROWS[r] * (1 + deviation), ms, amplitude=amplitude)
            + sine(DTMF_COLS[c] * (1 + deviation), ms, amplitude=amplitude * 10 ** (twist_db / 20)))


ALL_KEYS = "".join(DTMF_KEYS)


@pytest.mark.parametrize("deviation", [-0.015, 0.015])
def test_dtmf_accepts_q24_frequency_tolerance(deviation):
    assert all(_keys_heard(_key_tone(k, 60, deviation)) == k for k in ALL_KEYS)


@pytest.mark.parametrize("deviation", [-0.035, 0.035, -0.05, 0.05])
def test_dtmf_rejects_frequencies_beyond_q24(deviation):
    assert not any(_keys_heard(_key_tone(k, 80, deviation)) for k in ALL_KEYS)


def test_dtmf_accepts_40_ms_at_any_alignment_and_rejects_short_blips():
    for lead in range(0, 320, 20):
        assert _keys_heard(_key_tone("5", 40), 640 + lead) == "5", lead
        assert _keys_heard(_key_tone("5", 20), 640 + lead) == "", lead
        assert _keys_heard(_key_tone("5", 25), 640 + lead) == "", lead


@pytest.mark.parametrize("twist_db,accepted", [(8.0, True), (-4.0, True), (10.0, False), (-6.0, False), (-14.0, False)])
def test_dtmf_twist_limits(twist_db, accepted):
    heard = [_keys_heard(_key_tone(k, 60, twist_db=twist_db)) for k in ALL_KEYS]
    assert heard == (list(ALL_KEYS) if accepted else [""] * len(ALL_KEYS))


def test_dtmf_no_talk_off_on_speech(wavs):
    for name, path in wavs.items():
        audio, _ = read_wav(path, 16000)
        assert _keys_heard(audio) == "", name


def test_tone_power_peaks_at_the_tone():
    p = tone_power(sine(1000, 100, amplitude=0.5), [900, 1000, 1100])
    assert p[1] > 100 * max(p[0], p[2])


def _wav_bytes(tag: int, bits: int, channels: int, rate: int, data: bytes) -> bytes:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize("tag,bits,encode", [
    (1, 16, lambda x: (x * 32767).astype("<i2").tobytes()),
    (1, 8, lambda x: (x * 127 + 128).astype(np.uint8).tobytes()),
    (1, 24, lambda x: b"".join(int(v).to_bytes(3, "little", signed=True) for v in (x * 8388607).astype(np.int32))),
    (3, 32, lambda x: x.astype("<f4").tobytes()),
    (7, 8, lambda x: g711.mulaw_encode((x * 32767).astype(np.int16)).tobytes()),
    (6, 8, lambda x: g711.alaw_encode((x * 32767).astype(np.int16)).tobytes()),
])
def test_read_wav_formats(tmp_path, tag, bits, encode):
    x = sine(440, 100, rate=8000, amplitude=0.5)
    path = tmp_path / "x.wav"
    path.write_bytes(_wav_bytes(tag, bits, 1, 8000, encode(x)))
    y, rate = read_wav(path, rate=None)
    assert rate == 8000 and len(y) == len(x)
    assert np.max(np.abs(y - x)) < 0.05
    y16, rate16 = read_wav(path)
    assert rate16 == 16000 and len(y16) == 2 * len(x)


def test_read_wav_mixes_stereo_and_rejects_non_wav(tmp_path):
    stereo = np.stack([sine(300, 50, 16000), -sine(300, 50, 16000)], axis=1)
    write_wav(tmp_path / "s.wav", stereo, 16000)
    mono, _ = read_wav(tmp_path / "s.wav")
    assert np.max(np.abs(mono)) < 1e-3  # the two channels cancel
    (tmp_path / "x.mp3").write_bytes(b"ID3\x03\x00" + b"\x00" * 100)
    with pytest.raises(AudioFormatError, match="not a WAV file"):
        read_wav(tmp_path / "x.mp3")
    (tmp_path / "adpcm.wav").write_bytes(_wav_bytes(2, 4, 1, 8000, b"\x00" * 100))
    with pytest.raises(AudioFormatError, match="unsupported WAV encoding"):
        read_wav(tmp_path / "adpcm.wav")


def _voiced(rate: int, seconds: float = 0.5) -> np.ndarray:
    """A steady vowel-like signal: 125 Hz with decaying harmonics (int16)."""
    t = np.arange(int(rate * seconds)) / rate
    x = sum(0.3 / k * np.sin(2 * np.pi * 125 * k * t + k) for k in range(1, 12) if 125 * k < rate / 2)
    return np.round(x * 32767 / 1.2).astype(np.int16)


def _with_losses(signal: np.ndarray, frame: int, lost: set[int], rate: int) -> np.ndarray:
    from encuestador.audio.plc import LossConcealer

    plc = LossConcealer(rate, frame)
    out = signal.copy()
    for k in range(len(signal) // frame):
        chunk = out[k * frame : (k + 1) * frame]
        plc.missing(chunk) if k in lost else plc.received(chunk)
    return out


def _snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    ref = reference.astype(np.float64)
    err = ref - estimate.astype(np.float64)
    return 10 * np.log10(np.sum(ref**2) / max(np.sum(err**2), 1e-9))


@pytest.mark.parametrize("rate", [8000, 16000])
def test_loss_concealment_continues_a_voiced_sound(rate):
    frame = rate // 50
    clean = _voiced(rate)
    concealed = _with_losses(clean, frame, {10}, rate)
    lost = slice(10 * frame, 11 * frame)
    assert _snr_db(clean[lost], concealed[lost]) > 10          # zero-filling would give 0 dB
    # No click where the real signal resumes: the join is no steeper than the signal itself.
    join = np.abs(np.diff(concealed[11 * frame - 8 : 11 * frame + 8].astype(np.int32))).max()
    assert join <= 1.5 * np.abs(np.diff(clean.astype(np.int32))).max()


def test_loss_concealment_fades_out_a_long_gap():
    rate, frame = 16000, 320
    concealed = _with_losses(_voiced(rate), frame, set(range(5, 11)), rate)
    level = [float(np.abs(concealed[k * frame : (k + 1) * frame].astype(np.float64)).mean()) for k in range(5, 11)]
    assert level[0] > 1000                                      # the first 20 ms still sound
    assert level[1] < level[0] and level[2] < level[1]
    assert level[3] == level[4] == level[5] == 0.0              # silent after 60 ms of loss


def test_phone_line_concealment_beats_zero_filled_losses():
    from encuestador.audio.phoneline import phone_line

    speech = _voiced(16000, 2.0).astype(np.float32) / 32768.0
    clean = phone_line(speech, 16000)
    holes = phone_line(speech, 16000, loss=0.05, seed=3)
    patched = phone_line(speech, 16000, loss=0.05, conceal=True, seed=3)
    assert np.count_nonzero(holes == 0) >= 2 * 160               # frames were lost (the same in both)
    assert _snr_db(clean, patched) > _snr_db(clean, holes) + 6


def test_audio_history_keeps_the_newest_samples_in_order():
    from encuestador.audio.ringbuffer import AudioHistory

    history = AudioHistory(7)
    assert list(history.latest()) == [0] * 7
    for start in range(0, 20, 3):
        history.push(np.arange(start, start + 3, dtype=np.int16))
    assert list(history.latest()) == list(range(14, 21))
    assert list(history.latest(2)) == [19, 20]
    history.push(np.arange(100, 110, dtype=np.int16))  # longer than the capacity
    assert list(history.latest()) == list(range(103, 110))


def test_dc_remover_takes_out_an_offset_and_leaves_a_clean_line_alone():
    from encuestador.audio.level import DcRemover

    t = np.arange(320 * 300)
    tone = np.round(3000 * np.sin(2 * np.pi * 440 * t / 16000)).astype(np.int16)
    remover = DcRemover()
    out = np.concatenate([remover.process((tone[i : i + 320] + 1500).astype(np.int16)) for i in range(0, tone.size, 320)])
    assert abs(out[-320 * 50 :].mean()) < 40                       # the 1500 offset is gone after ~5 s
    clean = DcRemover()
    frames = [tone[i : i + 320].copy() for i in range(0, tone.size, 320)]
    assert all(np.array_equal(clean.process(f.copy()), f) for f in frames)


def test_level_meter_reports_speech_level_and_noise_floor():
    from encuestador.audio.level import LevelMeter, dbfs

    assert dbfs(32768.0**2) == pytest.approx(0.0) and dbfs(0.0) == -120.0
    meter = LevelMeter()
    quiet, loud = (10 ** (-60 / 20) * 32768) ** 2, (10 ** (-20 / 20) * 32768) ** 2
    for k in range(200):
        speaking = 50 <= k < 100
        meter.update(loud if speaking else quiet, voiced=speaking)
    assert meter.take_speech_dbfs() == pytest.approx(-20.0, abs=0.01)
    assert meter.noise_floor_dbfs == pytest.approx(-60.0, abs=0.5)
    assert meter.take_speech_dbfs() == -120.0
