"""The satisfaction survey: the mail asking for a rating from 1 to 5 on resolve (with mailto
links that pre-fill the answer), recognising the customer's answer and recording it as the
ticket's ``satisfaction`` (and comment) without reopening the ticket.

An answer is a customer mail on a ticket that was sent a survey, which either replies to the
survey mail (its Message-ID in In-Reply-To/References) or carries "Rating N" in its subject
(the mailto links), and whose first words (quoted history stripped) are a rating 1-5.
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import quote

from mailtix.config.model import MailboxConfig
from mailtix.decisions.correlate import format_ref, header_ids
from mailtix.domain.values import Address, ParsedMail
from mailtix.domain.vocabulary import EventType, MessageKind
from mailtix.inbound.reply_text import visible_reply
from mailtix.lifecycle.changes import record
from mailtix.outbound.mailer import Letter, Mailer, last_customer_message_id
from mailtix.store.lookups import outbox_message_ids
from mailtix.store.models import OutboxItem, Ticket
from mailtix.store.tickets import visible_thread_ids

RATINGS = (1, 2, 3, 4, 5)
MAX_COMMENT = 2000
_SUBJECT_RATING = re.compile(r"\brating\s*:?\s*([1-5])\b", re.IGNORECASE)
_ANSWER = re.compile(r"^\s*([1-5])(?:\s*(?:/|of|out of)\s*5)?(?![\d.,]\d)(?:[\s.,:;!)-]+|$)(.*)",
                     re.IGNORECASE | re.DOTALL)  # fmt: skip


def rating_links(address: str, ref: str) -> list[dict[str, object]]:
    """One mailto link per rating, pre-filling the subject and the body with the answer."""
    return [
        {
            "rating": n,
            "href": f"mailto:{address}?subject={quote(f'Re: [{ref}] Rating {n}')}&body={n}",
        }
        for n in RATINGS
    ]


def send_survey(
    mailer: Mailer, ticket: Ticket, mailbox: MailboxConfig, now: datetime
) -> OutboxItem | None:
    """Queue the survey mail to the ticket's customer (kept on the ticket, so replies thread)."""
    ref = format_ref(mailer.config.tickets.prefix, ticket.id)
    letter = Letter(
        template="survey",
        to=(Address(ticket.customer, ticket.customer_name),),
        extra={"survey": {"links": rating_links(mailbox.address, ref), "ratings": list(RATINGS)}},
        in_reply_to=last_customer_message_id(ticket),
        references=tuple(visible_thread_ids(ticket)),
        record_kind=MessageKind.AUTO,
    )
    queued = mailer.queue(letter, ticket, mailbox, now)
    if queued is not None:
        record(ticket, EventType.SURVEY, f"satisfaction survey sent to {ticket.customer}", now)
    return queued


def parse_answer(text: str, subject: str = "") -> tuple[int, str] | None:
    """(rating, comment) from the visible words of a reply: "5 great service" → (5, "great
    service"); an empty body takes the rating from a "Rating N" subject. None: no rating."""
    words = visible_reply(text).text.strip()
    match = _ANSWER.match(words)
    if match is not None:
        return int(match[1]), _comment(match[2])
    from_subject = _SUBJECT_RATING.search(subject)
    if from_subject is not None and not words:
        return int(from_subject[1]), ""
    return None


def _comment(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines()]
    return "\n".join(lines).strip()[:MAX_COMMENT]


def survey_ids(ticket: Ticket) -> set[str]:
    """The Message-IDs of the survey mails sent for ``ticket``."""
    return outbox_message_ids(ticket.id, "survey")


def is_answer(ticket: Ticket, mail: ParsedMail) -> bool:
    """Does ``mail`` answer a survey sent for ``ticket``?"""
    sent = survey_ids(ticket)
    if not sent:
        return False
    return bool(sent & set(header_ids(mail))) or bool(_SUBJECT_RATING.search(mail.subject))


def record_answer(ticket: Ticket, mail: ParsedMail, now: datetime, actor: str) -> bool:
    """Record the rating if ``mail`` is a survey answer; True when it was one (the ticket's
    status is left as it is)."""
    if not is_answer(ticket, mail):
        return False
    answer = parse_answer(mail.text, mail.subject)
    if answer is None:
        return False
    rating, comment = answer
    ticket.satisfaction, ticket.satisfaction_comment = rating, comment or None
    detail = f"{rating}/5" + (f": {comment[:200]}" if comment else "")
    record(ticket, EventType.SATISFACTION, detail, now, actor=actor)
    return True
