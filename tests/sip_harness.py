"""Real SIP peers for the tests: ``encuestador serve`` / ``encuestador call`` as subprocesses, and SIPp
(Debian ``sip-tester``) scenarios rendered from the templates in ``tests/sipp/``. Loopback only."""

from __future__ import annotations

import signal
import socket
import string
import subprocess
import sys
import time
from pathlib import Path

from rtp_pcap import pcmu_stream, rfc4733_press

SIPP_DIR = Path(__file__).with_name("sipp")
GAP_MS = 2500  # between key presses: the agent answers each before the next (type-ahead)


def free_port(span: int = 1) -> int:
    """A port on 127.0.0.1 such that it and the next ``span`` ports (and +2 for SIPp's media pair)
    are free for both UDP and TCP."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + span + 2 > 65535:
            continue
        try:
            for port in range(base, base + span + 2):
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    with socket.socket(socket.AF_INET, kind) as s:
                        s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no free port")


def template(name: str, **values) -> str:
    return string.Template((SIPP_DIR / name).read_text()).substitute(**values)


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A throw-away certificate for 127.0.0.1 and its key (openssl), in ``tmp``."""
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


class Server:
    """``encuestador serve`` on a free port, with its own database and recordings."""

    def __init__(self, tmp: Path, whisper_dir: Path, config: dict | None = None, workers: int = 1) -> None:
        import yaml

        self.port = free_port(span=workers)
        self.db = tmp / "calls.db"
        self.recordings = tmp / "recordings"
        config_path = tmp / "serve.yaml"
        config_path.write_text(yaml.safe_dump({"recordings_dir": str(self.recordings), **(config or {})}))
        config_path.chmod(0o600)   # it may hold a trunk password: serve refuses one readable by others
        self.log_path = tmp / "serve.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "encuestador", "serve", "--listen", f"127.0.0.1:{self.port}", "--db", str(self.db),
             "--config", str(config_path), "--whisper-model", str(whisper_dir), "--tts", "espeak",
             "--workers", str(workers)],
            stdout=self._log, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 90
        ready = "Kamailio dispatcher" if workers > 1 else "listening"  # the front starts after its workers
        while ready not in self.log():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not start:\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, count: int = 1, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.log().count(text) < count:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"{text!r} ×{count} not seen:\n{self.log()[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        self._log.close()
        return self.log()


PJSUA_TELEPHONE_EVENT_PT = 121  # what pjsua 2.15 offers for telephone-event/8000


def key_presses(tmp: Path, keys: str, mode: str = "rfc4733", first_ms: int = 2000, payload_type: int = 101) -> str:
    """Scenario lines pressing ``keys`` one after another (RFC 4733, SIP INFO or in-band tones)."""
    from encuestador.audio.tones import dtmf_tone
    import numpy as np

    lines = []
    for i, key in enumerate(keys):
        pause = first_ms if i == 0 else GAP_MS
        if mode == "info":
            lines.append(template("info_press.xml", pause_ms=pause, cseq=10 + i, key=key))
            continue
        pcap = tmp / f"press{i}_{key}.pcap"
        if mode == "rfc4733":
            rfc4733_press(pcap, key, i, payload_type=payload_type)
        else:  # in-band: the tones inside PCMU audio
            tone = np.concatenate([dtmf_tone(key, 100, rate=8000), np.zeros(400, np.float32)])
            pcmu_stream(pcap, tone, i)
        lines.append(f'  <pause milliseconds="{pause}"/>\n'
                     f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>')
    return "\n".join(lines)


def caller_scenario(tmp: Path, keys: str, mode: str = "rfc4733", hold_ms: int = 2500) -> Path:
    telephone_event = "a=rtpmap:101 telephone-event/8000\n      a=fmtp:101 0-15" if mode == "rfc4733" else ""
    text = template("uac_keys.xml", payload_types="0 101" if mode == "rfc4733" else "0",
                    telephone_event=telephone_event, presses=key_presses(tmp, keys, mode), hold_ms=hold_ms)
    path = tmp / f"uac_{mode}_{keys}.xml"
    path.write_text(text)
    return path


def callers_csv(tmp: Path, rows: list[tuple[str, str]]) -> Path:
    path = tmp / "callers.csv"
    path.write_text("SEQUENTIAL\n" + "".join(f"{phone};{customer};\n" for phone, customer in rows))
    return path


def sipp(args: list[str], timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    """Run SIPp in the scenario's folder (its error log lands there) and fail with what it said."""
    workdir = Path(args[args.index("-sf") + 1]).parent
    proc = subprocess.run(["sipp", *args, "-nostdin", "-trace_err", "-timeout", f"{int(timeout)}s", "-timeout_error"],
                          capture_output=True, text=True, timeout=timeout + 30, cwd=workdir)
    if check and proc.returncode != 0:
        errors = "".join(p.read_text(errors="replace")[-2000:] for p in workdir.glob("*errors.log"))
        raise AssertionError(f"sipp exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}\n{errors}")
    return proc


def call_server(server: Server, scenario: Path, csv: Path, calls: int = 1, rate: int = 1, timeout: float = 120,
                check: bool = True, local_ip: str = "127.0.0.1",
                extra: list[str] | None = None) -> subprocess.CompletedProcess:
    """SIPp places ``calls`` calls from ``local_ip`` (any 127.x address: a second source on loopback)."""
    media = free_port()
    return sipp([f"127.0.0.1:{server.port}", "-sf", str(scenario), "-inf", str(csv), "-m", str(calls),
                 "-l", str(calls), "-r", str(rate), "-i", local_ip, "-p", str(free_port()),
                 "-mi", local_ip, "-mp", str(media), *(extra or [])], timeout=timeout, check=check)


def bueno_greeting(tmp_path: Path) -> str:
    """Scenario lines: the person who picks up says "¿Bueno?" (PCMU)."""
    import numpy as np

    from encuestador.audio.phoneline import phone_line
    from encuestador.speak.tts import EspeakSynthesizer
    from rtp_pcap import pcmu_stream

    audio = phone_line(np.concatenate([np.zeros(3200, np.float32), EspeakSynthesizer().synthesize("¿Bueno?")]),
                       16000, snr_db=35, out_rate=8000)
    pcap = pcmu_stream(tmp_path / "bueno.pcap", audio, press_index=50)
    return f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>'
