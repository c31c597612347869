"""Access to the data in ``prompts/`` (installed as ``encuestador.prompts``)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

DEFAULT_LOCALE = "es_MX"


def prompts_dir(locale: str = DEFAULT_LOCALE) -> Path:
    """``$ENCUESTADOR_PROMPTS`` if set, else the packaged ``prompts/<locale>``."""
    override = os.environ.get("ENCUESTADOR_PROMPTS")
    if override:
        return Path(override)
    from . import prompts  # encuestador.prompts, mapped from the top-level prompts/ folder

    return Path(prompts.__file__).parent / locale


@lru_cache(maxsize=16)
def _load(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_yaml(name: str, locale: str = DEFAULT_LOCALE) -> Any:
    path = prompts_dir(locale) / name
    if not path.exists():
        raise FileNotFoundError(f"prompt data {path} is missing")
    return _load(str(path))
