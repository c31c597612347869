"""Encryption at rest: AES-256-GCM under a key read from a key file (never from the database).

Every sealed thing carries the id of its key (the first 8 bytes of the key's SHA-256, in hex) and
its own random 96-bit nonce, so ``keys rotate`` knows what to re-encrypt and a key is never reused
with a nonce.

* a database value (or an event-log line) becomes text: ``enc1:<key id>:<base64(nonce ‖ ciphertext)>``,
  whose plaintext is the JSON of the value (an int stays an int, text stays text);
* a file (a recording) becomes ``ENCU\\x01`` ‖ key id (16 ASCII hex) ‖ nonce ‖ ciphertext — it never
  starts with ``RIFF``.

The key file holds 32 random bytes in base64 on one line, mode 0600 (``encuestador keys new``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..settings import SettingsError

KEY_ENV = "ENCUESTADOR_KEY_FILE"
VALUE_PREFIX = "enc1:"
BLOB_MAGIC = b"ENCU\x01"
_KID_LEN = 16
_NONCE_LEN = 12
_VALUE_AAD = b"encuestador value v1"
_BLOB_AAD = b"encuestador file v1"


class KeyFileError(SettingsError):
    """A key file that cannot be used (missing, malformed, readable by others)."""

    def __init__(self, message: str) -> None:
        super().__init__([message])


class SealedDataError(ValueError):
    """Encrypted data that cannot be opened: no key given, another key, or altered bytes."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:_KID_LEN]


def is_sealed_value(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(VALUE_PREFIX)


def is_sealed_blob(data: bytes) -> bool:
    return data.startswith(BLOB_MAGIC)


def value_key_id(token: str) -> str:
    return token[len(VALUE_PREFIX):].split(":", 1)[0]


def blob_key_id(blob: bytes) -> str:
    return blob[len(BLOB_MAGIC):len(BLOB_MAGIC) + _KID_LEN].decode("ascii", "replace")


@dataclass(frozen=True)
class Keyring:
    """The keys this process holds (by id) and the one it seals with (``current``)."""

    keys: dict[str, bytes]
    current: str

    @classmethod
    def of(cls, key: bytes, *older: bytes) -> "Keyring":
        keys = {key_id(k): k for k in older}
        keys[key_id(key)] = key
        return cls(keys, key_id(key))

    def sealing_with(self, key: bytes) -> "Keyring":
        """This keyring plus ``key``, which now seals (the old keys still open)."""
        return Keyring({**self.keys, key_id(key): key}, key_id(key))

    def _cipher(self, kid: str) -> AESGCM:
        key = self.keys.get(kid)
        if key is None:
            raise SealedDataError(f"data encrypted under key {kid}, which is not the configured key "
                                  f"({', '.join(sorted(self.keys))})")
        return AESGCM(key)

    # -- values ------------------------------------------------------------------------------
    def seal_value(self, value: Any) -> Any:
        """``value`` as an ``enc1:`` token (None stays None: absence is not a secret)."""
        if value is None or is_sealed_value(value):
            return value
        nonce = secrets.token_bytes(_NONCE_LEN)
        body = AESGCM(self.keys[self.current]).encrypt(nonce, json.dumps(value, ensure_ascii=False).encode(), _VALUE_AAD)
        return f"{VALUE_PREFIX}{self.current}:{base64.b64encode(nonce + body).decode('ascii')}"

    def open_value(self, value: Any) -> Any:
        """The value an ``enc1:`` token holds; anything else is returned as it is."""
        if not is_sealed_value(value):
            return value
        kid, _, encoded = value[len(VALUE_PREFIX):].partition(":")
        cipher = self._cipher(kid)
        try:
            raw = base64.b64decode(encoded, validate=True)
            plain = cipher.decrypt(raw[:_NONCE_LEN], raw[_NONCE_LEN:], _VALUE_AAD)
        except (InvalidTag, ValueError):
            raise SealedDataError(f"an encrypted value under key {kid} does not decrypt (altered?)") from None
        return json.loads(plain)

    # -- files -------------------------------------------------------------------------------
    def seal_bytes(self, data: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE_LEN)
        body = AESGCM(self.keys[self.current]).encrypt(nonce, data, _BLOB_AAD)
        return BLOB_MAGIC + self.current.encode("ascii") + nonce + body

    def open_bytes(self, blob: bytes) -> bytes:
        """The plaintext of a sealed file's bytes; unsealed bytes are returned as they are."""
        if not is_sealed_blob(blob):
            return blob
        kid = blob_key_id(blob)
        cipher = self._cipher(kid)
        start = len(BLOB_MAGIC) + _KID_LEN
        try:
            return cipher.decrypt(blob[start:start + _NONCE_LEN], blob[start + _NONCE_LEN:], _BLOB_AAD)
        except InvalidTag:
            raise SealedDataError(f"an encrypted file under key {kid} does not decrypt (altered or truncated?)") from None


def open_value_without_key(value: Any) -> Any:
    """For readers with no keyring: plain values pass, sealed ones are a clear error."""
    if is_sealed_value(value):
        raise SealedDataError(f"the data is encrypted (key {value_key_id(value)}): give the key with "
                              f"encryption_key_file: in the config or {KEY_ENV}")
    return value


# -- key files ---------------------------------------------------------------------------------
def write_new_key(path: str | Path) -> str:
    """A fresh random key in a new file (0600; an existing file is never overwritten). Its id."""
    path = Path(path)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path}: already exists (a key is never overwritten; choose another name)") from None
    except OSError as e:
        raise KeyFileError(f"{path}: cannot create ({e.strerror})") from None
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(base64.b64encode(key).decode("ascii") + "\n")
    os.chmod(path, 0o600)
    return key_id(key)


def read_key(path: str | Path) -> bytes:
    """The 32-byte key in ``path``; ``KeyFileError`` when missing, readable by others or malformed."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no such key file (make one with `encuestador keys new --out {path}`)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise KeyFileError(f"{path}: cannot read the key file ({getattr(e, 'strerror', None) or e})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"{path}: key file is readable by others (mode {stat.S_IMODE(mode):04o}); "
                           f"run `chmod 600 {path}`")
    try:
        key = base64.b64decode(text, validate=True)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise KeyFileError(f"{path}: not an encuestador key (expected 32 bytes in base64 on one line)")
    return key


def key_file_setting(configured: str | Path | None) -> Path | None:
    """The key file to use: the config's ``encryption_key_file:``, else ``$ENCUESTADOR_KEY_FILE``, else none."""
    chosen = configured or os.environ.get(KEY_ENV) or None
    return Path(chosen) if chosen else None


def load_keyring(configured: str | Path | None = None) -> Keyring | None:
    """The keyring from the configured key file (or the environment); None when no key is set."""
    path = key_file_setting(configured)
    return Keyring.of(read_key(path)) if path else None
