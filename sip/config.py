"""Configuration of the SIP agent (YAML file plus command-line overrides), checked completely at load.

Every key is checked (type, range, unknown keys with a "did you mean"); ``SettingsError`` lists every
mistake at once, so ``serve`` exits 2 at start instead of failing in the middle of a call.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from encuestador.settings import SettingsError, describe, read_yaml_mapping, unknown_keys


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
    # SIP edge (issue 17): per-source limits, TCP connection hygiene, RTP source pinning
    source_max_calls: int = 0         # live calls from one address; 0: every call slot but one
    source_calls_per_minute: float = 60.0  # new calls one address may start (bursts of 10)
    tcp_idle_timeout_s: float = 30.0  # a TCP/TLS connection with no data and no call is closed after this
    tcp_max_per_source: int = 16      # TCP/TLS connections from one address
    rtp_latching: bool = False        # follow RTP from a new source (only for peers behind NAT)
    # Who may call in (issue 16, sip/trust.py): the trunk's addresses, or digest credentials; SRTP
    sip_allow: list[str] = field(default_factory=list)  # addresses / CIDR ranges: taken, and believed about the caller
    sip_auth: dict[str, str] | None = None  # {username, password}: others must authenticate (anonymous calls)
    srtp: str = "off"                 # mandatory | optional | off: SRTP (SDES) on the calls' audio
    # The privacy notice said after the greeting (prompts/es_MX/survey.yaml privacy_notice), when one is set
    privacy_notice_url: str | None = None
    privacy_notice_phone: str | None = None
    privacy_notice_interruptible: bool = True
    # Campaigns (``encuestador campaign run``)
    caller_id_pool: list[str] = field(default_factory=list)  # local presence: chosen by the customer's area code
    calling_rules: dict[str, Any] = field(default_factory=dict)  # overrides of prompts/es_MX/calling_rules.yaml
    webhook_url: str | None = None    # each finished call is POSTed here (signed; retried from the outbox)
    webhook_secret: str | None = None  # or the ENCUESTADOR_WEBHOOK_SECRET environment variable
    # Privacy (issue 16): recordings, transcripts, feedback and scores encrypted under this key (AES-GCM)
    encryption_key_file: str | None = None  # or ENCUESTADOR_KEY_FILE; none: stored in the clear (said at start)

    @classmethod
    def load(cls, path: str | Path | None, **overrides: Any) -> "SipConfig":
        """The settings in ``path`` (YAML; none: the defaults) with ``overrides`` (None values ignored).
        Raises ``SettingsError`` naming every bad key."""
        data: dict[str, Any] = read_yaml_mapping(path) if path else {}
        if path:
            refuse_exposed_secrets(Path(path), data)
        errors = check_settings(data, f"{path}: ")
        if errors:
            raise SettingsError(errors)
        data = dict(data)
        trunk = TrunkConfig(**(data.pop("trunk", None) or {}))
        if "transports" in data:
            data["transports"] = tuple(data["transports"])
        config = cls(trunk=trunk, **data)
        for key, value in overrides.items():
            if value is not None:
                setattr(config, key, value)
        return config


def refuse_exposed_secrets(path: Path, data: dict[str, Any]) -> None:
    """A config holding a secret (trunk.password, webhook_secret, sip_auth.password) must be readable by
    its owner only: ``SettingsError`` otherwise (the secret is never quoted)."""
    import stat

    nested = lambda key: (data.get(key) or {}).get("password") if isinstance(data.get(key), dict) else None  # noqa: E731
    held = [name for name, value in (("trunk.password", nested("trunk")), ("webhook_secret", data.get("webhook_secret")),
                                     ("sip_auth.password", nested("sip_auth"))) if value]
    mode = stat.S_IMODE(path.stat().st_mode)
    if held and mode & 0o077:
        raise SettingsError([f"{path}: holds {', '.join(held)} but is readable by others (mode {mode:04o}); "
                             f"run `chmod 600 {path}`"])


# -- checks ------------------------------------------------------------------------------------
Check = Callable[[Any], str | None]   # a value → what is wrong with it, or None


def _text(optional: bool = True, prefixes: tuple[str, ...] = ()) -> Check:
    def check(value: Any) -> str | None:
        if value is None:
            return None if optional else "a value is required"
        if not isinstance(value, str) or not value.strip():
            hint = " (write it in quotes)" if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
            return f"expected text, got {describe(value)}{hint}"
        if prefixes and not value.startswith(prefixes):
            return f"expected text starting with {' or '.join(prefixes)}, got {value!r}"
        return None
    return check


def _number(minimum: float, whole: bool = False, optional: bool = False, maximum: float | None = None,
            exclusive_min: bool = False) -> Check:
    def check(value: Any) -> str | None:
        if value is None and optional:
            return None
        kinds = (int,) if whole else (int, float)
        what = "a whole number" if whole else "a number"
        bound = f"> {minimum:g}" if exclusive_min else f"≥ {minimum:g}"
        span = f"{bound}" + (f" and ≤ {maximum:g}" if maximum is not None else "")
        if isinstance(value, bool) or not isinstance(value, kinds):
            return f"expected {what} {span}, got {describe(value)}"
        if (value <= minimum if exclusive_min else value < minimum) or (maximum is not None and value > maximum):
            return f"expected {what} {span}, got {value!r}"
        return None
    return check


def _secret(value: Any) -> str | None:
    """A password or secret: text, and never quoted back (messages reach logs and terminals)."""
    if value is None or (isinstance(value, str) and value.strip()):
        return None
    return f"expected text in quotes, got {type(value).__name__ if value != '' else 'empty text'} (value not shown)"


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"expected true or false, got {describe(value)}"


def _transports(value: Any) -> str | None:
    if not isinstance(value, list) or not value:
        return f"expected a list such as [udp, tcp], got {describe(value)}"
    bad = [v for v in value if v not in ("udp", "tcp")]
    return f"unknown transport(s) {bad}; use udp and/or tcp" if bad else None


def _text_list(value: Any) -> str | None:
    if not isinstance(value, list):
        return f"expected a list of numbers in quotes, got {describe(value)}"
    bad = [v for v in value if not isinstance(v, str)]
    return f"expected text entries (write numbers in quotes), got {describe(bad[0])}" if bad else None


def _sip_allow(value: Any) -> str | None:
    from .trust import network_problem

    if not isinstance(value, list):
        return f"expected a list of addresses or CIDR ranges, e.g. ['10.0.0.5', '10.1.0.0/24'], got {describe(value)}"
    return next((problem for problem in map(network_problem, value) if problem), None)


def _srtp(value: Any) -> str | None:
    if value is False or value in ("mandatory", "optional", "off"):  # YAML reads a bare off as false
        return None
    return f"expected mandatory, optional or off, got {describe(value)}"


def _sip_auth(value: Any) -> str | None:
    """Its shape; the keys under it are checked by ``_check_sip_auth``."""
    if value is None or isinstance(value, dict):
        return None
    return f"expected username: and password: under it, got {describe(value) if not isinstance(value, str) else 'text'}"


PORT = _number(0, whole=True, maximum=65535)
CHECKS: dict[str, Check] = {
    "listen_host": _text(optional=False), "listen_port": PORT, "transports": _transports,
    "tls_port": _number(1, whole=True, optional=True, maximum=65535),
    "tls_cert": _text(), "tls_key": _text(), "tls_ca": _text(),
    "transfer_uri": _text(prefixes=("sip:", "sips:", "tel:")),
    "transfer_timeout_s": _number(0, exclusive_min=True), "rtp_timeout_s": _number(0, exclusive_min=True),
    "max_call_s": _number(0, exclusive_min=True), "max_calls": _number(1, whole=True),
    "amd": _flag, "callback_number": _text(), "recordings_dir": _text(optional=False),
    "retention_days": _number(1, whole=True), "company": _text(optional=False),
    "user_agent": _text(optional=False), "caller_id_pool": _text_list,
    "source_max_calls": _number(0, whole=True), "source_calls_per_minute": _number(0, exclusive_min=True),
    "tcp_idle_timeout_s": _number(0, exclusive_min=True), "tcp_max_per_source": _number(1, whole=True),
    "rtp_latching": _flag,
    "sip_allow": _sip_allow, "srtp": _srtp, "sip_auth": _sip_auth,
    "privacy_notice_url": _text(), "privacy_notice_phone": _text(), "privacy_notice_interruptible": _flag,
    "webhook_url": _text(prefixes=("http://", "https://")), "webhook_secret": _secret,
    "encryption_key_file": _text(),
}
TRUNK_CHECKS: dict[str, Check] = {f.name: _secret if f.name == "password" else _text(optional=f.name != "realm")
                                  for f in fields(TrunkConfig)}


def check_settings(data: dict[str, Any], where: str = "") -> list[str]:
    """Every mistake in a settings mapping, one message each (empty: usable)."""
    known = [f.name for f in fields(SipConfig)]
    errors = unknown_keys(data, known, where)
    for key, check in CHECKS.items():
        if key in data:
            problem = check(data[key])
            if problem:
                errors.append(f"{where}{key}: {problem}")
    errors += _check_trunk(data.get("trunk"), where)
    errors += _check_tls(data, where)
    errors += _check_sip_auth(data.get("sip_auth"), where)
    if "calling_rules" in data:
        errors += _check_calling_rules(data["calling_rules"], where)
    return errors


def _check_trunk(trunk: Any, where: str) -> list[str]:
    if trunk is None:
        return []
    if not isinstance(trunk, dict):
        return [f"{where}trunk: expected proxy:, registrar:, … under it, got {describe(trunk)}"]
    errors = unknown_keys(trunk, TRUNK_CHECKS, f"{where}trunk.")
    for key, check in TRUNK_CHECKS.items():
        problem = check(trunk[key]) if key in trunk else None
        if problem:
            errors.append(f"{where}trunk.{key}: {problem}")
    return errors


def _check_sip_auth(auth: Any, where: str) -> list[str]:
    if not isinstance(auth, dict):
        return []
    errors = unknown_keys(auth, ("username", "password", "realm"), f"{where}sip_auth.")
    for key in ("username", "password", "realm"):
        if key in auth or key != "realm":
            value = auth.get(key)
            if not isinstance(value, str) or not value.strip():
                got = describe(value) if key != "password" else "no text"  # a secret is never quoted
                problem = "a value is required" if value is None else f"expected text, got {got}"
                errors.append(f"{where}sip_auth.{key}: {problem}")
    return errors


def _check_tls(data: dict[str, Any], where: str) -> list[str]:
    if not isinstance(data.get("tls_port"), int):
        return []
    errors = [f"{where}{key}: required when tls_port is set" for key in ("tls_cert", "tls_key") if not data.get(key)]
    for key in ("tls_cert", "tls_key", "tls_ca"):
        value = data.get(key)
        if isinstance(value, str) and value and not Path(value).is_file():
            errors.append(f"{where}{key}: no such file {value!r}")
    return errors


def _check_calling_rules(rules: Any, where: str) -> list[str]:
    from encuestador.campaign.rules import CallingRules

    if not isinstance(rules, dict):
        return [f"{where}calling_rules: expected a mapping of rule: value, got {describe(rules)}"]
    try:
        CallingRules.load(rules)
    except SettingsError as e:
        return [f"{where}calling_rules.{error}" for error in e.errors]
    return []
