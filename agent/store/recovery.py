"""Crash recovery: calls left open by a process that died are finalised at the next start-up.

A call whose owner (``store.owner``) is dead gets outcome ``interrupted``, an end time (its last
stored answer or event-log write, else now — then no duration), the recording if one was written, and
its CRM webhook in the outbox — so ``report`` counts its answers. Calls of live processes (another ``serve`` worker) are
never touched; calls whose owner cannot be checked (another host, or opened before owners were stored)
only once they are older than ``stale_after_s`` (longer than any call can last).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .base import BaseStore, parse_utc
from .owner import owner_alive

OUTCOME = "interrupted"
MAX_DURATION_MS = 2**31 - 1   # the column is a 32-bit integer in PostgreSQL


@dataclass(frozen=True)
class RecoveredCall:
    call_id: str
    ended_at: str
    answers: int
    recording_path: str | None


@dataclass
class RecoveryReport:
    calls: list[RecoveredCall] = field(default_factory=list)
    left_open: int = 0          # open calls of live (or uncheckable, recent) processes


def _call_files(recordings_dir: Path | None, call_id: str, suffix: str) -> list[Path]:
    """``<recordings_dir>/<day>/<call_id><suffix>`` files (the layout the SIP agent writes)."""
    if recordings_dir is None or not recordings_dir.is_dir():
        return []
    return sorted(recordings_dir.glob(f"*/{call_id}{suffix}")) + sorted(recordings_dir.glob(f"{call_id}{suffix}"))


def _last_event(store: BaseStore, call_id: str, recordings_dir: Path | None) -> tuple[datetime | None, int]:
    """The latest instant something of this call was stored, and how many answers it has."""
    row = store.query("SELECT MAX(recorded_at) AS last, COUNT(*) AS n FROM answers WHERE call_id = ?", (call_id,))[0]
    moments = [parse_utc(row["last"])] if row["last"] else []
    moments += [datetime.fromtimestamp(p.stat().st_mtime, timezone.utc) for p in _call_files(recordings_dir, call_id, ".jsonl")]
    return (max(moments) if moments else None), int(row["n"])


def recover_abandoned_calls(store: BaseStore, recordings_dir: str | Path | None = None, now: datetime | None = None,
                            stale_after_s: float | None = None) -> RecoveryReport:
    """Finalise every open call whose process is dead (see the module docstring); safe to run from
    several processes at once (each call is closed once)."""
    now = now or datetime.now(timezone.utc)
    directory = Path(recordings_dir) if recordings_dir else None
    report = RecoveryReport()
    for call in store.query("SELECT call_id, started_at, owner FROM calls WHERE ended_at IS NULL ORDER BY started_at"):
        started = parse_utc(call["started_at"])
        alive = owner_alive(call["owner"])
        too_old = stale_after_s is not None and started is not None and (now - started).total_seconds() > stale_after_s
        if alive or (alive is None and not too_old):
            report.left_open += 1
            continue
        last, answers = _last_event(store, call["call_id"], directory)
        ended = max(last or now, started) if started else (last or now)
        recordings = _call_files(directory, call["call_id"], ".wav")
        recording = str(recordings[0].resolve()) if recordings else None
        # Known only from the call's own last event; "now" says nothing of how long the call lasted.
        duration = int((ended - started).total_seconds() * 1000) if started and last else None
        if duration is not None and duration > MAX_DURATION_MS:
            duration = None
        ended_text = ended.astimezone(timezone.utc).isoformat(timespec="milliseconds")
        if store.close_abandoned_call(call["call_id"], OUTCOME, ended_text, duration, recording):
            report.calls.append(RecoveredCall(call["call_id"], ended_text, answers, recording))
    return report
