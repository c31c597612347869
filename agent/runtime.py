"""Models and data loaded once per process, and the factory of call sessions."""

from __future__ import annotations

import logging
import os
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .amd.detector import AnsweringMachineDetector
from .dialogue.script import SurveyScript
from .dialogue.survey import CustomerContext, SurveyDialogue
from .listen.asr import Hints, RecognitionStream, Recognizer, Transcript, VoskRecognizer, WhisperRecognizer
from .models.registry import MissingModelError, load_manifest, models_home, resolve
from .session import CallSession, EventSink, SessionConfig, render_tunes
from .speak.cache import PromptCache
from .speak.kokoro import KokoroSynthesizer
from .speak.sentences import split_sentences
from .speak.tts import EspeakSynthesizer, PiperSynthesizer, Synthesizer
from .understand.decide import Understander


@dataclass
class RuntimeOptions:
    company: str = "Servicios Ejemplo"
    asr: str = "auto"            # auto | vosk | whisper
    tts: str = "auto"            # auto (Piper es_MX, else Kokoro, else espeak-ng) | piper | kokoro | espeak
    vosk_model: Path | None = None    # explicit model directory (overrides the manifest)
    whisper_model: Path | None = None
    piper_voice: Path | None = None   # explicit .onnx (its .onnx.json beside it)
    kokoro_voice: str = "em_santa"    # em_santa | em_alex | ef_dora
    # Speaking rate: at 0.9 a standard faster-whisper decode of the 71 fixed prompts through the
    # phone line misheard 25 of 481 words (5.2 %), against 38 at 1.0 and 26 at 0.85 (bench.voice,
    # accents and digits forgiven); with the prompts reworded where words ran together («o dos si
    # no»), 1 of 495 — and 24 (4.85 %) counting «1» for «uno» or a missing accent as errors.
    kokoro_speed: float = 0.9
    cache_dir: Path | None = None
    transfer_enabled: bool = True
    callback_number: str | None = None  # said in voicemail messages
    cpu_threads: int = 2
    session: SessionConfig = field(default_factory=SessionConfig)


class RoutingRecognizer:
    """Closed questions to one recogniser (Vosk with a grammar), free-form ones to another (Whisper)."""

    def __init__(self, closed: Recognizer, free: Recognizer) -> None:
        self.closed, self.free = closed, free
        self.name = f"{closed.name}+{free.name}"

    def recognize(self, audio: np.ndarray, hints: Hints) -> Transcript:
        return (self.closed if hints.closed else self.free).recognize(audio, hints)

    def stream(self, hints: Hints) -> RecognitionStream | None:
        start = getattr(self.closed if hints.closed else self.free, "stream", None)
        return start(hints) if start is not None else None


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def build_recognizer(options: RuntimeOptions) -> Recognizer:
    specs, preferred = load_manifest()
    whisper_dir = options.whisper_model or _env_path("ENCUESTADOR_WHISPER_MODEL")
    if whisper_dir is None:
        found = resolve(preferred["asr_free"], specs)
        whisper_dir = found[1] if found else None
    vosk_dir = options.vosk_model or _env_path("ENCUESTADOR_VOSK_MODEL")
    if vosk_dir is None and options.asr in ("auto", "vosk"):
        found = resolve([n for n in preferred["asr_closed"] if specs[n].kind == "vosk"], specs)
        vosk_dir = found[1] if found else None
    if options.asr == "vosk" and vosk_dir is None:
        raise MissingModelError("vosk-model-small-es-0.42", models_home())
    whisper = WhisperRecognizer(whisper_dir, workers=options.cpu_threads) if whisper_dir else None
    vosk = VoskRecognizer(vosk_dir) if vosk_dir and options.asr != "whisper" else None
    if vosk and whisper:
        return RoutingRecognizer(vosk, whisper)
    if vosk:
        return vosk
    if whisper:
        return whisper
    raise MissingModelError("faster-whisper-base", models_home())


def build_synthesizer(options: RuntimeOptions) -> Synthesizer:
    """The voice: ``auto`` takes Piper es_MX when installed, else Kokoro-82M, else espeak-ng es-419;
    an explicit engine whose model is missing raises ``MissingModelError``."""
    log = logging.getLogger(__name__)
    if options.tts not in ("auto", "piper", "kokoro", "espeak"):
        raise ValueError(f"unknown tts engine {options.tts!r}: auto, piper, kokoro or espeak")
    if options.tts == "espeak":
        log.info("voice: espeak-ng es-419 (asked for with tts=espeak)")
        return EspeakSynthesizer()
    specs, preferred = load_manifest()

    def of_kind(kind: str) -> list[str]:
        return [n for n in preferred.get("tts", []) if n in specs and specs[n].kind == kind]

    if options.tts in ("auto", "piper"):
        voice = options.piper_voice or _env_path("ENCUESTADOR_PIPER_VOICE")
        why = "voice file given"
        if voice is None:
            found = resolve(of_kind("piper"), specs)
            if found:
                spec, directory = found
                voice = directory / next(f.path for f in spec.files if f.path.endswith(".onnx"))
                why = f"{spec.name} installed"
        if voice is not None:
            log.info("voice: Piper %s (tts=%s, %s)", Path(voice).name, options.tts, why)
            return PiperSynthesizer(voice)
        if options.tts == "piper":
            raise MissingModelError("piper-es_MX-claude-high", models_home())
    found = resolve(of_kind("kokoro"), specs)
    if found:
        spec, directory = found
        why = "asked for with tts=kokoro" if options.tts == "kokoro" else f"no Piper es_MX voice, {spec.name} installed"
        log.info("voice: Kokoro %s (%s)", options.kokoro_voice, why)
        return KokoroSynthesizer(directory, voice=options.kokoro_voice, speed=options.kokoro_speed,
                                 threads=options.cpu_threads)
    if options.tts == "kokoro":
        raise MissingModelError("kokoro-82m", models_home())
    log.info("voice: espeak-ng es-419 (tts=auto: neither a Piper es_MX voice nor Kokoro-82M is installed)")
    return EspeakSynthesizer()


def default_cache_dir() -> Path:
    """Where synthesised prompts are kept: ``cache/prompts`` beside the models directory."""
    return models_home().parent / "cache" / "prompts"


def _read_backs(script: SurveyScript) -> list[str]:
    """Every «Entendí …» sentence the read-back can start with."""
    said: list[str] = []
    for key, value in script.read_back.items():
        if key == "score":
            said += [value.format(valor=word) for word in script.score_words.values()]
        else:
            said += list(value.values()) if isinstance(value, dict) else [value]
    return said


def spoken_prompts(script: SurveyScript, customer: CustomerContext) -> list[str]:
    """Every prompt the survey can say to ``customer``, filled as the dialogue fills it (read-backs
    and keypad re-prompts included)."""
    prompts = script.prompts
    texts = [customer.fill(t) for name, t in prompts.items() if name not in ("voicemail", "voicemail_callback")]
    if "voicemail" in prompts:
        callback = prompts.get("voicemail_callback") if customer.callback_number else None
        texts.append(customer.fill(prompts["voicemail"], devolver=customer.fill(callback) if callback else ""))
    for q in script.questions.values():
        texts += [customer.fill(t) for t in (q.prompt, q.reprompt, q.prompt_with_topic, q.keypad) if t]
    if script.confirm is not None:
        texts += [customer.fill(script.confirm.prompt, entendi=said) for said in _read_backs(script)]
        texts += [customer.fill(t) for t in (script.confirm.reprompt, script.confirm.keypad) if t]
    return texts


def fixed_prompt_texts(script: SurveyScript, company: str, callback_number: str | None = None) -> list[str]:
    """Every sentence the survey can say that does not name the customer, as it will be spoken (all
    salutations); the session looks sentences up in the cache one by one."""
    marker = "\u2063"  # stands for the customer's name and topic; sentences holding it are per call
    texts: list[str] = []
    for hour in (9, 15, 20):
        customer = CustomerContext(company, name=marker, topic=marker, local_hour=hour,
                                   callback_number=callback_number)
        for prompt in spoken_prompts(script, customer):
            texts += [s for s in split_sentences(prompt) if marker not in s and s not in texts]
    return texts


def personal_prompt_texts(script: SurveyScript, customer: CustomerContext) -> list[str]:
    """The sentences of ``customer``'s call that name them or their topic (synthesised per call),
    in the order the call reaches them: the greeting first."""
    personal = [v for v in (customer.name, customer.topic) if v]
    texts: list[str] = []
    for prompt in spoken_prompts(script, customer):
        texts += [s for s in split_sentences(prompt) if any(v in s for v in personal) and s not in texts]
    return texts


class Runtime:
    """Everything shared by the calls of one process: script, recogniser, voice, prompt cache."""

    def __init__(self, options: RuntimeOptions | None = None, recognizer: Recognizer | None = None,
                 synthesizer: Synthesizer | None = None) -> None:
        self.options = options or RuntimeOptions()
        self.script = SurveyScript.load()
        self.recognizer = recognizer or build_recognizer(self.options)
        self.synthesizer = synthesizer or build_synthesizer(self.options)
        cache_dir = self.options.cache_dir or default_cache_dir()
        self.prompts = PromptCache(self.synthesizer, cache_dir)
        self.understander = Understander(self.recognizer, self.script)
        self.tunes = render_tunes(self.script)

    def fixed_prompt_texts(self) -> list[str]:
        """Every sentence of every prompt that does not name the customer (see ``fixed_prompt_texts``)."""
        return fixed_prompt_texts(self.script, self.options.company, self.options.callback_number)

    def prerender(self) -> int:
        """Render the fixed prompts not cached yet; returns how many were rendered."""
        return self.prompts.prerender(self.fixed_prompt_texts())

    def prepare_greeting(self, customer: CustomerContext) -> list[Future]:
        """Start synthesising, in the background, the sentences of ``customer``'s call that name them
        (the personal greeting first): called while the phone rings, so the call's first audio is
        ready when it is answered. The session's ``PromptCache.get`` waits for one still in progress."""
        if customer.callback_number is None:
            customer.callback_number = self.options.callback_number
        return self.prompts.prepare(personal_prompt_texts(self.script, customer))

    def new_session(self, customer: CustomerContext, sinks: list[EventSink] | None = None,
                    record: bool = True, amd: bool = False) -> CallSession:
        """A call's session; ``amd`` for outbound calls (who answered decides how it starts)."""
        if customer.callback_number is None:
            customer.callback_number = self.options.callback_number
        dialogue = SurveyDialogue(self.script, customer, transfer_enabled=self.options.transfer_enabled)
        detector = AnsweringMachineDetector(recognizer=self.recognizer) if amd else None
        return CallSession(dialogue, self.understander, self.prompts, self.options.session, sinks, record,
                           self.tunes, detector)
