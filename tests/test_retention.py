"""Recordings older than the retention period are deleted and forgotten by the store."""

from __future__ import annotations

import os
import time

from encuestador.sip.agent import purge_recordings
from encuestador.store import Store


def test_purge_removes_only_old_recordings(tmp_path):
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
    assert removed == [old] and not old.exists() and new.exists()
    assert store.call("c0")["recording_path"] is None
    assert store.call("c1")["recording_path"] == str(new.resolve())
