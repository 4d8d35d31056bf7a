"""Decide whether a parsed message was sent by a machine (RFC 3834, RFC 3464, RFC 2369/2919).

Pure: reads only ParsedMail headers and addresses. The first matching check wins, in the order
own → bounce → auto-reply → list → bulk → system → human; ``reason`` names the deciding header.
``responses_refused`` reads a separate question: whether a (possibly human) sender asked for no
automatic response (Exchange's ``X-Auto-Response-Suppress``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from mailtix.domain.values import HUMAN, Automation, ParsedMail

SYSTEM_LOCAL_PARTS = frozenset(
    {
        "mailer-daemon",
        "postmaster",
        "noreply",
        "no-reply",
        "do-not-reply",
        "donotreply",
        "do_not_reply",
        "listserv",
        "majordomo",
    }
)
BOUNCE_SENDERS = frozenset({"mailer-daemon", "postmaster"})
AUTO_REPLY_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder", "x-autoreply-from")
LIST_HEADERS = ("list-id", "list-unsubscribe", "list-post")
# MS-OXCMAIL 2.1.3.2.20: All and AutoReply refuse automatic replies; DR, NDR, RN, NRN and OOF
# only refuse receipts and out-of-office answers, which mailtix never sends.
REFUSED_RESPONSES = frozenset({"all", "autoreply"})

_REPORT_TYPE = re.compile(r"report-type\s*=\s*\"?delivery-status", re.I)
_FAILURE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (status notification|failure|has failed|problem)|"
    r"returned mail|failure notice|mail delivery (failed|failure|system)|non[- ]?delivery|"
    r"nicht zustellbar|unzustellbar",
    re.I,
)
# Measured with tests/bench/measure_detector.py: only for daemon or null senders.
_DAEMON_NAME = re.compile(r"\b(mailer-daemon|postmaster)\b", re.I)
_MORE_FAILURE_SUBJECTS = re.compile(
    r"delivery (status|report|notification)|delayed mail|not (yet )?(been )?delivered|"
    r"could not be delivered|(delivery|permanent|delivery status) failure|failure delivery|"
    r"error sending|returned mail",
    re.I,
)
_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(out of (the )?office|automatic reply|auto(matic)?[- ]?reply|autoreply|auto:|"
    r"abwesenheitsnotiz|automatische antwort|r[ée]ponse automatique)",
    re.I,
)

Check = Callable[[ParsedMail], "Automation | None"]


def classify(mail: ParsedMail, own_addresses: frozenset[str] = frozenset()) -> Automation:
    """The Automation verdict for ``mail``; ``own_addresses`` are mailtix's own (lower-case)."""
    sender = mail.sender.email if mail.sender else ""
    if sender and sender in own_addresses:
        return Automation("own", f"From: {sender}")
    checks: tuple[Check, ...] = (_bounce, _auto_reply, _mailing_list, _bulk, _system)
    for check in checks:
        verdict = check(mail)
        if verdict is not None:
            return verdict
    return HUMAN


def responses_refused(mail: ParsedMail) -> str | None:
    """The header asking for no automatic reply to ``mail`` (``X-Auto-Response-Suppress: All``
    or ``AutoReply``), or None. It says nothing about who wrote the mail: a person's Outlook
    sends it too, so the mail is still a customer's."""
    for value in mail.header_all("x-auto-response-suppress"):
        words = {word.strip().lower() for word in value.split(",")}
        if words & REFUSED_RESPONSES:
            return f"X-Auto-Response-Suppress: {value[:60]}"
    return None


def _local_part(mail: ParsedMail) -> str:
    return mail.sender.email.partition("@")[0] if mail.sender else ""


def _bounce(mail: ParsedMail) -> Automation | None:
    content_type = mail.header("content-type") or ""
    if content_type.lower().startswith("multipart/report") and _REPORT_TYPE.search(content_type):
        return Automation("bounce", "Content-Type: multipart/report; report-type=delivery-status")
    if any(a.content_type == "message/delivery-status" for a in mail.attachments):
        return Automation("bounce", "a message/delivery-status part (RFC 3464)")
    local = _local_part(mail)
    daemon = local in BOUNCE_SENDERS
    if mail.sender is None:  # "MAILER-DAEMON <>", "<MAILER-DAEMON>": no usable address
        raw_from = mail.header("from") or ""
        daemon = bool(_DAEMON_NAME.search(raw_from))
        if daemon and (mail.return_path == "" or "<>" in raw_from):
            return Automation("bounce", "From: MAILER-DAEMON without an address")
    if mail.return_path == "" and daemon:
        return Automation("bounce", f"Return-Path: <> and From: {local or 'MAILER-DAEMON'}")
    if (daemon or mail.return_path == "") and (
        _FAILURE_SUBJECT.search(mail.subject) or _MORE_FAILURE_SUBJECTS.search(mail.subject)
    ):
        sender = "From: mail daemon" if daemon else "Return-Path: <>"
        return Automation("bounce", f"{sender} and Subject: {mail.subject[:60]}")
    return None


def _auto_reply(mail: ParsedMail) -> Automation | None:
    for value in mail.header_all("auto-submitted"):
        keyword = value.split(";", 1)[0].strip().lower()
        if keyword == "auto-replied":
            return Automation("auto-reply", f"Auto-Submitted: {value}")
    for name in AUTO_REPLY_HEADERS:
        found = mail.header(name)
        if found is not None and found.strip().lower() not in ("no", "false", "0"):
            return Automation("auto-reply", f"{name}: {found}")
    precedence = (mail.header("precedence") or "").strip().lower()
    if precedence == "auto_reply":
        return Automation("auto-reply", "Precedence: auto_reply")
    if _AUTO_REPLY_SUBJECT.search(mail.subject):
        return Automation("auto-reply", f"Subject: {mail.subject[:60]}")
    return None


def _mailing_list(mail: ParsedMail) -> Automation | None:
    for name in LIST_HEADERS:
        value = mail.header(name)
        if value is not None:
            return Automation("list", f"{name}: {value[:80]}")
    if (mail.header("precedence") or "").strip().lower() == "list":
        return Automation("list", "Precedence: list")
    return None


def _bulk(mail: ParsedMail) -> Automation | None:
    precedence = (mail.header("precedence") or "").strip().lower()
    if precedence in ("bulk", "junk"):
        return Automation("bulk", f"Precedence: {precedence}")
    for value in mail.header_all("auto-submitted"):
        keyword = value.split(";", 1)[0].strip().lower()
        if keyword and keyword != "no":
            return Automation("bulk", f"Auto-Submitted: {value}")
    return None


def _system(mail: ParsedMail) -> Automation | None:
    if mail.return_path == "":
        return Automation("system", "Return-Path: <>")
    local = _local_part(mail)
    if not local:
        return None
    if local in SYSTEM_LOCAL_PARTS or local.endswith("-request") or local.startswith("owner-"):
        return Automation("system", f"From: {local}@")
    return None
