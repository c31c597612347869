"""Retention: recordings and transcripts older than the configured days are purged, with an audit.

What is purged for a call that ended before the cutoff: its recording file and the event log beside it
(which holds what was heard), the free-text feedback and the transcript of every answer (scores and yes/no values stay: the reports need them). Each purge is a
row in ``purge_audit`` (call, what, detail, when), so an auditor can see what was removed and when.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .base import BaseStore

def event_log_beside(recording_path: str) -> Path | None:
    """The SIP agent's ``<call>.jsonl`` beside ``<call>.wav`` (not ``simulate``'s shared ``events.jsonl``)."""
    log = Path(recording_path).with_suffix(".jsonl")
    return log if log.is_file() else None


_AUDIT = "INSERT INTO purge_audit (call_id, kind, detail, purged_at) VALUES (?, ?, ?, ?)"


@dataclass
class PurgeReport:
    recordings: list[str] = field(default_factory=list)
    transcripts: list[str] = field(default_factory=list)   # call ids


def purge_expired(store: BaseStore, retention_days: int, now: datetime | None = None,
                  recordings_dir: Path | None = None) -> PurgeReport:
    """Purge what ended more than ``retention_days`` (≥ 1: a smaller value would delete the
    recording of a call that just ended, so it is refused with ``ValueError``) before ``now``."""
    if isinstance(retention_days, bool) or not isinstance(retention_days, int) or retention_days < 1:
        raise ValueError(f"retention_days must be a whole number of days ≥ 1, got {retention_days!r}")
    now = now or datetime.now(timezone.utc)
    cutoff = (now - timedelta(days=retention_days)).isoformat(timespec="milliseconds")
    stamp = now.isoformat(timespec="seconds")
    report = PurgeReport()
    old_calls = store.query("SELECT call_id, recording_path, feedback FROM calls WHERE ended_at IS NOT NULL "
                            "AND ended_at < ?", (cutoff,))
    for call in old_calls:
        path = call["recording_path"]
        if path:
            log = event_log_beside(path)
            Path(path).unlink(missing_ok=True)
            if log is not None:
                log.unlink(missing_ok=True)
            with store.transaction() as conn:
                conn.execute("UPDATE calls SET recording_path = NULL WHERE call_id = ?", (call["call_id"],))
                conn.execute(_AUDIT, (call["call_id"], "recording", path, stamp))
            report.recordings.append(path)
        texts = store.query("SELECT COUNT(*) AS n FROM answers WHERE call_id = ? AND text IS NOT NULL AND text != ''",
                            (call["call_id"],))[0]["n"]
        if texts or call["feedback"]:
            with store.transaction() as conn:
                conn.execute("UPDATE answers SET text = NULL WHERE call_id = ?", (call["call_id"],))
                conn.execute("UPDATE answers SET value = NULL WHERE call_id = ? AND question = 'feedback'",
                             (call["call_id"],))
                conn.execute("UPDATE calls SET feedback = NULL WHERE call_id = ?", (call["call_id"],))
                conn.execute(_AUDIT, (call["call_id"], "transcript", f"{texts} answer transcript(s)", stamp))
            report.transcripts.append(call["call_id"])
    # Recording files no call points to any more (e.g. written by a worker that crashed) go by age.
    if recordings_dir is not None and recordings_dir.exists():
        limit = now.timestamp() - retention_days * 86400
        for path in recordings_dir.rglob("*.wav"):
            if path.stat().st_mtime < limit:
                log = event_log_beside(str(path))
                if log is not None and log.stat().st_mtime < limit:
                    log.unlink(missing_ok=True)
                path.unlink(missing_ok=True)
                with store.transaction() as conn:
                    conn.execute("UPDATE calls SET recording_path = NULL WHERE recording_path = ?", (str(path.resolve()),))
                    conn.execute(_AUDIT, (None, "recording", str(path), stamp))
                report.recordings.append(str(path))
    return report
