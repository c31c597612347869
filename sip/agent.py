"""The SIP user agent: one pjsua2 endpoint, its transports and account, and the calls it carries.

Threads: pjsua2 callbacks and every pjsua2 call run on the thread that polls (``run``); media
callbacks run on pjmedia's clock thread and only move frames; each call has a worker thread that
feeds its ``CallSession`` (VAD, ASR, dialogue, TTS) and asks the polling thread, through a command
queue, to hang up or transfer.

An inbound call rings (180) while the voice synthesises the sentences that name its customer, and is
answered (200) when the greeting's first sentence is ready (at most ``GREETING_WAIT_S`` later), so
its first audio is not held up by synthesis; an outbound call prepares them while the callee's phone
rings. pjsip's own log lines go, escaped, to Python logging (``pjsip_log``).

The edge against hostile peers: malformed INVITEs get 400 (``headers.request_problem``); per-source
limits on live, unacknowledged and new calls (``admission``), with floods dropped in the kernel
(``flood_filter``); unacknowledged answers released by short pjsip transaction timers
(``pjsip_tuning``); no RTP before the ACK (the stream is held: ``pjsip_tuning.hold_sending``), and
the session and its audio start only then; RTP sockets on random ports,
pinned to the negotiated peer (``rtp_pin``); idle or surplus TCP connections closed (``tcp_guard``);
every pjsua2 callback and the housekeeping contain their exceptions. Who may call in, and whose word
about the caller's identity counts, is ``trust`` (``sip_allow``, digest ``sip_auth``: 401/403).
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

import numpy as np
import pjsua2 as pj

from encuestador.audio import FRAME_SAMPLES, SAMPLE_RATE
from encuestador.audio.ringbuffer import RingBuffer
from encuestador.cli_logging import escape_controls
from encuestador.campaign.zones import MEXICO_CITY
from encuestador.dialogue.survey import CustomerContext, PrivacyNotice, SurveyDialogue
from encuestador.events import Hangup, Transfer
from encuestador.privacy.files import EventLog, write_recording
from encuestador.runtime import Runtime
from encuestador.session import CallSession
from encuestador.speak.sentences import split_sentences
from encuestador.store import BaseStore, StoreSink
from encuestador.store.retention import purge_expired

from . import flood_filter, pjsip_log, rtp_pin, tcp_guard
from .admission import Admission, SourceLimits
from .config import SipConfig
from .headers import header, request_problem, source_host, uri_user
from .media import SessionMediaPort, audio_format
from .pjsip_tuning import call_slots, hold_sending, resume_sending, set_transaction_timeout, silence_until_init
from .trust import InboundPolicy, InboundVerdict

log = logging.getLogger("encuestador.sip")

FRONT_ENV = "ENCUESTADOR_SIP_FRONT"  # set by ``serve --workers``: the Kamailio front's address
FLOOD_BLOCK_S = 10.0  # how long INVITEs from an address over its rate are dropped in the kernel
OVERLOAD_BLOCK_S = 1.0  # how long every INVITE is dropped when all sources together exceed the rate
# An inbound call rings (180) while its personal greeting is synthesised and is answered (200) when
# the greeting's first sentence is ready, or after this long whatever the voice is doing (a stuck or
# backed-up voice). Kokoro took 2.0–2.6 s for a greeting on this shared 2-core machine (bench.voice
# --inbound), 4.4 s in a busier run: ringing is what a caller expects, silence after the answer is not.
GREETING_WAIT_S = 5.0
SRTP_USE = {"mandatory": pj.PJMEDIA_SRTP_MANDATORY, "optional": pj.PJMEDIA_SRTP_OPTIONAL,
            "off": pj.PJMEDIA_SRTP_DISABLED, False: pj.PJMEDIA_SRTP_DISABLED}  # YAML reads a bare off as false


def contained(method: Callable) -> Callable:
    """A pjsua2 callback whose exception is logged instead of unwinding into pjsua2 (which would
    abort the process); the call it concerns is ended cleanly."""

    @functools.wraps(method)
    def wrapper(self, *args):
        try:
            return method(self, *args)
        except Exception:
            log.exception("%s.%s failed", type(self).__name__, method.__name__)
            agent = getattr(self, "agent", None)
            if isinstance(self, pj.Call) and agent is not None:
                agent.post(lambda: agent._hangup(self))
    return wrapper


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
    event_log: EventLog | None = None
    last_rtp_packets: int = -1
    last_rtp_at: float = field(default_factory=time.monotonic)
    transfer_deadline: float | None = None
    outcome_override: str | None = None
    disconnected: bool = False
    sip_status: int | None = None     # final SIP status of a call that was never answered
    source: str | None = None         # the address an inbound call came from (per-source limits)
    admission_key: str | None = None  # its reservation in the per-source limits
    signalling_peer: tuple[str, int] | None = None  # the TCP/TLS connection that brought it
    confirmed: bool = False           # ACK received (inbound) or sent (outbound): media may flow
    media_index: int | None = None    # the call's audio stream, once negotiated
    pins: list = field(default_factory=list)  # RTP/RTCP sockets pinned to the negotiated peer
    greeting: list[Future] = field(default_factory=list)  # its personal sentences being synthesised
    answer_by: float | None = None    # an inbound call ringing: answered by then (monotonic) at the latest
    answered: bool = False            # 200 OK sent (inbound)
    finalized: bool = False
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


def inbound_outcome(status: int | None) -> str:
    """How an inbound call that never got media ended: the caller hung up while it rang (CANCEL,
    487: an abandoned call, which a supervisor counts) or it never got its audio going."""
    return "abandoned" if status == 487 else "no_media"


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
        self.held_streams: dict[int, int] = {}  # stream index → pjmedia_stream* sending nothing until the ACK

    @contained
    def onCallState(self, prm) -> None:  # noqa: N802
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.agent._on_disconnected(self, info)
        elif info.state == pj.PJSIP_INV_STATE_CONFIRMED:
            self._release_streams()
            self.agent._on_confirmed(self)

    @contained
    def onStreamCreated(self, prm) -> None:  # noqa: N802
        """A stream created before the ACK (with our 200, or a 183/200 we received) sends nothing yet:
        pjmedia would stream silence to whatever address the SDP named, ACK or not. (One the SDP made
        receive-only pjmedia already keeps quiet; resuming it at the ACK would wrongly start it.)"""
        if self.state is not None and self.state.confirmed:
            return
        if self.getStreamInfo(prm.streamIdx).dir & pj.PJMEDIA_DIR_ENCODING:
            stream = int(prm.stream)
            hold_sending(stream)
            self.held_streams[prm.streamIdx] = stream

    @contained
    def onStreamDestroyed(self, prm) -> None:  # noqa: N802
        self.held_streams.pop(prm.streamIdx, None)

    def _release_streams(self) -> None:
        while self.held_streams:
            resume_sending(self.held_streams.popitem()[1])

    @contained
    def onCallMediaState(self, prm) -> None:  # noqa: N802
        info = self.getInfo()
        for i, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.agent._on_media_ready(self, i)

    @contained
    def onDtmfDigit(self, prm) -> None:  # noqa: N802  (RFC 4733 events and SIP INFO)
        if self.state and self.state.worker:
            self.state.worker.key(prm.digit)

    @contained
    def onCallTransferStatus(self, prm) -> None:  # noqa: N802
        self.agent._on_transfer_status(self, prm)


class AgentAccount(pj.Account):
    def __init__(self, agent: "SipAgent") -> None:
        super().__init__()
        self.agent = agent

    @contained
    def onIncomingCall(self, prm) -> None:  # noqa: N802
        self.agent._on_incoming(self, prm)

    @contained
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
        self._workers: list[CallWorker] = []   # started call workers, pruned as they finish
        self._ringing: dict[str, AgentCall] = {}  # inbound calls waiting for their greeting (180 sent)
        self._ep: pj.Endpoint | None = None
        self._log_writer: pjsip_log.PjsipLogWriter | None = None  # owned by the endpoint (libDestroy frees it)
        self._account: AgentAccount | None = None
        self._last_housekeeping = 0.0
        self._last_tcp_check = 0.0
        self._last_purge = float("-inf")
        self.recordings = Path(config.recordings_dir)
        self.capacity = config.max_calls          # lowered to the build's call slots at start
        self.admission: Admission | None = None
        self.tcp_limits = tcp_guard.TcpLimits(idle_s=config.tcp_idle_timeout_s,
                                              per_source=config.tcp_max_per_source)
        front = rtp_pin.split_address(os.environ.get(FRONT_ENV, ""))
        self._front_host = front[0] if front else None
        self._blocked: dict[str, float] = {}   # address → until (monotonic), INVITEs dropped by the kernel
        self._all_blocked_until = 0.0          # every INVITE dropped until then (an overload)
        self._sip_udp_fd: int | None = None
        self.inbound = InboundPolicy.from_config(config)   # sip_allow / sip_auth: who may call, who is believed
        self.privacy = PrivacyNotice(config.privacy_notice_url, config.privacy_notice_phone,
                                     config.privacy_notice_interruptible)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        silence_until_init()
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
        self._log_writer = pjsip_log.install(cfg)  # pjsip's own lines, escaped, into our log
        ep.libInit(cfg)
        set_transaction_timeout()
        self.capacity = min(self.config.max_calls, call_slots())
        # Behind our Kamailio front the front spreads the calls and pike limits each source's rate:
        # a source may fill this worker. Alone, one source leaves a slot for the others.
        spare = 0 if self._front_host else 1
        self.admission = Admission(SourceLimits(
            max_calls=self.config.source_max_calls or max(1, self.capacity - spare),
            per_minute=self.config.source_calls_per_minute))
        ep.audDevManager().setNullDev()
        self._ep = ep
        transport_ids = self._create_transports(ep)
        ep.libStart()
        if "udp" in self.config.transports:
            self._sip_udp_fd = flood_filter.udp_socket_fd(self.config.listen_host, self.config.listen_port)
            if self._sip_udp_fd is not None:
                flood_filter.limit_backlog(self._sip_udp_fd)
        self._account = self._create_account(transport_ids)
        kinds = "/".join(t.upper() for t in self.config.transports)
        self.say(f"encuestador listening on {self.config.listen_host}:{self.config.listen_port} ({kinds}"
                 + (f", TLS :{self.config.tls_port}" if self.config.tls_port else "")
                 + f"; {self.capacity} call slots" + (f" of {self.config.max_calls} asked: this pjsua2 build's limit"
                                                       if self.capacity < self.config.max_calls else "") + ")")
        self.say(self.inbound.describe())
        self._say_privacy_setup()

    def _say_privacy_setup(self) -> None:
        """Start-up lines on SRTP and the privacy notice; the notice is rendered now, not in the first call."""
        srtp = self.config.srtp or "off"
        if srtp != "off":
            clear = "" if self.config.tls_port else " (warning: no tls_port: SRTP keys cross the network in clear SDP)"
            self.say(f"SRTP {srtp} on the calls' audio{clear}")
        if not self.privacy.configured:
            self.say("note: no privacy_notice_url or privacy_notice_phone: calls say no privacy notice")
            return
        customer = CustomerContext(self.config.company, privacy=self.privacy)
        text = SurveyDialogue(self.runtime.script, customer).privacy_notice()
        if text:
            self.runtime.prompts.prerender(split_sentences(text))

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
        # RTP on the same address as SIP, so the SDP never advertises another interface; on a port the
        # kernel picks at random for every call (not 4000, 4002, …: unpredictable, and a restart does
        # not hand a killed call's port, with its old peer's packets, to a new call).
        acfg.mediaConfig.transportConfig.boundAddress = self.config.listen_host
        acfg.mediaConfig.transportConfig.port = 0
        if trunk.registrar:
            acfg.regConfig.registrarUri = trunk.registrar
            acfg.regConfig.registerOnAdd = True
        else:
            acfg.regConfig.registerOnAdd = False
        if trunk.username and trunk.password:
            acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", trunk.realm, trunk.username, 0, trunk.password))
        if trunk.proxy:
            acfg.sipConfig.proxies.append(trunk.proxy + ";lr" if ";lr" not in trunk.proxy else trunk.proxy)
        acfg.mediaConfig.srtpUse = SRTP_USE[self.config.srtp or "off"]
        acfg.mediaConfig.srtpSecureSignaling = 0  # SDES keys are offered on TLS and, when asked for, on UDP/TCP too
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
            try:
                if self._ringing:
                    self._answer_overdue(time.monotonic())
                self._housekeeping()
            except Exception:  # housekeeping must never take the process (and its live calls) down
                log.exception("housekeeping failed")
            if tick is not None and tick():
                break
            if until_idle_after is not None and not self.calls and self.completed:
                break

    def shutdown(self) -> None:
        """Hang up every call, let pjsua2 process it, drop every reference, destroy the library."""
        if self._ep is None:
            return
        self._ep.hangupAllCalls()
        deadline = time.monotonic() + 5
        while self.calls and time.monotonic() < deadline:
            self._ep.libHandleEvents(20)
            self._drain_commands()
        for call in list(self.calls.values()):
            try:
                self._finalize(call)
            except Exception:
                log.exception("call %s: not finalised at shutdown", call.state.call_id if call.state else "?")
        self.calls.clear()
        self._ringing.clear()
        self._release.clear()
        # A call's worker may still be inside ASR under load: native code running on a daemon thread
        # while the interpreter exits can crash the process, so wait for them (bounded).
        deadline = time.monotonic() + 20
        for worker in self._workers:
            worker.join(timeout=max(0.0, deadline - time.monotonic()))
        if any(w.is_alive() for w in self._workers):
            log.warning("%d call worker(s) still busy at shutdown", sum(w.is_alive() for w in self._workers))
        while not self._commands.empty():  # commands still queued hold Call objects: drop them unrun
            self._commands.get_nowait()
        self._account = None
        import gc

        gc.collect()
        # Every media port must be gone before libDestroy, which deletes the C++ side of any port still
        # registered; a Python proxy outliving it would free it a second time (SIGSEGV at exit).
        self._ep.libDestroy()
        self._ep = None
        self._log_writer = None

    @property
    def live_calls(self) -> int:
        return len(self.calls)

    @property
    def ringing_calls(self) -> int:
        """Inbound calls still ringing while their greeting is made (180 sent, not yet answered)."""
        return len(self._ringing)

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
            return CustomerContext(company=self.config.company, customer_id=customer_id, phone=phone, local_hour=hour,
                                   privacy=self.privacy), phone
        return CustomerContext(company=self.config.company, name=record.get("name"), customer_id=record["customer_id"],
                               phone=phone, topic=record.get("topic"), local_hour=hour, privacy=self.privacy), phone

    def _anonymous(self) -> CustomerContext:
        """An untrusted caller: greeted generically, stored under no customer and no phone."""
        return CustomerContext(company=self.config.company, local_hour=datetime.now(MEXICO_CITY).hour,
                               privacy=self.privacy)

    def _on_incoming(self, account: AgentAccount, prm) -> None:
        call = AgentCall(self, account, prm.callId)
        try:
            self._answer_or_refuse(call, prm.rdata)
        except Exception:
            log.exception("incoming call failed")
            if call.state is not None:
                self._finalize(call)
            self._refuse(call, 500, "Server Internal Error")

    def _answer_or_refuse(self, call: AgentCall, rdata) -> None:
        message = rdata.wholeMsg
        problem = request_problem(message)
        if problem:
            self.say(f"refused INVITE from {_printable(rdata.srcAddress)}: 400 {_printable(problem)}")
            self._refuse(call, 400, "Bad Request")
            return
        if len(self.calls) >= self.capacity:
            self._refuse(call, 486, "Busy Here")
            return
        source = self._source_of(rdata.srcAddress, message)
        call_key = f"{call.getId()}-{time.monotonic_ns()}"
        assert self.admission is not None
        refusal = self.admission.refusal(source, call_key)
        if refusal:
            self.say(f"refused INVITE: 503 {_printable(refusal)}")
            self._refuse(call, 503, "Service Unavailable")
            if self._front_host is None:  # behind the front, pike drops floods; the front is never blocked
                if self.admission.overloaded:
                    self._block_all()
                elif self.admission.flooding(source):
                    self._block(source)
            return
        verdict = self.inbound.check(source, message)
        if verdict.status:
            self.admission.released(call_key)
            self._refuse_untrusted(call, source, verdict)
            return
        claimed_id, claimed_from = header(message, "X-Customer-Id"), uri_user(header(message, "From"))
        if verdict.trusted:
            customer, phone = self._customer(claimed_id, [claimed_from, uri_user(header(message, "To"))])
        else:
            customer, phone = self._anonymous(), None
            self.say(f"INVITE from {_printable(source)} ({verdict.why}): anonymous call; its claims X-Customer-Id="
                     f"{_printable(claimed_id or '-')} From={_printable(claimed_from or '-')} not believed")
        try:
            self._register(call, "inbound", phone, customer)
        except Exception:
            self.admission.released(call_key)
            raise
        assert call.state is not None
        call.state.source, call.state.admission_key = source, call_key
        call.state.signalling_peer = rtp_pin.split_address(rdata.srcAddress)  # its TCP connection, if any
        self._ring_until_greeting_ready(call)

    def _ring_until_greeting_ready(self, call: AgentCall) -> None:
        """200 OK at once when the greeting is ready (or names nobody); else 180 Ringing now and 200
        once its first sentence is synthesised (its future's callback posts the answer to this
        thread) or at ``answer_by`` (``_answer_overdue``). No 180 right before a 200: behind the
        Kamailio front the two may be relayed by different processes and arrive in reverse order."""
        state = call.state
        assert state is not None
        first = state.greeting[0] if state.greeting else None
        if first is None or first.done():
            self._answer(call)
            return
        op = pj.CallOpParam()
        op.statusCode = 180
        call.answer(op)
        state.answer_by = time.monotonic() + GREETING_WAIT_S
        self._ringing[state.call_id] = call
        call_id = state.call_id  # not the call: a finished future must not keep a released call alive
        first.add_done_callback(lambda _: self.post(lambda: self._answer_ringing(call_id)))

    def _answer_ringing(self, call_id: str) -> None:
        call = self._ringing.get(call_id)
        if call is not None:
            self._answer(call)

    def _answer_overdue(self, now: float) -> None:
        for call in [c for c in self._ringing.values() if c.state and c.state.answer_by is not None]:
            if now >= call.state.answer_by:
                log.info("call %s: answered before its greeting was ready (%.0f s)", call.state.call_id,
                         GREETING_WAIT_S)
                self._answer(call)

    def _answer(self, call: AgentCall) -> None:
        """200 OK to a ringing inbound call, once, and never to one already gone (CANCEL, BYE)."""
        state = call.state
        if state is None:
            return
        self._ringing.pop(state.call_id, None)
        if state.disconnected or state.answered:
            return
        state.answer_by, state.answered = None, True
        op = pj.CallOpParam()
        op.statusCode = 200
        try:
            call.answer(op)
        except pj.Error as e:  # the caller gave up between our last look and now: pjsua ends the call
            log.info("call %s: not answered: %s", state.call_id, e.info() if hasattr(e, "info") else e)

    def _refuse_untrusted(self, call: AgentCall, source: str, verdict: InboundVerdict) -> None:
        """401 with a challenge (not logged: every authenticated call starts so), or 403 (logged)."""
        if verdict.status == 401:
            log.debug("INVITE from %s challenged: %s", source, verdict.why)
            # Sent after the callback returns: pjsua defers a hang-up made inside onIncomingCall and
            # drops its extra headers then.
            self.post(lambda: self._refuse(call, 401, "Unauthorized", {"WWW-Authenticate": verdict.challenge or ""}))
            return
        self.say(f"refused INVITE from {_printable(source)}: 403 {_printable(verdict.why)}")
        self._refuse(call, 403, "Forbidden")

    @staticmethod
    def _refuse(call: AgentCall, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        op = pj.CallOpParam()
        op.statusCode, op.reason = status, reason
        for name, value in (headers or {}).items():
            h = pj.SipHeader()
            h.hName, h.hValue = name, value
            op.txOption.headers.append(h)
        try:
            call.hangup(op)
        except pj.Error as e:
            log.warning("refusing a call failed: %s", e.info() if hasattr(e, "info") else e)

    def _block(self, host: str) -> None:
        """Drop INVITEs from ``host`` in the kernel for ``FLOOD_BLOCK_S`` (UDP, IPv4)."""
        if self._sip_udp_fd is None or host in self._blocked or ":" in host:
            return
        self._blocked[host] = time.monotonic() + FLOOD_BLOCK_S
        self._apply_blocks()
        self.say(f"INVITEs from {host} dropped for {FLOOD_BLOCK_S:.0f} s: over its rate of new calls")

    def _block_all(self) -> None:
        if self._sip_udp_fd is None or self._all_blocked_until > time.monotonic():
            return
        self._all_blocked_until = time.monotonic() + OVERLOAD_BLOCK_S
        self._apply_blocks()
        self.say(f"every INVITE dropped for {OVERLOAD_BLOCK_S:.0f} s: more new calls than the endpoint can take")

    def _apply_blocks(self) -> None:
        assert self._sip_udp_fd is not None
        try:
            flood_filter.attach(self._sip_udp_fd, sorted(self._blocked)[:flood_filter.MAX_BLOCKED],
                                every_invite=self._all_blocked_until > time.monotonic())
        except OSError as e:
            log.warning("flood filter not applied: %s", e)

    def _unblock_expired(self, now: float) -> None:
        expired = [host for host, until in self._blocked.items() if until <= now]
        for host in expired:
            del self._blocked[host]
        all_expired = 0 < self._all_blocked_until <= now
        if all_expired:
            self._all_blocked_until = 0.0
        if (expired or all_expired) and self._sip_udp_fd is not None:
            self._apply_blocks()

    def _source_of(self, src_address: str, message: str) -> str:
        """The address a new call counts against and is trusted for: the packet's source, or behind
        our own Kamailio front the caller's address as the front stamped it (never the caller's Via,
        whose «received=» he may have written himself)."""
        host = source_host(src_address)
        if self._front_host is not None and host == self._front_host:
            return (header(message, "X-Encuestador-Source") or host).strip()
        return host

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
        state.greeting = self.runtime.prepare_greeting(customer)  # made while the phone rings
        call.state = state
        self.calls[state.call_id] = call
        self.store.start_call(state.call_id, customer.customer_id, phone, direction)
        self.say(f"call {state.call_id} {direction} {_printable(phone or '?')} "
                 f"customer={_printable(customer.customer_id or '-')} live calls: {len(self.calls)}")

    def _on_media_ready(self, call: AgentCall, index: int) -> None:
        """SDP negotiated: pin the RTP sockets now (before any packet can latch the stream to another
        source); the session and its audio wait for the ACK."""
        state = call.state
        if state is None or state.disconnected:
            return
        state.media_index = index
        if not self.config.rtp_latching:
            self._pin_rtp(call, index)
        if state.confirmed:
            self._connect_media(call, call.getAudioMedia(index))

    def _on_confirmed(self, call: AgentCall) -> None:
        state = call.state
        if state is None or state.disconnected or state.confirmed:
            return
        state.confirmed = True
        if self.admission is not None and state.admission_key:
            self.admission.confirmed(state.admission_key)
        if state.media_index is not None:
            self._connect_media(call, call.getAudioMedia(state.media_index))

    def _pin_rtp(self, call: AgentCall, index: int) -> None:
        state = call.state
        assert state is not None
        try:
            stream = call.getStreamInfo(index)
            transport = call.getMedTransportInfo(index)
        except pj.Error as e:
            log.warning("call %s: no stream info to pin RTP: %s", state.call_id, e.info() if hasattr(e, "info") else e)
            return
        pairs = [(rtp_pin.split_address(transport.localRtpName), rtp_pin.split_address(stream.remoteRtpAddress)),
                 (rtp_pin.split_address(transport.localRtcpName), rtp_pin.split_address(stream.remoteRtcpAddress))]
        wanted = [rtp_pin.Pin(local, remote) for local, remote in pairs if local and remote]
        state.pins = rtp_pin.pin(wanted)
        if len(state.pins) < len(wanted):
            log.warning("call %s: RTP pinned on %d of %d sockets", state.call_id, len(state.pins), len(wanted))

    def _connect_media(self, call: AgentCall, media: pj.AudioMedia) -> None:
        state = call.state
        if state is None or state.port is not None or state.disconnected:
            return
        state.sink = StoreSink(self.store, state.call_id, state.phone)
        state.event_log = EventLog(self._call_dir() / f"{state.call_id}.jsonl", self.store.keyring)
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
        self._workers = [w for w in self._workers if w.is_alive()] + [state.worker]
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
        if call.getId() == pj.PJSUA_INVALID_ID:  # no pjsua call behind it (pjsua would abort on an assertion)
            return
        if call.state and not call.state.disconnected:
            try:
                call.hangup(pj.CallOpParam(True))
            except pj.Error as e:  # e.g. PJSIP_ESESSIONTERMINATED: the call is already ending
                log.info("call %s: hangup: %s", call.state.call_id, e.info() if hasattr(e, "info") else e)

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
        """Close the session (answers are already stored), write the recording, release the call.
        Whatever fails on the way is logged; the call's slot and pjsua2 objects are released anyway."""
        state = call.state
        if state is None or state.finalized:
            return
        state.finalized = True
        try:
            outcome, duration, callback_slots = self._close_session(state)
        finally:
            self._release_call(call, state)
        self.completed.append(state.call_id)
        self.say(f"call {state.call_id} ended: {outcome}, {duration / 1000:.1f} s; live calls: {len(self.calls)}")
        if state.on_finished is not None:
            try:
                state.on_finished(state.call_id, outcome, callback_slots)
            except Exception:  # the campaign's bookkeeping must not take the SIP agent down
                log.exception("call %s: on_finished failed", state.call_id)

    def _close_session(self, state: CallState) -> tuple[str, int, dict | None]:
        """The call's outcome, duration (ms) and callback slots, stored with its recording."""
        session = state.session
        outcome = inbound_outcome(state.sip_status) if state.direction == "inbound" else outcome_for_status(state.sip_status)
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
                # not when the caller asked not to be recorded (the session dropped what it had)
                recording = self._write_recording(state, session) if session.record else None
            except OSError as e:
                log.error("call %s: recording not written: %s", state.call_id, e)
        try:
            duration = int((time.monotonic() - state.started) * 1000)
        except TypeError:
            duration = 0
        self.store.finish_call(state.call_id, outcome, duration, str(recording) if recording else None)
        return outcome, duration, callback_slots

    def _release_call(self, call: AgentCall, state: CallState) -> None:
        if state.event_log is not None:
            state.event_log.close()
        state.port = None  # unregisters from the conference bridge
        state.session = None
        if self.admission is not None and state.admission_key:
            self.admission.released(state.admission_key)
        self.calls.pop(state.call_id, None)
        self._ringing.pop(state.call_id, None)
        self._release.append(call)  # dropped on the next polling turn, not inside its own callback

    def _call_dir(self) -> Path:
        return self.recordings / datetime.now(MEXICO_CITY).strftime("%Y-%m-%d")

    def _write_recording(self, state: CallState, session: CallSession) -> Path:
        return write_recording(self._call_dir() / f"{state.call_id}.wav", session.conversation(), SAMPLE_RATE,
                               self.store.keyring).resolve()   # encrypted when a key is configured

    # -- housekeeping --------------------------------------------------------------------------
    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_tcp_check >= 0.5:
            self._last_tcp_check = now
            self._unblock_expired(now)
            self._close_idle_connections()
        if now - self._last_housekeeping < 1.0:
            return
        self._last_housekeeping = now
        if now - self._last_purge >= 3600:
            self._last_purge = now
            try:
                purged = purge_recordings(self.store, self.recordings, self.config.retention_days)
            except Exception:
                log.exception("purging old recordings failed; retried in an hour")
                purged = []
            if purged:
                self.say(f"purged {len(purged)} recording(s) older than {self.config.retention_days} days")
        for call in list(self.calls.values()):
            try:
                self._check_call(call, now)
            except Exception:  # one call's trouble never ends the loop or the other calls
                log.exception("call %s: housekeeping failed", call.state.call_id if call.state else "?")
                self._hangup(call)

    def _close_idle_connections(self) -> None:
        ports = {self.config.listen_port} if "tcp" in self.config.transports else set()
        if self.config.tls_port:
            ports.add(self.config.tls_port)
        if not ports:
            return
        busy = {c.state.signalling_peer for c in self.calls.values() if c.state and c.state.signalling_peer}
        for connection, why in tcp_guard.to_close(tcp_guard.accepted_connections(ports), busy, self.tcp_limits):
            if tcp_guard.shut_down(connection):
                log.info("closed TCP connection from %s:%d: %s", *connection.peer, why)

    def _check_call(self, call: AgentCall, now: float) -> None:
        state = call.state
        if state is None or state.disconnected:
            return
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


def _printable(text: str, limit: int = 120) -> str:
    """Network text as a status line may carry it: shortened, control characters escaped."""
    return escape_controls(str(text)[:limit])


def _with_max_call(config, max_call_s: float):
    from dataclasses import replace

    return replace(config, max_call_ms=int(max_call_s * 1000))


def purge_recordings(store: BaseStore, directory: Path, retention_days: int) -> list[str]:
    """Recordings and transcripts past the retention period (see ``store.retention``); audited."""
    report = purge_expired(store, retention_days, recordings_dir=directory)
    return report.recordings