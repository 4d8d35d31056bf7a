"""One incoming message → one committed outcome: a new ticket, a follow-up, ignored, a duplicate,
or quarantined. Decisions come from pure modules (parse, automated, correlate, routing); this
module applies them, each message in one transaction (ticket + message + outbox + receipt).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from mailtix import automated, correlate, routing
from mailtix.assign import pick_assignee
from mailtix.clock import utcnow
from mailtix.config import Config, MailboxConfig
from mailtix.errors import ParseError
from mailtix.parse import parse_message
from mailtix.quarantine import quarantine
from mailtix.render import TemplateRenderer
from mailtix.replies import queue_automatic
from mailtix.store.models import OutboxItem, Receipt, Ticket, database_proxy
from mailtix.store.tickets import (
    StoreLookup,
    add_event,
    create_ticket,
    get_ticket,
    set_status,
    store_incoming,
    touch,
)
from mailtix.values import Automation, ParsedMail, RouteDecision

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """Where a message came from: the mailbox, and its IMAP identity when it has one."""

    mailbox: str
    uidvalidity: int = 0
    uid: int | None = None


@dataclass(frozen=True)
class Outcome:
    kind: str  # ticket | followup | ignored | duplicate | quarantined
    ticket_ref: str | None = None
    detail: str = ""


class Pipeline:
    def __init__(
        self,
        config: Config,
        renderer: TemplateRenderer | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.renderer = renderer or TemplateRenderer(config.templates.dir)
        self.clock = clock
        self.lookup = StoreLookup()

    def ref(self, ticket_id: int | None) -> str | None:
        return (
            None
            if ticket_id is None
            else correlate.format_ref(self.config.tickets.prefix, ticket_id)
        )

    def process(self, raw: bytes, source: Source) -> Outcome:
        """Handle one raw message; never raises for a bad message (it is quarantined)."""
        mailbox = self.config.mailbox(source.mailbox)
        if mailbox is None:
            raise ValueError(f"unknown mailbox {source.mailbox!r}")
        sha = hashlib.sha256(raw).hexdigest()
        seen = self._already_seen(source, sha)
        if seen is not None:
            return seen
        try:
            mail = parse_message(raw)
            with database_proxy.atomic():
                return self._apply(mail, raw, sha, source, mailbox)
        except ParseError as exc:
            return self._quarantine(raw, sha, source, f"unparseable: {exc}")
        except Exception as exc:  # one bad message never stops the batch
            log.exception("message %s/%s failed", source.mailbox, source.uid)
            return self._quarantine(
                raw, sha, source, f"internal error: {type(exc).__name__}: {exc}"
            )

    def _quarantine(self, raw: bytes | None, sha: str, source: Source, reason: str) -> Outcome:
        with database_proxy.atomic():
            quarantine(source, raw, sha, reason, self.clock(), size=len(raw or b""))
        log.warning("quarantined %s uid=%s: %s", source.mailbox, source.uid, reason)
        return Outcome("quarantined", detail=reason)

    def quarantine_oversized(self, source: Source, size: int) -> Outcome:
        reason = f"too large: {size} bytes (max_message_bytes)"
        return self._quarantine(None, f"size:{source.uidvalidity}:{source.uid}", source, reason)

    def _already_seen(self, source: Source, sha: str) -> Outcome | None:
        if source.uid is not None:
            row = Receipt.get_or_none(
                (Receipt.mailbox == source.mailbox)
                & (Receipt.uidvalidity == source.uidvalidity)
                & (Receipt.uid == source.uid)
            )
            if row is not None:
                return Outcome("duplicate", self.ref(row.ticket_id), f"already {row.outcome}")
        earlier = (
            Receipt.select()
            .where(
                (Receipt.mailbox == source.mailbox)
                & (Receipt.sha256 == sha)
                & (Receipt.outcome != "quarantined")
            )
            .first()
        )
        if earlier is None:
            return None
        with database_proxy.atomic():
            self._receipt(
                source, sha, "duplicate", f"same bytes as receipt {earlier.id}", earlier.ticket_id
            )
        return Outcome("duplicate", self.ref(earlier.ticket_id), "same message seen before")

    def _receipt(
        self, source: Source, sha: str, outcome: str, detail: str, ticket: int | None
    ) -> None:
        Receipt.create(
            mailbox=source.mailbox,
            uidvalidity=source.uidvalidity,
            uid=source.uid,
            sha256=sha,
            outcome=outcome,
            detail=detail[:2000],
            ticket=ticket,
            created_at=self.clock(),
        )

    def _apply(
        self, mail: ParsedMail, raw: bytes, sha: str, source: Source, mailbox: MailboxConfig
    ) -> Outcome:
        automation = automated.classify(mail, self.config.own_addresses)
        if automation.kind == "own" or self._is_our_message(mail):
            self._receipt(source, sha, "ignored", "mailtix's own mail", None)
            return Outcome("ignored", detail="mailtix's own mail")
        thread = correlate.decide(mail, self.config.tickets.prefix, self.lookup)
        ticket = get_ticket(thread.ticket_id) if thread.ticket_id is not None else None
        if ticket is not None:
            return self._follow_up(
                ticket, mail, raw, sha, source, mailbox, automation, thread.reason
            )
        if automation.kind == "bounce":
            self._receipt(
                source, sha, "ignored", f"bounce for no known ticket ({automation.reason})", None
            )
            return Outcome("ignored", detail=f"bounce: {automation.reason}")
        decision = routing.route(mail, mailbox, self.config)
        if decision.ignore:
            detail = "ignored by rule " + ", ".join(decision.matched_rules)
            self._receipt(source, sha, "ignored", detail, None)
            return Outcome("ignored", detail=detail)
        return self._new_ticket(
            mail, raw, sha, source, mailbox, automation, decision, thread.reason
        )

    def _is_our_message(self, mail: ParsedMail) -> bool:
        if mail.message_id is None:
            return False
        return OutboxItem.select().where(OutboxItem.message_id == mail.message_id).exists()

    def _new_ticket(
        self,
        mail: ParsedMail,
        raw: bytes,
        sha: str,
        source: Source,
        mailbox: MailboxConfig,
        automation: Automation,
        decision: RouteDecision,
        thread_reason: str,
    ) -> Outcome:
        customer = mail.sender
        if customer is None:
            raise ParseError("no usable sender address")
        now = self.clock()
        ticket = create_ticket(
            subject=correlate.clean_subject(mail.subject, self.config.tickets.prefix),
            customer=customer.email,
            customer_name=customer.name,
            mailbox=mailbox.name,
            department=decision.department,
            priority=decision.priority,
            tags=decision.tags,
            now=now,
        )
        kind = "auto" if automation.automated else "customer"
        store_incoming(
            ticket,
            mail,
            raw,
            sha,
            kind=kind,
            automation=automation.kind,
            thread_reason=thread_reason,
            now=now,
        )
        rules = ", ".join(decision.matched_rules) or "mailbox defaults"
        add_event(
            ticket, "created", f"from {customer.email} via {mailbox.name}; routing: {rules}", now
        )
        assignee = pick_assignee(self.config, decision.department, decision.assign)
        if assignee:
            ticket.assignee = assignee
            ticket.save()
            add_event(ticket, "assigned", f"{assignee} (rule: {decision.assign})", now)
        self._acknowledge(ticket, mail, mailbox, automation, decision.acknowledge, now)
        self._receipt(source, sha, "ticket", thread_reason, ticket.id)
        return Outcome("ticket", self.ref(ticket.id), thread_reason)

    def _follow_up(
        self,
        ticket: Ticket,
        mail: ParsedMail,
        raw: bytes,
        sha: str,
        source: Source,
        mailbox: MailboxConfig,
        automation: Automation,
        thread_reason: str,
    ) -> Outcome:
        now = self.clock()
        kind = "auto" if automation.automated else "customer"
        store_incoming(
            ticket,
            mail,
            raw,
            sha,
            kind=kind,
            automation=automation.kind,
            thread_reason=thread_reason,
            now=now,
        )
        sender = mail.sender.email if mail.sender else "(unknown)"
        if automation.kind == "bounce":
            add_event(ticket, "bounce", f"{automation.reason}", now)
        elif automation.automated:
            add_event(ticket, "message", f"automated mail from {sender}: {automation.reason}", now)
        else:
            add_event(ticket, "message", f"reply from {sender} ({thread_reason})", now)
            if ticket.status in ("resolved", "closed"):
                set_status(ticket, "open", now, why=f"reply from {sender}", actor=sender)
                add_event(ticket, "reopened", f"reply from {sender}", now, sender)
            if self.config.tickets.acknowledge_followups:
                self._acknowledge(ticket, mail, mailbox, automation, True, now)
        touch(ticket, now)
        self._receipt(source, sha, "followup", thread_reason, ticket.id)
        return Outcome("followup", self.ref(ticket.id), thread_reason)

    def _acknowledge(
        self,
        ticket: Ticket,
        mail: ParsedMail,
        mailbox: MailboxConfig,
        automation: Automation,
        wanted: bool,
        now: datetime,
    ) -> None:
        if not wanted:
            add_event(ticket, "no-ack", "routing rule says acknowledge = false", now)
            return
        if automation.automated:
            add_event(ticket, "no-ack", f"automated mail ({automation.reason})", now)
            return
        if ticket.customer in self.config.own_addresses:
            add_event(ticket, "no-ack", "customer address is one of our own", now)
            return
        queue_automatic(
            self.config,
            self.renderer,
            kind="acknowledgement",
            ticket=ticket,
            mailbox=mailbox,
            in_reply_to=mail.message_id,
            now=now,
        )
