"""Privacy in the call, end to end: ``encuestador simulate`` with a Kokoro-voiced caller who says
«No quiero que me graben» (real faster-whisper, real SQLite)."""

from __future__ import annotations

import json
import sqlite3

from test_cli import encuestador


def test_a_caller_who_asks_not_to_be_recorded_is_not_recorded(wavs, whisper_dir, tmp_path):
    out, db = tmp_path / "call", tmp_path / "calls.db"
    (out).mkdir()
    (out / "conversation.wav").write_bytes(b"RIFF older")  # a recording left in the folder is not kept either
    proc = encuestador("simulate", "--customer", "Ana López", "--company", "Telecom del Norte",
                       "--customer-id", "C-1", "--phone", "+525512345678",
                       "--caller-audio", wavs["ks_si"], wavs["ks_stop_recording"], wavs["ks_cinco"],
                       "--out", out, "--db", db, "--whisper-model", whisper_dir, "--tts", "espeak")
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    stops = [e for e in events if e["event"] == "StopRecording"]
    assert len(stops) == 1 and "grab" in stops[0]["text"].lower(), proc.stdout
    said = [e["text"] for e in events if e["event"] == "Say"]
    after = said[said.index("Entendido, dejamos de grabar.") + 1:]
    assert after and "escala del uno al cinco" in after[0]  # the pending question, asked again
    result = json.loads((out / "result.json").read_text())
    assert result["recording_stopped"] is True
    assert (result["consent"], result["score"]) == (True, 5)  # the survey went on
    assert not (out / "conversation.wav").exists()
    row = sqlite3.connect(db).execute("SELECT score, recording_path FROM calls").fetchone()
    assert row == (5, None)
