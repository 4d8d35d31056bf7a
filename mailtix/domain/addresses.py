"""How mailtix compares email addresses: one key per person, whoever spells it how.

The key is the address lower-cased (local part too, as every mail provider in practice treats
it) with its domain IDNA-encoded (punycode), so ``Bob@München.example`` and
``bob@xn--mnchen-3ya.example`` are one participant, one customer and one member of an
organisation.
"""

from __future__ import annotations


def address_key(email: str) -> str:
    """``email`` for comparing: lower-case, its domain IDNA-encoded (punycode)."""
    local, at, domain = email.strip().lower().rpartition("@")
    if not at or domain.isascii():
        return email.strip().lower()
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:  # not a valid IDN: compared as written
        return f"{local}@{domain}"


def domain_key(domain: str) -> str:
    """A domain for comparing: lower-case, IDNA-encoded, without a leading ``@`` or final dot."""
    name = domain.strip().lower().lstrip("@").rstrip(".")
    if name.isascii():
        return name
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name
