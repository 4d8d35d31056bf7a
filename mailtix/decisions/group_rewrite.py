"""A group's DMARC rewrite of From, undone for mailtix's own support address.

Google Groups and mailing lists rewrite the From of a sender whose domain publishes DMARC:
``'Marston, John' via Western Support <support@example.com>``, keeping the person in
``X-Original-From`` (Google) or ``Reply-To`` (Mailman). Where the support address itself is
such a group, every customer would otherwise be the group. ``unwrapped`` makes the person the
sender, and only when all of this holds:

- the From address is one of mailtix's own mailbox addresses (the group *is* the support
  address): a rewrite by anyone else's list is left alone, so the list stays the sender;
- the display name reads "<person> via <group>";
- the person is one address in X-Original-From, or, with List-Id present, the one Reply-To;
- the person is not one of mailtix's own addresses.

Why this is safe: the person named is exactly as trustworthy as an unrewritten From. An
outsider sending through the group cannot choose the group's From without the group rewriting
it, and what the group puts in X-Original-From is the From the outsider wrote, which they could
have written to a plain support mailbox just the same; a mail that forges the rewrite by hand
(From our own address, X-Original-From of a victim) gains nothing a forged From of that victim
would not. It never makes a mail verified: agents still need their reply token, and group mail
carries List-Id, so it is classified as list mail and gets no automatic answer.
"""

from __future__ import annotations

from dataclasses import replace

from mailtix.domain.values import Address, ParsedMail


def unwrapped(mail: ParsedMail, own_addresses: frozenset[str]) -> ParsedMail:
    """``mail`` with the person as its sender when From is our group's rewrite, else as is."""
    group = mail.sender
    if group is None or group.email not in own_addresses or " via " not in group.name:
        return mail
    person, where = _person(mail)
    if person is None or person.email in own_addresses:
        return mail
    note = f"From rewritten by the group {group.email}; sender taken from {where}"
    return replace(mail, sender=person, defects=(*mail.defects, note))


def _person(mail: ParsedMail) -> tuple[Address | None, str]:
    if mail.original_from or mail.header("x-original-from") is not None:
        one = mail.original_from[0] if len(mail.original_from) == 1 else None
        return one, "X-Original-From"
    if mail.header("list-id") is not None and len(mail.reply_to) == 1:
        return mail.reply_to[0], "Reply-To"
    return None, ""
