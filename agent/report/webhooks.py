"""Finished calls to the customer's CRM: a signed JSON POST per call, from a durable outbox.

``Store.finish_call`` writes the outbox row in the same transaction that ends the call, so a call is
never finished without its webhook being owed. ``deliver_due`` POSTs what is due; a failure (network
error, timeout, non-2xx) is retried with exponential backoff, so nothing is lost while the CRM is down.

Headers: ``X-Encuestador-Timestamp`` (Unix seconds), ``X-Encuestador-Signature`` =
``sha256=`` + hex HMAC-SHA256(secret, timestamp + "." + body), and ``Idempotency-Key`` (the same on
every retry of one call, so the CRM can drop duplicates).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from ..store import BaseStore

USER_AGENT = "encuestador-webhooks/1"
log = logging.getLogger(__name__)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, now: float | None = None,
           tolerance_s: int = 300) -> bool:
    """What a receiver does: recompute the signature and reject stale timestamps (replays)."""
    now = now if now is not None else datetime.now(timezone.utc).timestamp()
    if abs(now - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)


def backoff(tries: int, base_s: float = 30.0, cap_s: float = 3600.0) -> timedelta:
    """30 s, 1 min, 2 min, … up to an hour between tries."""
    return timedelta(seconds=min(cap_s, base_s * 2 ** max(0, tries - 1)))


@dataclass
class DeliveryReport:
    delivered: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)   # (idempotency key, error)
    pending: int = 0


def deliver_due(store: BaseStore, url: str, secret: str, now: datetime | None = None, timeout_s: float = 10.0,
                limit: int = 100) -> DeliveryReport:
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)  # stored instants are UTC text
    report = DeliveryReport()
    rows = store.query("SELECT * FROM outbox WHERE delivered_at IS NULL AND next_try_at <= ? ORDER BY id LIMIT ?",
                       (now.isoformat(timespec="milliseconds"), limit))
    for row in rows:
        body = row["payload"].encode("utf-8")
        timestamp = int(now.timestamp())
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
            "X-Encuestador-Timestamp": str(timestamp), "X-Encuestador-Signature": sign(secret, timestamp, body),
            "Idempotency-Key": row["idempotency_key"]})
        error = None
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                if not 200 <= response.status < 300:
                    error = f"HTTP {response.status}"
        except urllib.error.HTTPError as e:
            error = f"HTTP {e.code}"
        except (urllib.error.URLError, OSError) as e:
            error = f"{type(e).__name__}: {getattr(e, 'reason', e)}"
        tries = row["tries"] + 1
        if error is None:
            store.execute("UPDATE outbox SET tries = ?, delivered_at = ?, last_error = NULL WHERE id = ?",
                          (tries, now.isoformat(timespec="milliseconds"), row["id"]))
            report.delivered.append(row["idempotency_key"])
        else:
            store.execute("UPDATE outbox SET tries = ?, next_try_at = ?, last_error = ? WHERE id = ?",
                          (tries, (now + backoff(tries)).isoformat(timespec="milliseconds"), error, row["id"]))
            report.failed.append((row["idempotency_key"], error))
    report.pending = store.query("SELECT COUNT(*) AS n FROM outbox WHERE delivered_at IS NULL")[0]["n"]
    return report


class WebhookSender:
    """Delivers owed webhooks every ``interval_s`` on its own thread (never the SIP polling thread)."""

    def __init__(self, store: BaseStore, url: str, secret: str, interval_s: float = 5.0) -> None:
        self.store, self.url, self.secret, self.interval_s = store, url, secret, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)
        deliver_due(self.store, self.url, self.secret)  # one last try for calls that just ended

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                deliver_due(self.store, self.url, self.secret)
            except Exception:  # a bad row or a CRM outage must not stop later deliveries
                log.exception("webhook delivery failed")


def webhook_secret(configured: str | None) -> str | None:
    """The HMAC key: the one configured (or given), else ``ENCUESTADOR_WEBHOOK_SECRET``."""
    return configured or os.environ.get("ENCUESTADOR_WEBHOOK_SECRET")


def start_sender(store: BaseStore, url: str | None, secret: str | None) -> WebhookSender | None:
    """A running sender when a webhook URL is configured (secret from the config or
    ``ENCUESTADOR_WEBHOOK_SECRET``); None otherwise. A URL without a secret is refused."""
    if not url:
        return None
    secret = webhook_secret(secret)
    if not secret:
        raise ValueError("webhook_url is set but there is no webhook_secret (or ENCUESTADOR_WEBHOOK_SECRET)")
    sender = WebhookSender(store, url, secret)
    sender.start()
    return sender
