"""Speech recognisers behind one interface.

``Recognizer.recognize(audio, hints)`` takes one utterance (float32, 16 kHz) and returns a
``Transcript``. For closed questions the hints carry candidate phrases and the recogniser scores
them against the audio (Whisper: forced-decoding log-likelihood after one encoder pass; Vosk: a
runtime grammar), so "cuatro" is chosen among the answers instead of guessed as free text.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ..audio import SAMPLE_RATE
from ..audio.wavio import to_int16
from ..understand.text import phonetic, strip_accents


@dataclass(frozen=True)
class Hints:
    """What the question expects: candidate phrases (closed) or none (free-form)."""

    phrases: tuple[str, ...] = ()
    max_words: int = 60
    context: str = ""  # what the agent just asked; primes the recogniser's vocabulary

    @property
    def closed(self) -> bool:
        return bool(self.phrases)


@dataclass
class Transcript:
    text: str
    confidence: float
    backend: str
    elapsed_ms: int
    phrase_scores: dict[str, float] = field(default_factory=dict)  # calibrated score per candidate
    text_score: float | None = None       # log-likelihood of ``text`` itself
    raw_phrase_scores: dict[str, float] = field(default_factory=dict)  # uncalibrated, same scale as text_score
    snr_db: float | None = None  # the audio's signal-to-noise ratio, when measured (``audio.level.utterance_snr_db``)

    @property
    def best_phrase_score(self) -> float | None:
        """The best candidate's uncalibrated log-likelihood (comparable to ``text_score``)."""
        return max(self.raw_phrase_scores.values()) if self.raw_phrase_scores else None


class Recognizer(Protocol):
    name: str

    def recognize(self, audio: np.ndarray, hints: Hints) -> Transcript: ...


class PendingTranscript(Protocol):
    """A recognition begun (``begin_recognition``); ``result`` waits for it."""

    def result(self) -> Transcript: ...


class _WhenAsked:
    """A recogniser that cannot work in the background recognises when the result is asked for."""

    def __init__(self, recognizer: Recognizer, audio: np.ndarray, hints: Hints) -> None:
        self._recognizer, self._audio, self._hints = recognizer, audio, hints
        self._transcript: Transcript | None = None

    def result(self) -> Transcript:
        if self._transcript is None:
            self._transcript = self._recognizer.recognize(self._audio, self._hints)
        return self._transcript


def begin_recognition(recognizer: Recognizer, audio: np.ndarray, hints: Hints) -> PendingTranscript:
    """Start recognising ``audio`` in the background when the recogniser can (``start``), so the
    caller's next frames are handled meanwhile."""
    start = getattr(recognizer, "start", None)
    return start(audio, hints) if start is not None else _WhenAsked(recognizer, audio, hints)


def collapse_repeats(text: str, max_ngram: int = 6) -> str:
    """Whisper on short windows can loop ("sí claro sí claro …"): drop any run of words that
    repeats the run just before it (compared without case, accents and punctuation, as they sound)."""
    words = text.split()
    # Compared as they sound: "un tres nomás un tres nomas un tres nomaz" is one loop.
    keys = [phonetic(strip_accents(w.strip(".,;:¡!¿?…").lower())) for w in words]
    out: list[int] = []
    for i in range(len(words)):
        out.append(i)
        for n in range(1, max_ngram + 1):
            if len(out) >= 2 * n and [keys[j] for j in out[-n:]] == [keys[j] for j in out[-2 * n : -n]]:
                del out[-n:]
                break
    return " ".join(words[j] for j in out).rstrip(",;: ")


class WhisperRecognizer:
    """faster-whisper (CTranslate2) with the encoder run only over the audio present.

    Whisper pads every input to 30 s by default (≈1.4 s per utterance here); encoding only the
    utterance plus ``pad_s`` costs tens of ms. Output length is bounded to avoid repetition loops.

    The model runs as ``workers`` single-threaded replicas rather than one replica on as many threads:
    the decoder's small steps do not speed up on a second thread (scoring the score question's 36
    candidates: 295 ms on 2 threads, 303 ms on 1), but two decodes run side by side. A closed answer's
    free transcript and its candidates' scores are computed at the same time, in the background
    (``start``; ``recognize`` waits for it). CTranslate2 queues the decodes of concurrent calls.
    """

    name = "faster-whisper"

    # Contextual calibration: subtract each candidate's log-likelihood on silence (the "content-free"
    # input), so phrases the language model likes anyway ("¿Cómo?", "No.") do not win on unclear audio.
    # On the audio evaluation (160 answers at 20 dB, top candidate label, checked on each half
    # separately) the full prior (1.0) was right for 60 % / 66 %, against 43 % / 55 % with 0.75 and
    # 39 % / 48 % with 1.25. Re-check on real recordings.
    CALIBRATION = 1.0

    # The free transcript is a beam search of 3: on the Kokoro evaluation's dev voices at 20 dB (354
    # closed answers, decided as in ``understand.decide``) it was right at once for 78.0 % against
    # 74.3 % greedy (5 beams: 77.4 %), with fewer read-backs (8.8 against 10.5 %) and none wrong, for
    # about 5 ms more: a decoder step costs about the same for 1 row or 3 (see ``STEP_COST_ROWS``).
    # It writes fewer wrong words too: «supervisor» for «supervisión», «Fíjeme de su lista».
    BEAM_SIZE = 3

    def __init__(self, model_dir: str | Path, workers: int = 2, pad_s: float = 0.5,
                 language: str = "es") -> None:
        from faster_whisper import WhisperModel

        self.model_dir = Path(model_dir)
        self._model = WhisperModel(str(model_dir), device="cpu", compute_type="int8",
                                   cpu_threads=1, num_workers=max(1, workers))
        self._tok = self._model.hf_tokenizer
        special = ["<|startoftranscript|>", f"<|{language}|>", "<|transcribe|>", "<|notimestamps|>"]
        self._prefix = [self._tok.token_to_id(t) for t in special]
        self._start_of_prev = self._tok.token_to_id("<|startofprev|>")
        self._context_cache: dict[str, list[int]] = {}
        self._eot = self._tok.token_to_id("<|endoftext|>")
        self._pad = np.zeros(int(pad_s * SAMPLE_RATE), dtype=np.float32)
        self._token_cache: dict[str, list[int]] = {}
        self._priors: dict[tuple[str, ...], dict[str, float]] = {}
        self._splits: dict[tuple[str, ...], tuple[tuple[str, ...], tuple[str, ...]]] = {}

    TOKEN_CACHE_SIZE = 4096

    def _tokens(self, phrase: str) -> list[int]:
        ids = self._token_cache.get(phrase)
        if ids is None:
            ids = self._tok.encode(" " + phrase.strip(), add_special_tokens=False).ids
            if len(self._token_cache) < self.TOKEN_CACHE_SIZE:  # candidates, not every sentence compared
                self._token_cache[phrase] = ids
        return ids

    # CTranslate2's Whisper decoder (4.8.5, int8 and float32 alike) garbles what it reads from an
    # encoder output exactly 80 positions long (1.6 s of window): «Sí, correcto.» becomes «¡», its
    # log-likelihood −53 against −5 at 79 or 81 positions, for every clip tried. No other length did
    # (12 answers windowed at 36–170 positions, 2 at up to 300, and cuts of a 30 s encoding at 30–1,500).
    # A window of that length gets one position (20 ms of padding) more.
    GARBLED_POSITIONS = frozenset({80})
    MEL_HOP = 160  # samples per mel frame; two frames make one encoder position

    def _features(self, audio: np.ndarray) -> np.ndarray:
        """The log-mel frames of ``audio`` and the padding, an even number of them (at most 30 s),
        never a length the decoder garbles."""
        window = np.concatenate([audio, self._pad])
        features = self._model.feature_extractor(window, padding=0)
        if min(features.shape[-1] // 2, 1500) in self.GARBLED_POSITIONS:
            features = self._model.feature_extractor(
                np.concatenate([window, np.zeros(2 * self.MEL_HOP, dtype=np.float32)]), padding=0)
        frames = min(features.shape[-1] - features.shape[-1] % 2, 3000)
        return features[:, :frames]

    def _encode(self, audio: np.ndarray) -> np.ndarray:
        import ctranslate2

        features = self._features(audio)
        view = ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None]))
        return np.array(self._model.model.encode(view, to_cpu=True))

    def _start(self, context: str) -> list[int]:
        """Decoder start tokens, with ``context`` as Whisper's "previous text" when given."""
        if not context:
            return self._prefix
        start = self._context_cache.get(context)
        if start is None:
            previous = self._tok.encode(" " + context.strip(), add_special_tokens=False).ids[-60:]
            start = [self._start_of_prev] + previous + self._prefix
            self._context_cache[context] = start
        return start

    def _submit_transcript(self, encoded: np.ndarray, max_tokens: int, context: str = "") -> list:
        """Start the transcript (a beam search) on a free worker; ``_transcript`` waits for it."""
        import ctranslate2

        start = self._start(context)
        return self._model.model.generate(
            ctranslate2.StorageView.from_array(encoded), [start], beam_size=self.BEAM_SIZE,
            max_length=len(start) + max_tokens, return_scores=True, no_repeat_ngram_size=4, asynchronous=True,
        )

    def _transcript(self, pending: list) -> tuple[str, float, float]:
        """The transcript, its mean token log-probability, and its total (comparable to
        ``score_phrases``: the end token included). CTranslate2's score is the total over the tokens
        and the end, divided by the number of tokens (checked against a forced decode of the text)."""
        result = pending[0].result()
        tokens = result.sequences_ids[0]
        mean = float(result.scores[0]) if result.scores else 0.0
        text = self._tok.decode(tokens).strip()
        return collapse_repeats(text), mean, mean * max(1, len(tokens))

    def score_phrases(self, encoded: np.ndarray, phrases: tuple[str, ...], context: str = "") -> dict[str, float]:
        """log P(phrase, end | audio) for each phrase: the longer and the shorter phrases in two
        batched forced decodes, side by side."""
        scores = self._score_batches(encoded, self._split(phrases), context)
        return {p: scores[p] for p in phrases}

    def _score_batches(self, encoded: np.ndarray, batches: tuple[tuple[str, ...], ...],
                       context: str = "") -> dict[str, float]:
        """Each batch queued as one forced decode (the workers take them side by side), then collected."""
        pending = [(batch, self._submit_scoring(encoded, batch, context)) for batch in batches]
        return {p: score for batch, job in pending for p, score in self._scores(batch, job).items()}

    # A forced decode's cost, in units of one batch row's step: a step costs about 20 rows' worth
    # whatever the batch (7.5 ms, then 0.37 ms a row, measured), and runs as long as its longest phrase.
    STEP_COST_ROWS = 20
    FREE_TRANSCRIPT_COST = 8 * (STEP_COST_ROWS + BEAM_SIZE)  # a short answer's free transcript, in the same units

    def _split(self, phrases: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The candidates in two batches (longer, shorter) that finish together when the shorter
        batch runs after the free transcript on one worker and the longer one on the other."""
        split = self._splits.get(phrases)
        if split is None:
            ordered = sorted(phrases, key=lambda p: len(self._tokens(p)))

            def cost(part: list[str]) -> int:
                return (len(self._tokens(part[-1])) + 2) * (self.STEP_COST_ROWS + len(part)) if part else 0

            k = min(range(len(ordered) + 1),
                    key=lambda i: max(cost(ordered[i:]), self.FREE_TRANSCRIPT_COST + cost(ordered[:i])))
            long, short = set(ordered[k:]), set(ordered[:k])
            split = (tuple(p for p in phrases if p in long), tuple(p for p in phrases if p in short))
            self._splits[phrases] = split
        return split

    def _submit_scoring(self, encoded: np.ndarray, phrases: tuple[str, ...], context: str) -> list:
        """Start one batched forced decode of ``phrases`` on a free worker; ``_scores`` waits for it."""
        import ctranslate2

        if not phrases:
            return []
        seqs = [self._tokens(p) for p in phrases]
        longest = max(len(s) for s in seqs)
        batch = ctranslate2.StorageView.from_array(
            np.ascontiguousarray(np.repeat(encoded, len(seqs), axis=0)))
        # The forced end token makes CTranslate2 return its logits too: P(end | phrase). Forced
        # tokens count about twice against max_length (measured), hence the generous bound;
        # decoding stops right after the forced end anyway. A batch costs about as many steps as its
        # longest phrase, each step 20 rows' worth plus its rows, so keep candidate lists short.
        start = self._start(context)
        prompts = [start + s + [self._eot] for s in seqs]
        return self._model.model.generate(
            batch, prompts, beam_size=1, max_length=len(start) + 2 * (longest + 1) + 4,
            return_logits_vocab=True, suppress_blank=False, asynchronous=True,
        )

    def _scores(self, phrases: tuple[str, ...], pending: list) -> dict[str, float]:
        """Wait for a batch from ``_submit_scoring``: each phrase's tokens' and end's log-probabilities, summed."""
        scores: dict[str, float] = {}
        for phrase, job in zip(phrases, pending):
            logits = job.result().logits[0]
            forced = (self._tokens(phrase) + [self._eot])[: len(logits)]
            steps = np.stack([np.asarray(logits[i], dtype=np.float32).ravel() for i in range(len(forced))])
            top = steps.max(axis=1)
            normaliser = np.log(np.exp(steps - top[:, None]).sum(axis=1)) + top
            scores[phrase] = float(np.sum(steps[np.arange(len(forced)), forced] - normaliser))
        return scores

    def recognize(self, audio: np.ndarray, hints: Hints) -> Transcript:
        return self.start(audio, hints).result()

    def compare(self, audio: np.ndarray, sentences: tuple[str, ...]) -> dict[str, float]:
        """log P(sentence, end | audio) of a few whole sentences, uncalibrated and without context
        (the scale of ``Transcript.text_score``): which of them the audio says. Two batches side by side."""
        return self._score_batches(self._encode(audio), (sentences[::2], sentences[1::2]))

    def start(self, audio: np.ndarray, hints: Hints) -> WhisperJob:
        """Encode ``audio`` (here) and queue its decodes on the workers; ``result`` collects them."""
        return WhisperJob(self, audio, hints)

    # Nobody says more than this many tokens a second (fast Spanish is about 7 syllables/s): a longer
    # transcript of a short answer is Whisper looping ("le doy tres, le doy tre, le do y tres…").
    TOKENS_PER_SECOND = 10

    def _token_budget(self, audio: np.ndarray, hints: Hints) -> int:
        """How many tokens the transcript may have: the hints' word bound, and what the audio can hold."""
        spoken = 6 + int(self.TOKENS_PER_SECOND * len(audio) / SAMPLE_RATE)
        return min(2 * hints.max_words + 8, 220, spoken)

    def _prior(self, hints: Hints) -> dict[str, float]:
        """Each candidate's log-likelihood on silence (computed once per candidate list)."""
        key = hints.phrases
        prior = self._priors.get(key)
        if prior is None:
            prior = self.score_phrases(self._encode(np.zeros(0, dtype=np.float32)), hints.phrases)
            self._priors[key] = prior
        return prior


class WhisperJob:
    """One recognition under way: the longer candidates are scored on one worker while the free
    transcript and then the shorter candidates are made on the other. The context primes only the
    free transcript: candidates scored without it were right more often (Kokoro voices and real clips,
    92 answers: 44 vs 40 accepted right, 9 vs 19 asked again, none wrong either way)."""

    def __init__(self, owner: WhisperRecognizer, audio: np.ndarray, hints: Hints) -> None:
        self._owner, self._hints = owner, hints
        self._started = time.perf_counter()
        encoded = owner._encode(audio)
        self._long, self._short = owner._split(hints.phrases) if hints.closed else ((), ())
        self._long_job = owner._submit_scoring(encoded, self._long, "")
        self._free_job = owner._submit_transcript(encoded, owner._token_budget(audio, hints), hints.context)
        self._short_job = owner._submit_scoring(encoded, self._short, "")  # the next free worker takes it
        self._transcript: Transcript | None = None

    def result(self) -> Transcript:
        if self._transcript is None:
            owner, hints = self._owner, self._hints
            text, mean_logprob, text_score = owner._transcript(self._free_job)
            scores, raw = {}, {}
            if hints.closed:
                raw = owner._scores(self._long, self._long_job) | owner._scores(self._short, self._short_job)
                prior = owner._prior(hints)
                scores = {p: raw[p] - owner.CALIBRATION * prior[p] for p in hints.phrases}
            elapsed = int((time.perf_counter() - self._started) * 1000)
            self._transcript = Transcript(text, float(np.exp(mean_logprob)), owner.name, elapsed, scores,
                                          text_score if text else None, raw)
        return self._transcript


NO_ANSWER = "[unk]"  # phrase-score key for "none of the candidates" (counts in the posterior, never wins)


class RecognitionStream(Protocol):
    """One utterance recognised while it is spoken: ``feed`` audio as it arrives, then ``result``
    once (the stream is used up)."""

    def feed(self, pcm: np.ndarray) -> None: ...

    def result(self) -> Transcript: ...


def _phrase_key(phrase: str) -> str:
    return " ".join(w.strip(".,¡!¿?").lower() for w in phrase.split())


class VoskStream:
    """A Kaldi recogniser fed 16 kHz int16 audio as it arrives; closed questions decode against a
    grammar of their candidate phrases, so at the end of speech only the last chunk is left to do."""

    def __init__(self, owner: "VoskRecognizer", hints: Hints) -> None:
        self._owner = owner
        self._hints = hints
        vosk = owner._vosk
        grammar = owner._grammar(hints.phrases) if hints.closed else None
        # An empty grammar crashes Kaldi: with no candidate the model can spell, it listens freely.
        self._rec = (vosk.KaldiRecognizer(owner._model, SAMPLE_RATE, json.dumps(grammar, ensure_ascii=False))
                     if grammar else vosk.KaldiRecognizer(owner._model, SAMPLE_RATE))
        self._rec.SetWords(True)
        self._words: list[dict] = []     # words of segments Kaldi already closed (its own endpointing)
        self.busy_ms = 0.0               # decoding time spent so far

    def feed(self, pcm: np.ndarray) -> None:
        if not len(pcm):
            return
        start = time.perf_counter()
        if self._rec.AcceptWaveform(np.ascontiguousarray(pcm, dtype="<i2").tobytes()):
            self._words += json.loads(self._rec.Result()).get("result", [])
        self.busy_ms += (time.perf_counter() - start) * 1000

    def result(self) -> Transcript:
        start = time.perf_counter()
        words = self._words + json.loads(self._rec.FinalResult()).get("result", [])
        self.busy_ms += (time.perf_counter() - start) * 1000
        words = [w for w in words if w.get("word") != NO_ANSWER]
        text = " ".join(w["word"] for w in words)
        confidence = float(np.mean([w.get("conf", 0.0) for w in words])) if words else 0.0
        scores: dict[str, float] = {}
        if self._hints.closed and text:
            # Kaldi's word posteriors: the phrase heard gets their mean, "none of them" the rest.
            matched = [p for p in self._hints.phrases if _phrase_key(p) == text]
            if matched:
                scores = {matched[0]: float(np.log(max(confidence, 1e-6))),
                          NO_ANSWER: float(np.log(max(1.0 - confidence, 1e-6)))}
        # The last chunk's decoding is what the caller waits for; ``busy_ms`` is the whole cost.
        return Transcript(text, confidence, self._owner.name, int(round(self.busy_ms)), scores)


class VoskRecognizer:
    """Vosk (Kaldi), streaming: a runtime grammar of the candidate phrases for closed questions."""

    name = "vosk"

    def __init__(self, model_dir: str | Path) -> None:
        import vosk

        vosk.SetLogLevel(-1)
        self.model_dir = Path(model_dir)
        self._vosk = vosk
        self._model = vosk.Model(str(model_dir))
        self._has_unk = self._model.vosk_model_find_word(NO_ANSWER) >= 0

    def _grammar(self, phrases: tuple[str, ...]) -> list[str]:
        """The candidates the model can spell (words it lacks would be dropped by Kaldi anyway),
        plus its out-of-grammar word when it has one; empty when it can spell none."""
        words = sorted({clean for clean in map(_phrase_key, phrases)
                        if clean and all(self._model.vosk_model_find_word(w) >= 0 for w in clean.split())})
        return words + [NO_ANSWER] if words and self._has_unk else words

    def stream(self, hints: Hints) -> VoskStream:
        return VoskStream(self, hints)

    def recognize(self, audio: np.ndarray, hints: Hints) -> Transcript:
        """A whole utterance at once, fed in 200 ms chunks as a stream would arrive."""
        stream = self.stream(hints)
        pcm = to_int16(audio)
        step = SAMPLE_RATE // 5
        for i in range(0, len(pcm), step):
            stream.feed(pcm[i : i + step])
        return stream.result()
