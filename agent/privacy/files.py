"""Call files at rest: the recording (WAV) and the event log (JSON lines) beside it, sealed when a key
is configured. Plaintext never reaches the disk: the WAV is built in memory and each event-log line is
sealed before it is appended (each with its own nonce), so a crash leaves only ciphertext."""

from __future__ import annotations

import io
import json
import os
import wave
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.wavio import to_int16
from .crypto import (Keyring, SealedDataError, blob_key_id, is_sealed_blob, is_sealed_value, open_value_without_key,
                     value_key_id)


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    """A 16-bit PCM WAV in memory; shape (n,) is mono, (n, channels) multichannel."""
    pcm = samples if samples.dtype == np.int16 else to_int16(samples)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1 if pcm.ndim == 1 else pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.ascontiguousarray(pcm).astype("<i2").tobytes())
    return buffer.getvalue()


def write_private(path: str | Path, data: bytes) -> Path:
    """``data`` to ``path`` (0600, its new folders 0700) through a temporary file and a rename."""
    from ..store.sqlite import make_private_dirs

    path = Path(path)
    make_private_dirs(path.parent)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def write_recording(path: str | Path, samples: np.ndarray, rate: int, keyring: Keyring | None) -> Path:
    """The call's recording: a WAV, sealed under ``keyring`` when there is one."""
    data = wav_bytes(samples, rate)
    return write_private(path, keyring.seal_bytes(data) if keyring else data)


def read_call_file(path: str | Path, keyring: Keyring | None) -> bytes:
    """A recording's plaintext bytes (``SealedDataError`` when sealed and no key is given)."""
    data = Path(path).read_bytes()
    if is_sealed_blob(data):
        if keyring is None:
            raise SealedDataError(f"{path} is encrypted: give the key with encryption_key_file: in the config "
                                  "or ENCUESTADOR_KEY_FILE")
        return keyring.open_bytes(data)
    return data


class EventLog:
    """An event sink appending each event to a JSON-lines file as it happens; each line sealed on its
    own when a key is configured (so the file can grow call by call and survive a crash)."""

    def __init__(self, path: str | Path, keyring: Keyring | None) -> None:
        from ..store.sqlite import make_private_dirs

        self.path = Path(path)
        self.keyring = keyring
        make_private_dirs(self.path.parent)
        self._file = open(self.path, "a", encoding="utf-8")

    def handle(self, event: Any) -> None:
        self.write_line(event.to_json())

    def write_line(self, line: str) -> None:
        self._file.write((self.keyring.seal_value(line) if self.keyring else line) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def open_line(line: str, keyring: Keyring | None) -> str:
    return keyring.open_value(line) if keyring and is_sealed_value(line) else open_value_without_key(line)


def read_event_lines(path: str | Path, keyring: Keyring | None) -> list[dict[str, Any]]:
    """The events of a call's log, sealed lines opened."""
    return [json.loads(open_line(line, keyring)) for line in Path(path).read_text(encoding="utf-8").splitlines()
            if line.strip()]


def reseal_lines(path: str | Path, keyring: Keyring) -> int:
    """Rewrite an event log with every line sealed under ``keyring.current``. Lines changed."""
    path = Path(path)
    out, changed = [], 0
    for line in filter(str.strip, path.read_text(encoding="utf-8").splitlines()):
        if not (is_sealed_value(line) and value_key_id(line) == keyring.current):
            line = keyring.seal_value(keyring.open_value(line))   # a plain line is opened as itself
            changed += 1
        out.append(line)
    if changed:
        write_private(path, ("\n".join(out) + "\n").encode("utf-8"))
    return changed


def reseal_file(path: str | Path, keyring: Keyring) -> bool:
    """A recording sealed under ``keyring.current`` (opened with any key of the ring first). True when rewritten."""
    path = Path(path)
    data = path.read_bytes()
    if is_sealed_blob(data) and blob_key_id(data) == keyring.current:
        return False
    write_private(path, keyring.seal_bytes(keyring.open_bytes(data)))
    return True
