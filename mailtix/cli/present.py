"""Tickets, outbox rows and quarantine items as the JSON shapes of CONTRACT.md and as text."""

from __future__ import annotations

from typing import Any

from mailtix.decisions.correlate import format_ref
from mailtix.domain.clock import iso
from mailtix.store.models import Attachment, Event, Message, OutboxItem, Participant, Ticket
from mailtix.store.tickets import verified_flag


def ticket_summary(ticket: Ticket, prefix: str) -> dict[str, Any]:
    participants = (
        Participant.select(Participant.email)
        .where(Participant.ticket == ticket)
        .order_by(Participant.id)
    )
    return {
        "ref": format_ref(prefix, ticket.id),
        "id": ticket.id,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "department": ticket.department,
        "assignee": ticket.assignee,
        "customer": ticket.customer,
        "organisation": ticket.organisation,
        "participants": [p.email for p in participants],
        "tags": list(ticket.tags),
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
        "satisfaction": ticket.satisfaction,
        "satisfaction_comment": ticket.satisfaction_comment,
        "first_response_due": iso(ticket.first_response_due),
        "first_response_at": iso(ticket.first_response_at),
        "resolution_due": iso(ticket.resolution_due),
        "resolved_at": iso(ticket.resolved_at),
        "linked_ticket": format_ref(prefix, ticket.linked_ticket) if ticket.linked_ticket else None,
        "merged_into": format_ref(prefix, ticket.merged_into) if ticket.merged_into else None,
        "snoozed_until": iso(ticket.snoozed_until),
        "spam": bool(ticket.spam),  # an agent's #spam (lifecycle.spam)
    }


def ticket_detail(ticket: Ticket, prefix: str) -> dict[str, Any]:
    data = ticket_summary(ticket, prefix)
    messages = Message.select().where(Message.ticket == ticket).order_by(Message.id)
    events = Event.select().where(Event.ticket == ticket).order_by(Event.id)
    data["messages"] = [message_dict(m) for m in messages]
    data["events"] = [
        {"type": e.type, "detail": e.detail, "actor": e.actor, "at": iso(e.at)} for e in events
    ]
    return data


def message_dict(message: Message) -> dict[str, Any]:
    attachments = Attachment.select(
        Attachment.filename, Attachment.content_type, Attachment.size
    ).where(Attachment.message == message)
    return {
        "direction": message.direction,
        "kind": message.kind,
        "from": message.from_addr,
        "to": list(message.to_addrs),
        "cc": list(message.cc_addrs),
        "subject": message.subject,
        "text": message.text,
        "message_id": message.message_id,
        "created_at": iso(message.created_at),
        "automation": message.automation,
        "thread_reason": message.thread_reason,
        "verified": verified_flag(message.kind, message.thread_reason),
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size}
            for a in attachments
        ],
    }


def outbox_dict(item: OutboxItem, prefix: str) -> dict[str, Any]:
    return {
        "id": item.id,
        "ticket": format_ref(prefix, item.ticket_id) if item.ticket_id else None,
        "kind": item.kind,
        "recipients": list(item.recipients),
        "message_id": item.message_id,
        "status": item.status,
        "attempts": item.attempts,
        "next_attempt_at": iso(item.next_attempt_at),
        "last_error": item.last_error,
        "created_at": iso(item.created_at),
        "sent_at": iso(item.sent_at),
    }
