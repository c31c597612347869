"""The media port between pjsua2's conference bridge and a call session.

pjmedia calls ``onFrameReceived``/``onFrameRequested`` every 20 ms on its clock thread. They only copy
a frame into the inbound ring buffer or out of the session's playback buffer: never ASR, TTS or I/O.
"""

from __future__ import annotations

import numpy as np
import pjsua2 as pj

from encuestador.audio import FRAME_SAMPLES, SAMPLE_RATE
from encuestador.audio.ringbuffer import RingBuffer


def audio_format() -> "pj.MediaFormatAudio":
    fmt = pj.MediaFormatAudio()
    fmt.type = pj.PJMEDIA_TYPE_AUDIO
    fmt.clockRate = SAMPLE_RATE
    fmt.channelCount = 1
    fmt.bitsPerSample = 16
    fmt.frameTimeUsec = 20000
    return fmt


class SessionMediaPort(pj.AudioMediaPort):
    def __init__(self, pull_audio, inbound: RingBuffer) -> None:
        super().__init__()
        self._pull_audio = pull_audio    # CallSession.pull_audio: non-blocking
        self._inbound = inbound
        self._out = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self.frames_in = 0
        self.frames_out = 0

    def onFrameReceived(self, frame: "pj.MediaFrame") -> None:  # noqa: N802 (pjsua2 API)
        if frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO or frame.size == 0:
            return
        samples = np.frombuffer(bytes(frame.buf), dtype="<i2")
        self._inbound.write(samples)
        self.frames_in += 1

    def onFrameRequested(self, frame: "pj.MediaFrame") -> None:  # noqa: N802 (pjsua2 API)
        self._pull_audio(self._out)
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        frame.buf = pj.ByteVector(self._out.tobytes())
        frame.size = FRAME_SAMPLES * 2
        self.frames_out += 1
