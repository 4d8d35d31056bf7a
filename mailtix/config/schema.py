"""The mailtix.toml schema: each key of a section, its type, limits and default, written once as
a field of that section's frozen dataclass (``key(...)``). From it come the known keys (for
unknown-key hints), the defaults (for the example-file check) and the typed reading
(``read_keys``); what one section checks across its keys stays with its loader."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from mailtix.config.reader import Reader


@dataclass(frozen=True)
class Spec:
    """How one key is read: its kind, limits, choices; ``required``: must be given and not
    blank; ``nonempty``: not blank when given; ``secret``: also ``KEY_env`` and ``KEY_file``;
    ``derived``: when not given, the value comes from another key (the default is a fallback)."""

    kind: str  # text | integer | number | boolean | choice | strings | path; list | table:
    # read by the section's loader
    low: float | None = None
    high: int | None = None
    choices: tuple[str, ...] = ()
    required: bool = False
    nonempty: bool = False
    secret: bool = False
    derived: bool = False
    clean: Callable[[str], str] | None = None  # applied to a text value before ``check``
    check: Callable[[str], str] | None = None  # what is wrong with a text value ("" if fine)


def key(
    default: Any,
    kind: str = "",
    *,
    low: float | None = None,
    high: int | None = None,
    choices: tuple[str, ...] = (),
    required: bool = False,
    nonempty: bool = False,
    secret: bool = False,
    derived: bool = False,
    clean: Callable[[str], str] | None = None,
    check: Callable[[str], str] | None = None,
) -> Any:
    """A dataclass field that is also a key of the file; ``kind`` follows from the default."""
    kind = kind or ("choice" if choices else _kind_of(default))
    spec = Spec(kind, low, high, choices, required, nonempty, secret, derived, clean, check)
    return dataclasses.field(default=default, repr=not secret, metadata={"key": spec})


def _kind_of(default: object) -> str:
    kinds = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "text"))
    found = next((name for cls, name in kinds if isinstance(default, cls)), None)
    if found is None:
        raise TypeError(f"give the kind of a key with default {default!r}")
    return found


def specs(cls: type) -> Iterator[tuple[str, Spec, Any]]:
    """Every key of ``cls`` in order: name, spec, default."""
    for item in dataclasses.fields(cls):
        spec = item.metadata.get("key")
        if spec is not None:
            yield item.name, spec, item.default


def keys(cls: type) -> tuple[str, ...]:
    """The key names a section may hold (a secret adds its ``_env`` and ``_file`` forms)."""
    names: list[str] = []
    for name, spec, _ in specs(cls):
        names += [name, f"{name}_env", f"{name}_file"] if spec.secret else [name]
    return tuple(names)


def read_keys(cls: type, reader: Reader, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The plain keys of ``cls`` from ``reader``, each checked against its spec; a bad value
    becomes one problem line and its default. Secrets, lists, tables and ``skip`` are left to
    the section's loader."""
    found: dict[str, Any] = {}
    for name, spec, default in specs(cls):
        if name in skip or spec.secret or spec.kind in ("list", "table"):
            continue
        found[name] = _read(reader, name, spec, default)
    return found


def _read(reader: Reader, name: str, spec: Spec, default: Any) -> Any:
    if spec.kind == "integer":
        return reader.integer(name, default, int(spec.low or 0), spec.high)
    if spec.kind == "number":
        return reader.number(name, default, spec.low or 0.0)
    if spec.kind == "boolean":
        return reader.boolean(name, default)
    if spec.kind == "choice":
        return reader.choice(name, default, spec.choices)
    if spec.kind == "strings":
        if not reader.has(name):
            return default
        if reader.raw(name) == []:
            return ()  # said on purpose: "none", not "the default"
        return reader.strings(name) or default
    shown = "" if default is None else str(default)
    text = reader.text(name, shown, required=spec.required or (spec.nonempty and reader.has(name)))
    text = spec.clean(text) if spec.clean else text
    problem = spec.check(text) if spec.check else ""
    if problem:
        reader.problem(name, problem)
    return text
