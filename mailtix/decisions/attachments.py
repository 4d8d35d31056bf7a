"""Whether an attachment may be sent on (pure; no I/O): to a customer in a relayed answer, or
named as an attachment in an agent's notification. A blocked one stays in the store.

Blocked: a name whose last extension is in ``[attachments] blocked`` (trailing dots and spaces
dropped, as Windows does; ``invoice.pdf.exe`` is named as a double extension), a declared
Content-Type the list names (``"application/x-msdownload"``), a name with a
bidirectional override (``invoice<U+202E>fdp.exe`` shows as "invoiceexe.pdf"), or content whose
first bytes say executable or script whatever the name and declared Content-Type: a Windows
PE (``MZ``), ELF, Mach-O, a shebang script, a Windows shortcut, an ISO 9660 image, an Office
file with VBA macros (``vbaProject.bin`` in its zip directory).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from mailtix.domain.values import Attachment

_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_MAGIC = (
    (b"MZ", "a Windows executable"),
    (b"\x7fELF", "an ELF executable"),
    (b"\xcf\xfa\xed\xfe", "a Mach-O executable"),
    (b"\xca\xfe\xba\xbe", "a Mach-O or Java class file"),
    (b"#!", "a script (#!)"),
    (b"L\x00\x00\x00\x01\x14\x02\x00", "a Windows shortcut"),
)
_SCAN = 1 << 20  # bytes of a zip searched for a VBA project


def blocked_reason(item: Attachment, blocked: Collection[str]) -> str | None:
    """Why ``item`` may not be sent on, or None."""
    name = item.filename.strip().lower().rstrip(". ")
    if any(char in _BIDI for char in name):
        return "name with a text-direction override"
    parts = name.rsplit(".", 2)
    extension = f".{parts[-1]}" if len(parts) > 1 else ""
    wanted = {entry.strip().lower() for entry in blocked}
    declared = item.content_type.strip().lower()
    if declared and declared in wanted:
        return f"blocked type {declared}"
    if extension in wanted:
        if len(parts) == 3 and parts[1] and 1 <= len(parts[1]) <= 4:
            return f"double extension .{parts[1]}{extension}"
        return f"blocked extension {extension}"
    content = item.content
    for magic, what in _MAGIC:
        if content.startswith(magic):
            return f"content is {what} (declared {item.content_type or 'no type'})"
    if content[0x8001:0x8006] == b"CD001":
        return "content is a disk image (ISO 9660)"
    if content.startswith(b"PK\x03\x04") and b"vbaProject.bin" in content[:_SCAN]:
        return "content is an Office file with macros"
    return None


def split(
    attachments: Sequence[Attachment], blocked: Collection[str]
) -> tuple[tuple[Attachment, ...], tuple[tuple[str, str], ...]]:
    """(the attachments that may be sent on, (name, why) of each withheld one)."""
    kept: list[Attachment] = []
    withheld: list[tuple[str, str]] = []
    for item in attachments:
        why = blocked_reason(item, blocked)
        if why is None:
            kept.append(item)
        else:
            withheld.append((item.filename or "attachment", why))
    return tuple(kept), tuple(withheld)
