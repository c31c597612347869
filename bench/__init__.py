"""Benchmarks and evaluations: ``python -m bench [--quick] [--sip]`` (numbers, never test assertions)."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).with_name("results")


def save_result(name: str, result: dict) -> Path:
    """Write ``result`` as bench/results/``name`` (JSON, UTF-8) and return the path."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    return path
