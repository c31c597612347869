"""Configuration of the SIP agent (YAML file plus command-line overrides)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml


@dataclass
class TrunkConfig:
    """Where outbound calls go, and optional registration with digest authentication."""

    proxy: str | None = None          # e.g. "sip:10.0.0.5:5060" (outbound proxy / PBX)
    registrar: str | None = None      # e.g. "sip:pbx.example.mx"; registration only when set
    username: str | None = None
    password: str | None = None
    realm: str = "*"
    caller_id: str | None = None      # the number shown to customers, e.g. "+525512345678"
    domain: str | None = None         # host part for dialled numbers; defaults to the proxy's


@dataclass
class SipConfig:
    listen_host: str = "127.0.0.1"
    listen_port: int = 5060
    transports: tuple[str, ...] = ("udp", "tcp")
    tls_port: int | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    trunk: TrunkConfig = field(default_factory=TrunkConfig)
    transfer_uri: str | None = None   # the human queue, for blind REFER transfers
    transfer_timeout_s: float = 15.0
    rtp_timeout_s: float = 30.0
    max_call_s: float = 600.0
    max_calls: int = 32
    amd: bool = True                  # answering-machine detection on outbound calls
    callback_number: str | None = None  # said in voicemail messages
    recordings_dir: str = "var/recordings"
    retention_days: int = 90
    company: str = "Servicios Ejemplo"
    user_agent: str = "encuestador"
    # Campaigns (``encuestador campaign run``)
    caller_id_pool: list[str] = field(default_factory=list)  # local presence: chosen by the customer's area code
    calling_rules: dict[str, Any] = field(default_factory=dict)  # overrides of prompts/es_MX/calling_rules.yaml
    webhook_url: str | None = None    # each finished call is POSTed here (signed; retried from the outbox)
    webhook_secret: str | None = None  # or the ENCUESTADOR_WEBHOOK_SECRET environment variable

    @classmethod
    def load(cls, path: str | Path | None, **overrides: Any) -> "SipConfig":
        data: dict[str, Any] = {}
        if path:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        trunk = TrunkConfig(**(data.pop("trunk", None) or {}))
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{path}: unknown settings {sorted(unknown)}")
        if "transports" in data:
            data["transports"] = tuple(data["transports"])
        config = cls(trunk=trunk, **data)
        for key, value in overrides.items():
            if value is not None:
                setattr(config, key, value)
        return config
