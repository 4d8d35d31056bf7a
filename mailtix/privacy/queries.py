"""Finding rows that name a person, in SQL that SQLite and PostgreSQL both run: a column equal
to one spelling, a text column containing one, a blob (raw mail) containing one. These are
candidates; the caller confirms each row with ``matching.Spellings`` before changing it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import reduce
from operator import or_
from typing import Any

from peewee import Cast, PostgresqlDatabase, fn

from mailtix.privacy.matching import Spellings
from mailtix.store.models import database_proxy

CHUNK = 500


def equals(column: Any, who: Spellings) -> Any:
    return fn.LOWER(column).in_(list(who.forms))


def mentions(columns: Iterable[Any], who: Spellings) -> Any:
    """Any of ``columns`` contains any spelling (case-insensitive LIKE / ILIKE)."""
    found = [fn.LOWER(column).contains(form) for column in columns for form in who.forms]
    return reduce(or_, found)  # LOWER: also keeps a JSON list field from converting the value


def blob_mentions(column: Any, who: Spellings) -> Any:
    """A blob column contains a spelling in any letter case (ASCII folding)."""
    if isinstance(database_proxy.obj, PostgresqlDatabase):
        text = fn.LOWER(fn.ENCODE(column, "escape"))
        return reduce(or_, [fn.STRPOS(text, form) > 0 for form in who.forms])
    text = fn.LOWER(Cast(column, "TEXT"))
    return reduce(or_, [fn.INSTR(text, form) > 0 for form in who.forms])


def chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])
