"""Preallocated single-producer/single-consumer ring buffer of int16 samples.

The media thread writes or reads whole frames; nothing is allocated per call. A short lock guards
the indices only (two integer updates), so neither side ever waits on ASR, TTS or I/O.
"""

from __future__ import annotations

import threading

import numpy as np


class RingBuffer:
    def __init__(self, capacity: int, dtype: type = np.int16) -> None:
        self._buf = np.zeros(capacity, dtype=dtype)
        self._capacity = capacity
        self._read = 0
        self._size = 0
        self._lock = threading.Lock()
        self.overruns = 0  # samples dropped because the buffer was full

    @property
    def capacity(self) -> int:
        return self._capacity

    def __len__(self) -> int:
        return self._size

    def write(self, samples: np.ndarray) -> int:
        """Append samples; when full, the oldest are overwritten (and counted). Returns count written."""
        n = len(samples)
        if n > self._capacity:
            self.overruns += n - self._capacity
            samples = samples[-self._capacity :]
            n = self._capacity
        with self._lock:
            free = self._capacity - self._size
            if n > free:
                dropped = n - free
                self.overruns += dropped
                self._read = (self._read + dropped) % self._capacity
                self._size -= dropped
            start = (self._read + self._size) % self._capacity
            first = self._capacity - start
            if n <= first:                       # the common case: one contiguous slice
                self._buf[start : start + n] = samples
            else:
                self._buf[start:] = samples[:first]
                self._buf[: n - first] = samples[first:]
            self._size += n
        return n

    def read_into(self, out: np.ndarray) -> int:
        """Fill ``out`` from the buffer; samples it lacks are zero. Returns how many were real."""
        want = len(out)
        with self._lock:
            size, read = self._size, self._read
            n = want if want < size else size
            if n == want and read + n <= self._capacity:  # the common case: one whole contiguous frame
                out[...] = self._buf[read : read + n]
            elif n == 0:                                  # nothing queued: silence
                out.fill(0)
                return 0
            elif read + n <= self._capacity:
                out[:n] = self._buf[read : read + n]
            else:
                first = self._capacity - read
                out[:first] = self._buf[read:]
                out[first:n] = self._buf[: n - first]
            self._read = (read + n) % self._capacity
            self._size = size - n
        if n < want:
            out[n:] = 0
        return n

    def clear(self) -> int:
        """Drop everything buffered (barge-in); returns how many samples were dropped."""
        with self._lock:
            dropped, self._size = self._size, 0
        return dropped


class AudioHistory:
    """The newest ``capacity`` samples of a stream, overwritten in place (for looking back: echo
    checks, loss concealment). ``push`` is one or two slice copies and no lock: a reader on another
    thread may see a frame half-updated, which these uses tolerate."""

    def __init__(self, capacity: int, dtype: type = np.int16) -> None:
        self._buf = np.zeros(capacity, dtype=dtype)
        self._capacity = capacity
        self._end = 0  # where the next sample goes

    def push(self, samples: np.ndarray) -> None:
        n = len(samples)
        end = self._end
        if n >= self._capacity:
            self._buf[:] = samples[-self._capacity :]
            self._end = 0
        elif end + n <= self._capacity:
            self._buf[end : end + n] = samples
            self._end = (end + n) % self._capacity
        else:
            first = self._capacity - end
            self._buf[end:] = samples[:first]
            self._buf[: n - first] = samples[first:]
            self._end = n - first

    def latest(self, n: int | None = None) -> np.ndarray:
        """A copy of the newest ``n`` samples (default: all), oldest first."""
        n = self._capacity if n is None else min(n, self._capacity)
        end = self._end
        if n <= end:
            return self._buf[end - n : end].copy()
        return np.concatenate([self._buf[self._capacity - (n - end) :], self._buf[:end]])
