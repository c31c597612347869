"""Benchmarks and evaluations: ``python -m bench [--quick] [--sip]`` (numbers, never test assertions)."""
