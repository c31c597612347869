"""``keys rotate``: everything encrypted (or still in the clear) re-encrypted under a new key.

The database values (answers, transcripts, feedback, scores, the webhook outbox) are rewritten one
table per transaction; each call file (recording, event log) atomically by a rename. Values and files
already under the new key are skipped, so an interrupted rotation is finished by running it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..store import BaseStore
from .crypto import Keyring, is_sealed_value, value_key_id
from .files import reseal_file, reseal_lines

# (table, key column, encrypted columns): what the store seals when a key is configured (``store.base``).
SEALED_COLUMNS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("answers", "id", ("value", "text")),
    ("calls", "call_id", ("score", "feedback")),
    ("outbox", "id", ("payload",)),
    ("tickets", "id", ("reason",)),
)


@dataclass
class RotationReport:
    key_id: str
    values: int = 0                               # database values re-encrypted
    files: list[str] = field(default_factory=list)  # recordings and event logs re-encrypted


def _resealed(keyring: Keyring, value: object) -> object:
    """The value sealed under ``keyring.current``; None when it already is (or holds nothing)."""
    if value is None or value == "":
        return None
    if is_sealed_value(value):
        if value_key_id(value) == keyring.current:
            return None
        value = keyring.open_value(value)
    return keyring.seal_value(value)


def rotate_database(store: BaseStore, keyring: Keyring, report: RotationReport) -> None:
    for table, key, columns in SEALED_COLUMNS:
        with store.transaction() as conn:
            rows = conn.execute(f"SELECT {key}, {', '.join(columns)} FROM {table}").fetchall()
            for row in rows:
                row = dict(row)
                for column in columns:
                    new = _resealed(keyring, row[column])
                    if new is not None:
                        conn.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (new, row[key]))
                        report.values += 1


def call_files(store: BaseStore, recordings_dir: str | Path | None) -> list[Path]:
    """Every call file the product wrote: the recordings the calls point to, the event logs beside
    them, and any ``.wav``/``.jsonl`` under the recordings folder."""
    from ..console.calls import event_log_path

    found: set[Path] = set()
    for row in store.query("SELECT recording_path FROM calls WHERE recording_path IS NOT NULL"):
        recording = Path(row["recording_path"])
        if recording.is_file():
            found.add(recording.resolve())
        log = event_log_path(row["recording_path"])
        if log is not None:
            found.add(log.resolve())
        summary = recording.parent / "result.json"     # ``encuestador simulate``'s outputs
        if recording.name == "conversation.wav" and summary.is_file():
            found.add(summary.resolve())
    if recordings_dir and Path(recordings_dir).is_dir():
        for pattern in ("*.wav", "*.jsonl"):
            found.update(p.resolve() for p in Path(recordings_dir).rglob(pattern) if p.is_file())
    return sorted(found)


def rotate_files(files: list[Path], keyring: Keyring, report: RotationReport) -> None:
    for path in files:
        if path.suffix == ".jsonl":
            changed = reseal_lines(path, keyring) > 0
        else:
            changed = reseal_file(path, keyring)
        if changed:
            report.files.append(str(path))


def rotate(store: BaseStore, keyring: Keyring, recordings_dir: str | Path | None) -> RotationReport:
    """Re-encrypt the database and the call files under ``keyring.current`` (the old keys in the ring open)."""
    report = RotationReport(keyring.current)
    rotate_files(call_files(store, recordings_dir), keyring, report)
    rotate_database(store, keyring, report)
    return report

