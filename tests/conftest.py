"""Shared fixtures: WAV files made once per session, and models loaded once per session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))

from make_fixtures import make_all  # noqa: E402


@pytest.fixture(scope="session")
def wavs() -> dict[str, Path]:
    return make_all(TESTS / "fixtures")


@pytest.fixture(scope="session")
def whisper_dir() -> Path:
    from encuestador.models.registry import installed_path, load_manifest

    specs, _ = load_manifest()
    path = installed_path(specs["faster-whisper-base"])
    if path is None:
        pytest.fail("faster-whisper-base is not installed: run `make models` (it copies from ../shared/models)")
    return path


@pytest.fixture(scope="session")
def runtime(whisper_dir, tmp_path_factory):
    """The real runtime (faster-whisper + espeak-ng), loaded once for the whole session."""
    from encuestador.runtime import Runtime, RuntimeOptions

    options = RuntimeOptions(company="Telecom del Norte", asr="whisper", tts="espeak", whisper_model=whisper_dir,
                             cache_dir=tmp_path_factory.mktemp("prompt-cache"))
    return Runtime(options)


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for the session (Debian's binaries; `make setup` installs them)."""
    from pg_server import PostgresServer, postgres_bin

    if postgres_bin() is None:
        pytest.fail("PostgreSQL is not installed (Debian package 'postgresql'): run `make setup`")
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_location(request, tmp_path) -> str:
    """Where a store lives: a SQLite file, or a fresh database on the session's PostgreSQL server.
    Tests taking this fixture run once per backend."""
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    return request.getfixturevalue("postgres").new_database()


@pytest.fixture
def load_wav():
    from encuestador.audio.wavio import read_wav

    return lambda path: read_wav(path)[0]


def pytest_configure(config):
    os.environ.setdefault("ENCUESTADOR_HOME", str(TESTS.parent / "var"))


@pytest.fixture
def server(tmp_path, whisper_dir):
    """Start ``encuestador serve`` processes (``server(workers=1, **config)``); each must stop cleanly."""
    from sip_harness import Server

    servers = []

    def start(workers=1, **config):
        s = Server(tmp_path, whisper_dir, config, workers)
        servers.append(s)
        return s

    yield start
    for s in servers:
        log = s.stop()
        assert s.proc.returncode == 0, log[-3000:]
        assert "stopped; live calls: 0" in log
