"""One incoming message → one committed outcome: a new ticket, a follow-up, ignored, spam (moved
to spam_folder), a duplicate, or quarantined. Decisions come from pure modules (parse,
automated, correlate, routing, spam); this module applies them, each message all or nothing
(ticket + message + outbox + receipt): in a transaction of its own, or, in a poll batch, in a
transaction shared by up to GROUP_SIZE messages (``store.savepoint``: a message failing there
after it wrote rows has the group handled again, a message at a time).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime

from mailtix.config.model import Config, MailboxConfig
from mailtix.config.shipped import shipped_templates
from mailtix.decisions import automated, correlate, group_rewrite, routing, spam
from mailtix.desks.agent import AgentDesk
from mailtix.desks.bounce import BounceDesk
from mailtix.desks.cpu_budget import CpuBudget, OverBudget
from mailtix.desks.customer import CustomerDesk, NoSender
from mailtix.desks.intake import DeskResult, Incoming
from mailtix.desks.outcome import Outcome, Source
from mailtix.desks.quarantine import KEPT_KINDS, keep, quarantine
from mailtix.domain.clock import utcnow
from mailtix.domain.errors import ParseError
from mailtix.domain.faults import fault_point
from mailtix.domain.log_lines import add_log_fields, log_context
from mailtix.domain.values import ParsedMail
from mailtix.domain.vocabulary import EventType
from mailtix.inbound.parse import parse_message
from mailtix.inbound.parse_ahead import Ahead, ParseAhead
from mailtix.outbound import budget_counts
from mailtix.outbound.letters_ahead import Deferred, LetterFailed
from mailtix.outbound.mailer import Mailer
from mailtix.outbound.notify import Notifier
from mailtix.outbound.render import TemplateRenderer
from mailtix.store.attempts import (
    begin_attempt,
    begin_first_attempts,
    record_failure,
    reset_attempts,
)
from mailtix.store.durability import relaxed
from mailtix.store.ledger import add_receipt, add_receipts, receipt_row
from mailtix.store.lookups import KnownReceipts, known_receipts, receipt_for_bytes, receipt_for_uid
from mailtix.store.models import OutboxItem, Ticket, database_proxy
from mailtix.store.savepoint import Spoilt, with_group
from mailtix.store.search_index import indexed_at_end
from mailtix.store.tickets import StoreLookup, add_event, earlier_copy, surviving

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # a message failing this often is quarantined instead of retried
CPU_BUDGET = 10.0  # seconds of CPU for one message; over it, the message is quarantined
GROUP_SIZE = 100  # new messages of a poll batch that share one commit (process_batch)


_Queued = tuple[bytes, Source, str, Ahead | None]  # a batch's message, its hash and parse


class _OpenGroup(threading.local):
    """While a thread handles a group of messages: the receipts they had before, and the ones
    the group writes at its end (per thread: the daemon's polls and LMTP deliveries share one
    pipeline)."""

    known: KnownReceipts | None = None
    receipts: list[dict[str, object]] | None = None


class Pipeline:
    def __init__(
        self,
        config: Config,
        renderer: TemplateRenderer | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.renderer = renderer or TemplateRenderer(
            config.templates.dir, defaults=shipped_templates()
        )
        self.mailer = Mailer(config, self.renderer)
        self.notifier = Notifier(self.mailer)
        self.customers = CustomerDesk(self.mailer, self.notifier)
        self.agents = AgentDesk(self.mailer, self.notifier)
        self.bounces = BounceDesk(self.mailer, self.notifier)
        self.clock = clock
        self.max_attempts = MAX_ATTEMPTS
        self.cpu_budget = CPU_BUDGET
        self._open = _OpenGroup()  # the group this thread handles (polls run at once)

    @property
    def config(self) -> Config:
        return self.mailer.config

    @config.setter
    def config(self, value: Config) -> None:
        """A reloaded config (rules, departments, agents) takes effect with the next message."""
        self.mailer.config = value

    def ref(self, ticket_id: int | None) -> str | None:
        return (
            None
            if ticket_id is None
            else correlate.format_ref(self.config.tickets.prefix, ticket_id)
        )

    def process(self, raw: bytes, source: Source, *, retry: bool = False) -> Outcome:
        """Handle one raw message; never raises for a bad message (it is quarantined).

        ``retry`` (``mailtix quarantine retry``) runs a quarantined message again from scratch.
        """
        return self._process(raw, source, hashlib.sha256(raw).hexdigest(), retry=retry)

    def process_batch(
        self,
        mailbox: str,
        messages: Sequence[tuple[bytes, Source]],
        aheads: Sequence[Ahead | None] | None = None,
        letters: ParseAhead | None = None,
    ) -> Iterator[list[Outcome]]:
        """``process`` for the messages of one poll batch: their outcomes in order, a list at a
        time, each list committed when it is given (lazily: handled when it is taken).

        The first attempt at every message never tried before is counted for all of them in
        one commit (``store.attempts``). Up to GROUP_SIZE such messages in a row then share one
        transaction, each all of its rows or none (``_handle``), so they cost one commit
        instead of one each. A message tried before (it failed, or the process
        died while its group was open) is handled alone, in a transaction of its own, once the
        group before it is committed: a message that kills the process is still isolated. The
        commits are relaxed: the caller makes them durable (``durability.durable_point``)
        before it moves the messages. ``aheads``: for each message, its parse from
        ``inbound.parse_ahead`` if it is back in time (else the message is parsed here);
        ``letters``: where a group's letters are made ahead (``outbound.letters_ahead``).
        """
        takers = aheads if aheads is not None else [None] * len(messages)
        hashed = [
            (raw, source, hashlib.sha256(raw).hexdigest(), ahead)
            for (raw, source), ahead in zip(messages, takers, strict=True)
        ]
        counted = begin_first_attempts(mailbox, [item[2] for item in hashed], self.clock())
        group: list[_Queued] = []
        for raw, source, sha, ahead in hashed:
            if sha in counted:
                counted.discard(sha)  # the same bytes again in this batch: not a first attempt
                group.append((raw, source, sha, ahead))
                if len(group) == GROUP_SIZE:
                    yield from self._group(group, letters)
                    group = []
                continue
            if group:  # committed first: this one is handled alone
                yield from self._group(group, letters)
                group = []
            yield [self._process(raw, source, sha, ahead=ahead)]
        if group:
            yield from self._group(group, letters)

    def _group(self, group: list[_Queued], letters: ParseAhead | None) -> Iterator[list[Outcome]]:
        """``_handle_group``; when a letter made ahead fails, or a message fails after it
        wrote rows (``store.savepoint.Spoilt``), the group (rolled back) is handled again a
        message at a time, each in a transaction of its own, its letters made in line."""
        try:
            outcomes = self._handle_group(group, letters)
        except (LetterFailed, Spoilt) as exc:
            what = "a letter made ahead" if isinstance(exc, LetterFailed) else "a message"
            log.warning("%s failed (%s); handling the group's %d messages one at a time",
                        what, exc, len(group))  # fmt: skip
            for raw, source, sha, _ in group:  # their parses were taken: parsed again
                yield [self._process(raw, source, sha)]
            return
        yield outcomes

    def _handle_group(
        self, group: list[_Queued], letters: ParseAhead | None = None
    ) -> list[Outcome]:
        """One relaxed commit (the poller makes the batch durable before moving it); each
        message all or nothing (_process, _handle). The group's earlier receipts are looked
        up together first, and the receipts it makes written together at its end, in its
        transaction (its messages are distinct: same bytes twice are never in one group), as
        is the search index of the messages it stores (``search_index.indexed_at_end``)."""
        uids = [(src.uidvalidity, src.uid) for _, src, _, _ in group if src.uid is not None]
        with relaxed(), database_proxy.atomic(), budget_counts.counting(), indexed_at_end():
            self._open.known = known_receipts(
                group[0][1].mailbox, uids, [item[2] for item in group]
            )
            self._open.receipts = []
            deferred = self.mailer.deferred = Deferred(letters) if letters is not None else None
            try:
                outcomes = [
                    self._process(raw, s, sha, in_group=True, ahead=ahead)
                    for raw, s, sha, ahead in group
                ]
                if deferred is not None:
                    deferred.finish(self.renderer)
                add_receipts(self._open.receipts)
            finally:
                self._open.known = self._open.receipts = self.mailer.deferred = None
        fault_point("after-commit")
        return outcomes

    def _process(
        self,
        raw: bytes,
        source: Source,
        sha: str,
        *,
        retry: bool = False,
        in_group: bool = False,
        ahead: Ahead | None = None,
    ) -> Outcome:
        """One message; ``in_group``: its first attempt is counted and a group's transaction
        is open (``process_batch``); ``ahead``: its parse, if it was parsed ahead."""
        mailbox = self.config.mailbox(source.mailbox)
        if mailbox is None:
            raise ValueError(f"unknown mailbox {source.mailbox!r}")
        seen = self._already_seen(source, sha, retry)
        if seen is not None:
            return seen
        if retry:
            reset_attempts(source.mailbox, sha)
        if in_group:
            attempt, last_error = 1, ""
        else:
            attempt, last_error = begin_attempt(source.mailbox, sha, self.clock())
        if attempt > self.max_attempts:  # it failed, or took the process down, every time
            reason = f"gave up after {attempt - 1} attempts; last error: {last_error or 'crash'}"
            return self._quarantine(raw, sha, source, reason)
        fault_point("after-fetch")
        budget = CpuBudget(self.cpu_budget)
        try:
            parsed, visible = _parsed(raw, ahead, budget)
            mail = group_rewrite.unwrapped(parsed, self.config.own_addresses)
            budget.check("parsing")
            outcome = self._handle(mail, raw, sha, source, mailbox, budget, visible)
            if not in_group:
                fault_point("after-commit")
            return outcome
        except Spoilt:  # its group is handled again, a message at a time
            raise
        except ParseError as exc:
            return self._quarantine(raw, sha, source, f"unparseable: {exc}")
        except OverBudget as exc:
            return self._quarantine(raw, sha, source, f"too slow to process: {exc}")
        except NoSender as exc:
            return self._quarantine(raw, sha, source, f"no ticket possible: {exc}")
        except Exception as exc:  # one bad message never stops the batch
            log.exception("message %s/%s failed (attempt %d)", source.mailbox, source.uid, attempt)
            error = f"{type(exc).__name__}: {exc}"
            record_failure(source.mailbox, sha, error, self.clock())
            if attempt >= self.max_attempts:
                return self._quarantine(raw, sha, source, f"internal error: {error}")
            return Outcome("deferred", detail=f"attempt {attempt} failed ({error}); will retry")

    def _handle(
        self,
        mail: ParsedMail,
        raw: bytes,
        sha: str,
        source: Source,
        mailbox: MailboxConfig,
        budget: CpuBudget,
        visible: str | None = None,
    ) -> Outcome:
        """``_apply``, all of the message's rows, its receipt included, or none
        (``_all_or_nothing``); what it left in memory for the group goes with them.
        ``visible``: what the sender wrote of the text, when the parse brought it."""
        written = len(self._open.receipts) if self._open.receipts is not None else 0
        counted = budget_counts.mark()
        deferred = self.mailer.deferred
        letters = deferred.mark() if deferred is not None else 0
        try:
            with log_context(message_id=mail.message_id), self._all_or_nothing():
                outcome = self._apply(mail, raw, sha, source, mailbox, budget, visible)
                if source.folderless and outcome.kind in KEPT_KINDS:
                    keep(source, raw, sha, outcome.kind, outcome.detail, self.clock())
                budget.check("handling")  # over it: the message's rows are rolled back
        except BaseException:
            if self._open.receipts is not None:
                del self._open.receipts[written:]  # rolled back with its rows
            budget_counts.restore(counted)  # and its outbox rows
            if deferred is not None:
                deferred.restore(letters)  # and the letters to fill them
            raise
        return outcome

    def _all_or_nothing(self) -> AbstractContextManager[object]:
        """A message's own transaction, or in a group its share of the group's
        (``store.savepoint.with_group``)."""
        return with_group() if self._open.receipts is not None else database_proxy.atomic()

    def _quarantine(
        self, raw: bytes | None, sha: str, source: Source, reason: str, size: int | None = None
    ) -> Outcome:
        with database_proxy.atomic():
            quarantine(source, raw, sha, reason, self.clock(), size=size or len(raw or b""))
        log.warning("quarantined %s uid=%s: %s", source.mailbox, source.uid, reason)
        return Outcome("quarantined", detail=reason)

    def quarantine_oversized(self, source: Source, size: int) -> Outcome:
        reason = f"too large: {size} bytes (max_message_bytes)"
        sha = f"size:{source.uidvalidity}:{source.uid}"
        return self._quarantine(None, sha, source, reason, size)

    def _already_seen(self, source: Source, sha: str, retry: bool = False) -> Outcome | None:
        """The earlier outcome for this UID, or for the same bytes (a new UIDVALIDITY, a
        redelivery); a quarantined message stays quarantined unless it is being retried."""
        known = self._open.known if not retry else None
        if source.uid is not None:
            by_uid = (
                known.for_uid(source.uidvalidity, source.uid)
                if known is not None
                else receipt_for_uid(source.mailbox, source.uidvalidity, source.uid)
            )
            if by_uid is not None:
                return Outcome("duplicate", self.ref(by_uid.ticket_id), f"already {by_uid.outcome}")
        first = (
            known.for_bytes(sha)
            if known is not None
            else receipt_for_bytes(source.mailbox, sha, skip_quarantined=retry)
        )
        if first is None:
            return None
        kind = "quarantined" if first.outcome == "quarantined" else "duplicate"
        with database_proxy.atomic():
            detail = f"same bytes as receipt {first.id} ({first.outcome})"
            self._receipt(source, sha, kind, detail, first.ticket_id)
        return Outcome(kind, self.ref(first.ticket_id), "same message seen before")

    def _receipt(
        self, source: Source, sha: str, outcome: str, detail: str, ticket: int | None
    ) -> None:
        if self._open.receipts is None:
            add_receipt(source, sha, outcome, detail, ticket, self.clock())
        else:  # a group's: written at its end (_handle_group)
            self._open.receipts.append(
                receipt_row(source, sha, outcome, detail, ticket, self.clock())
            )

    def _apply(
        self,
        mail: ParsedMail,
        raw: bytes,
        sha: str,
        source: Source,
        mailbox: MailboxConfig,
        budget: CpuBudget,
        visible: str | None = None,
    ) -> Outcome:
        automation = automated.classify(mail, self.config.own_addresses)
        if automation.kind == "own" or self._is_our_message(mail):
            self._receipt(source, sha, "ignored", "mailtix's own mail", None)
            return Outcome("ignored", detail="mailtix's own mail")
        copy_of = earlier_copy(mail)
        if copy_of is not None:
            return self._second_copy(copy_of, source, sha, mailbox)
        lookup = StoreLookup()  # of this mail: what it read is not kept for the next one
        thread = correlate.decide(mail, self.config.tickets.prefix, lookup)
        budget.check("threading")
        ticket = lookup.ticket(thread.ticket_id) if thread.ticket_id is not None else None
        ticket = surviving(ticket) if ticket is not None else None  # merged: where it went
        add_log_fields(ticket=self.ref(ticket.id) if ticket is not None else None)
        audience = lookup.audience(ticket.id) if ticket is not None else None
        item = Incoming(
            mail, raw, sha, mailbox, self.clock(), automation, thread.reason, audience, visible
        )
        if automation.kind == "bounce":
            return self._done(source, sha, self.bounces.handle(item, ticket))
        agent = self._agent_sender(mail)  # an agent's automatic reply on a ticket: the agent desk
        if agent is not None and (ticket is not None or not automation.automated):
            return self._done(source, sha, self.agents.handle(item, agent, ticket))
        overrule = source.overrule  # an admin's release of a kept mail
        flag = spam.flagged(mail, self.config.agents_policy.trusted_authserv_ids)
        if flag is not None and not overrule.not_spam:  # not even a follow-up: to spam_folder
            return self._done(source, sha, DeskResult("spam", None, f"flagged by the MX ({flag})"))
        if ticket is not None:
            return self._done(source, sha, self.customers.follow_up(ticket, item))
        ignore_automated = self.config.tickets.automated_mail == "ignore"
        if automation.automated and ignore_automated and not overrule.not_ignored:
            detail = f"automated mail ({automation.reason}); [tickets] automated_mail = ignore"
            return self._done(source, sha, DeskResult("ignored", None, detail))
        facts = self.customers.customer_facts(mail)
        decision = routing.route(mail, mailbox, self.config, facts)
        if decision.ignore and not overrule.not_ignored:
            detail = "ignored by rule " + ", ".join(decision.matched_rules)
            return self._done(source, sha, DeskResult("ignored", None, detail))
        if decision.spam and not overrule.not_spam:
            detail = "spam by rule " + ", ".join(decision.matched_rules)
            return self._done(source, sha, DeskResult("spam", None, detail))
        return self._done(source, sha, self.customers.open_ticket(item, decision, facts))

    def _second_copy(
        self, ticket: Ticket, source: Source, sha: str, mailbox: MailboxConfig
    ) -> Outcome:
        """The same mail through another address: one ticket, the copy noted on it."""
        detail = f"same message also delivered to {mailbox.name} ({mailbox.address})"
        add_event(ticket, EventType.COPY, detail, self.clock())
        return self._done(source, sha, DeskResult("duplicate", ticket, detail))

    def _done(self, source: Source, sha: str, result: DeskResult) -> Outcome:
        ticket_id = result.ticket.id if result.ticket is not None else None
        self._receipt(source, sha, result.kind, result.detail, ticket_id)
        return Outcome(result.kind, self.ref(ticket_id), result.detail)

    def _agent_sender(self, mail: ParsedMail) -> str | None:
        """The sender's address when it is an agent's (verified or not: the desk decides)."""
        sender = mail.sender.email if mail.sender else None
        return sender if sender is not None and self.config.agent(sender) else None

    def _is_our_message(self, mail: ParsedMail) -> bool:
        """Our own mail coming back: a Message-ID mailtix generated (always on its domain)."""
        if mail.message_id is None or not mail.message_id.endswith(f"@{self.mailer.domain}>"):
            return False
        return OutboxItem.select().where(OutboxItem.message_id == mail.message_id).exists()


def _parsed(raw: bytes, ahead: Ahead | None, budget: CpuBudget) -> tuple[ParsedMail, str | None]:
    """The mail of ``raw`` and what its sender wrote of its text (None: not known yet):
    parsed ahead when that is back (its CPU time charged to the budget), else here."""
    done = ahead() if ahead is not None else None
    if done is None:
        return parse_message(raw), None
    budget.charge(done.cpu)
    if done.mail is None:
        raise ParseError(done.error)
    return done.mail, done.visible
