"""The ``encuestador`` command end to end, as a user runs it (real models, real SQLite)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest


def encuestador(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "encuestador", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONIOENCODING": "utf-8"}, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_simulate_stores_score_four_not_resolved(wavs, whisper_dir, tmp_path):
    out, db = tmp_path / "call", tmp_path / "calls.db"
    proc = encuestador("simulate", "--customer", "Ana López", "--company", "Telecom del Norte",
                       "--customer-id", "C-1", "--phone", "+525512345678",
                       "--caller-audio", wavs["ks_si"], wavs["k_cuatro"], wavs["ks_no_sigue_igual"],
                       "--out", out, "--db", db, "--whisper-model", whisper_dir, "--tts", "espeak")
    assert "Buenos días, Ana López" in proc.stdout and "Cliente:" in proc.stdout
    result = json.loads((out / "result.json").read_text())
    assert (result["consent"], result["score"], result["resolved"]) == (True, 4, False)
    assert result["outcome"] == "completed" and result["ticket"] is True  # unresolved, nobody to talk to
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert {"Say", "Heard", "AnswerRecorded", "Hangup"} <= {e["event"] for e in events}
    from encuestador.audio.wavio import read_wav

    conversation, rate = read_wav(out / "conversation.wav", rate=None)
    assert rate == 16000 and len(conversation) > 16000 * 20
    row = sqlite3.connect(db).execute("SELECT consent, score, resolved, outcome, recording_path FROM calls").fetchone()
    assert row[:4] == (1, 4, 0, "completed") and row[4].endswith("conversation.wav")
    listing = encuestador("calls", "--db", db, "--json")
    assert json.loads(listing.stdout)[0]["score"] == 4


def test_simulate_opt_out(wavs, whisper_dir, tmp_path):
    db = tmp_path / "calls.db"
    encuestador("simulate", "--customer", "Luis", "--phone", "+525598765432", "--caller-audio", wavs["opt_out"],
                "--out", tmp_path / "o", "--db", db, "--whisper-model", whisper_dir, "--tts", "espeak", "--quiet")
    result = json.loads((tmp_path / "o" / "result.json").read_text())
    assert result["opt_out"] is True and result["outcome"] == "opt_out"
    assert sqlite3.connect(db).execute("SELECT phone FROM dnc").fetchall() == [("+525598765432",)]


def test_simulate_rejects_non_wav_clearly(tmp_path):
    bad = tmp_path / "answer.mp3"
    bad.write_bytes(b"ID3" + b"\0" * 64)
    proc = encuestador("simulate", "--customer", "Ana", "--caller-audio", bad, "--out", tmp_path / "x", check=False)
    assert proc.returncode == 2 and "not a WAV file" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("name,question,intent,score", [
    ("cuatro", "score", "score", 4), ("si", "consent", "yes", None), ("silence", "score", "silence", None),
])
def test_understand_prints_one_json_line(wavs, whisper_dir, name, question, intent, score):
    proc = encuestador("understand", "--question", question, wavs[name], "--whisper-model", whisper_dir)
    line = json.loads(proc.stdout.strip())
    assert (line["intent"], line["score"]) == (intent, score)
    assert set(line) >= {"intent", "score", "text", "confidence"}


def test_missing_model_is_one_clear_message(tmp_path, wavs):
    env_home = {"ENCUESTADOR_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "encuestador", "understand", "--question", "score", str(wavs["cuatro"])],
                          capture_output=True, text=True, env={**os.environ, **env_home})
    assert proc.returncode == 3
    assert "faster-whisper-base" in proc.stderr and "encuestador models fetch" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_understand_several_files_one_json_line_each(wavs, whisper_dir, tmp_path, capsys):
    from encuestador.cli import main

    code = main(["understand", "--question", "score", str(wavs["cuatro"]), str(wavs["si"]),
                 "--whisper-model", str(whisper_dir), "--tts", "espeak"])
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert code == 0 and len(lines) == 2
    assert [line["file"] for line in lines] == [str(wavs["cuatro"]), str(wavs["si"])]
    assert (lines[0]["intent"], lines[0]["score"]) == ("score", 4)
    for line in lines:
        assert set(line) >= {"file", "intent", "score", "text", "confidence", "confirm"}
        assert isinstance(line["confirm"], bool)

    missing = tmp_path / "no-such.wav"
    code = main(["understand", "--question", "consent", str(missing), str(wavs["si"]),
                 "--whisper-model", str(whisper_dir), "--tts", "espeak"])
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert code == 2 and len(lines) == 2
    assert lines[0]["file"] == str(missing) and "error" in lines[0] and "intent" not in lines[0]
    assert lines[1]["file"] == str(wavs["si"]) and "intent" in lines[1] and "error" not in lines[1]
