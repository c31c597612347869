"""Operator mistakes on the command line (issue 17): one line and an exit code, never a traceback; a
mistyped ``--db`` is never silently created except by the commands that import; ``serve`` refuses a
database it cannot write before it listens. The real CLI as a subprocess, real SQLite files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from encuestador.store import open_store

ENV = {**os.environ, "PYTHONIOENCODING": "utf-8"}


def encuestador(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "encuestador", *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=timeout)


def one_error_line(result: subprocess.CompletedProcess, code: int = 2) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture
def read_only_db(tmp_path):
    """A database this process cannot write: immutable when running as root (root ignores modes)."""
    db = tmp_path / "ro.db"
    store = open_store(db)
    store.upsert_customer("C-1", "Ana", "+525512345678")
    store.close()
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode != 0:
            pytest.skip("chattr +i is not available on this file system (running as root)")
        yield db
        subprocess.run(["chattr", "-i", str(db)], check=True)
    else:
        db.chmod(0o444)
        tmp_path.chmod(0o555)
        yield db
        tmp_path.chmod(0o755)


COMMANDS_THAT_DO_NOT_IMPORT = [
    ["dnc", "add", "55 1234 5678"], ["report"], ["calls"], ["campaign", "due"], ["purge"],
    ["webhooks", "--url", "http://127.0.0.1:9/", "--secret", "s"],
]


@pytest.mark.parametrize("command", COMMANDS_THAT_DO_NOT_IMPORT, ids=lambda c: " ".join(c[:2]))
def test_a_mistyped_db_is_refused_and_not_created(tmp_path, command):
    db = tmp_path / "typo" / "calls.db"
    assert one_error_line(encuestador(*command, "--db", db)) == f"error: no such database: {db}"
    assert not db.exists() and not db.parent.exists()


def test_campaign_run_refuses_a_missing_db_before_loading_models(tmp_path):
    db = tmp_path / "typo.db"
    result = encuestador("campaign", "run", "--db", db)
    assert one_error_line(result) == f"error: no such database: {db}" and not db.exists()


@pytest.mark.parametrize("kind", ["text file", "directory"])
def test_a_db_that_is_not_a_database_is_one_line(tmp_path, kind):
    db = tmp_path / "notes.txt"
    if kind == "directory":
        db.mkdir()
        expected = f"error: {db} is a directory, not a database file"
    else:
        db.write_text("customer list\n")
        expected = f"error: {db} is not an SQLite database (give the encuestador database file)"
    for command in (["report"], ["dnc", "add", "5512345678"], ["campaign", "import", tmp_path / "x.csv"]):
        (tmp_path / "x.csv").write_text("customer_id,name,phone\nC-1,Ana,5512345678\n")
        assert one_error_line(encuestador(*command, "--db", db)) == expected
    if kind == "text file":
        assert db.read_text() == "customer list\n"


def test_importing_creates_a_private_database(tmp_path):
    csv = tmp_path / "c.csv"
    csv.write_text("customer_id,name,phone\nC-1,Ana,5512345678\n")
    db = tmp_path / "new" / "deeper" / "calls.db"
    result = encuestador("campaign", "import", csv, "--db", db)
    assert result.returncode == 0, result.stderr
    assert f"new database created: {db}" in result.stderr
    assert db.stat().st_mode & 0o777 == 0o600
    assert (db.parent.stat().st_mode & 0o777, db.parent.parent.stat().st_mode & 0o777) == (0o700, 0o700)
    for wal in (Path(f"{db}-wal"), Path(f"{db}-shm")):
        assert not wal.exists() or wal.stat().st_mode & 0o077 == 0


def test_a_missing_file_to_import_makes_no_database(tmp_path):
    db = tmp_path / "calls.db"
    line = one_error_line(encuestador("campaign", "import", tmp_path / "nope.csv", "--db", db))
    assert line == f"error: {tmp_path / 'nope.csv'}: no such file" and not db.exists()


def test_serve_refuses_a_database_it_cannot_write_before_listening(read_only_db):
    result = encuestador("serve", "--db", read_only_db, "--listen", "127.0.0.1:0")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "listening" not in result.stdout and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == \
        f"error: {read_only_db} is read-only: the database (and its directory) must be writable"


def test_a_read_only_database_can_be_reported_but_not_written(read_only_db):
    assert encuestador("report", "--db", read_only_db).returncode == 0
    line = one_error_line(encuestador("dnc", "add", "5512345678", "--db", read_only_db))
    assert line == f"error: {read_only_db} is read-only: the database (and its directory) must be writable"


def test_purge_refuses_a_retention_below_one_day(tmp_path):
    db = tmp_path / "calls.db"
    open_store(db).close()
    line = one_error_line(encuestador("purge", "--db", db, "--days", "-5"))
    assert line == "error: --days -5: the retention period is at least 1 day"


def test_bad_report_dates_are_one_line(tmp_path):
    db = tmp_path / "calls.db"
    open_store(db).close()
    assert one_error_line(encuestador("report", "--db", db, "--since", "ayer")) == \
        "error: --since 'ayer': expected a date YYYY-MM-DD"


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(tmp_path):
    db = tmp_path / "calls.db"
    store = open_store(db)
    store.start_call("c1", None, None)
    store.finish_call("c1", "completed", 1000)
    store.close()
    plain = encuestador("webhooks", "--db", db, "--url", "notaurl", "--secret", "s")
    assert one_error_line(plain, code=1) == \
        "error: ValueError: unknown url type: 'notaurl' (run with --debug for the traceback)"
    debug = encuestador("--debug", "webhooks", "--db", db, "--url", "notaurl", "--secret", "s")
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr


def test_an_unreachable_postgresql_is_one_line_without_its_password():
    port = __import__("sip_harness").free_port()
    line = one_error_line(encuestador("report", "--db", f"postgresql://encuestador:s3cret@127.0.0.1:{port}/calls"))
    assert line.startswith(f"error: PostgreSQL postgresql://encuestador:***@127.0.0.1:{port}/calls: ")
    assert "s3cret" not in line
