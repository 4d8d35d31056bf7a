"""How a person's address is found in stored text and bytes: every spelling that names the
same person (``domain.addresses``), matched case-insensitively, and replaced by a pseudonym."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from mailtix.domain.addresses import address_key


@dataclass(frozen=True)
class Spellings:
    """The lower-case spellings of one address: as given, IDNA-encoded, IDNA-decoded."""

    forms: tuple[str, ...]

    @classmethod
    def of(cls, address: str) -> Spellings:
        given = address.strip().lower()
        key = address_key(given)
        forms = [given, key]
        local, _, domain = key.rpartition("@")
        try:
            forms.append(f"{local}@{domain.encode('ascii').decode('idna')}")
        except UnicodeError:
            pass
        return cls(tuple(dict.fromkeys(f for f in forms if "@" in f)))

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        return re.compile("|".join(re.escape(f) for f in self.forms), re.IGNORECASE)

    @cached_property
    def _raw(self) -> tuple[bytes, ...]:
        return tuple(f.encode("utf-8") for f in self.forms)

    def equal(self, value: str | None) -> bool:
        return bool(value) and address_key(value or "") in self.forms

    def mentioned(self, text: str | None) -> bool:
        return bool(text) and self._pattern.search(text or "") is not None

    def mentioned_in_bytes(self, raw: bytes | None) -> bool:
        if not raw:
            return False
        lowered = bytes(raw).lower()
        return any(form in lowered for form in self._raw)

    def replace(self, text: str, pseudonym: str) -> str:
        return self._pattern.sub(pseudonym, text) if text else text

    def without(self, addresses: Iterable[str]) -> list[str]:
        """``addresses`` without this person's."""
        return [a for a in addresses if not self.equal(a)]
