"""Spanish (Mexico) text normalisation for the voice (agent/speak/normalize.py): each rule by a table of
written → said, the edge cases, and every spoken text of prompts/es_MX/survey.yaml left unchanged."""

from __future__ import annotations

import random
import time

import pytest

from encuestador.prompts_data import load_yaml
from encuestador.speak.normalize import normalize_for_speech, number_words, speakable_name
from encuestador.speak.sentences import split_sentences


def said(text: str) -> str:
    return normalize_for_speech(text)


@pytest.mark.parametrize("n, form, words", [
    (0, "full", "cero"),
    (1, "full", "uno"),
    (1, "apocope", "un"),
    (1, "feminine", "una"),
    (15, "full", "quince"),
    (16, "full", "dieciséis"),
    (21, "full", "veintiuno"),
    (21, "apocope", "veintiún"),
    (21, "feminine", "veintiuna"),
    (22, "full", "veintidós"),
    (30, "full", "treinta"),
    (31, "apocope", "treinta y un"),
    (45, "full", "cuarenta y cinco"),
    (99, "full", "noventa y nueve"),
    (100, "full", "cien"),
    (101, "apocope", "ciento un"),
    (115, "full", "ciento quince"),
    (200, "feminine", "doscientas"),
    (500, "full", "quinientos"),
    (555, "feminine", "quinientas cincuenta y cinco"),
    (700, "full", "setecientos"),
    (999, "full", "novecientos noventa y nueve"),
    (1000, "full", "mil"),
    (1001, "full", "mil uno"),
    (1250, "full", "mil doscientos cincuenta"),
    (2026, "full", "dos mil veintiséis"),
    (21000, "full", "veintiún mil"),
    (100000, "full", "cien mil"),
    (200000, "feminine", "doscientas mil"),
    (1_000_000, "full", "un millón"),
    (2_000_000, "full", "dos millones"),
    (21_000_000, "full", "veintiún millones"),
    (1_001_001, "full", "un millón mil uno"),
    (999_999_999, "full",
     "novecientos noventa y nueve millones novecientos noventa y nueve mil novecientos noventa y nueve"),
])
def test_number_words(n, form, words):
    assert number_words(n, form) == words


@pytest.mark.parametrize("n", [-1, 1_000_000_000])
def test_number_words_out_of_range_is_a_clear_error(n):
    with pytest.raises(ValueError, match="outside"):
        number_words(n)


@pytest.mark.parametrize("written, spoken", [
    ("21 clientes", "veintiún clientes"),
    ("Respondieron 21.", "Respondieron veintiuno."),
    ("1 vez", "una vez"),
    ("21 personas", "veintiuna personas"),
    ("200 llamadas", "doscientas llamadas"),
    ("hace 1 año", "hace un año"),
    ("31 días", "treinta y un días"),
    ("101 clientes", "ciento un clientes"),
    ("2,000,000 clientes", "dos millones de clientes"),
    ("Marque 1 para sí y 2 para no.", "Marque uno para sí y dos para no."),
    ("del 1 al 5", "del uno al cinco"),
    ("1 o 2", "uno o dos"),
    ("el 1 de cada 10", "el uno de cada diez"),
    ("son 1,250", "son mil doscientos cincuenta"),
    ("3.5", "tres punto cinco"),
    ("2.05", "dos punto cero cinco"),
    ("folio 007", "folio cero cero siete"),
    ("cuenta 1234567890123", "cuenta uno dos tres cuatro cinco seis siete ocho nueve cero uno dos tres"),
    ("en 2021 tuvimos", "en dos mil veintiuno tuvimos"),
])
def test_cardinal_numbers(written, spoken):
    assert said(written) == spoken


@pytest.mark.parametrize("written, spoken", [
    ("a las 17:30", "a las cinco y media de la tarde"),
    ("9:00", "nueve de la mañana"),
    ("13:15", "una y cuarto de la tarde"),
    ("12:00", "doce del día"),
    ("20:45", "ocho cuarenta y cinco de la noche"),
    ("7:05", "siete y cinco de la mañana"),
    ("0:30", "doce y media de la noche"),
    ("19:00", "siete de la noche"),
    ("a las 1:00", "a la una"),
    ("a la 13:00", "a la una de la tarde"),
    ("Las 1:00 pm", "La una de la tarde"),
    ("a las 3:20", "a las tres y veinte"),          # 1–5 without a.m./p.m.: no part of the day
    ("a las 17:30 hrs", "a las cinco y media de la tarde"),
    ("a las 17:30 h, por favor", "a las cinco y media de la tarde, por favor"),
    ("a las 17 hrs", "a las cinco de la tarde"),
    ("a las 9 h", "a las nueve de la mañana"),
    ("de 9:00 a 18:00 hrs", "de nueve de la mañana a seis de la tarde"),
    ("de 9 am a 6 pm", "de nueve de la mañana a seis de la tarde"),
    ("de 9:00-18:00 hrs", "de nueve de la mañana a seis de la tarde"),
    ("horario 9:00 – 14:30", "horario nueve de la mañana a dos y media de la tarde"),
    ("a las 8:00 de la mañana", "a las ocho de la mañana"),     # the part of the day is not said twice
    ("a las 12:00 del día", "a las doce del día"),
    ("a las 3 a.m.", "a las tres de la madrugada."),
    ("a las 9:00 a. m. Gracias.", "a las nueve de la mañana. Gracias."),
    ("a las 12:30 am", "a las doce y media de la noche"),
    ("en 24 hrs", "en veinticuatro horas"),           # no «las»: a number of hours
    ("1 hr", "una hora"),
    ("5 min.", "cinco minutos."),
    ("21 min", "veintiún minutos"),
    ("50 Mbps", "cincuenta megas"),
])
def test_hours_and_units(written, spoken):
    assert said(written) == spoken


@pytest.mark.parametrize("written, spoken", [
    ("24:00", "veinticuatro cero cero"),
    ("25:61", "veinticinco sesenta y uno"),
    ("a las 25:61", "a las veinticinco sesenta y uno"),
    ("10:30:15", "diez:treinta:quince"),
])
def test_impossible_times_are_read_as_numbers(written, spoken):
    assert said(written) == spoken


@pytest.mark.parametrize("written, spoken", [
    ("28/11/2026", "veintiocho de noviembre de dos mil veintiséis"),
    ("28-11-2026", "veintiocho de noviembre de dos mil veintiséis"),
    ("2026-11-28", "veintiocho de noviembre de dos mil veintiséis"),
    ("28 de noviembre de 2026", "veintiocho de noviembre de dos mil veintiséis"),
    ("el 21 de noviembre", "el veintiuno de noviembre"),
    ("01/12/2026", "primero de diciembre de dos mil veintiséis"),
    ("1 de noviembre", "primero de noviembre"),
    ("el 1 de Enero", "el primero de Enero"),
    ("1º de diciembre", "primero de diciembre"),
    ("29/02/2028", "veintinueve de febrero de dos mil veintiocho"),
    ("1er piso", "primer piso"),
    ("2ª visita", "segunda visita"),
    ("3er intento", "tercer intento"),
])
def test_dates_and_ordinals(written, spoken):
    assert said(written) == spoken


@pytest.mark.parametrize("written", ["31/02/2026", "28/13/2026"])
def test_impossible_dates_are_not_said_as_dates(written):
    assert "de" not in said(written) and not any(c.isdigit() for c in said(written))


PAIRS_55 = "cincuenta y cinco, doce, treinta y cuatro, cincuenta y seis, setenta y ocho"


@pytest.mark.parametrize("written, spoken", [
    ("55 1234 5678", PAIRS_55),
    ("5512345678", PAIRS_55),
    ("+52 55 1234 5678", PAIRS_55),
    ("+52 1 55 1234 5678", PAIRS_55),
    ("(55) 1234-5678", PAIRS_55),
    ("55-1234-5678", PAIRS_55),
    ("55 12 34 56 78", PAIRS_55),
    ("33 1234 5678", "treinta y tres, doce, treinta y cuatro, cincuenta y seis, setenta y ocho"),
    ("800 123 4567", "ochocientos, ciento veintitrés, cuarenta y cinco, sesenta y siete"),
    ("222 123 4567", "doscientos veintidós, ciento veintitrés, cuarenta y cinco, sesenta y siete"),
    ("Llame al 55 0512 3400.", "Llame al cincuenta y cinco, cero cinco, doce, treinta y cuatro, cero cero."),
    ("Tel. 55 1234 5678", "Teléfono " + PAIRS_55),
])
def test_phone_numbers_in_pairs(written, spoken):
    assert said(written) == spoken


@pytest.mark.parametrize("written, spoken", [
    ("$1,250.50", "mil doscientos cincuenta pesos con cincuenta centavos"),
    ("$1 MXN", "un peso"),
    ("$21", "veintiún pesos"),
    ("$10.05", "diez pesos con cinco centavos"),
    ("$0.50", "cincuenta centavos"),
    ("$1,000,000", "un millón de pesos"),
    ("$3.5 millones", "tres millones quinientos mil pesos"),
    ("$2 millones de pesos", "dos millones de pesos"),
    ("$100 USD", "cien dólares"),
    ("son US$1.01", "son un dólar con un centavo"),
    ("cuesta USD 100", "cuesta cien dólares"),
    ("cuesta MXN $1,250", "cuesta mil doscientos cincuenta pesos"),
    ("1,250.50 pesos", "mil doscientos cincuenta pesos con cincuenta centavos"),
    ("100 MXN", "cien pesos"),
    ("1 peso", "un peso"),
    ("21 dólares", "veintiún dólares"),
])
def test_amounts(written, spoken):
    assert said(written) == spoken


@pytest.mark.parametrize("written, spoken", [
    ("85 %", "ochenta y cinco por ciento"),
    ("85%", "ochenta y cinco por ciento"),
    ("100%", "cien por ciento"),
    ("1%", "uno por ciento"),
    ("12.5 %", "doce punto cinco por ciento"),
])
def test_percentages(written, spoken):
    assert said(written) == spoken


@pytest.mark.parametrize("written, spoken", [
    ("El Sr. López y la Sra. Pérez.", "El señor López y la señora Pérez."),
    ("Sr. López", "Señor López"),
    ("Srta. Ana", "Señorita Ana"),
    ("con el Lic. Gómez", "con el licenciado Gómez"),
    ("Lic. Ana Gómez", "Licenciado Ana Gómez"),            # masculine unless «la» comes before
    ("con la Lic. Gómez", "con la licenciada Gómez"),
    ("La Ing. Ruiz", "La ingeniera Ruiz"),
    ("con el Ing. Ruiz", "con el ingeniero Ruiz"),
    ("DRA. RUIZ", "Doctora RUIZ"),
    ("el Dr. Ruiz y la Dra. Sol", "el doctor Ruiz y la doctora Sol"),
    ("Mtro. Juan, Mtra. Ana, Prof. Luis", "Maestro Juan, maestra Ana, profesor Luis"),
    ("No. 5", "Número cinco"),
    ("el Núm. 12", "el número doce"),
    ("Núm. de cliente 123", "Número de cliente ciento veintitrés"),
    ("N° 5", "Número cinco"),
    ("ext. 12", "extensión doce"),
    ("No.5", "Número cinco"),
    ("No. Gracias.", "No. Gracias."),                      # «No.» is a number only before digits
    ("Av. Reforma 222, Col. Roma", "Avenida Reforma doscientos veintidós, colonia Roma"),
    ("C.P. 06600", "Código postal cero seis seis cero cero"),
    ("Llamadas, correos, etc. Gracias.", "Llamadas, correos, etcétera. Gracias."),
    ("Llamadas, correos, etc., y más", "Llamadas, correos, etcétera, y más"),
    ("aprox. 5 min", "aproximadamente cinco minutos"),
])
def test_abbreviations(written, spoken):
    assert said(written) == spoken


@pytest.mark.parametrize("text", [
    "",
    "Hola.",
    "¿Quedó resuelto su problema? Diga sí o no.",
    "{saludo}, {nombre}. Le llamamos de {empresa}.",
    "Código ABC123, plan 4G, archivo MP3, promoción 3x2, casilla A1.",   # digits inside words
    "versión 1.2.3",
    "1,25",
    "Diga sí o no.",
])
def test_text_without_anything_to_say_differently_is_unchanged(text):
    assert said(text) == text


def test_the_voicemail_callback_number_is_said_in_pairs():
    template = load_yaml("survey.yaml")["prompts"]["voicemail_callback"]
    assert said(template.format(telefono="+52 55 1234 5678")) == (
        "Si desea comunicarse con nosotros, llame al " + PAIRS_55 + ".")


def test_punctuation_is_kept_and_sentences_still_split():
    text = ("Gracias, Sr. López. Su cita es el 28/11/2026 a las 17:30. 21 clientes respondieron. "
            "¿Le llamamos al 55 1234 5678?")
    spoken = said(text)
    assert split_sentences(spoken) == [
        "Gracias, señor López.",
        "Su cita es el veintiocho de noviembre de dos mil veintiséis a las cinco y media de la tarde.",
        "Veintiún clientes respondieron.",
        "¿Le llamamos al " + PAIRS_55 + "?",
    ]
    assert not any(c.isdigit() for c in spoken)


def test_normalising_twice_changes_nothing_more():
    text = "El Sr. López pagó $1,250.50 el 28/11/2026 a las 17:30 (85 % del total)."
    once = said(text)
    assert said(once) == once


def _spoken_texts(survey: dict) -> list[str]:
    """Every text the caller hears from survey.yaml (not the recogniser's candidate phrases)."""
    texts = list(survey["prompts"].values())
    for question in survey["questions"].values():
        texts += [question[key] for key in ("prompt", "prompt_with_topic", "reprompt", "keypad") if key in question]
    confirm = survey["confirm"]
    texts += [confirm["prompt"], confirm["reprompt"]]
    for read_back in confirm["read_back"].values():
        texts += list(read_back.values()) if isinstance(read_back, dict) else [read_back]
    texts += [str(word) for word in confirm["score_words"].values()]
    return texts


def test_every_survey_prompt_is_unchanged():
    texts = _spoken_texts(load_yaml("survey.yaml"))
    assert len(texts) > 30
    changed = {text: said(text) for text in texts if said(text) != text}
    assert changed == {}


def test_fast_enough_for_every_sentence():
    text = "El Sr. López pagó $1,250.50 el 28/11/2026 a las 17:30; llame al 55 1234 5678 (85 % de 21 clientes)."
    said(text)  # data loaded once
    start = time.perf_counter()
    for _ in range(200):
        said(text)
    assert (time.perf_counter() - start) / 200 < 0.002


@pytest.mark.parametrize("written, spoken", [
    ("JOSÉ PÉREZ", "José Pérez"),
    ("maría de la luz garcía", "María de la Luz García"),
    ("JUAN DEL RÍO Y SOTO", "Juan del Río y Soto"),
    ("DE LA GARZA LUIS", "De la Garza Luis"),
    ("JOSE PEREZ", "Jose Perez"),                          # no accents invented
    ("McAllen ramos", "McAllen Ramos"),                    # mixed case kept as given
    ("María De La Luz", "María De La Luz"),
    ("  ana   maría  ", "Ana María"),
    ("MA. GPE. LÓPEZ", "María Guadalupe López"),
    ("o'brien josé-luis", "O'Brien José-Luis"),
    ("ÁNGEL ÑÚÑEZ", "Ángel Ñúñez"),
    ("", ""),
])
def test_speakable_name(written, spoken):
    assert speakable_name(written) == spoken


def test_any_mix_of_digits_and_signs_gives_text_and_no_error():
    pieces = ["0", "1", "12", "00", "2026", "99999999999", ":", "/", "-", ".", ",", "$", "%", " ", "a", "las",
              "hrs", "am", "p.m.", "de", "noviembre", "Sr.", "No.", "+52", "(", ")", "º", "ª", "er", "USD",
              "millones", "°", "\u00a0", "¿", "A", "x", "5512345678", "29/02/2027", "US$"]
    rng = random.Random(7)
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        assert isinstance(said(text), str), text


def test_the_voice_says_the_written_out_text():
    """The prompt cache synthesises what ``normalize_for_speech`` writes, and a customer's name is re-cased."""
    import numpy as np

    from encuestador.dialogue.survey import CustomerContext
    from encuestador.speak.cache import PromptCache
    from encuestador.speak.tts import EspeakSynthesizer

    cache = PromptCache(EspeakSynthesizer(), None)
    assert np.array_equal(cache.render("Le llamamos a las 17:30."),
                          cache.render("Le llamamos a las cinco y media de la tarde."))
    assert CustomerContext(company="X", name="JOSÉ PÉREZ").name == "José Pérez"
