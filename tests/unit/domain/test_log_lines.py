"""Log lines: JSON is one ASCII object per line with the fields that apply (from ``extra`` or
the ``log_context``), hostile text escaped, secrets masked in both formats; -v lowers the
configured level."""

from __future__ import annotations

import io
import json
import logging

import pytest

from mailtix.domain.log_lines import (
    JsonFormatter,
    TextFormatter,
    add_log_fields,
    level_for,
    log_context,
)

SECRET = "hunter2-imap-password"


def capture(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"mailtix.test.{id(stream)}")
    logger.handlers, logger.propagate = [handler], False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_json_lines_carry_the_fields_that_apply_and_nothing_raw() -> None:
    log, out = capture(JsonFormatter([SECRET]))
    log.warning("plain")
    with log_context(mailbox="support", message_id="<1@customer.test>"):
        add_log_fields(ticket="SUP-7")
        log.error("subject \x1b[2J\u202e evil\nsecond line; login %s", SECRET)
        with log_context(mailbox="sales"):
            log.info("inner")
    log.info("given", extra={"mailbox": "billing"})
    try:
        raise ValueError(f"password {SECRET} refused")
    except ValueError:
        log.exception("failed")
    lines = out.getvalue().splitlines()
    assert len(lines) == 5 and all(line.isascii() for line in lines)
    plain, hostile, inner, given, failed = (json.loads(line) for line in lines)
    assert plain.keys() == {"time", "level", "logger", "message"}
    assert plain["level"] == "warning" and plain["time"].endswith("+00:00")
    assert hostile["message"] == "subject \x1b[2J\u202e evil\nsecond line; login ***"
    assert (hostile["mailbox"], hostile["ticket"], hostile["message_id"]) == (
        "support", "SUP-7", "<1@customer.test>",
    )  # fmt: skip
    assert inner["mailbox"] == "sales" and inner["ticket"] == "SUP-7"
    assert given == {**given, "mailbox": "billing"} and "ticket" not in given  # context is over
    assert "ValueError: password *** refused" in failed["exception"]
    assert SECRET not in out.getvalue()


def test_fields_outside_any_context_are_not_kept() -> None:
    log, out = capture(JsonFormatter())
    add_log_fields(ticket="SUP-1")  # no context open: nothing to add to, nothing leaks
    log.warning("x")
    assert "ticket" not in json.loads(out.getvalue())


def test_text_lines_mask_secrets_too() -> None:
    log, out = capture(TextFormatter([SECRET, "abc"]))  # "abc": too short to be masked
    log.warning("login %s failed for abc", SECRET)
    assert out.getvalue().rstrip().endswith("login *** failed for abc")


def test_text_lines_show_controls_instead_of_obeying_them() -> None:
    log, out = capture(TextFormatter())
    log.warning("subject \x1b]52;c;evil\x07 \u202eabc\x7f\ttab")
    line = out.getvalue().rstrip("\n")
    assert line.endswith("subject \u241b]52;c;evil\u2407 <U+202E>abc\u2421\ttab")


@pytest.mark.parametrize(
    ("name", "verbose", "level"),
    [("warning", 0, logging.WARNING), ("warning", 1, logging.INFO), ("warning", 2, logging.DEBUG),
     ("warning", 5, logging.DEBUG), ("error", 1, logging.WARNING), ("info", 0, logging.INFO)],
)  # fmt: skip
def test_each_v_lowers_the_configured_level_one_step(name: str, verbose: int, level: int) -> None:
    assert level_for(name, verbose) == level
