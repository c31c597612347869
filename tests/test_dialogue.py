"""The survey state machine, driven by understandings and keys (no audio)."""

from __future__ import annotations

import pytest

from encuestador.dialogue.script import SurveyScript
from encuestador.dialogue.survey import CustomerContext, SurveyDialogue
from encuestador.events import AnswerRecorded, Hangup, PlayTune, Say, TicketOpened, Transfer
from encuestador.understand.parser import Understanding


@pytest.fixture(scope="module")
def script():
    return SurveyScript.load()


def new(script, **kw):
    customer = CustomerContext(company="Telecom del Norte", name="Ana", topic=kw.pop("topic", None),
                               local_hour=kw.pop("hour", 10))
    d = SurveyDialogue(script, customer, **kw)
    return d, d.start(0)


def yes():
    return Understanding("yes", {"answer": True}, 1.0, "sí")


def no():
    return Understanding("no", {"answer": False}, 1.0, "no")


def score(n):
    return Understanding("score", {"score": n}, 1.0, str(n))


def kinds(events):
    return [type(e).__name__ for e in events]


def test_greeting_names_customer_and_asks_consent(script):
    d, events = new(script, hour=16)
    assert isinstance(events[0], Say) and events[0].text.startswith("Buenas tardes, Ana. Le llamamos de Telecom del Norte")
    assert d.awaiting.id == "consent" and "¿Tiene unos minutos" in events[-1].text


def test_happy_path_closes_cheerfully(script):
    d, _ = new(script)
    d.on_understanding(yes(), 1)
    assert d.awaiting.id == "score"
    d.on_understanding(score(5), 2)
    ev = d.on_understanding(yes(), 3)
    assert d.awaiting.id == "feedback" and "mejorar" in ev[-1].text
    ev = d.on_understanding(Understanding("unknown", {}, 0.0, "todo muy bien, gracias"), 4)
    assert isinstance(ev[0], AnswerRecorded) and ev[0].value == "todo muy bien, gracias"
    assert PlayTune(4, "cheerful") in ev and isinstance(ev[-1], Hangup)
    r = d.result
    assert (r.consent, r.score, r.resolved, r.outcome, r.ticket) == (True, 5, True, "completed", False)


def test_resolved_question_mentions_topic(script):
    d, _ = new(script, topic="su factura")
    d.on_understanding(yes(), 1)
    ev = d.on_understanding(score(4), 2)
    assert "¿Quedó resuelto su problema de su factura?" in ev[-1].text


def test_unresolved_offers_a_person_then_transfers_with_calm_tune(script):
    d, _ = new(script)
    d.on_understanding(yes(), 1)
    d.on_understanding(score(4), 2)
    d.on_understanding(no(), 3)
    ev = d.on_no_input(4)
    ev = d.on_no_input(5)  # feedback: one retry, then move on
    assert d.awaiting.id == "offer_human"
    ev = d.on_understanding(yes(), 6)
    assert kinds(ev) == ["AnswerRecorded", "PlayTune", "Say", "Transfer"] and ev[1].tune == "calm"
    assert d.result.outcome == "transferred" and d.result.transferred


def test_low_score_without_transfers_opens_a_ticket(script):
    d, _ = new(script, transfer_enabled=False)
    d.on_understanding(yes(), 1)
    d.on_understanding(score(2), 2)
    d.on_understanding(yes(), 3)
    ev = d.on_understanding(Understanding("unknown", {}, 0, "tardaron mucho"), 4)
    assert any(isinstance(e, TicketOpened) for e in ev) and d.result.ticket
    assert not any(isinstance(e, Transfer) for e in ev)


def test_transfer_failure_apologises_and_opens_ticket(script):
    d, _ = new(script)
    d.on_understanding(Understanding("human", {}, 1.0, "páseme con un asesor"), 1)
    ev = d.on_transfer_failed(2)
    assert kinds(ev) == ["Say", "TicketOpened", "Hangup"] and d.result.outcome == "transfer_failed"


@pytest.mark.parametrize("question_answers", [[], [yes()], [yes(), score(3)]])
def test_opt_out_at_any_point(script, question_answers):
    d, _ = new(script)
    for u in question_answers:
        d.on_understanding(u, 1)
    ev = d.on_understanding(Understanding("opt_out", {}, 1.0, "no me vuelvan a llamar"), 2)
    assert ev[0] == AnswerRecorded(2, "opt_out", True, "no me vuelvan a llamar", "voice")
    assert "no le volveremos a llamar" in ev[1].text and ev[-1] == Hangup(2, "opt_out")
    assert d.result.opt_out and d.finished


def test_no_input_reprompts_twice_with_shorter_wording_then_moves_on(script):
    d, _ = new(script)
    d.on_understanding(yes(), 1)
    first = d.on_no_input(2)
    assert [e.prompt for e in first] == ["score.reprompt"]
    assert len(first[0].text) < len(script.questions["score"].prompt)
    second = d.on_understanding(Understanding("unknown", {}, 0.2, "bla"), 3)
    assert [e.prompt for e in second] == ["no_match", "score.keypad"]  # a miss: ask for the keypad
    d.on_no_input(4)
    assert d.awaiting.id == "resolved" and d.result.score is None


def test_repeat_replays_the_full_question(script):
    d, _ = new(script)
    ev = d.on_understanding(Understanding("repeat", {}, 1.0, "¿cómo?"), 1)
    assert [e.prompt for e in ev] == ["repeat_intro", "consent.prompt"]
    ev = d.on_key("0", 2)
    assert [e.prompt for e in ev] == ["repeat_intro", "consent.prompt"]


def test_keypad_answers_every_closed_question(script):
    d, _ = new(script)
    d.on_key("1", 1)
    d.on_key("4", 2)
    d.on_key("2", 3)
    r = d.result
    assert (r.consent, r.score, r.resolved) == (True, 4, False)
    assert r.via == {"consent": "dtmf", "score": "dtmf", "resolved": "dtmf"}


def test_keypad_nine_asks_for_a_person_and_unknown_key_reprompts(script):
    d, _ = new(script)
    ev = d.on_key("7", 1)
    assert [e.prompt for e in ev] == ["no_match", "consent.keypad"]
    ev = d.on_key("9", 2)
    assert isinstance(ev[-1], Transfer)


def test_any_key_skips_the_open_feedback(script):
    d, _ = new(script)
    for key in "152":
        d.on_key(key, 1)
    assert d.awaiting.id == "feedback"
    d.on_key("#", 2)
    assert d.awaiting.id == "offer_human" and d.result.feedback is None


def test_declined_callback_and_wrong_person(script):
    d, _ = new(script)
    d.on_understanding(no(), 1)
    assert d.result.outcome == "declined" and d.result.consent is False
    d, _ = new(script)
    d.on_understanding(Understanding("callback_later", {"day_part": "afternoon"}, 1.0, "llámeme en la tarde"), 1)
    assert d.result.outcome == "callback_later" and d.result.callback == {"day_part": "afternoon"}
    d, _ = new(script)
    d.on_understanding(Understanding("wrong_person", {}, 1.0, "se equivocó"), 1)
    assert d.result.outcome == "wrong_person"


def test_silent_caller_gets_a_polite_goodbye(script):
    d, _ = new(script)
    for t in range(3):
        ev = d.on_no_input(t)
    assert d.result.outcome == "no_answer" and "No logro escucharle" in ev[-2].text


def test_caller_hangup_keeps_answers(script):
    d, _ = new(script)
    d.on_understanding(yes(), 1)
    d.on_understanding(score(3), 2)
    d.on_caller_hangup(3)
    assert d.result.outcome == "hung_up" and d.result.score == 3 and d.finished


def test_script_validation_rejects_unknown_targets(script):
    import copy

    from encuestador.prompts_data import load_yaml

    data = copy.deepcopy(load_yaml("survey.yaml"))
    data["questions"]["score"]["next"] = "nowhere"
    with pytest.raises(ValueError, match="unknown next step 'nowhere'"):
        SurveyScript.from_dict(data)


# -- read-back, keypad after a miss, answers decided again ---------------------------------------

def unsure_score(n):
    return Understanding("score", {"score": n}, 0.5, f"¿{n}?", confirm=True)


def test_an_unsure_answer_is_read_back_and_stored_only_after_a_yes(script):
    d, _ = new(script)
    d.on_understanding(yes(), 1)
    ev = d.on_understanding(unsure_score(4), 2)
    assert kinds(ev) == ["ConfirmAsked", "Say"] and ev[-1].text.startswith("Entendí que nos da un cuatro. ¿Es correcto?")
    assert d.awaiting.id == "confirm" and d.confirming.question == "score" and d.confirming.value == 4
    assert d.result.score is None  # nothing stored yet
    ev = d.on_understanding(yes(), 3)
    assert isinstance(ev[0], AnswerRecorded) and (ev[0].question, ev[0].value) == ("score", 4)
    assert d.result.score == 4 and d.awaiting.id == "resolved" and d.confirming is None


def test_a_wrong_read_back_asks_again_for_the_keypad_and_a_key_wins(script):
    d, _ = new(script)
    d.on_understanding(yes(), 1)
    d.on_understanding(unsure_score(3), 2)
    ev = d.on_understanding(no(), 3)
    assert [e.prompt for e in ev] == ["score.keypad"] and "marque" in ev[0].text
    assert d.result.score is None and d.awaiting.id == "score"
    d.on_key("5", 4)
    assert d.result.score == 5 and d.result.via["score"] == "dtmf"


def test_a_score_key_during_the_read_back_answers_the_score(script):
    d, _ = new(script)
    d.on_understanding(yes(), 1)
    d.on_understanding(unsure_score(3), 2)
    d.on_key("4", 3)  # not 1/2 (sí/no): a score
    assert d.result.score == 4 and d.awaiting.id == "resolved"


def test_silence_at_the_read_back_asks_once_more_then_for_the_keypad(script):
    d, _ = new(script)
    d.on_understanding(yes(), 1)
    d.on_understanding(unsure_score(2), 2)
    assert [e.prompt for e in d.on_no_input(3)] == ["confirm.reprompt"]
    assert [e.prompt for e in d.on_no_input(4)] == ["no_match", "score.keypad"]
    assert d.awaiting.id == "score" and d.result.score is None


def test_an_opt_out_heard_unsurely_is_read_back_and_a_no_keeps_the_call_going(script):
    d, _ = new(script)
    ev = d.on_understanding(Understanding("opt_out", {}, 0.9, "no me ... llamar", confirm=True), 1)
    assert "no desea que le volvamos a llamar" in ev[-1].text and not d.result.opt_out
    d.on_understanding(no(), 2)
    assert d.awaiting.id == "consent" and not d.finished and not d.result.opt_out
    d2, _ = new(script)
    d2.on_understanding(Understanding("opt_out", {}, 0.9, "no me ... llamar", confirm=True), 1)
    ev = d2.on_understanding(yes(), 2)
    assert d2.result.opt_out and d2.result.outcome == "opt_out" and isinstance(ev[-1], Hangup)


def test_a_request_the_audio_suggests_at_two_misses_in_a_row_is_read_back(script):
    # «Ya no me llamen» heard as «diez, ocho, nueve, diez» then as nonsense, the candidates best
    # liking the opt-out both times: the second miss reads the opt-out back.
    d, _ = new(script)
    d.on_understanding(yes(), 1)
    heard = Understanding("unknown", {"out_of_range": True, "best": "opt_out"}, 0.5, "diez, ocho, nueve, diez")
    assert [e.prompt for e in d.on_understanding(heard, 2)] == ["no_match", "score.keypad"]
    ev = d.on_understanding(Understanding("unknown", {"best": "opt_out"}, 0.7, "Tienos, me llaman."), 3)
    assert "no desea que le volvamos a llamar" in ev[-1].text and not d.result.opt_out
    d.on_understanding(yes(), 4)
    assert d.result.opt_out and d.finished


def test_a_call_back_read_back_after_two_misses_keeps_the_time_the_transcript_caught(script):
    d, _ = new(script)
    d.on_understanding(yes(), 1)
    for i in (2, 3):
        d.on_understanding(Understanding("unknown", {"best": "callback_later", "best_slots": {"day_part": "afternoon"}},
                                         0.6, "Ya me, en la tarde"), i)
    assert d.confirming is not None and d.confirming.understanding.slots == {"day_part": "afternoon"}
    d.on_understanding(yes(), 4)
    assert d.result.outcome == "callback_later" and d.result.callback == {"day_part": "afternoon"}


def test_misses_suggesting_different_things_are_asked_again(script):
    d, _ = new(script)
    d.on_understanding(yes(), 1)
    for i, best in enumerate(("opt_out", "human"), 2):
        ev = d.on_understanding(Understanding("unknown", {"best": best}, 0.5, "…"), i)
        assert d.confirming is None and ev[0].prompt == "no_match", best
    d2, _ = new(script)
    d2.on_understanding(yes(), 1)
    for i in (2, 3):  # an answer the audio suggests twice is not a request: asked again (then the keypad)
        d2.on_understanding(Understanding("unknown", {"best": "score:4"}, 0.5, "…"), i)
    assert d2.confirming is None


def test_a_clear_opt_out_is_honoured_at_once(script):
    d, _ = new(script)
    ev = d.on_understanding(Understanding("opt_out", {}, 1.0, "no me vuelvan a llamar"), 1)
    assert d.result.opt_out and isinstance(ev[-1], Hangup)


def test_revise_keeps_an_unchanged_answer_and_asks_the_next_question_again(script):
    d, _ = new(script)
    state = d.checkpoint()
    d.on_understanding(yes(), 1)  # «Sí…» taken at the pause
    ev = d.revise(state, Understanding("yes", {"answer": True}, 1.0, "sí, claro"), 2)  # «… claro»
    assert kinds(ev) == ["Say"] and ev[0].prompt == "score.prompt"  # not stored twice
    assert d.result.consent is True and d.awaiting.id == "score"


def test_revise_corrects_a_stored_answer(script):
    d, _ = new(script)
    d.on_understanding(yes(), 1)
    state = d.checkpoint()
    d.on_understanding(score(4), 2)  # «Cuatro…»
    ev = d.revise(state, score(5), 3)  # «… no, cinco»
    assert kinds(ev)[:2] == ["AnswerCorrected", "AnswerRecorded"]
    assert (ev[0].question, ev[0].previous, ev[0].value) == ("score", 4, 5) and ev[1].value == 5
    assert d.result.score == 5 and d.awaiting.id == "resolved"


def test_revise_takes_back_an_answer_that_is_no_longer_clear(script):
    d, _ = new(script)
    d.on_understanding(yes(), 1)
    state = d.checkpoint()
    d.on_understanding(score(4), 2)
    ev = d.revise(state, Understanding("unknown", {"candidates": [3, 4]}, 0.5, "cuatro o tres"), 3)
    assert kinds(ev)[:2] == ["AnswerCorrected", "AnswerRecorded"] and ev[1].value is None
    assert d.result.score is None and d.awaiting.id == "score"


def test_revise_undoes_a_decline_that_the_caller_took_back(script):
    d, _ = new(script)
    state = d.checkpoint()
    ev = d.on_understanding(no(), 1)  # «No…» → closing words, hang-up pending
    assert isinstance(ev[-1], Hangup)
    ev = d.revise(state, Understanding("yes", {"answer": True}, 1.0, "no, bueno, sí"), 2)
    assert kinds(ev) == ["AnswerCorrected", "AnswerRecorded", "Say"]
    assert d.result.consent is True and d.awaiting.id == "score" and not d.finished and d.result.outcome is None


# -- privacy: the notice after the greeting, and «no quiero que me graben» ------------------------
def private(script, **privacy):
    from encuestador.dialogue.survey import PrivacyNotice

    customer = CustomerContext(company="Telecom del Norte", name="Ana", privacy=PrivacyNotice(**privacy))
    d = SurveyDialogue(script, customer)
    return d, d.start(0)


def test_privacy_notice_follows_the_greeting_with_the_url_read_aloud(script):
    d, events = private(script, url="https://telecom.mx/privacidad")
    assert [e.prompt for e in events] == ["greeting", "privacy_notice", "consent.prompt"]
    notice = events[1]
    assert notice.interruptible
    assert notice.text.startswith("Telecom del Norte graba esta llamada para mejorar su atención")
    assert notice.text.endswith("telecom punto mx diagonal privacidad.") and "https" not in notice.text


def test_privacy_notice_with_a_phone_and_not_interruptible_when_configured(script):
    _, events = private(script, phone="800 123 4567", interruptible=False)
    assert "al 800 123 4567." in events[1].text and events[1].interruptible is False


def test_no_privacy_notice_unless_configured(script):
    _, events = new(script)
    assert "privacy_notice" not in [e.prompt for e in events if isinstance(e, Say)]
    _, events = private(script)  # neither URL nor phone: nothing to point at
    assert "privacy_notice" not in [e.prompt for e in events if isinstance(e, Say)]


def test_privacy_notice_is_about_eight_seconds_of_speech(script):
    d, _ = private(script, url="https://www.telecom.mx/privacidad")
    # one sentence of about 8 s: Kokoro em_santa says these 19 words in 7.9 s
    assert len(d.privacy_notice().split()) <= 20


def test_stop_recording_says_so_and_asks_the_pending_question_again(script):
    from encuestador.events import StopRecording

    d, _ = new(script)
    d.on_understanding(yes(), 1)
    ev = d.on_understanding(Understanding("stop_recording", {}, 1.0, "no quiero que me graben"), 2)
    assert kinds(ev) == ["StopRecording", "Say", "Say"]
    assert ev[0] == StopRecording(2, "no quiero que me graben", "voice")
    assert ev[1].text == "Entendido, dejamos de grabar." and ev[2].prompt == "score.prompt"
    assert d.awaiting.id == "score" and d.result.recording_stopped
    d.on_understanding(score(4), 3)
    assert d.result.score == 4 and d.awaiting.id == "resolved"  # the survey goes on


def test_stop_recording_during_the_open_question_keeps_asking_for_comments(script):
    d, _ = new(script)
    for u in (yes(), score(5), yes()):
        d.on_understanding(u, 1)
    assert d.awaiting.id == "feedback"
    ev = d.on_understanding(Understanding("stop_recording", {}, 1.0, "sin grabar"), 2)
    assert kinds(ev)[0] == "StopRecording" and ev[-1].prompt == "feedback.prompt" and d.result.feedback is None


def test_stop_recording_heard_only_nearly_is_read_back_first(script):
    d, _ = new(script)
    ev = d.on_understanding(Understanding("stop_recording", {}, 0.7, "no quiero que me graben", confirm=True), 1)
    assert kinds(ev) == ["ConfirmAsked", "Say"] and "no desea que grabemos" in ev[1].text
    assert not d.result.recording_stopped
    ev = d.on_understanding(yes(), 2)
    assert kinds(ev)[0] == "StopRecording" and ev[-1].prompt == "consent.prompt" and d.result.recording_stopped


def test_parser_hears_the_ways_of_asking_not_to_be_recorded():
    from encuestador.understand.parser import IntentParser

    parser = IntentParser()
    for said in ("No quiero que me graben.", "No me grabe, por favor.", "No quiero que se grabe.", "Sin grabar."):
        assert parser.parse(said, "score").intent == "stop_recording", said
    assert parser.parse("No quiero que me llamen.", "score").intent == "opt_out"
    assert parser.parse("No, grave.", "yes_no").intent == "no"  # b and v sound alike: no bare «no grabe»
    assert parser.parse("¿Me están grabando?", "yes_no").intent == "unknown"
