"""Real-time audio core: numpy only, no allocation per frame where avoidable.

Everything inside a call runs at 16 kHz mono int16 in 20 ms frames (320 samples).
"""

SAMPLE_RATE = 16000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
