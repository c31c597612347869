"""``encuestador serve --workers N``: N worker processes behind a Kamailio dispatcher on one machine.

The supervisor starts each worker (``encuestador serve`` on its own port), then Kamailio on the
public port with a generated configuration, relays their output with a prefix, restarts a worker
that dies (Kamailio's dispatcher sends new calls to the others meanwhile), and on SIGTERM stops
Kamailio first (no new calls) and then the workers (each hangs up and stores its calls).

The run directory (0700) holds Kamailio's configuration and the workers' shared memory of used digest
nonces (``used-nonces.db``, 0600): a nonce taken by one worker is refused by all.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import string
import subprocess
import sys
import threading
import time
from pathlib import Path

from encuestador.cli_logging import escape_controls
from encuestador.privacy.files import write_private
from encuestador.store.sqlite import make_private_dirs

from .used_nonces import NONCE_STORE_ENV, SqliteUsedNonces

TEMPLATE = Path(__file__).with_name("kamailio.cfg.tmpl")
KAMAILIO_MODULES = ("/usr/lib/x86_64-linux-gnu/kamailio/modules/", "/usr/lib/kamailio/modules/")
NONCE_STORE = "used-nonces.db"


def prepare_run_directory(directory: Path) -> Path:
    """The supervisor's directory (0700) and the used-nonce store in it (0600); its path."""
    make_private_dirs(directory)
    os.chmod(directory, 0o700)  # one made before is made private too
    store = SqliteUsedNonces(directory / NONCE_STORE)
    try:
        store.prepare()
    finally:
        store.close()
    return store.path


def write_kamailio_config(directory: Path, host: str, port: int, worker_ports: list[int]) -> Path:
    dispatcher_list = directory / "dispatcher.list"
    write_private(dispatcher_list, "".join(f"1 sip:{host}:{p}\n" for p in worker_ports).encode())
    modules = next((m for m in KAMAILIO_MODULES if Path(m, "dispatcher.so").exists()), KAMAILIO_MODULES[0])
    config = directory / "kamailio.cfg"
    write_private(config, string.Template(TEMPLATE.read_text()).substitute(
        host=host, port=port, modules=modules, dispatcher_list=dispatcher_list).encode())
    return config


def _relay(prefix: str, stream, lock: threading.Lock, seen: list[str]) -> None:
    for line in stream:
        with lock:
            seen.append(line)
            sys.stdout.write(f"{prefix} {escape_controls(line.rstrip(chr(10)))}\n")  # Kamailio may quote a packet
            sys.stdout.flush()


RESTART_DELAYS_S = (1, 2, 5, 10, 30, 60)  # after a worker's 1st, 2nd, … death in a row


class Worker:
    """One ``encuestador serve`` process on its own port, restarted when it dies."""

    def __init__(self, index: int, host: str, port: int, env: dict[str, str], args: list[str],
                 lock: threading.Lock) -> None:
        self.index, self.host, self.port, self.env, self.args, self.lock = index, host, port, env, args, lock
        self.proc: subprocess.Popen | None = None
        self.seen: list[str] = []
        self.deaths = 0
        self.restart_at: float | None = None

    def start(self) -> None:
        env = {**os.environ, **self.env}
        self.seen = []
        self.proc = subprocess.Popen([sys.executable, "-m", "encuestador", "serve", "--listen", f"{self.host}:{self.port}",
                                      *self.args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        threading.Thread(target=_relay, args=(f"[w{self.index}]", self.proc.stdout, self.lock, self.seen),
                         daemon=True).start()
        with self.lock:
            print(f"worker {self.index} (pid {self.proc.pid}) on port {self.port}", flush=True)

    def check(self, now: float) -> None:
        """Restart a dead worker after a delay that grows while it keeps dying."""
        assert self.proc is not None
        if self.restart_at is None:
            if self.proc.poll() is None:
                if self.deaths and any("listening" in line for line in self.seen):
                    self.deaths = 0
                return
            delay = RESTART_DELAYS_S[min(self.deaths, len(RESTART_DELAYS_S) - 1)]
            self.deaths += 1
            self.restart_at = now + delay
            with self.lock:
                print(f"worker {self.index} exited with code {self.proc.returncode}; restarting in {delay} s", flush=True)
        elif now >= self.restart_at:
            self.restart_at = None
            self.start()


def run_cluster(worker_args: list[str], host: str, port: int, workers: int, state_dir: Path) -> int:
    kamailio = shutil.which("kamailio") or "/usr/sbin/kamailio"
    if not Path(kamailio).exists():
        print("error: --workers needs Kamailio (Debian package 'kamailio') as the front dispatcher", file=sys.stderr)
        return 2
    try:
        nonce_store = prepare_run_directory(state_dir)
    except (OSError, sqlite3.Error) as e:
        print(f"error: cannot prepare {state_dir} (used-nonce store {NONCE_STORE}): {e}", file=sys.stderr)
        return 2
    worker_ports = [port + 1 + i for i in range(workers)]
    lock = threading.Lock()
    env = {"ENCUESTADOR_SIP_FRONT": f"{host}:{port}", NONCE_STORE_ENV: str(nonce_store.resolve())}
    pool = [Worker(i + 1, host, p, env, worker_args, lock) for i, p in enumerate(worker_ports)]
    for worker in pool:
        worker.start()
    procs = [w.proc for w in pool]
    outputs = [w.seen for w in pool]
    deadline = time.monotonic() + 120
    while not all(any("listening" in line for line in seen) for seen in outputs):
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            for p in procs:
                p.terminate()
            print("error: a worker did not start", file=sys.stderr)
            return 1
        time.sleep(0.1)
    config = write_kamailio_config(state_dir, host, port, worker_ports)
    front = subprocess.Popen([kamailio, "-DD", "-E", "-f", str(config), "-P", str(state_dir / "kamailio.pid"),
                              "-Y", str(state_dir)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    threading.Thread(target=_relay, args=("[kamailio]", front.stdout, lock, []), daemon=True).start()
    time.sleep(0.5)
    if front.poll() is not None:
        for p in procs:
            p.terminate()
        print("error: kamailio did not start", file=sys.stderr)
        return 1
    print(f"encuestador listening on {host}:{port} (Kamailio dispatcher → {workers} workers on "
          f"{', '.join(map(str, worker_ports))})", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.is_set() and front.poll() is None:
        for worker in pool:
            worker.check(time.monotonic())
        stop.wait(0.5)
    front.terminate()
    front.wait(timeout=10)
    procs = [w.proc for w in pool if w.proc is not None]
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    codes = [p.wait(timeout=60) for p in procs]
    time.sleep(0.2)
    print("stopped; live calls: 0" if all(c == 0 for c in codes) else f"stopped; worker exit codes {codes}", flush=True)
    return 0 if all(c == 0 for c in codes) else 1
