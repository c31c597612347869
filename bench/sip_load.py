"""CPU per call of a real ``encuestador serve`` worker under SIPp keypad calls, and what that means
for one 2-core machine. Reuses the SIPp helpers of the test suite (tests/sip_harness.py)."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(whisper_dir: Path, calls: int = 4) -> dict:
    sys.path.insert(0, str(TESTS))
    from sip_harness import Server, call_server, caller_scenario, callers_csv

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        server = Server(tmp_path, whisper_dir)
        try:
            time.sleep(1.0)
            idle_start = _cpu_seconds(server.proc.pid)
            time.sleep(3.0)
            idle_per_s = (_cpu_seconds(server.proc.pid) - idle_start) / 3.0
            keys = "15" + "2"  # consent, score, resolved; then the caller stays on the line
            csv = callers_csv(tmp_path, [(f"+52553000{i:04d}", "") for i in range(calls)])
            scenario = caller_scenario(tmp_path, keys, hold_ms=12000)
            start_cpu, start = _cpu_seconds(server.proc.pid), time.monotonic()
            call_server(server, scenario, csv, calls=calls, rate=50, timeout=120)
            server.wait_for("ended:", count=calls, timeout=60)
            wall = time.monotonic() - start
            cpu = _cpu_seconds(server.proc.pid) - start_cpu
        finally:
            server.stop()
    call_seconds = calls * wall
    per_call = max(cpu - idle_per_s * wall, 0.0) / call_seconds
    return {"calls": calls, "wall_s": round(wall, 1), "worker_cpu_s": round(cpu, 2),
            "idle_worker_cpu_per_s": round(idle_per_s, 4),
            "cpu_per_call_keypad": round(per_call, 4),  # cores used by one live call (media, VAD, dialogue)
            "calls_per_endpoint_limit": 4}
