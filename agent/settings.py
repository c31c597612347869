"""Checking operator-written settings (YAML): one clear message per mistake, all found at once.

Used by ``sip.config.SipConfig.load`` and ``campaign.rules.CallingRules.load``; a ``SettingsError``
carries every message, and the CLI prints one line each and exits 2 before anything starts.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml


class SettingsError(ValueError):
    """Settings that cannot be used; ``errors`` holds one message per mistake."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = list(errors)


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """' (did you mean 'max_call_s'?)' for a close known key, else ''."""
    close = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_keys(data: dict[str, Any], known: Iterable[str], where: str) -> list[str]:
    known = list(known)
    return [f"{where}{key}: unknown setting{did_you_mean(key, known)}" for key in data if key not in known]


def describe(value: Any) -> str:
    """A value as the operator wrote it, with its YAML type: ``'600' (text)``."""
    kinds = {str: "text", bool: "true/false", int: "a whole number", float: "a number", list: "a list",
             dict: "a mapping", type(None): "empty"}
    return f"{value!r} ({kinds.get(type(value), type(value).__name__)})"


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (an empty file is ``{}``); ``SettingsError`` otherwise."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError([f"{path}: no such file"]) from None
    except IsADirectoryError:
        raise SettingsError([f"{path}: is a directory, not a YAML file"]) from None
    except UnicodeDecodeError as e:
        raise SettingsError([f"{path}: not UTF-8 text (byte {e.start})"]) from None
    except OSError as e:
        raise SettingsError([f"{path}: cannot read ({e.strerror})"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SettingsError([f"{path}: YAML syntax error{where}: {problem}"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError([f"{path}: expected settings as 'key: value' lines, got {describe(data)}"])
    return data
