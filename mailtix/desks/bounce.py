"""Bounces (DSNs): never a new ticket and never an answer. A bounce of a message mailtix sent
is filed on that message's ticket as a ``bounce`` event, and a permanently failing address
that mailtix actually mailed is marked undeliverable for automatic mail (for
``tickets.suppression_days``) when the bounce plausibly comes from a mail server that handled
that address (``bounces.suppression_refused``); a refused one is a ``not-suppressed`` event.
"""

from __future__ import annotations

from mailtix.decisions.bounces import Bounce, read_bounce, suppression_refused
from mailtix.desks.intake import Desk, DeskResult, Incoming
from mailtix.domain.values import ParsedMail
from mailtix.domain.vocabulary import EventType, MessageKind
from mailtix.lifecycle.changes import record, touch
from mailtix.store.models import OutboxItem, Participant, Suppression, Ticket
from mailtix.store.tickets import get_ticket, store_incoming


class BounceDesk(Desk):
    def handle(self, item: Incoming, threaded: Ticket | None) -> DeskResult:
        bounce = read_bounce(item.raw)
        sent = self._our_message(bounce)
        ticket = get_ticket(sent.ticket_id) if sent and sent.ticket_id else threaded
        if ticket is None:
            return DeskResult("ignored", None, f"bounce of no message of ours ({_what(bounce)})")
        store_incoming(
            ticket, item.mail, item.raw, item.sha, kind=MessageKind.AUTO, automation="bounce",
            thread_reason=f"bounce of {sent.message_id}" if sent else item.thread_reason,
            now=item.now,
        )  # fmt: skip
        record(ticket, EventType.BOUNCE, _what(bounce), item.now)
        if sent is not None:
            self._suppress(bounce, sent, ticket, item)
        touch(ticket, item.now)
        return DeskResult("followup", ticket, f"bounce: {_what(bounce)}")

    def _our_message(self, bounce: Bounce) -> OutboxItem | None:
        if not bounce.returned_ids:
            return None
        return (
            OutboxItem.select()
            .where(OutboxItem.message_id.in_(list(bounce.returned_ids)))
            .order_by(OutboxItem.id.desc())
            .first()
        )

    def _suppress(self, bounce: Bounce, sent: OutboxItem, ticket: Ticket, item: Incoming) -> None:
        """Only addresses we really sent that message to, and only on a plausible bounce."""
        people = Participant.select(Participant.email).where(Participant.ticket == ticket.id)
        insiders = {*sent.recipients, ticket.customer, *(p.email for p in people)}
        for address in sorted(bounce.permanent & set(sent.recipients)):
            refused = suppression_refused(
                address, _authors(item.mail), item.mail.return_path,
                _reporters(item.mail, bounce), self._own_domains(), insiders,
            )  # fmt: skip
            if refused is not None:
                record(ticket, EventType.NOT_SUPPRESSED, f"{address}: {refused}", item.now)
                continue
            reason = f"permanent failure of {sent.message_id}"
            row = {"reason": reason, "ticket": ticket.id, "created_at": item.now}
            Suppression.insert(address=address, **row).on_conflict(
                conflict_target=[Suppression.address], update=row
            ).execute()
            days = self.config.tickets.suppression_days
            detail = f"{address}: no automatic mail for {days} days"
            record(ticket, EventType.UNDELIVERABLE, detail, item.now)

    def _own_domains(self) -> set[str]:
        config = self.config
        domains = {m.address.rpartition("@")[2] for m in config.mailboxes}
        domains.add(config.tickets.message_id_domain)
        accounts = [config.smtp, *(m.smtp for m in config.mailboxes if m.smtp is not None)]
        for host in (smtp.host.lower() for smtp in accounts):  # [smtp]'s and [mailbox.smtp]'s
            # a name with a dot; not an address, not "localhost"
            if "." in host and not host.replace(".", "").isdigit() and ":" not in host:
                domains.add(host)
        return {d for d in domains if d}


def _authors(mail: ParsedMail) -> list[str]:
    found = [mail.sender.email] if mail.sender else []
    found += [a.email for a in mail.reply_to]
    return [*found, mail.return_path] if mail.return_path else found


def _reporters(mail: ParsedMail, bounce: Bounce) -> list[str]:
    domain = mail.sender.email.rpartition("@")[2] if mail.sender else ""
    return [domain, bounce.reporting_mta]


def _what(bounce: Bounce) -> str:
    parts = []
    if bounce.permanent:
        parts.append("permanent failure for " + ", ".join(sorted(bounce.permanent)))
    if bounce.temporary:
        parts.append("delayed for " + ", ".join(sorted(bounce.temporary)))
    return "; ".join(parts) or "no failed address named"
