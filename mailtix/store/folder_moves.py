"""Moves of stored mail between a mailbox's folders, asked for inside a pipeline transaction
and done by the next poll of that mailbox, which has the mailbox open (``runtime.poller``).

An agent's ``#spam`` asks to move the ticket's customer mail from processed_folder to
spam_folder (where a spam filter that learns from the folder sees it), ``#notspam`` to move it
back; the later request for a ticket replaces the earlier one. Only that ticket's own customer
messages are asked for, at most ``PER_TICKET``: each by its Message-ID, as plain printable
ASCII (no space, no control character), and the SHA-256 of its stored bytes, so that another
mail carrying the same Message-ID (a stranger can send one) stays where it is.
"""

from __future__ import annotations

import re
from datetime import datetime

from mailtix.domain.vocabulary import Direction, MessageKind
from mailtix.store.models import FolderMove, Message, Ticket

PER_TICKET = 50
_PLAIN_ID = re.compile(r"<[!-;=?-~]{1,250}>\Z")  # no <, > or space inside


def ask(ticket: Ticket, to_spam: bool, now: datetime) -> int:
    """Ask the next poll of the ticket's mailbox to move its customer mail into (``to_spam``)
    or out of spam_folder; how many messages that names."""
    rows = (
        Message.select(Message.message_id, Message.raw_sha256)
        .where(
            (Message.ticket == ticket.id)
            & (Message.direction == Direction.IN)
            & (Message.kind == MessageKind.CUSTOMER)
            & Message.message_id.is_null(False)
            & Message.raw_sha256.is_null(False)
        )
        .order_by(Message.id)
        .limit(PER_TICKET)
    )
    wanted = dict.fromkeys(
        (m.message_id, m.raw_sha256) for m in rows if _PLAIN_ID.match(m.message_id or "")
    )
    FolderMove.delete().where(FolderMove.ticket == ticket.id).execute()
    if wanted:
        FolderMove.insert_many(
            [
                {
                    "ticket": ticket.id,
                    "mailbox": ticket.mailbox,
                    "message_id": message_id,
                    "raw_sha256": sha,
                    "to_spam": to_spam,
                    "created_at": now,
                }
                for message_id, sha in wanted
            ]  # fmt: skip
        ).execute()
    return len(wanted)


def pending(mailbox: str, limit: int) -> list[FolderMove]:
    """The oldest ``limit`` moves asked for in ``mailbox``."""
    query = FolderMove.select().where(FolderMove.mailbox == mailbox)
    return list(query.order_by(FolderMove.id).limit(limit))


def done(moves: list[FolderMove]) -> None:
    """Forget ``moves``: done, or found in neither folder."""
    if moves:
        FolderMove.delete().where(FolderMove.id.in_([m.id for m in moves])).execute()
