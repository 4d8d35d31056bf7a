"""Bounces (DSNs): never a new ticket and never an answer. A bounce of a message mailtix sent
is filed on that message's ticket as a ``bounce`` event, and a permanently failing address
that mailtix actually mailed is marked undeliverable for automatic mail.
"""

from __future__ import annotations

from mailtix.bounces import Bounce, read_bounce
from mailtix.intake import DeskResult, Incoming
from mailtix.store.models import OutboxItem, Suppression, Ticket
from mailtix.store.tickets import add_event, get_ticket, store_incoming, touch


class BounceDesk:
    def handle(self, item: Incoming, threaded: Ticket | None) -> DeskResult:
        bounce = read_bounce(item.raw)
        sent = self._our_message(bounce)
        ticket = get_ticket(sent.ticket_id) if sent and sent.ticket_id else threaded
        if ticket is None:
            return DeskResult("ignored", None, f"bounce of no message of ours ({_what(bounce)})")
        store_incoming(
            ticket, item.mail, item.raw, item.sha, kind="auto", automation="bounce",
            thread_reason=f"bounce of {sent.message_id}" if sent else item.thread_reason,
            now=item.now,
        )  # fmt: skip
        add_event(ticket, "bounce", _what(bounce), item.now)
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
        """Only addresses we really sent that message to; others named in a DSN are ignored."""
        for address in sorted(bounce.permanent & set(sent.recipients)):
            if Suppression.get_or_none(Suppression.address == address) is None:
                reason = f"permanent failure of {sent.message_id}"
                Suppression.create(
                    address=address, reason=reason, ticket=ticket, created_at=item.now
                )
                add_event(ticket, "undeliverable", f"{address}: no more automatic mail", item.now)


def _what(bounce: Bounce) -> str:
    parts = []
    if bounce.permanent:
        parts.append("permanent failure for " + ", ".join(sorted(bounce.permanent)))
    if bounce.temporary:
        parts.append("delayed for " + ", ".join(sorted(bounce.temporary)))
    return "; ".join(parts) or "no failed address named"
