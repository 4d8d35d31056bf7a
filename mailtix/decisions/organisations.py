"""Decide, purely, which organisation a customer belongs to, and say why.

In order: the organisation whose ``members`` names the address; else the one a customers
import recorded for them (``Customer.organisation``, if it still exists); else the one whose
``domains`` holds the address's domain or a parent of it, the longest match winning
(``it.bigcorp.example`` joins the organisation of ``it.bigcorp.example`` if there is one, else
that of ``bigcorp.example``). A free-mail domain (``domain.free_mail``) never matches by domain.
Addresses and domains are compared by their keys (``domain.addresses``).
"""

from __future__ import annotations

from dataclasses import dataclass

from mailtix.config.organisations import Organisation, OrganisationDirectory
from mailtix.domain.addresses import address_key
from mailtix.domain.free_mail import is_free_mail


@dataclass(frozen=True)
class Membership:
    organisation: Organisation | None
    reason: str

    @property
    def name(self) -> str | None:
        return self.organisation.name if self.organisation else None


@dataclass(frozen=True)
class CustomerFacts:
    """What routing and templates know of the sender of a new ticket."""

    email: str
    membership: Membership
    tags: tuple[str, ...] = ()
    language: str = ""


def match(directory: OrganisationDirectory, email: str, recorded: str | None = None) -> Membership:
    """The organisation of ``email``; ``recorded``: the one its customer record names."""
    key = address_key(email)
    member = directory.by_member.get(key)
    if member is not None:
        return Membership(member, f"{key} is a member of {member.name}")
    named = directory.named(recorded)
    if named is not None:
        return Membership(named, f"{key} belongs to {named.name} (customer record)")
    domain = key.rpartition("@")[2]
    if is_free_mail(domain):
        return Membership(None, f"{domain} is a free-mail domain: never matched by domain")
    labels = domain.split(".")
    for start in range(len(labels) - 1):  # the domain, then each parent (never a bare TLD)
        candidate = ".".join(labels[start:])
        found = directory.by_domain.get(candidate)
        if found is not None:
            return Membership(found, f"{key} is in domain {candidate} of {found.name}")
    return Membership(None, f"no organisation has {key} or its domain")


def facts(
    directory: OrganisationDirectory,
    email: str,
    *,
    recorded: str | None = None,
    tags: tuple[str, ...] = (),
    language: str = "",
) -> CustomerFacts:
    """The facts of ``email`` from the config and (when there is one) its customer record."""
    return CustomerFacts(email, match(directory, email, recorded), tags, language)
