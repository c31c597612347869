"""Recordings and transcripts older than the retention period are purged, with an audit trail."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

from encuestador.sip.agent import purge_recordings
from encuestador.store import Store, open_store
from encuestador.store.retention import purge_expired


def test_purge_removes_only_old_recording_files(tmp_path):
    store = Store(tmp_path / "s.db")
    old, new = tmp_path / "rec" / "2026-01-01" / "old.wav", tmp_path / "rec" / "2026-11-20" / "new.wav"
    for i, path in enumerate((old, new)):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"RIFF")
        store.start_call(f"c{i}", None, None)
        store.finish_call(f"c{i}", "completed", 1000, str(path.resolve()))
    ninety_one_days_ago = time.time() - 91 * 86400
    os.utime(old, (ninety_one_days_ago, ninety_one_days_ago))
    removed = purge_recordings(store, tmp_path / "rec", retention_days=90)
    assert removed == [str(old)] and not old.exists() and new.exists()
    assert store.call("c0")["recording_path"] is None
    assert store.call("c1")["recording_path"] == str(new.resolve())


def test_purge_clears_transcripts_of_old_calls_keeps_scores_and_audits(tmp_path, db_location):
    store = open_store(db_location)
    recording = tmp_path / "c1.wav"
    recording.write_bytes(b"RIFF")
    store.start_call("c1", "C-1", "+525512345678")
    store.record_answer("c1", "score", 4, "le doy un cuatro")
    store.record_answer("c1", "feedback", "el técnico llegó tarde", "el técnico llegó tarde")
    store.finish_call("c1", "completed", 1000, str(recording))
    in_91_days = datetime.now(timezone.utc) + timedelta(days=91)
    assert purge_expired(store, 90, now=in_91_days - timedelta(days=2)).transcripts == []   # not yet
    report = purge_expired(store, 90, now=in_91_days)
    assert report.transcripts == ["c1"] and report.recordings == [str(recording)] and not recording.exists()
    call = store.call("c1")
    assert call["score"] == 4 and call["feedback"] is None and call["recording_path"] is None
    assert all(a["text"] is None for a in call["answers"])
    audit = store.query("SELECT call_id, kind FROM purge_audit ORDER BY id")
    assert audit == [{"call_id": "c1", "kind": "recording"}, {"call_id": "c1", "kind": "transcript"}]
    assert purge_expired(store, 90, now=in_91_days).transcripts == []                       # nothing twice


def test_a_retention_below_one_day_is_refused_and_deletes_nothing(tmp_path):
    import pytest

    store = Store(tmp_path / "s.db")
    recording = tmp_path / "rec" / "2026-07-15" / "c1.wav"
    recording.parent.mkdir(parents=True)
    recording.write_bytes(b"RIFF")
    store.start_call("c1", None, None)
    store.finish_call("c1", "completed", 1000, str(recording))
    for days in (-5, 0, 0.5, "90"):
        with pytest.raises(ValueError, match="retention_days must be a whole number of days ≥ 1"):
            purge_expired(store, days, recordings_dir=recording.parent.parent)
    assert recording.exists() and store.call("c1")["recording_path"] == str(recording)
