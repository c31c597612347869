"""Topic tags and sentiment of free-form feedback (lexicon in prompts/es_MX/feedback.yaml)."""

from __future__ import annotations

import pytest

from encuestador.understand.feedback import analyze_feedback


@pytest.mark.parametrize("text,topics,sentiment", [
    ("El técnico llegó muy tarde y nadie me avisó.", {"tiempo_de_espera", "trato_del_personal", "comunicacion"}, "negative"),
    ("Todo excelente, muy amables, gracias.", {"trato_del_personal"}, "positive"),
    ("No fue amable el asesor.", {"trato_del_personal"}, "negative"),
    ("Me cobraron de más en el recibo.", {"cobros_y_precio"}, "negative"),
    ("No tardaron nada, fueron muy rápidos y puntuales.", {"tiempo_de_espera"}, "positive"),
    ("El internet sigue fallando en las tardes.", {"calidad_del_servicio", "solucion"}, "negative"),
    ("No, ninguno.", set(), "neutral"),
])
def test_feedback_topics_and_sentiment(text, topics, sentiment):
    analysis = analyze_feedback(text)
    assert set(analysis.topics) == topics and analysis.sentiment == sentiment, analysis


def test_feedback_analysis_is_stored_with_the_call_and_counted_in_reports(tmp_path):
    from encuestador.dialogue.script import SurveyScript
    from encuestador.dialogue.survey import CustomerContext, SurveyDialogue
    from encuestador.events import AnswerRecorded
    from encuestador.report import kpis
    from encuestador.store import Store, StoreSink
    from encuestador.understand.parser import Understanding

    store = Store(tmp_path / "s.db")
    store.start_call("f1", "C-1", "+525512345678")
    sink = StoreSink(store, "f1", "+525512345678")
    dialogue = SurveyDialogue(SurveyScript.load(), CustomerContext("Telecom del Norte", name="Ana"))
    events = dialogue.start(0) + dialogue.on_key("1", 1) + dialogue.on_key("2", 2) + dialogue.on_key("2", 3)
    assert dialogue.awaiting.id == "feedback"
    events += dialogue.on_understanding(Understanding("unknown", text="El técnico fue muy grosero."), 4)
    for event in events:
        sink.handle(event)
    sink.finish("completed", 1000, None)
    assert dialogue.result.feedback_analysis == {"topics": ["trato_del_personal"], "sentiment": "negative", "score": -0.67}
    assert [e.question for e in events if isinstance(e, AnswerRecorded)][-2:] == ["feedback", "feedback_analysis"]
    report = kpis.compute(store)
    assert report["feedback"] == {"answers": 1, "topics": {"trato_del_personal": 1}, "sentiment": {"negative": 1}}
