"""Mail mailtix writes itself — acknowledgements, agent notifications, relayed agent answers,
error replies: render the template, compose the bytes, queue them in the outbox (the caller's
transaction commits them with the ticket change).

Customer data goes into templates only as context. Budgets hold mail back (an event on the
ticket says which), so no autoresponder, loop or flood turns mailtix into a mail cannon:
automatic mail to one address (``tickets.auto_reply_limit_per_hour``), mail of any kind to one
address about one ticket (``tickets.max_mails_per_ticket_per_hour``), notifications to one agent
(``agents.notifications_per_hour``). Warnings about unverified mail have a budget of their own
(``budgets``): a flood of forgeries neither silences them nor multiplies them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from mailtix.config.model import Config, MailboxConfig
from mailtix.decisions.correlate import format_ref
from mailtix.decisions.template_language import template_language
from mailtix.domain.values import Address, Attachment, OutgoingMail
from mailtix.domain.version import mailtix_version
from mailtix.domain.vocabulary import EventType, MessageKind
from mailtix.outbound import budget_counts, budgets
from mailtix.outbound.compose import compose, make_message_id
from mailtix.outbound.letters_ahead import Deferred, Job, make
from mailtix.outbound.render import BARE_KINDS, TemplateRenderer, bare_context
from mailtix.store.customers import customer_facts
from mailtix.store.models import Message, OutboxItem, Ticket
from mailtix.store.tickets import add_event, store_outgoing, visible_thread_ids

log = logging.getLogger(__name__)

# Mail to customers, written in their language (templates/<lang>/); the rest is for agents.
CUSTOMER_KINDS = frozenset(
    {"acknowledgement", "acknowledgement_minimal", "status", "relay", "survey", "reminder"}
)

# How a letter made ahead in a large poll may be recorded (``_ahead``).
AHEAD_RECORDS = frozenset({None, MessageKind.AUTO})


class _Local(threading.local):
    """Per thread: the daemon's other polls, its timed jobs and LMTP deliveries use the same
    mailer at the same time, and their letters are made by themselves."""

    deferred: Deferred | None = None


@dataclass(frozen=True)
class Letter:
    """One mail to queue: which template, to whom, and how it threads."""

    template: str
    to: tuple[Address, ...]
    cc: tuple[Address, ...] = ()
    extra: Mapping[str, object] = field(default_factory=dict)
    # more context, the same for several letters, looked up only once one is not held back
    shared: Callable[[], Mapping[str, object]] | None = None
    message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    automatic: bool = True  # counts against (and is held by) the per-recipient rate limit
    auto_submitted: str | None = "auto-replied"
    sender_name: str | None = None
    attachments: tuple[Attachment, ...] = ()
    record_kind: str | None = None  # store as a ticket message of this kind ("auto", "agent")
    record_from: str | None = None
    language: str | None = None  # of the templates; None: the customer's (customer_language)


class Mailer:
    def __init__(self, config: Config, renderer: TemplateRenderer) -> None:
        self.config = config
        self.renderer = renderer
        # The worker id of the sender that runs beside this mailer, if one does (poll --once,
        # the daemon): mail is queued already claimed by it, so it finds its rows with a read
        # and never waits for the store's write lock to claim them. A claim of a worker that
        # died is taken over at once by the next drain on this host, as any claim.
        self.sent_by: Callable[[], str | None] | None = None
        self._local = _Local()

    @property
    def deferred(self) -> Deferred | None:
        """While this thread handles a group of a large poll: where its letters are made
        ahead (``letters_ahead``; the pipeline sets it and finishes it before the commit)."""
        return self._local.deferred

    @deferred.setter
    def deferred(self, value: Deferred | None) -> None:
        self._local.deferred = value

    @property
    def domain(self) -> str:
        if self.config.tickets.message_id_domain:
            return self.config.tickets.message_id_domain
        first = self.config.mailboxes[0].address if self.config.mailboxes else "x@mailtix.invalid"
        return first.rpartition("@")[2]

    def context(self, ticket: Ticket, mailbox: MailboxConfig) -> dict[str, object]:
        return {
            "ticket": {
                "ref": format_ref(self.config.tickets.prefix, ticket.id),
                "subject": ticket.subject,
                "status": ticket.status,
                "priority": ticket.priority,
                "department": ticket.department,
                "customer": ticket.customer,
                "assignee": ticket.assignee,
                "tags": list(ticket.tags),
            },
            "customer": {"email": ticket.customer, "name": ticket.customer_name},
            "mailbox": {
                "name": mailbox.name,
                "address": mailbox.address,
                "display_name": mailbox.display_name,
            },
        }

    def queue(
        self, letter: Letter, ticket: Ticket, mailbox: MailboxConfig, now: datetime
    ) -> OutboxItem | None:
        """Render, compose and queue ``letter``; None when a budget holds it back."""
        recipient = letter.to[0].email
        automatic = letter.automatic and letter.template != budgets.WARNING
        held = budgets.held_back(
            self.config, letter.template, automatic, ticket, recipient, now,
            sender=mailbox.address,
        )  # fmt: skip
        if held is not None:
            detail = budgets.held_detail(letter.template, recipient, held)
            add_event(ticket, EventType.SUPPRESSED, detail, now,
                      field=letter.template, new=recipient, reason=held)  # fmt: skip
            if held == budgets.MAILBOX_BUDGET:
                budgets.warn_mailbox_budget(mailbox.address, now)
            elif held != "undeliverable":
                log.warning("%s to %s about ticket %s held back: %s", letter.template,
                            recipient, ticket.id, held)  # fmt: skip
            return None
        extra = letter.extra if letter.shared is None else {**letter.shared(), **letter.extra}
        if letter.template == budgets.WARNING:
            extra = {**extra, "warnings": budgets.warning_context(recipient, now)}
        if letter.template in BARE_KINDS:  # nothing the sender wrote, whatever the template says
            context = bare_context(self.context(ticket, mailbox))
        else:
            context = {**self.context(ticket, mailbox), **extra}
        language = letter.language
        if language is None and (letter.template in CUSTOMER_KINDS or recipient == ticket.customer):
            language = self.customer_language(ticket, mailbox)
        outgoing = OutgoingMail(
            sender=Address(mailbox.address, letter.sender_name or mailbox.display_name),
            to=letter.to,
            cc=letter.cc,
            subject="",
            text="",
            html="",
            message_id=letter.message_id or make_message_id(self.domain),
            in_reply_to=letter.in_reply_to,
            references=letter.references,
            auto_submitted=letter.auto_submitted,
            reply_to=Address(mailbox.address, mailbox.display_name),
            attachments=letter.attachments,
        )
        job = Job(letter.template, context, ticket.department, language or "", outgoing,
                  datetime.now(UTC), self._x_mailer())  # fmt: skip
        deferred = self.deferred  # made ahead: its record now, its text and row before the commit
        if deferred is not None and _ahead(letter):
            return self._queue_ahead(deferred, letter, job, ticket, mailbox, automatic, now)
        subject, text, html, rfc822 = make(self.renderer, job)
        outgoing = replace(outgoing, subject=subject, text=text, html=html)
        if letter.record_kind is not None:
            self._record(letter, ticket, mailbox, outgoing, now)
        return self._outbox_row(outgoing, letter.template, automatic, ticket, rfc822, now)

    def _queue_ahead(
        self, deferred: Deferred, letter: Letter, job: Job, ticket: Ticket,
        mailbox: MailboxConfig, automatic: bool, now: datetime,
    ) -> OutboxItem:  # fmt: skip
        """``job``'s record with empty text, and its outbox row not saved yet: both made
        whole by ``deferred.finish`` before the commit."""
        record = None
        if letter.record_kind is not None:
            record = self._record(letter, ticket, mailbox, job.mail, now).id
        item = self._outbox_item(job.mail, letter.template, automatic, ticket, b"", now)
        deferred.add(self.renderer, job, item, record)
        return item

    def queue_mail(self, mail: OutgoingMail, kind: str, now: datetime) -> OutboxItem | str:
        """Queue a finished automatic mail about no ticket (the digest) under the same
        suppression and budgets as any other; the reason instead when one holds it back."""
        held = budgets.held_back(
            self.config, kind, True, None, mail.to[0].email, now, sender=mail.sender.email
        )
        if held is not None:
            log.warning("%s to %s held back: %s", kind, mail.to[0].email, held)
            return held
        rfc822 = self._compose(mail, now=now.replace(tzinfo=UTC))
        return self._outbox_row(mail, kind, True, None, rfc822, now)

    def _compose(self, mail: OutgoingMail, now: datetime | None = None) -> bytes:
        """The bytes of ``mail``, naming mailtix in X-Mailer when ``[tickets] x_mailer``."""
        return compose(mail, now=now, mailer=self._x_mailer())

    def _x_mailer(self) -> str:
        return f"mailtix {mailtix_version()}" if self.config.tickets.x_mailer else ""

    def _outbox_row(
        self, mail: OutgoingMail, kind: str, automatic: bool, ticket: Ticket | None,
        rfc822: bytes, now: datetime,
    ) -> OutboxItem:  # fmt: skip
        """The outbox row, saved."""
        item = self._outbox_item(mail, kind, automatic, ticket, rfc822, now)
        item.save(force_insert=True)
        return item

    def _outbox_item(
        self, mail: OutgoingMail, kind: str, automatic: bool, ticket: Ticket | None,
        rfc822: bytes, now: datetime,
    ) -> OutboxItem:  # fmt: skip
        """The outbox row, not saved yet but counted in the budgets of the group, claimed by
        the sender beside this mailer when there is one."""
        recipients = [a.email for a in (*mail.to, *mail.cc)]
        sender = self.sent_by() if self.sent_by is not None else None
        ticket_id = ticket.id if ticket is not None else None
        budget_counts.queued(kind, automatic, recipients[0], mail.sender.email, ticket_id)
        return OutboxItem(
            ticket=ticket, kind=kind, automatic=automatic, envelope_from=mail.sender.email,
            recipients=recipients, recipient_key=recipients[0], message_id=mail.message_id,
            rfc822=rfc822, status="sending" if sender else "pending", claimed_by=sender or "",
            claimed_at=now if sender else None, next_attempt_at=now, created_at=now,
        )  # fmt: skip

    def _record(
        self, letter: Letter, ticket: Ticket, mailbox: MailboxConfig, mail: OutgoingMail,
        now: datetime,
    ) -> Message:  # fmt: skip
        return store_outgoing(
            ticket, kind=letter.record_kind or MessageKind.AUTO,
            sender=letter.record_from or mailbox.address,
            sender_name=mail.sender.name, to=[a.email for a in (*mail.to, *mail.cc)],
            subject=mail.subject, text=mail.text, html=mail.html, message_id=mail.message_id,
            in_reply_to=mail.in_reply_to or "", references=mail.references, now=now,
        )  # fmt: skip

    def customer_language(self, ticket: Ticket, mailbox: MailboxConfig) -> str:
        """The language of mail to the ticket's customer (``decisions.template_language``)."""
        record = customer_facts(ticket.customer)
        organisation = self.config.organisations.named(ticket.organisation)
        return template_language(
            record.language if record else "",
            organisation.language if organisation else "",
            mailbox.language,
        )

    def acknowledge(
        self, ticket: Ticket, mailbox: MailboxConfig, in_reply_to: str | None, now: datetime,
        *, new: bool = False, language: str | None = None, template: str = "acknowledgement",
    ) -> OutboxItem | None:  # fmt: skip
        """The acknowledgement of a ticket, to its customer (``new``: the ticket holds only the
        message being acknowledged, so the thread is just that message). ``template``
        "acknowledgement_minimal" repeats nothing of the customer's mail, not even their name
        in the To header."""
        if new:
            references: tuple[str, ...] = (in_reply_to,) if in_reply_to else ()
        else:
            references = tuple(visible_thread_ids(ticket))
        name = "" if template in BARE_KINDS else ticket.customer_name
        letter = Letter(
            template=template,
            to=(Address(ticket.customer, name),),
            in_reply_to=in_reply_to,
            references=references,
            record_kind=MessageKind.AUTO,
            language=language,
        )
        return self.queue(letter, ticket, mailbox, now)


def _ahead(letter: Letter) -> bool:
    """Whether ``letter`` may be made ahead: no attachments; recorded, if at all, as
    automatic mail (an agent's relayed answer has its record completed with the agent's
    words); not a warning, whose budget is counted from the outbox as it stands."""
    return (
        letter.record_kind in AHEAD_RECORDS
        and not letter.attachments
        and letter.template != budgets.WARNING
    )


def last_customer_message_id(ticket: Ticket) -> str | None:
    """The Message-ID the next customer-facing mail should answer."""
    ids: Sequence[str] = visible_thread_ids(ticket)
    return ids[-1] if ids else None
