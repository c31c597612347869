"""The SIP user agent: one pjsua2 endpoint, its transports and account, and the calls it carries.

Threads: pjsua2 callbacks and every pjsua2 call run on the thread that polls (``run``); media
callbacks run on pjmedia's clock thread and only move frames; each call has a worker thread that
feeds its ``CallSession`` (VAD, ASR, dialogue, TTS) and asks the polling thread, through a command
queue, to hang up or transfer.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

import numpy as np
import pjsua2 as pj

from encuestador.audio import FRAME_SAMPLES, SAMPLE_RATE
from encuestador.audio.ringbuffer import RingBuffer
from encuestador.campaign.zones import MEXICO_CITY
from encuestador.dialogue.survey import CustomerContext
from encuestador.events import Hangup, JsonLinesLog, Transfer
from encuestador.runtime import Runtime
from encuestador.session import CallSession
from encuestador.store import BaseStore, StoreSink
from encuestador.store.retention import purge_expired

from .config import SipConfig
from .headers import header, uri_user
from .media import SessionMediaPort, audio_format

log = logging.getLogger("encuestador.sip")


@dataclass
class CallState:
    """What the agent knows about one live call, beside the pjsua2 ``Call`` object."""

    call_id: str
    direction: str
    phone: str | None
    customer: CustomerContext
    started: float = field(default_factory=time.monotonic)
    session: CallSession | None = None
    port: SessionMediaPort | None = None
    worker: "CallWorker | None" = None
    sink: StoreSink | None = None
    event_log: JsonLinesLog | None = None
    last_rtp_packets: int = -1
    last_rtp_at: float = field(default_factory=time.monotonic)
    transfer_deadline: float | None = None
    outcome_override: str | None = None
    disconnected: bool = False
    sip_status: int | None = None     # final SIP status of an outbound call that was never answered
    on_finished: Callable[[str, str, dict | None], None] | None = None  # (call id, outcome, callback slots)


def outcome_for_status(status: int | None) -> str:
    """How an outbound call that never got media ended, from its final SIP status."""
    if status in (486, 600):
        return "busy"
    if status in (408, 480, 487, 603):   # no answer, unavailable, cancelled, declined
        return "no_answer"
    if status in (404, 410, 484, 604):   # the number does not exist
        return "invalid_number"
    return "failed"


class CallWorker(threading.Thread):
    """Feeds one call's session from the inbound ring buffer, keys from a queue."""

    def __init__(self, state: CallState, inbound: RingBuffer, on_action: Callable[[CallState, object], None]) -> None:
        super().__init__(name=f"call-{state.call_id}", daemon=True)
        self.state = state
        self.inbound = inbound
        self.on_action = on_action
        self.digits: "queue.Queue[str]" = queue.Queue()
        self.stop = threading.Event()

    def key(self, digit: str) -> None:
        self.digits.put(digit)

    def run(self) -> None:
        session = self.state.session
        assert session is not None
        frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        try:
            while not self.stop.is_set():
                busy = False
                while not self.digits.empty():
                    session.push_dtmf(self.digits.get_nowait())
                    busy = True
                while len(self.inbound) >= FRAME_SAMPLES and not self.stop.is_set():
                    self.inbound.read_into(frame)
                    session.push_audio(frame)  # the session also finds in-band key tones
                    busy = True
                while not session.actions.empty():
                    self.on_action(self.state, session.actions.get_nowait())
                if not busy:
                    time.sleep(0.005)
        except Exception:  # a failing call must never take the process down
            log.exception("call %s: worker failed", self.state.call_id)
            self.on_action(self.state, Hangup(session.now_ms, "error"))


class AgentCall(pj.Call):
    def __init__(self, agent: "SipAgent", account: pj.Account, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(account, call_id)
        self.agent = agent
        self.state: CallState | None = None

    def onCallState(self, prm) -> None:  # noqa: N802
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.agent._on_disconnected(self, info)

    def onCallMediaState(self, prm) -> None:  # noqa: N802
        info = self.getInfo()
        for i, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.agent._connect_media(self, self.getAudioMedia(i))

    def onDtmfDigit(self, prm) -> None:  # noqa: N802  (RFC 4733 events and SIP INFO)
        if self.state and self.state.worker:
            self.state.worker.key(prm.digit)

    def onCallTransferStatus(self, prm) -> None:  # noqa: N802
        self.agent._on_transfer_status(self, prm)


class AgentAccount(pj.Account):
    def __init__(self, agent: "SipAgent") -> None:
        super().__init__()
        self.agent = agent

    def onIncomingCall(self, prm) -> None:  # noqa: N802
        self.agent._on_incoming(self, prm)

    def onRegState(self, prm) -> None:  # noqa: N802
        info = self.getInfo()
        log.info("registration: %s %s", info.regStatus, info.regStatusText)


class SipAgent:
    def __init__(self, config: SipConfig, runtime: Runtime, store: BaseStore, on_line: Callable[[str], None] = print) -> None:
        self.config = config
        self.runtime = runtime
        self.store = store
        self.say = on_line
        self.calls: dict[str, AgentCall] = {}
        self.completed: list[str] = []
        self._commands: "queue.Queue[Callable[[], None]]" = queue.Queue()
        self._release: list[AgentCall] = []
        self._ep: pj.Endpoint | None = None
        self._account: AgentAccount | None = None
        self._last_housekeeping = 0.0
        self._last_purge = float("-inf")
        self.recordings = Path(config.recordings_dir)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        ep = pj.Endpoint()
        ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = self.config.max_calls
        cfg.uaConfig.userAgent = self.config.user_agent
        cfg.medConfig.clockRate = SAMPLE_RATE
        cfg.medConfig.sndClockRate = SAMPLE_RATE
        cfg.medConfig.channelCount = 1
        cfg.medConfig.maxMediaPorts = max(254, 4 * self.config.max_calls)
        cfg.medConfig.noVad = True
        cfg.logConfig.level = 2
        cfg.logConfig.consoleLevel = 1
        ep.libInit(cfg)
        ep.audDevManager().setNullDev()
        self._ep = ep
        transport_ids = self._create_transports(ep)
        ep.libStart()
        self._account = self._create_account(transport_ids)
        kinds = "/".join(t.upper() for t in self.config.transports)
        self.say(f"encuestador listening on {self.config.listen_host}:{self.config.listen_port} ({kinds}"
                 + (f", TLS :{self.config.tls_port}" if self.config.tls_port else "") + ")")

    def _create_transports(self, ep: pj.Endpoint) -> list[int]:
        ids = []
        kinds = {"udp": pj.PJSIP_TRANSPORT_UDP, "tcp": pj.PJSIP_TRANSPORT_TCP}
        for name in self.config.transports:
            tc = pj.TransportConfig()
            tc.port = self.config.listen_port
            tc.boundAddress = self.config.listen_host
            ids.append(ep.transportCreate(kinds[name], tc))
        if self.config.tls_port and self.config.tls_cert and self.config.tls_key:
            tc = pj.TransportConfig()
            tc.port = self.config.tls_port
            tc.boundAddress = self.config.listen_host
            tc.tlsConfig.certFile = self.config.tls_cert
            tc.tlsConfig.privKeyFile = self.config.tls_key
            if self.config.tls_ca:
                tc.tlsConfig.CaListFile = self.config.tls_ca
            ids.append(ep.transportCreate(pj.PJSIP_TRANSPORT_TLS, tc))
        return ids

    def _create_account(self, transport_ids: list[int]) -> AgentAccount:
        trunk = self.config.trunk
        acfg = pj.AccountConfig()
        user = trunk.caller_id or trunk.username or "encuestador"
        host = trunk.domain or (trunk.registrar or "").replace("sip:", "") or \
            f"{self.config.listen_host}:{self.config.listen_port}"
        acfg.idUri = f"sip:{user}@{host}"
        # RTP on the same address as SIP, so the SDP never advertises another interface.
        acfg.mediaConfig.transportConfig.boundAddress = self.config.listen_host
        if trunk.registrar:
            acfg.regConfig.registrarUri = trunk.registrar
            acfg.regConfig.registerOnAdd = True
        else:
            acfg.regConfig.registerOnAdd = False
        if trunk.username and trunk.password:
            acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", trunk.realm, trunk.username, 0, trunk.password))
        if trunk.proxy:
            acfg.sipConfig.proxies.append(trunk.proxy + ";lr" if ";lr" not in trunk.proxy else trunk.proxy)
        acc = AgentAccount(self)
        acc.create(acfg, True)
        return acc

    def run(self, stop: threading.Event, until_idle_after: float | None = None,
            tick: Callable[[], bool] | None = None) -> None:
        """Poll pjsua2 until ``stop`` is set (or, with ``until_idle_after``, until no call is left).
        ``tick`` runs on this thread every turn (a campaign dialer); returning True stops the loop."""
        assert self._ep is not None
        while not stop.is_set():
            self._ep.libHandleEvents(10)
            self._drain_commands()
            self._housekeeping()
            if tick is not None and tick():
                break
            if until_idle_after is not None and not self.calls and self.completed:
                break

    def shutdown(self) -> None:
        """Hang up every call, let pjsua2 process it, drop every reference, destroy the library."""
        if self._ep is None:
            return
        self._ep.hangupAllCalls()
        deadline = time.monotonic() + 3
        while self.calls and time.monotonic() < deadline:
            self._ep.libHandleEvents(20)
            self._drain_commands()
        for call in list(self.calls.values()):
            self._finalize(call)
        self.calls.clear()
        self._release.clear()
        self._account = None
        import gc

        gc.collect()
        self._ep.libDestroy()
        self._ep = None

    @property
    def live_calls(self) -> int:
        return len(self.calls)

    # -- commands from other threads ----------------------------------------------------------
    def post(self, command: Callable[[], None]) -> None:
        self._commands.put(command)

    def _drain_commands(self) -> None:
        self._release.clear()  # AgentCall objects released on the previous turn are dropped now
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                command()
            except pj.Error as e:
                log.warning("SIP command failed: %s", e.info() if hasattr(e, "info") else e)
            except Exception:
                log.exception("SIP command failed")

    # -- calls ---------------------------------------------------------------------------------
    def _customer(self, customer_id: str | None, phones: list[str | None]) -> tuple[CustomerContext, str | None]:
        record = None
        if customer_id:
            record = self.store.find_customer(customer_id=customer_id)
        for phone in phones:
            if record is None and phone:
                record = self.store.find_customer(phone=phone)
        phone = (record or {}).get("phone") or next((p for p in phones if p), None)
        hour = datetime.now(MEXICO_CITY).hour
        if record is None:
            return CustomerContext(company=self.config.company, customer_id=customer_id, phone=phone, local_hour=hour), phone
        return CustomerContext(company=self.config.company, name=record.get("name"), customer_id=record["customer_id"],
                               phone=phone, topic=record.get("topic"), local_hour=hour), phone

    def _on_incoming(self, account: AgentAccount, prm) -> None:
        call = AgentCall(self, account, prm.callId)
        message = prm.rdata.wholeMsg
        customer, phone = self._customer(header(message, "X-Customer-Id"),
                                         [uri_user(header(message, "From")), uri_user(header(message, "To"))])
        op = pj.CallOpParam()
        if len(self.calls) >= self.config.max_calls:
            op.statusCode = 486  # Busy Here
            call.hangup(op)
            return
        self._register(call, "inbound", phone, customer)
        op.statusCode = 200
        call.answer(op)

    def place_call(self, number: str, customer_id: str | None, caller_id: str | None = None,
                   on_finished: Callable[[str, str, dict | None], None] | None = None) -> AgentCall:
        """Outbound INVITE through the trunk to ``number`` (runs on the polling thread); ``caller_id``
        replaces the trunk's in the From header; ``on_finished`` hears how the call ended."""
        assert self._account is not None
        customer, phone = self._customer(customer_id, [number])
        trunk = self.config.trunk
        domain = trunk.domain or (trunk.proxy or "").replace("sip:", "").split(";")[0]
        uri = number if number.startswith("sip:") else f"sip:{number}@{domain}"
        call = AgentCall(self, self._account)
        self._register(call, "outbound", phone or number, customer)
        assert call.state is not None
        call.state.on_finished = on_finished
        op = pj.CallOpParam(True)
        if caller_id:
            op.txOption.localUri = f"sip:{caller_id}@{domain}"
        if customer.customer_id:
            h = pj.SipHeader()
            h.hName, h.hValue = "X-Customer-Id", customer.customer_id
            op.txOption.headers.append(h)
        call.makeCall(uri, op)
        return call

    def _register(self, call: AgentCall, direction: str, phone: str | None, customer: CustomerContext) -> None:
        state = CallState(uuid.uuid4().hex[:12], direction, phone, customer)
        call.state = state
        self.calls[state.call_id] = call
        self.store.start_call(state.call_id, customer.customer_id, phone, direction)
        self.say(f"call {state.call_id} {direction} {phone or '?'} customer={customer.customer_id or '-'} "
                 f"live calls: {len(self.calls)}")

    def _connect_media(self, call: AgentCall, media: pj.AudioMedia) -> None:
        state = call.state
        if state is None or state.port is not None:
            return
        state.sink = StoreSink(self.store, state.call_id, state.phone)
        state.event_log = JsonLinesLog(self._call_dir() / f"{state.call_id}.jsonl")
        session = self.runtime.new_session(state.customer, [state.sink, state.event_log],
                                           amd=state.direction == "outbound" and self.config.amd)
        session.config = _with_max_call(session.config, self.config.max_call_s)
        inbound = RingBuffer(SAMPLE_RATE * 10)
        port = SessionMediaPort(session.pull_audio, inbound)
        port.createPort(f"session-{state.call_id}", audio_format())
        media.startTransmit(port)
        port.startTransmit(media)
        state.session, state.port = session, port
        state.worker = CallWorker(state, inbound, self._on_session_action)
        session.start()
        state.worker.start()

    def _on_session_action(self, state: CallState, action: object) -> None:
        """Called on a call's worker thread; the SIP work itself is posted to the polling thread."""
        call = self.calls.get(state.call_id)
        if call is None:
            return
        if isinstance(action, Transfer):
            self.post(lambda: self._transfer(call))
        elif isinstance(action, Hangup):
            self.post(lambda: self._hangup(call))

    def _hangup(self, call: AgentCall) -> None:
        if call.state and not call.state.disconnected:
            call.hangup(pj.CallOpParam(True))

    def _transfer(self, call: AgentCall) -> None:
        state = call.state
        if state is None or state.disconnected:
            return
        if not self.config.transfer_uri:
            self._transfer_failed(call, "no transfer_uri configured")
            return
        state.transfer_deadline = time.monotonic() + self.config.transfer_timeout_s
        try:
            call.xfer(self.config.transfer_uri, pj.CallOpParam(True))
        except pj.Error as e:
            self._transfer_failed(call, f"REFER failed: {e.info() if hasattr(e, 'info') else e}")

    def _on_transfer_status(self, call: AgentCall, prm) -> None:
        state = call.state
        if state is None or state.transfer_deadline is None:
            return
        if prm.statusCode >= 300:
            self._transfer_failed(call, f"REFER answered {prm.statusCode} {prm.reason}")
        elif 200 <= prm.statusCode < 300 and prm.finalNotify:
            state.transfer_deadline = None
            self.say(f"call {state.call_id} transferred to {self.config.transfer_uri}")
            prm.cont = False
            self.post(lambda: self._hangup(call))

    def _transfer_failed(self, call: AgentCall, why: str) -> None:
        state = call.state
        if state is None or state.session is None:
            return
        state.transfer_deadline = None
        self.say(f"call {state.call_id} transfer failed: {why}")
        if state.sink is not None:
            self.store.mark_transferred(state.call_id, False)
        state.session.transfer_failed()

    def _on_disconnected(self, call: AgentCall, info) -> None:
        state = call.state
        if state is None or state.disconnected:
            return
        state.disconnected = True
        state.sip_status = getattr(info, "lastStatusCode", None)
        if state.worker is not None:
            state.worker.stop.set()
        self._finalize(call)

    def _finalize(self, call: AgentCall) -> None:
        """Close the session (answers are already stored), write the recording, release the call."""
        state = call.state
        if state is None:
            return
        session = state.session
        outcome = "no_media" if state.direction == "inbound" else outcome_for_status(state.sip_status)
        callback_slots = None
        recording = None
        if session is not None:
            if state.worker is not None:
                state.worker.stop.set()
                state.worker.join(timeout=5)
            session.hangup_by_caller()
            outcome = state.outcome_override or session.dialogue.result.outcome or "hung_up"
            callback_slots = session.dialogue.result.callback
            try:
                recording = self._write_recording(state, session)
            except OSError as e:
                log.error("call %s: recording not written: %s", state.call_id, e)
        duration = int((time.monotonic() - state.started) * 1000)
        self.store.finish_call(state.call_id, outcome, duration, str(recording) if recording else None)
        if state.event_log is not None:
            state.event_log.close()
        if state.port is not None:
            state.port = None  # unregisters from the conference bridge
        state.session = None
        self.calls.pop(state.call_id, None)
        self._release.append(call)  # dropped on the next polling turn, not inside its own callback
        self.completed.append(state.call_id)
        self.say(f"call {state.call_id} ended: {outcome}, {duration / 1000:.1f} s; live calls: {len(self.calls)}")
        if state.on_finished is not None:
            try:
                state.on_finished(state.call_id, outcome, callback_slots)
            except Exception:  # the campaign's bookkeeping must not take the SIP agent down
                log.exception("call %s: on_finished failed", state.call_id)

    def _call_dir(self) -> Path:
        return self.recordings / datetime.now(MEXICO_CITY).strftime("%Y-%m-%d")

    def _write_recording(self, state: CallState, session: CallSession) -> Path:
        return session.write_recording(self._call_dir() / f"{state.call_id}.wav").resolve()

    # -- housekeeping --------------------------------------------------------------------------
    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_housekeeping < 1.0:
            return
        self._last_housekeeping = now
        if now - self._last_purge >= 3600:
            self._last_purge = now
            purged = purge_recordings(self.store, self.recordings, self.config.retention_days)
            if purged:
                self.say(f"purged {len(purged)} recording(s) older than {self.config.retention_days} days")
        for call in list(self.calls.values()):
            state = call.state
            if state is None or state.disconnected:
                continue
            if state.transfer_deadline is not None and now > state.transfer_deadline:
                self._transfer_failed(call, "no answer to REFER")
            packets = self._rtp_packets(call)
            if packets is not None and packets != state.last_rtp_packets:
                state.last_rtp_packets, state.last_rtp_at = packets, now
            elif state.port is not None and now - state.last_rtp_at > self.config.rtp_timeout_s:
                state.outcome_override = "rtp_timeout"
                self.say(f"call {state.call_id}: no RTP for {self.config.rtp_timeout_s:.0f} s, hanging up")
                self._hangup(call)
            elif now - state.started > self.config.max_call_s + 30:
                state.outcome_override = "max_duration"
                self._hangup(call)

    @staticmethod
    def _rtp_packets(call: AgentCall) -> int | None:
        if call.state is None or call.state.port is None or not call.hasMedia():
            return None
        try:
            return int(call.getStreamStat(0).rtcp.rxStat.pkt)
        except pj.Error:
            return None


def _with_max_call(config, max_call_s: float):
    from dataclasses import replace

    return replace(config, max_call_ms=int(max_call_s * 1000))


def purge_recordings(store: BaseStore, directory: Path, retention_days: int) -> list[str]:
    """Recordings and transcripts past the retention period (see ``store.retention``); audited."""
    report = purge_expired(store, retention_days, recordings_dir=directory)
    return report.recordings