"""Settings are checked completely at start-up (issue 17): every mistake named in one line, exit 2,
before anything listens or dials — never a TypeError in the middle of the first call."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from encuestador.settings import SettingsError
from encuestador.sip.config import SipConfig

ENV = {**os.environ, "PYTHONIOENCODING": "utf-8"}


def encuestador(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "encuestador", *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout)


def errors_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        SipConfig.load(path)
    return [e.removeprefix(f"{path}: ") for e in caught.value.errors]


def test_wrong_types_from_the_issue_are_refused_by_name(tmp_path):
    errors = errors_of(tmp_path, 'max_call_s: "600"\nrtp_timeout_s: thirty\nretention_days: -5\n')
    assert errors == ["rtp_timeout_s: expected a number > 0, got 'thirty' (text)",
                      "max_call_s: expected a number > 0, got '600' (text)",
                      "retention_days: expected a whole number ≥ 1, got -5"]


@pytest.mark.parametrize("text, expected", [
    ("max_cals: 4\n", "max_cals: unknown setting (did you mean 'max_calls'?)"),
    ("trunk:\n  proxi: sip:10.0.0.5\n", "trunk.proxi: unknown setting (did you mean 'proxy'?)"),
    ("zzz: 1\n", "zzz: unknown setting"),
    ("retention_days: 0\n", "retention_days: expected a whole number ≥ 1, got 0"),
    ("retention_days: 1.5\n", "retention_days: expected a whole number ≥ 1, got 1.5 (a number)"),
    ("listen_port: 70000\n", "listen_port: expected a whole number ≥ 0 and ≤ 65535, got 70000"),
    ("amd: 'yes please'\n", "amd: expected true or false, got 'yes please' (text)"),
    ("max_calls: true\n", "max_calls: expected a whole number ≥ 1, got True (true/false)"),
    ("transports: [udp, sctp]\n", "transports: unknown transport(s) ['sctp']; use udp and/or tcp"),
    ("callback_number: 5512345678\n", "callback_number: expected text, got 5512345678 (a whole number) "
                                      "(write it in quotes)"),
    ("transfer_uri: asesores@pbx\n", "transfer_uri: expected text starting with sip: or sips: or tel:, "
                                     "got 'asesores@pbx'"),
    ("webhook_url: crm.example.mx\n", "webhook_url: expected text starting with http:// or https://, "
                                      "got 'crm.example.mx'"),
    ("tls_port: 5061\n", "tls_cert: required when tls_port is set"),
    ("calling_rules:\n  start: '8'\n", 'calling_rules.start: expected a time "HH:MM" in quotes, got \'8\' (text)'),
    ("calling_rules:\n  end: 17:00\n", 'calling_rules.end: write the time in quotes: "17:00" (unquoted, YAML '
                                      'read it as the number 1020)'),
    ("calling_rules: weekdays\n", "calling_rules: expected a mapping of rule: value, got 'weekdays' (text)"),
    ("- a\n- b\n", "expected settings as 'key: value' lines, got ['a', 'b'] (a list)"),
    ("max_call_s: [1\nfoo: 2\n", "YAML syntax error at line 2, column 4: expected ',' or ']', but got ':'"),
])
def test_each_mistake_gets_one_clear_message(tmp_path, text, expected):
    assert expected in errors_of(tmp_path, text)


def test_a_good_file_loads_with_its_values(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("max_call_s: 300\nretention_days: 1\ntransports: [udp]\ntrunk: {proxy: 'sip:10.0.0.5'}\n"
                    "calling_rules: {start: '09:00', max_attempts: 2}\n")
    config = SipConfig.load(path, listen_port=5070)
    assert (config.max_call_s, config.retention_days, config.transports, config.trunk.proxy, config.listen_port) == \
        (300, 1, ("udp",), "sip:10.0.0.5", 5070)


def test_serve_with_a_wrong_typed_value_exits_2_naming_every_key_and_never_listens(tmp_path):
    config = tmp_path / "serve.yaml"
    config.write_text('max_call_s: "600"\nrtp_timeout_s: thirty\nretention_days: -5\nmax_cals: 4\n')
    db = tmp_path / "calls.db"
    result = encuestador("serve", "--db", str(db), "--config", str(config), "--listen", "127.0.0.1:0")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines == [f"error: {config}: max_cals: unknown setting (did you mean 'max_calls'?)",
                     f"error: {config}: rtp_timeout_s: expected a number > 0, got 'thirty' (text)",
                     f"error: {config}: max_call_s: expected a number > 0, got '600' (text)",
                     f"error: {config}: retention_days: expected a whole number ≥ 1, got -5"]
    assert "listening" not in result.stdout and "Traceback" not in result.stderr
    assert not db.exists()                     # refused before anything was made


@pytest.mark.parametrize("command", [["campaign", "due"], ["serve", "--workers", "2"]])
def test_other_commands_reading_the_config_refuse_it_the_same_way(tmp_path, command):
    config = tmp_path / "bad.yaml"
    config.write_text("calling_rules:\n  start: '25:00'\n")
    db = tmp_path / "calls.db"
    db.touch()
    result = encuestador(*command, "--db", str(db), "--config", str(config))
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"error: {config}: calling_rules.start: no such time '25:00' (00:00 to 23:59)"]


def test_a_webhook_url_without_a_secret_is_refused_at_start(tmp_path):
    config = tmp_path / "serve.yaml"
    config.write_text("webhook_url: https://crm.example.mx/hooks\n")
    env = {k: v for k, v in ENV.items() if k != "ENCUESTADOR_WEBHOOK_SECRET"}
    result = subprocess.run([sys.executable, "-m", "encuestador", "serve", "--db", str(tmp_path / "c.db"),
                             "--config", str(config)], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2 and "webhook_url is set but there is no webhook_secret" in result.stderr


def test_every_setting_has_a_check():
    """A setting added to SipConfig without a check would reach a call unchecked."""
    from dataclasses import fields

    from encuestador.sip.config import CHECKS

    assert set(CHECKS) | {"trunk", "calling_rules"} == {f.name for f in fields(SipConfig)}
