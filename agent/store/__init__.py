"""Durable storage of customers, calls, answers, tickets and the do-not-call list."""

from .sqlite import Store, StoreSink

__all__ = ["Store", "StoreSink"]
