"""The one start-up line that says personal data is being stored in the clear (no key configured)."""

from __future__ import annotations

import sys
from typing import TextIO

from .crypto import KEY_ENV, Keyring

CLEAR_STORAGE = ("note: no encryption key configured (encryption_key_file: in the config, or {env}): "
                 "recordings, transcripts, feedback and scores are stored in the clear")


def clear_storage_notice(keyring: Keyring | None) -> str | None:
    """The notice when ``keyring`` is None, else None."""
    return None if keyring is not None else CLEAR_STORAGE.format(env=KEY_ENV)


def warn_if_clear(keyring: Keyring | None, out: TextIO | None = None) -> bool:
    """Print the notice (stderr by default) when there is no key. True when printed."""
    notice = clear_storage_notice(keyring)
    if notice:
        print(notice, file=out or sys.stderr, flush=True)
    return notice is not None
