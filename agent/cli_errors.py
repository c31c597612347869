"""How the ``encuestador`` command reports a failure: one line per problem on stderr, an exit code, and
the traceback only with ``--debug``. Messages are escaped (they may quote a file's or a peer's bytes)."""

from __future__ import annotations

import argparse
import sys
import traceback
from typing import Callable

from .cli_logging import escape_controls

BAD_INPUT, MISSING_MODEL, FAILED, INTERRUPTED = 2, 3, 1, 130


class UsageError(ValueError):
    """A command-line value that cannot be used (reported like argparse's own: exit 2)."""


def _say(message: str) -> None:
    print(f"error: {escape_controls(message)}", file=sys.stderr, flush=True)


def _os_message(error: OSError) -> str:
    where = f"{error.filename}: " if error.filename else ""
    return f"{where}{error.strerror or error}"


def run_reporting_errors(command: Callable[[argparse.Namespace], int], args: argparse.Namespace,
                         debug: bool = False) -> int:
    """``command(args)``'s exit code, or the code of the error it raised, reported in one line each."""
    from .campaign.importer import ImportFileError
    from .models.registry import MissingModelError
    from .settings import SettingsError
    from .store import StoreError

    try:
        return command(args)
    except BrokenPipeError:             # `encuestador report | head`: the reader has gone; not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
    except Exception as error:  # noqa: BLE001 — every failure becomes one line and a code
        if debug:
            traceback.print_exc()
        if isinstance(error, SettingsError):
            for line in error.errors:
                _say(line)
            return BAD_INPUT
        if isinstance(error, MissingModelError):
            _say(str(error))
            return MISSING_MODEL
        if isinstance(error, (StoreError, ImportFileError, UsageError)):
            _say(str(error))
            return BAD_INPUT
        if isinstance(error, OSError):
            _say(_os_message(error))
            return BAD_INPUT
        _say(f"{type(error).__name__}: {error}" + ("" if debug else " (run with --debug for the traceback)"))
        return FAILED
