"""How SMTP failures are classified (pure): aiosmtplib's own exception objects in, SendError out."""

from __future__ import annotations

import asyncio
import ssl

import aiosmtplib
import pytest

from mailtix.config.model import SmtpConfig
from mailtix.domain.errors import SendError
from mailtix.outbound.smtp_sender import SmtpSender, classify


def refused(code: int, recipient: str = "x@example.org") -> aiosmtplib.SMTPRecipientRefused:
    return aiosmtplib.SMTPRecipientRefused(code, f"5.1.1 <{recipient}>: rejected", recipient)


@pytest.mark.parametrize(
    ("exc", "permanent", "message"),
    [
        (
            aiosmtplib.SMTPRecipientsRefused([refused(550)]),
            True,
            "x@example.org: 550 5.1.1 <x@example.org>: rejected",
        ),
        (aiosmtplib.SMTPRecipientsRefused([refused(550), refused(450, "y@e.org")]), False, "450"),
        (aiosmtplib.SMTPSenderRefused(553, "5.7.1 sender rejected", "a@b"), True, "553 5.7.1"),
        (aiosmtplib.SMTPDataError(552, "5.3.4 Message size exceeds fixed limit"), True, "552"),
        (aiosmtplib.SMTPDataError(451, "4.3.0 try again later"), False, "451 4.3.0 try again"),
        (aiosmtplib.SMTPResponseException(421, "4.4.2 bye"), False, "421 4.4.2 bye"),
        (aiosmtplib.SMTPServerDisconnected("Connection lost"), False, "disconnected"),
        (aiosmtplib.SMTPConnectError("Error connecting: refused"), False, "cannot connect"),
        (aiosmtplib.SMTPConnectTimeoutError("Timed out connecting"), False, "timed out"),
        (aiosmtplib.SMTPReadTimeoutError("Timed out waiting"), False, "timed out"),
        (ConnectionRefusedError(111, "Connection refused"), False, "cannot connect"),
        (ValueError("Address '<>' contains characters not permitted"), True, "invalid address"),
        (aiosmtplib.SMTPNotSupported("SMTPUTF8 is not supported"), True, "not supported"),
    ],
)
def test_send_errors(exc: BaseException, permanent: bool, message: str) -> None:
    error = classify(exc, phase="send", host="smtp.example.com:587")
    assert isinstance(error, SendError)
    assert error.permanent is permanent
    assert message in str(error)
    assert "\n" not in str(error)


def test_login_failures_are_permanent_and_say_so() -> None:
    error = classify(
        aiosmtplib.SMTPAuthenticationError(535, "5.7.8 bad credentials"), phase="login"
    )
    assert (error.permanent, str(error)) == (True, "login failed: 535 5.7.8 bad credentials")
    error = classify(aiosmtplib.SMTPException("No suitable authentication method"), phase="login")
    assert error.permanent and str(error).startswith("login failed:")


def test_starttls_missing_is_a_permanent_tls_failure() -> None:
    exc = aiosmtplib.SMTPException("SMTP STARTTLS extension not supported by server.")
    error = classify(exc, phase="starttls")
    assert error.permanent
    assert str(error) == (
        "TLS failed: SMTP STARTTLS extension not supported by server. "
        "(refusing to send in plain text)"
    )


def test_starttls_temporary_refusal_is_temporary_but_still_a_tls_failure() -> None:
    error = classify(
        aiosmtplib.SMTPResponseException(454, "4.7.0 TLS not available"), phase="starttls"
    )
    assert not error.permanent
    assert str(error).startswith("TLS failed: 454 4.7.0 TLS not available")


@pytest.mark.parametrize("phase", ["connect", "starttls", "send"])
def test_certificate_failure_anywhere_is_permanent(phase: str) -> None:
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate")
    try:
        try:
            raise cause
        except ssl.SSLError as inner:
            raise aiosmtplib.SMTPConnectError("Error connecting to x on port 465") from inner
    except aiosmtplib.SMTPConnectError as exc:
        error = classify(exc, phase=phase)
    assert error.permanent
    assert str(error).startswith("TLS failed: ")
    assert "self-signed certificate" in str(error)
    assert str(error).endswith("(refusing to send in plain text)")


def test_password_is_redacted_from_messages() -> None:
    config = SmtpConfig(host="127.0.0.1", port=1, security="none", username="u", password="hunter2")
    sender = SmtpSender(config)

    async def fail() -> None:
        raise aiosmtplib.SMTPAuthenticationError(535, "5.7.8 hunter2 is not the password")

    with pytest.raises(SendError) as caught:
        asyncio.run(sender._step("login", fail()))
    assert "hunter2" not in str(caught.value)
    assert "***" in str(caught.value)
    assert "hunter2" not in repr(config)


def test_connection_lost_is_a_fact_of_the_error_not_of_its_wording() -> None:
    import aiosmtplib

    from mailtix.outbound.smtp_sender import classify

    assert classify(ConnectionRefusedError("refused"), host="h").connection_lost
    assert classify(aiosmtplib.SMTPServerDisconnected("gone"), host="h").connection_lost
    assert classify(aiosmtplib.SMTPTimeoutError("slow"), host="h").connection_lost
    refused = aiosmtplib.SMTPResponseException(550, "5.1.1 no such user (connect later)")
    assert not classify(refused, host="h").connection_lost
    busy = aiosmtplib.SMTPResponseException(451, "4.3.0 try again, timeout in queue")
    assert not classify(busy, host="h").connection_lost
