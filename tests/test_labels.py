"""Every English reason shared code gives (importer, phones, calling rules, tickets) comes out in Spanish
through ``spanish_reason``: the messages are made by calling the real functions with bad input."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from encuestador.campaign.importer import BINARY_MAGIC, ImportFileError, import_customers, import_dnc
from encuestador.campaign.phones import PhoneError, normalize_mx
from encuestador.campaign.rules import Attempt, CallingRules
from encuestador.dialogue.script import SurveyScript
from encuestador.dialogue.survey import CustomerContext, SurveyDialogue
from encuestador.events import TicketOpened
from encuestador.labels import spanish_date, spanish_reason
from encuestador.store import open_store

# Words of the English messages that are not also Spanish words ("no", "a", "control", "local", "byte" are).
ENGLISH = set("""the of on in is not an and for with from than has this as at to it can
missing duplicate kept line expected got digits national number empty unexpected characters country code
area does start closed date federal holiday calls call outside hours window list survey complete score
resolution answered customer customers progress finished outcome attempts used requested already called
today day days retry before due file binary data read check accented names valid object more field
header removed save first column char codec decode transfer failed resolved asked person never opens next
rules mexican required expecting value sunday monday saturday december november january
encrypted decrypt key configured altered truncated give config which""".split())
COLUMNS = {"customer_id", "name", "phone", "topic", "last_contact", "notes"}   # the CSV header, as written
PHONE = "+525512345678"   # Mexico City: UTC-6 all year


def english_words(text: str) -> set[str]:
    """English words left in ``text``, leaving out «quoted input» and the CSV's column names."""
    text = re.sub(r"«[^»]*»", "", text)
    words = {w.lower() for w in re.findall(r"[^\W\d_]+(?:_[^\W\d_]+)*", text)} - COLUMNS
    return words & ENGLISH


def assert_spanish(message: str) -> str:
    spanish = spanish_reason(message)
    assert spanish != message, f"no pattern in labels.yaml motivos: for {message!r}"
    assert not english_words(spanish), f"{message!r} → {spanish!r} keeps {english_words(spanish)}"
    return spanish


# -- the importer and the phone numbers --------------------------------------------------------------------
def importer_messages(folder: Path) -> list[str]:
    store = open_store(folder / "labels.db")
    messages: list[str] = []

    def run(name: str, content: bytes, importer=import_customers) -> None:
        path = folder / name
        path.write_bytes(content)
        try:
            report = importer(path, store)
        except (ImportFileError, UnicodeDecodeError) as e:
            messages.append(str(e))
            return
        messages.extend(reason for _, reason in report.errors)
        messages.extend(report.notices)

    rows = ("customer_id,name,phone,topic,last_contact\n"
            "C-1,Ana,5512345678,,\n"
            ",Sin id,5512345679,,\n"
            "C-2,,5512345670,,\n"
            "C-3,Beto,,,\n"
            "C-4,Caro,5512345671,,,sobra\n"
            "C-5,Dani,12,,\n"
            "C-6,Eva,55-12ab-3456,,\n"
            "C-7,Fer,+1 555 123 4567,,\n"
            "C-8,Gil,0512345678,,\n"
            "C-9,Hugo,5512345672,,ayer\n"
            "C-1,Ana otra vez,5512345673,,\n"
            "C-10,Iv\x1ban,5512345674,,\n")
    run("filas.csv", rows.encode("utf-8"))
    run("acentos.csv", "customer_id,name,phone\nC-11,José Peña,5512345675\n".encode("cp1252"))
    run("columnas.csv", b"cliente,nombre\nC-12,Luz\n")
    run("roto.json", b'[{"customer_id": "C-13",')
    run("objeto.json", b'{"customer_id": "C-14"}')
    run("lista.json", b'[{"customer_id": "C-15", "name": "Mar", "phone": "5512345676"}, 7]')
    for i, magic in enumerate(BINARY_MAGIC):
        run(f"binario{i}.csv", magic + b"\x00" * 64)
    run("bytes.csv", b"customer_id,name,phone\n" + bytes(range(1, 9)) * 40)
    run("mitad.csv", b"\xff\xfe" + "customer_id".encode("utf-16-le") + b"\x00\xd8")
    run("no_llamar.csv", b"telefono\n33 1111 2222\n12345\n", importer=import_dnc)
    store.close()
    return messages


def test_every_importer_and_phone_message_is_spanish(tmp_path):
    messages = importer_messages(tmp_path)
    try:
        normalize_mx("")
    except PhoneError as e:
        messages.append(str(e))
    assert len(messages) >= 20 + len(BINARY_MAGIC)
    spanish = {m: assert_spanish(m) for m in messages}
    assert spanish["missing customer_id"] == "falta customer_id"
    assert spanish["duplicate customer_id 'C-1' (line 2 kept)"] == \
        "customer_id «C-1» repetido (se conservó la línea 2)"
    assert "se esperaban 10 dígitos nacionales y hay 2 en «12»" in spanish.values()
    assert not any(str(tmp_path) in s for s in spanish.values())   # the upload's temporary path is not shown


# -- the calling rules -------------------------------------------------------------------------------------
def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def rules_messages() -> list[str]:
    rules = CallingRules.load()
    tuesday = at("2026-12-01T10:00:00-06:00")
    miss = "no_answer"
    verdicts = [
        rules.verdict(PHONE, tuesday, []),                                                   # due
        CallingRules.load({"closed_dates": ["2026-12-01"]}).verdict(PHONE, tuesday, []),
        rules.verdict(PHONE, at("2026-12-25T10:00:00-06:00"), []),                          # Navidad
        rules.verdict(PHONE, at("2026-11-29T10:00:00-06:00"), []),                          # Sunday
        rules.verdict(PHONE, at("2026-12-01T19:30:00-06:00"), []),                          # after hours
        rules.verdict(PHONE, tuesday, [], dnc=True),
        rules.verdict(PHONE, tuesday, [], survey_complete=True),
        rules.verdict(PHONE, tuesday, [Attempt(tuesday - timedelta(minutes=3), None)]),
        rules.verdict(PHONE, tuesday, [Attempt(tuesday - timedelta(days=2), "opt_out")]),
        rules.verdict(PHONE, tuesday, [Attempt(tuesday - timedelta(days=d), miss) for d in (6, 4, 2)]),
        rules.verdict(PHONE, tuesday, [], callback_at=tuesday + timedelta(days=1)),
        rules.verdict(PHONE, tuesday + timedelta(hours=4), [Attempt(tuesday, miss)]),
        rules.verdict(PHONE, tuesday, [Attempt(tuesday - timedelta(hours=20), miss)]),
    ]
    messages = [v.reason for v in verdicts]
    closed_for_months = CallingRules.load({"closed_dates": [(date(2026, 12, 1) + timedelta(days=d)).isoformat()
                                                            for d in range(70)]})
    with pytest.raises(ValueError) as never:
        closed_for_months.next_open(tuesday.astimezone(verdicts[0].local_time.tzinfo))
    return messages + [str(never.value)]


def test_every_calling_rule_reason_is_spanish():
    messages = rules_messages()
    assert len(set(messages)) == len(messages)   # each case gave its own reason
    spanish = [assert_spanish(m) for m in messages]
    assert spanish[0] == "se puede llamar ahora"
    assert spanish[1] == "día sin llamadas (1 de diciembre de 2026)"
    assert spanish[2] == "día de descanso obligatorio (Navidad)"
    assert spanish[3] == "no se llama en domingo"
    assert spanish[8] == "encuesta terminada (resultado: Pidió no ser llamado)"
    assert spanish[10] == "pidió que le llamen el 2 de diciembre de 2026 a las 10:00 (hora local)"


# -- encrypted recordings and event logs the console opens -------------------------------------------------
def test_every_decryption_message_is_spanish(tmp_path):
    from encuestador.privacy.crypto import Keyring, SealedDataError, open_value_without_key
    from encuestador.privacy.files import read_call_file

    ours, theirs = Keyring.of(bytes(range(32))), Keyring.of(bytes(range(1, 33)))
    token, blob = ours.seal_value("dos"), ours.seal_bytes(b"RIFF" + bytes(100))
    altered_token = token[:-6] + ("AAAA==" if not token.endswith("AAAA==") else "BBBB==")
    (tmp_path / "llamada.wav").write_bytes(blob)
    attempts = [lambda: theirs.open_value(token), lambda: ours.open_value(altered_token),
                lambda: ours.open_bytes(blob[:-1] + bytes([blob[-1] ^ 1])), lambda: open_value_without_key(token),
                lambda: read_call_file(tmp_path / "llamada.wav", None)]
    messages = []
    for attempt in attempts:
        with pytest.raises(SealedDataError) as failure:
            attempt()
        messages.append(str(failure.value))
    assert len(set(messages)) == len(attempts)
    for message in messages:
        assert_spanish(message)


# -- the tickets a call opens ------------------------------------------------------------------------------
@pytest.mark.parametrize("score,resolved", [(2, False), (2, None), (None, False), (None, None)])
def test_ticket_reasons_are_spanish(score, resolved):
    dialogue = SurveyDialogue(SurveyScript.load(), CustomerContext(company="Telecom del Norte", name="Ana"))
    dialogue.result.score, dialogue.result.resolved = score, resolved
    [ticket] = [e for e in dialogue.on_transfer_failed(0) if isinstance(e, TicketOpened)]
    spanish = assert_spanish(ticket.reason)
    assert spanish.startswith("transferencia fallida; ")
    assert_spanish(ticket.reason.split("; ", 1)[1])   # the same reason without the failed transfer


def test_unknown_text_and_spanish_text_pass_through_unchanged():
    for text in ("algo que nadie tradujo", "missing customer_id and more", "", "low score; not resolved"):
        assert spanish_reason(text) == text
    assert spanish_reason(spanish_reason("missing phone")) == "falta phone"
    assert spanish_date(date(2027, 1, 6)) == "6 de enero de 2027"
