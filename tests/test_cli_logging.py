"""The serve log cannot be forged by a peer's bytes: control characters and newlines are escaped in every
message; a traceback keeps its lines, each indented so none passes for a log line."""

from __future__ import annotations

import io
import logging

from encuestador.cli_logging import SafeFormatter, escape_controls, setup_logging

FORGED = "sip:5512345678\r\n2026-07-15 10:00:00,000 INFO encuestador.sip: call abc ended: completed\x1b[2J\x1b]0;pwn\x07"


def test_escape_controls_keeps_text_and_escapes_every_control():
    assert escape_controls("José Peña, llamada 4/5") == "José Peña, llamada 4/5"
    assert escape_controls("a\nb\rc\td\x00e\x1b[31mf\x7fg\x85h\u2028i\u202ej") == \
        "a\\nb\\rc\\td\\x00e\\x1b[31mf\\x7fg\\x85h\\u2028i\\u202ej"


def log_through(message: str, *args, exc: BaseException | None = None) -> str:
    stream = io.StringIO()
    logger = logging.getLogger("encuestador.test_forgery")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SafeFormatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        if exc is None:
            logger.warning(message, *args)
        else:
            try:
                raise exc
            except type(exc):
                logger.exception(message, *args)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_a_forged_line_in_a_message_stays_on_one_escaped_line():
    out = log_through("bad request from %s", FORGED)
    assert out.count("\n") == 1 and "\x1b" not in out and "\r" not in out
    assert out == ("WARNING encuestador.test_forgery: bad request from sip:5512345678\\r\\n2026-07-15 10:00:00,000 "
                   "INFO encuestador.sip: call abc ended: completed\\x1b[2J\\x1b]0;pwn\\x07\n")


def test_a_traceback_is_indented_and_its_message_escaped():
    out = log_through("call %s: worker failed", "c1", exc=ValueError(f"packet {FORGED}"))
    first, *rest = out.rstrip("\n").split("\n")
    assert first == "ERROR encuestador.test_forgery: call c1: worker failed"
    assert rest and all(line.startswith("    | ") for line in rest)
    assert rest[-2:] == ["    | ValueError: packet sip:5512345678",        # the forged line: indented, escaped
                         "    | 2026-07-15 10:00:00,000 INFO encuestador.sip: call abc ended: completed"
                         "\\x1b[2J\\x1b]0;pwn\\x07"]
    assert "\x1b" not in out and "\r" not in out


def test_setup_logging_installs_the_safe_formatter_on_the_root_logger():
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    try:
        setup_logging(stream=stream)
        logging.getLogger("encuestador.sip").info("From: %s", "x\ny")
        assert stream.getvalue().endswith("INFO encuestador.sip: From: x\\ny\n")
        assert all(isinstance(h.formatter, SafeFormatter) for h in root.handlers)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
