"""How a closed answer is decided from the transcript and the candidates' scores (no model needed)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from encuestador.dialogue.script import SurveyScript
from encuestador.listen.asr import Transcript
from encuestador.understand.decide import Understander


@pytest.fixture(scope="module")
def understander():
    return Understander(recognizer=None, script=SurveyScript.load())  # decide() never calls it


@pytest.fixture(scope="module")
def score_q():
    return SurveyScript.load().questions["score"]


def transcript(text, scores, text_score=-5.0):
    return Transcript(text, 0.5, "test", 10, dict(scores), text_score, dict(scores))


def test_the_hints_list_the_question_candidates_and_requests(understander, score_q):
    phrases = understander.hints_for(score_q).phrases
    assert "Cuatro." in phrases and "4" in phrases and "No me vuelvan a llamar." in phrases


def test_clear_candidate_over_a_garbled_transcript_is_read_back(understander, score_q):
    u = understander.decide(transcript("¡WATO!", {"Cuatro.": -3.0, "4": -4.0, "Tres.": -9.0, "¿Cómo?": -8.0}), score_q)
    assert (u.intent, u.score) == ("score", 4) and u.confidence > 0.9
    assert u.confirm  # from the audio alone: «Entendí que nos da un cuatro. ¿Es correcto?»


def test_transcript_and_candidates_agreeing_is_accepted(understander, score_q):
    u = understander.decide(transcript("Cuatro.", {"Cuatro.": -1.0, "Tres.": -6.0, "Ocho.": -7.0}), score_q)
    assert (u.intent, u.score, u.confirm) == ("score", 4, False) and u.confidence > 0.9


def test_a_clear_transcript_the_candidates_half_support_is_read_back(understander, score_q):
    u = understander.decide(transcript("le doy un cinco", {"Cuatro.": -3.0, "Cinco.": -3.5}), score_q)
    assert (u.intent, u.score, u.confirm) == ("score", 5, True)


def test_a_transcript_the_candidates_contradict_is_asked_again(understander, score_q):
    u = understander.decide(transcript("Tres.", {"Tres.": -9.0, "Cuatro.": -1.0}), score_q)
    assert u.intent == "unknown"


def test_an_out_of_scale_number_is_never_a_score(understander, score_q):
    for text in ("Ocho.", "le doy un diez", "entre tres y cuatro", "no sé"):
        u = understander.decide(transcript(text, {"Cuatro.": -1.0, "Ocho.": -1.5}), score_q)
        assert u.intent == "unknown", text


def test_out_of_grammar_phrases_take_the_probability_as_none_of_them(understander, score_q):
    u = understander.decide(transcript("¡Acho!", {"Cuatro.": -4.0, "Ocho.": -1.0, "Tres.": -8.0}), score_q)
    assert u.intent == "unknown"  # "Ocho." answers nothing: the best score has a small share


def test_a_request_from_the_audio_alone_is_read_back(understander, score_q):
    u = understander.decide(transcript("un dos nada más", {"No me vuelvan a llamar.": -0.5, "Dos.": -9.0}), score_q)
    assert not (u.intent == "opt_out" and not u.confirm)
    garbled = understander.decide(transcript("¡Mmbla!", {"No me vuelvan a llamar.": -0.5, "Dos.": -9.0}), score_q)
    assert garbled.intent == "opt_out" and garbled.confirm


def test_a_request_the_candidates_are_sure_of_is_read_back_over_an_answer_the_transcript_says(understander, score_q):
    resolved = SurveyScript.load().questions["resolved"]
    sure = understander.decide(transcript("Ya no me ando en jamando.", {"No me vuelvan a llamar.": 0.0, "No.": -8.0}), resolved)
    assert (sure.intent, sure.confirm) == ("opt_out", True)  # the parser reads «no»: read the opt-out back
    fair = understander.decide(transcript("No, puedo.", {"Llámeme más tarde.": 0.0, "No.": -3.0}), resolved)
    assert fair.intent == "unknown"  # 0.95: asked again


def test_a_request_only_the_plain_transcript_names_is_read_back():
    resolved = "resolved"
    u, _, listens = listen_twice(transcript("¡Mmbla!", {"Sí.": -3.0, "No.": -3.0}), "No quiero que me llaman más.", resolved)
    assert (u.intent, u.confirm, listens) == ("opt_out", True, 2)


def test_opt_out_in_the_transcript_outranks_everything(understander, score_q):
    u = understander.decide(transcript("cinco, pero ya no me llamen", {"Cinco.": -1.0}), score_q)
    assert u.intent == "opt_out" and not u.confirm  # said plainly: honoured at once
    near = understander.decide(transcript("no me vuelvas a llamar", {"Cinco.": -1.0}), score_q)
    assert near.intent == "opt_out" and near.confirm  # a near miss of the words: read back


def test_unsure_candidates_ask_again(understander, score_q):
    scores = {p: -6.0 for p in understander.hints_for(score_q).phrases}
    u = understander.decide(transcript("mmm bla", scores), score_q)
    assert u.intent == "unknown"


def test_candidates_that_do_not_fit_the_audio_are_rejected(understander, score_q):
    u = understander.decide(transcript("oiga y cuándo viene el técnico", {"Cuatro.": -30.0, "Tres.": -40.0},
                                       text_score=-8.0), score_q)
    assert u.intent == "unknown"


class TwoListens:
    """A recogniser that answers the first listen (with the question's context and candidates)
    and the second (plain: neither) with given transcripts, and counts the listens."""

    name = "two-listens"

    def __init__(self, first: Transcript, plain_text: str) -> None:
        self.first, self.plain = first, Transcript(plain_text, 0.8, "test", 10, {}, -4.0)
        self.listens = 0

    def recognize(self, audio, hints):
        self.listens += 1
        return self.first if hints.phrases else self.plain


def listen_twice(first, plain_text, question_id="score"):
    script = SurveyScript.load()
    recognizer = TwoListens(first, plain_text)
    u, heard = Understander(recognizer, script).understand(np.zeros(8000, np.float32), script.questions[question_id])
    return u, heard, recognizer.listens


def test_an_answer_taken_at_once_is_listened_to_once():
    u, _, listens = listen_twice(transcript("Cuatro.", {"Cuatro.": -1.0, "Tres.": -6.0}), "cuatro")
    assert (u.score, u.confirm, listens) == (4, False, 1)


def test_a_garbled_answer_is_heard_again_without_the_context():
    # The digit prompt made Whisper write nonsense; the plain transcript says the answer and the candidates agree.
    u, heard, listens = listen_twice(transcript("¡Tresel!", {"Tres.": -1.0, "Cuatro.": -6.0}), "Tres.")
    assert (u.intent, u.score, u.confirm, listens) == ("score", 3, False, 2)
    assert heard.text == "Tres."


def test_an_answer_the_first_listen_ruled_out_is_at_most_read_back():
    # «ocho» is out of the scale: a second transcript saying «tres» does not store a score at once;
    # nor does one saying a score the first did not name, or one the candidates are not sure of.
    sure, unsure = {"Tres.": -1.0, "Ocho.": -4.0}, {"Tres.": -1.0, "Cuatro.": -2.0}
    for first, scores in (("Ocho.", sure), ("un diez", sure), ("cuatro, tres", unsure), ("cuatro, seis", sure)):
        u, _, _ = listen_twice(transcript(first, scores), "Tres.")
        assert u.intent == "unknown" or (u.intent, u.score, u.confirm) == ("score", 3, True), first


def test_a_recited_list_is_settled_by_the_plain_transcript_and_sure_candidates():
    # The digit context made Whisper recite («dos, tres», «cero, ocho, tres»); without it the
    # answer is written whole, and the candidates are all but sure of the same number: taken.
    for first in ("dos, tres", "cero, ocho, tres."):
        u, _, _ = listen_twice(transcript(first, {"Tres.": -1.0, "Ocho.": -4.0}), "le doy tres le doy 3 le do")
        assert (u.intent, u.score, u.confirm) == ("score", 3, False), first


def test_a_read_back_both_transcripts_and_the_candidates_agree_on_is_taken():
    first = transcript("más o menos", {"Tres.": -3.0, "Cuatro.": -3.4, "Dos.": -3.8})  # «tres» 0.47: no majority
    assert Understander(None, SurveyScript.load()).decide(first, SurveyScript.load().questions["score"]).confirm
    u, _, listens = listen_twice(first, "Más o menos.")
    assert (u.score, u.confirm, listens) == (3, False, 2)


def test_a_read_back_the_second_transcript_does_not_repeat_stays_a_read_back():
    u, _, _ = listen_twice(transcript("más o menos", {"Tres.": -3.0, "Cuatro.": -3.4, "Dos.": -3.8}), "más o menos bien")
    assert (u.score, u.confirm) == (3, True)


def test_a_yes_that_is_word_for_word_the_context_is_taken_only_when_sure():
    # «cinco» asked whether he has a minute, heard as «Sí, claro.» — the consent question's context.
    unsure = {"Sí.": -1.0, "No.": -6.0, "Cinco.": -2.0}
    u, _, listens = listen_twice(transcript("Sí, claro.", unsure), "Cinco.", "consent")
    assert (u.intent, u.confirm, listens) == ("yes", True, 2)
    u, _, _ = listen_twice(transcript("Sí, claro.", unsure), "Sí.", "consent")  # the plain transcript says it too
    assert (u.intent, u.confirm) == ("yes", False)
    u, _, listens = listen_twice(transcript("Sí, claro.", {"Sí.": -1.0, "No.": -6.0, "Cinco.": -5.0}), "Cinco.", "consent")
    assert (u.intent, u.confirm, listens) == ("yes", False, 1)


def test_a_short_answer_needs_a_majority_of_the_candidates_a_long_one_more():
    script = SurveyScript.load()
    decide = Understander(None, script).decide
    scores = {"Tres.": -3.0, "Cuatro.": -3.6, "Dos.": -4.0}  # «tres» 0.52
    short = decide(transcript("Tres.", scores), script.questions["score"])
    assert (short.score, short.confirm) == (3, False)
    long = decide(transcript("Pues yo creo que le pondría un tres.", scores), script.questions["score"])
    assert (long.score, long.confirm) == (3, True)


def test_a_long_answer_both_transcripts_start_with_no_is_still_read_back():
    # «No, aquí no vive esa persona»: both say «no», but with words the answer does not explain.
    first = transcript("No, aquí no va a ser esa persona.", {"No.": -2.0, "Se equivocó de número.": -2.5, "Sí.": -4.0})
    u, _, _ = listen_twice(first, "No, a fin no liberes a persona.", "resolved")
    assert (u.intent, u.confirm) == ("no", True)


def test_a_wrong_number_heard_with_its_words_cut_elsewhere_is_read_back_not_stored_as_no():
    # Whisper writes «No, aquí no vive esa persona» as «No, aquí no vives a persona.»: the same sounds.
    first = transcript("No, aquí no vives a persona.", {"No.": -2.0, "Se equivocó de número.": -2.5, "Sí.": -4.0})
    u, _, _ = listen_twice(first, "No aquí no vives a persona.", "resolved")
    assert (u.intent, u.confirm) == ("wrong_person", True)


def test_an_answer_only_a_long_plain_transcript_says_is_not_taken():
    # «ahorita estoy ocupado» (espeak, 20 dB): the plain transcript found a «sí» among other words.
    first = transcript("Ah, ahorita estoy o su famo.", {"Sí.": -1.0, "No.": -3.0, "Llámeme más tarde.": -3.5})
    u, _, listens = listen_twice(first, "Ah, oí, si, o famos.", "resolved")
    assert listens == 2 and not (u.intent == "yes" and not u.confirm)


def test_on_a_noisy_line_an_answer_is_read_back_unless_the_candidates_all_but_agree(understander, score_q):
    # «Cuatro.» with 0.95 of the candidates: taken on a quiet line, read back on a noisy one; with
    # 0.995 taken on both. A plainly said opt-out is honoured at once whatever the line.
    fairly_sure = {"Cuatro.": -1.0, "Tres.": -1.0 - np.log(19)}
    all_but_certain = {"Cuatro.": -1.0, "Tres.": -1.0 - np.log(199)}
    for scores, noisy_confirm in ((fairly_sure, True), (all_but_certain, False)):
        for snr_db, confirm in ((30.0, False), (None, False), (9.0, noisy_confirm)):
            heard = transcript("Cuatro.", scores)
            heard.snr_db = snr_db
            u = understander.decide(heard, score_q)
            assert (u.score, u.confirm) == (4, confirm), (snr_db, scores)
    stop = transcript("No me vuelvan a llamar.", {"No me vuelvan a llamar.": -1.0, "Cuatro.": -9.0})
    stop.snr_db = 9.0
    u = understander.decide(stop, score_q)
    assert (u.intent, u.confirm) == ("opt_out", False)


def tone_in_noise(snr_db, rng):
    """Half a second of tone between silences, in white noise at about ``snr_db`` (16 kHz float)."""
    tone = np.concatenate([np.zeros(3200), 0.3 * np.sin(np.arange(8000) * 0.2), np.zeros(3200)])
    noise = rng.standard_normal(tone.size) * np.sqrt(0.045 / 10 ** (snr_db / 10))
    return (tone + noise).astype(np.float32)


def test_the_noise_level_of_an_answer_is_measured_on_its_audio():
    # A recognised answer carries the signal-to-noise ratio of the audio it was heard in.
    script = SurveyScript.load()
    rng = np.random.default_rng(1)
    for snr_db in (10.0, 20.0):
        recognizer = TwoListens(transcript("Cuatro.", {"Cuatro.": -1.0, "Tres.": -9.0}), "cuatro")
        _, heard = Understander(recognizer, script).understand(tone_in_noise(snr_db, rng), script.questions["score"])
        assert abs(heard.snr_db - snr_db) < 2.5, (snr_db, heard.snr_db)


class Comparing(TwoListens):
    """``TwoListens`` that also compares whole sentences: those in ``sentences`` score as given, the
    rest far worse; it records what it was asked to compare."""

    def __init__(self, first: Transcript, sentences: dict[str, float], plain_text: str) -> None:
        super().__init__(first, plain_text)
        self.sentences, self.compared = sentences, []

    def compare(self, audio, sentences):
        self.compared.append(sentences)
        return {s: self.sentences.get(s, -30.0) for s in sentences}


def compare_after(first, sentences, question_id="score", snr_db=None, plain_text=None):
    script = SurveyScript.load()
    recognizer = Comparing(first, sentences, first.text if plain_text is None else plain_text)
    audio = np.zeros(8000, np.float32) if snr_db is None else tone_in_noise(snr_db, np.random.default_rng(1))
    u, _ = Understander(recognizer, script).understand(audio, script.questions[question_id])
    return u, recognizer.compared


# The short candidates fit «yo diría que tres» badly: their shares say little, so it is read back.
SAYS_MORE = transcript("Yo diría que tres.", {"Cuatro.": -10.0, "Tres.": -10.3, "Seis.": -10.1, "Dos.": -11.0},
                       text_score=-4.0)


def test_an_answer_among_other_words_is_taken_when_the_audio_says_it_against_every_other_number():
    u, compared = compare_after(SAYS_MORE, {"Yo diría que tres.": -5.0, "Yo diría que 3.": -5.5,
                                            "Yo diría que cuatro.": -9.0, "Yo diría que seis.": -9.5})
    assert (u.intent, u.score, u.confirm) == ("score", 3, False) and u.confidence > 0.9
    assert "Yo diría que ocho." in compared[0] and "Yo diría que tres." in compared[0]


def test_an_answer_among_other_words_stays_a_read_back_when_the_audio_is_not_clear():
    u, compared = compare_after(SAYS_MORE, {"Yo diría que tres.": -5.0, "Yo diría que seis.": -5.5})
    assert (u.score, u.confirm) == (3, True) and compared  # «seis» nearly as likely: out of the scale


# «Le doy un diez» heard as «Dos, un día.»: the words after the number may be the rest of another one.
CUT_IN_TWO = transcript("Dos, un día.", {"Cuatro.": -10.0, "Dos.": -10.3, "Seis.": -10.1, "Tres.": -11.0},
                        text_score=-4.0)


def test_a_long_sentence_below_a_short_candidate_is_taken_only_when_it_ends_with_the_score():
    # The sentence wins the comparison but fits the audio worse than «Cuatro.» alone, as any long
    # sentence does: it is taken when the score ends it, read back when other words follow.
    ends = compare_after(SAYS_MORE, {"Yo diría que tres.": -11.0, "Yo diría que 4.": -14.0})[0]
    assert (ends.score, ends.confirm) == (3, False)
    follows, compared = compare_after(CUT_IN_TWO, {"Dos, un día.": -11.0, "Diez, un día.": -14.0})
    assert (follows.score, follows.confirm) == (2, True) and "Diez, un día." in compared[0]
    fits = compare_after(CUT_IN_TWO, {"Dos, un día.": -9.0, "Diez, un día.": -14.0})[0]
    assert (fits.score, fits.confirm) == (2, False)  # fits better than every other candidate: taken


def test_a_sentence_ending_with_a_score_stays_a_read_back_when_the_candidates_hear_an_opt_out():
    heard = transcript("Yo diría que tres.", {"No me vuelvan a llamar.": -10.0, "Tres.": -10.3, "Cuatro.": -11.0},
                       text_score=-4.0)
    u = compare_after(heard, {"Yo diría que tres.": -11.0, "Yo diría que 4.": -14.0})[0]
    assert (u.score, u.confirm) == (3, True)


def test_an_answer_in_words_of_the_scale_is_compared_with_the_scale_s_other_words():
    said = transcript("Muy satisfecho.", {"Cuatro.": -10.0, "Excelente.": -10.3, "Tres.": -10.1}, text_score=-4.0)
    u, compared = compare_after(said, {"Muy satisfecho.": -6.0, "Satisfecho.": -11.0, "Muy insatisfecho.": -12.0})
    assert (u.score, u.confirm) == (5, False) and "Regular." in compared[0]
    unclear = compare_after(said, {"Muy satisfecho.": -6.0, "Satisfecho.": -6.5})[0]
    assert (unclear.score, unclear.confirm) == (5, True)


def test_a_sentence_ending_with_a_score_the_short_candidates_contradict_is_compared_too():
    # The candidates are sure of «Cuatro.» (asked again at first); the whole sentence says «tres».
    contradicted = transcript("Yo diría que tres.", {"Cuatro.": -3.0, "Tres.": -9.0}, text_score=-4.0)
    u, compared = compare_after(contradicted, {"Yo diría que tres.": -5.0, "Yo diría que cuatro.": -11.0})
    assert (u.intent, u.score, u.confirm) == ("score", 3, False) and compared
    unclear = compare_after(contradicted, {"Yo diría que tres.": -5.0, "Yo diría que cuatro.": -5.5})[0]
    assert unclear.intent == "unknown"


def test_an_answer_in_words_is_read_back_when_the_candidates_hear_the_other_side_of_the_scale():
    # «Muy insatisfecha» heard as «Mujo en satisfecho»: the comparison cannot hear the lost «in».
    said = transcript("Mujo en satisfecho.", {"Pésimo.": -10.0, "1": -10.2, "Bien.": -11.0}, text_score=-4.0)
    u, compared = compare_after(said, {"Mujo en satisfecho.": -6.0, "Mujo insatisfecho.": -12.0})
    assert (u.score, u.confirm, compared) == (4, True, [])


def test_on_a_noisy_line_an_answer_among_other_words_needs_all_but_certainty():
    sentences = {"Yo diría que tres.": -5.0, "Yo diría que cuatro.": -5.0 - np.log(49)}  # 0.98
    assert not compare_after(SAYS_MORE, sentences, snr_db=30.0)[0].confirm
    assert compare_after(SAYS_MORE, sentences, snr_db=9.0)[0].confirm


def test_no_comparison_for_a_score_taken_anyway():
    clear = transcript("Le doy un cuatro.", {"Le doy un cuatro.": -1.0, "Tres.": -9.0})
    u, compared = compare_after(clear, {})
    assert (u.score, u.confirm, compared) == (4, False, [])


def test_speech_written_as_no_word_is_left_to_the_candidates_and_a_second_listen(understander, score_q):
    # Whisper sometimes writes only «¡» for a spoken answer: that is not silence.
    u = understander.decide(transcript("¡", {"Cuatro.": -1.0, "Tres.": -9.0}), score_q)
    assert (u.intent, u.score, u.confirm) == ("score", 4, True)
    u, _, listens = listen_twice(transcript("¡", {"Cuatro.": -1.0, "Tres.": -9.0}), "Cuatro.")
    assert (u.score, u.confirm, listens) == (4, False, 2)
    assert understander.decide(transcript("¡", {"Cuatro.": -3.0, "Tres.": -3.2}), score_q).intent == "unknown"


def test_a_call_back_the_candidates_suggest_carries_the_time_the_transcript_caught(understander, score_q):
    u = understander.decide(transcript("Ya me, en la tarde", {"Llámeme más tarde.": -2.0, "Cuatro.": -2.5}), score_q)
    assert u.intent == "unknown" and u.slots["best"] == "callback_later"
    assert u.slots["best_slots"] == {"day_part": "afternoon"}
    other = understander.decide(transcript("Ya me, en la tarde", {"Cuatro.": -2.0, "Tres.": -2.5}), score_q)
    assert "best_slots" not in other.slots


def test_heard_says_what_the_transcript_and_the_candidates_each_name(understander, score_q):
    # «Tres.» the candidates contradict: asked again, though the transcript named the answer.
    t = transcript("Tres.", {"Tres.": -9.0, "Cuatro.": -1.0})
    assert understander.decide(t, score_q).intent == "unknown"
    assert understander.heard(t, score_q) == ("score:3", "score:4")
    assert understander.heard(transcript("¡", {}), score_q) == ("silence", "unknown")


def test_the_comparison_counts_in_the_recognition_time():
    class SlowComparing(Comparing):
        def compare(self, audio, sentences):
            time.sleep(0.06)
            return super().compare(audio, sentences)

    script = SurveyScript.load()
    first = transcript("Yo diría que tres.", dict(SAYS_MORE.phrase_scores), text_score=-4.0)
    recognizer = SlowComparing(first, {"Yo diría que tres.": -5.0}, first.text)
    _, heard = Understander(recognizer, script).understand(np.zeros(8000, np.float32), script.questions["score"])
    assert recognizer.compared and heard.elapsed_ms >= 10 + 60  # the first listen's 10 ms, then the comparison
