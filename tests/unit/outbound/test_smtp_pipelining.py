"""The pure parts of RFC 2920 pipelining: replies taken from bytes, what a group's replies mean,
and the message as DATA sends it."""

from __future__ import annotations

import aiosmtplib
import pytest
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

from mailtix.outbound.smtp_pipelining import MAX_REPLY_BYTES, dot_stuffed, judge, take_replies

R = aiosmtplib.SMTPResponse
LOST = aiosmtplib.SMTPServerDisconnected("Connection lost")


def test_replies_that_arrive_together_are_all_taken_in_order() -> None:
    buffer = bytearray(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n")
    assert take_replies(buffer) == [
        R(250, "2.1.0 Ok"),
        R(250, "2.1.5 Ok"),
        R(354, "End data with <CR><LF>.<CR><LF>"),
    ]
    assert buffer == b""


def test_a_reply_split_anywhere_waits_for_its_end_and_multiline_replies_join() -> None:
    wire = b"250-first\r\n250-second\r\n250 third\r\n550 5.1.1 <x@y>: no\r\n"
    buffer, replies = bytearray(), []
    for byte in wire:  # one byte a packet
        buffer.append(byte)
        replies += take_replies(buffer)
    assert replies == [R(250, "first\nsecond\nthird"), R(550, "5.1.1 <x@y>: no")]
    assert buffer == b""


def test_a_line_that_is_not_a_reply_or_too_much_without_an_end_is_refused() -> None:
    with pytest.raises(aiosmtplib.SMTPResponseException, match="Malformed"):
        take_replies(bytearray(b"hello there\r\n"))
    with pytest.raises(aiosmtplib.SMTPResponseException, match="too long"):
        take_replies(bytearray(b"250-" + b"x" * MAX_REPLY_BYTES))


RECIPIENTS = ["a@example.org", "b@example.org"]
OK, RCPT_OK, GO = R(250, "2.1.0 Ok"), R(250, "2.1.5 Ok"), R(354, "go ahead")


def test_every_address_taken_and_354_means_send() -> None:
    assert judge("s@example.test", RECIPIENTS, [OK, RCPT_OK, R(251, "will forward"), GO], LOST) == (
        {},
        None,
    )


def test_one_recipient_refused_is_listed_and_the_mail_still_goes() -> None:
    refused, error = judge("s@x.test", RECIPIENTS, [OK, R(550, "5.1.1 no"), RCPT_OK, GO], LOST)
    assert refused == {"a@example.org": R(550, "5.1.1 no")} and error is None


def test_a_refused_sender_refuses_the_mail_whatever_came_after() -> None:
    replies = [R(553, "5.7.1 sender rejected"), R(503, "need MAIL"), R(503, "need MAIL"), GO]
    refused, error = judge("s@x.test", RECIPIENTS, replies, LOST)
    assert refused == {}
    assert isinstance(error, aiosmtplib.SMTPSenderRefused)
    assert (error.code, error.sender) == (553, "s@x.test")


def test_every_recipient_refused_is_recipients_refused_as_sendmail_raises_it() -> None:
    replies = [OK, R(550, "no"), R(450, "later"), R(554, "5.5.1 no valid recipients")]
    refused, error = judge("s@x.test", RECIPIENTS, replies, LOST)
    assert isinstance(error, aiosmtplib.SMTPRecipientsRefused)
    assert [(r.recipient, r.code) for r in error.recipients] == [
        ("a@example.org", 550),
        ("b@example.org", 450),
    ]
    assert set(refused) == set(RECIPIENTS)


def test_data_refused_after_a_good_envelope_is_a_data_error() -> None:
    _, error = judge("s@x.test", RECIPIENTS, [OK, RCPT_OK, RCPT_OK, R(451, "4.3.0 later")], LOST)
    assert isinstance(error, aiosmtplib.SMTPDataError) and error.code == 451


@pytest.mark.parametrize("cut", [0, 1, 2, 3])
def test_replies_cut_off_by_a_lost_connection_never_mean_send(cut: int) -> None:
    _, error = judge("s@x.test", RECIPIENTS, [OK, RCPT_OK, RCPT_OK, GO][:cut], LOST)
    assert error is LOST


def test_a_recipient_refused_before_the_connection_went_is_still_named() -> None:
    refused, error = judge("s@x.test", RECIPIENTS, [OK, R(550, "no")], LOST)
    assert error is LOST and list(refused) == ["a@example.org"]


@pytest.mark.parametrize(
    "raw",
    [
        b"", b"a", b".", b"a\n.\nb", b".x\r\n..y\r\n", b"a\rb\n\r\n.\r\n", b"x\r\n.\r\n",
        b"\r\n", b"a\r\nb\r\n", b"a\r\nb", b"a\r\r\n", b"a\n\r\n", b"a\n\rb\r\n", b"a\r\n.b\r\n",
        b".\r\n", b"a\r\n\r\n..\r\n", b"a\rb\r\n", b"a\nb\r\n", b"\r\n.",
    ],
)  # fmt: skip
def test_the_message_is_sent_as_aiosmtplib_sends_it(raw: bytes) -> None:
    expected = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(raw)) + b".\r\n"
    assert dot_stuffed(raw) == expected
