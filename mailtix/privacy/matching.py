"""How a person's address is found in stored text and bytes: every spelling that names the
same person (``domain.addresses``), matched case-insensitively as a whole address (erasing
``ann@example.org`` leaves ``joann@example.org`` and ``ann@example.org.uk`` alone), and
replaced by a pseudonym."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from mailtix.domain.addresses import address_key

BEFORE = r"(?<![\w.!#$%&'*+/=?^`{|}~-])"  # no more of a local part before it
AFTER = r"(?![\w-]|\.[\w-])"  # no more of a domain after it


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
        forms = "|".join(re.escape(f) for f in self.forms)
        return re.compile(f"{BEFORE}(?:{forms}){AFTER}", re.IGNORECASE)

    @cached_property
    def _raw(self) -> re.Pattern[bytes]:
        forms = "|".join(re.escape(f) for f in self.forms)
        return re.compile(f"{BEFORE}(?:{forms}){AFTER}".encode(), re.IGNORECASE)

    def equal(self, value: str | None) -> bool:
        return bool(value) and address_key(value or "") in self.forms

    def mentioned(self, text: str | None) -> bool:
        return bool(text) and self._pattern.search(text or "") is not None

    def mentioned_in_bytes(self, raw: bytes | None) -> bool:
        return bool(raw) and self._raw.search(bytes(raw or b"")) is not None

    def mentioned_in_mail(self, raw: bytes | None) -> bool:
        """In the bytes, or in a header or text part once decoded (base64, quoted-printable,
        RFC 2047), where a byte search cannot see it."""
        if not raw or self.mentioned_in_bytes(raw):
            return bool(raw)
        try:
            mail = email.message_from_bytes(bytes(raw), policy=email.policy.default)
            texts = [str(value) for _, value in mail.items()]
            for part in mail.walk():
                if part.get_content_maintype() == "text":
                    texts.append(str(part.get_content()))
        except Exception:  # a mail too broken to decode: the byte search above is all
            return False
        return any(self.mentioned(text) for text in texts)

    def replace(self, text: str, pseudonym: str) -> str:
        return self._pattern.sub(pseudonym, text) if text else text

    def without(self, addresses: Iterable[str]) -> list[str]:
        """``addresses`` without this person's."""
        return [a for a in addresses if not self.equal(a)]
