"""Reading the typed columns of an event back from the text older versions wrote in ``detail``
(the schema migration to typed events runs it once over the events it finds).

"open -> resolved: why" (status), "normal -> urgent" (priority, department, customer),
"nobody -> bob@…" or "bob@… (rule: round-robin)" (assigned), the tag itself (tag), and
"first_response breached (due 2026-11-23T10:00:00); escalated to …" (sla).
"""

from __future__ import annotations

import re

from mailtix.domain.vocabulary import EventType, Field

_STATUS = re.compile(r"(\S+) -> (\S+?): (.*)", re.DOTALL)
_CHANGE = re.compile(r"(.*?) -> (.*)", re.DOTALL)
_BY_RULE = re.compile(r"(\S+) \((rule: .*)\)", re.DOTALL)
_SLA = re.compile(r"(first_response|resolution) (breached|warning) \((due [^)]*)\)")
_FIELD_OF = {
    EventType.PRIORITY: Field.PRIORITY,
    EventType.DEPARTMENT: Field.DEPARTMENT,
    EventType.CUSTOMER: Field.CUSTOMER,
    EventType.ASSIGNED: Field.ASSIGNEE,
}


def typed_columns(type_: str, detail: str) -> dict[str, str | None] | None:
    """The ``field``, ``old_value``, ``new_value`` and ``reason`` an event of ``type_`` with
    this ``detail`` means; None when the text is not one mailtix wrote."""
    if type_ == EventType.STATUS:
        match = _STATUS.fullmatch(detail)
        return _columns(Field.STATUS, *match.groups()) if match else None
    if type_ == EventType.TAG:
        return _columns(Field.TAGS, None, detail)
    if type_ == EventType.SLA:
        match = _SLA.match(detail)
        return _columns(match[1], None, match[2], match[3]) if match else None
    if type_ == EventType.ASSIGNED and (match := _BY_RULE.fullmatch(detail)):
        return _columns(Field.ASSIGNEE, None, match[1], match[2])
    field = _FIELD_OF.get(type_)  # type: ignore[call-overload]
    match = _CHANGE.fullmatch(detail)
    if field is None or match is None:
        return None
    old = None if field == Field.ASSIGNEE and match[1] == "nobody" else match[1]
    return _columns(field, old, match[2])


def _columns(
    field: str, old: str | None, new: str | None, reason: str | None = None
) -> dict[str, str | None]:
    return {"field": field, "old_value": old, "new_value": new, "reason": reason}
