"""A private PostgreSQL server for the store tests: Debian's postgresql binaries, a fresh cluster in a
temporary directory on 127.0.0.1 and a free port, one new database per test. Run as the `postgres`
user when the tests run as root (initdb refuses root). fsync is off: this server holds test data only."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from sip_harness import free_port


def postgres_bin() -> Path | None:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return versions[-1].parent if versions else None


class PostgresServer:
    def __init__(self) -> None:
        bindir = postgres_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (Debian package 'postgresql'); run `make setup`")
        # Not under pytest's tmp (mode 700, root's): the postgres user must reach it.
        base = Path(tempfile.mkdtemp(prefix="encuestador-pg-"))
        self.base, self.port = base, free_port()
        self.data = base / "data"
        self._as = []
        if os.geteuid() == 0:
            shutil.chown(base, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run([str(bindir / "initdb"), "-D", str(self.data), "-U", "encuestador", "-A", "trust", "-E", "UTF8",
                   "--no-sync"])
        self._pg_ctl = str(bindir / "pg_ctl")
        self._run([self._pg_ctl, "-D", str(self.data), "-l", str(base / "server.log"), "-w", "start", "-o",
                   f"-p {self.port} -h 127.0.0.1 -k {base} -c fsync=off"])
        self.admin_dsn = f"postgresql://encuestador@127.0.0.1:{self.port}/postgres"

    def _run(self, args: list[str]) -> None:
        result = subprocess.run(self._as + args, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {result.stdout[-2000:]}{result.stderr[-2000:]}")

    def new_database(self) -> str:
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgresql://encuestador@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        subprocess.run(self._as + [self._pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(self.base, ignore_errors=True)
