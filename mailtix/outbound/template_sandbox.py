"""The Jinja2 environment mail templates are compiled in: ``SandboxedEnvironment`` (templates
may be edited by an administrator), ``StrictUndefined``, HTML autoescaping for ``.html.j2``, a
``range()`` with a bound, and size checks on arguments so a template cannot build huge values;
and what a template error says, as one line. ``render`` loads and renders with it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment, SecurityError

MAX_OUTPUT_CHARS = 1_000_000  # per rendered part
MAX_RANGE = 10_000  # items a template's range() may produce
_HUGE_WIDTH = re.compile(r"[%{][^a-zA-Z%{}]*\d{7,}")
_DICT_ATTRIBUTES = frozenset(dir(dict))  # what getattr() finds on a plain dict


def _guard_numbers(args: Iterable[Any]) -> None:
    """Refuse numbers big enough to make a value of more than MAX_OUTPUT_CHARS characters."""
    for arg in args:
        if isinstance(arg, int) and abs(arg) > MAX_OUTPUT_CHARS:
            raise SecurityError(f"number {arg} is too large for a template")


def _guard_format(value: Any) -> None:
    """Refuse a format string asking for a huge field width (``%999999999s``, ``{:999999999}``)."""
    if isinstance(value, str) and _HUGE_WIDTH.search(value):
        raise SecurityError("format width too large for a template")


def _guarded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    first = 1 if hasattr(function, "jinja_pass_arg") else 0  # context/environment comes first

    @functools.wraps(function)  # keeps jinja's pass_context & co. markers
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if name == "format":  # numbers are its data; the format string sets the size
            _guard_format(args[first] if len(args) > first else None)
        else:
            _guard_numbers([*args[first + 1 :], *kwargs.values()])  # arguments, not the value
        return function(*args, **kwargs)

    return guarded


class _LimitedSandbox(SandboxedEnvironment):
    """The Jinja2 sandbox, plus size checks on arguments so a template cannot build huge values
    (``"x" * 10**9``, ``"x".ljust(10**9)``, ``"x"|center(10**9)``, ``"%999999999s"|format(1)``).
    """

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _guarded_filter(name, f) for name, f in self.filters.items()}

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """A template's globals as a plain dict, not jinja's ChainMap over the environment's:
        every render copies them into its context, and a ChainMap is iterated in Python
        (a quarter of a notification's render). The environment's globals are all set before
        any template is loaded (``make_environment``), as jinja asks; a copy still keeps a
        template from changing them."""
        return {**self.globals, **(d or {})}

    def getattr(self, obj: Any, attribute: str) -> Any:
        """``ticket.ref`` of a plain dict (every context value mailtix passes) straight from
        its item: the sandbox would try the attribute first and find it only after an
        AttributeError. What it returns is the same: a dict's item is what the sandbox gives
        for a name that is not one of dict's attributes, and those still go to the sandbox."""
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**" and isinstance(right, int) and abs(right) > 100:
            raise SecurityError("exponent too large for a template")
        if operator_name == "%":
            _guard_format(left)
        if operator_name == "*":
            for seq, count in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(count, int)
                if sized and len(seq) * count > MAX_OUTPUT_CHARS:
                    raise SecurityError("repeated value too large for a template")
        return super().call_binop(context, operator_name, left, right)

    def call(
        __self,  # noqa: N805 (jinja's signature)
        __context: Any,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        if getattr(__obj, "__name__", "") not in ("format", "format_map"):  # see below
            _guard_numbers([*args, *kwargs.values()])
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format``/``format_map``, reached as an attribute: refuse huge widths first."""
        if getattr(value, "__name__", "") in ("format", "format_map"):
            _guard_format(getattr(value, "__self__", None))
        return super().wrap_str_format(value)


def _autoescape(name: str | None) -> bool:
    return name is not None and name.endswith(".html.j2")


def make_environment(directories: list[Path], deadline: Callable[[], None]) -> SandboxedEnvironment:
    env = _LimitedSandbox(
        loader=jinja2.FileSystemLoader([str(d) for d in directories]),
        undefined=jinja2.StrictUndefined,
        autoescape=_autoescape,
        keep_trailing_newline=True,
        auto_reload=True,
    )

    def limited_range(*args: int) -> Iterator[int]:
        numbers = range(*args)
        if len(numbers) > MAX_RANGE:
            raise SecurityError(f"range() larger than {MAX_RANGE} items")
        for number in numbers:
            deadline()
            yield number

    env.globals["range"] = limited_range
    return env


def describe(exc: Exception) -> str:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"line {exc.lineno}: syntax error: {exc.message}"
    if isinstance(exc, SecurityError):
        return f"not allowed in the sandbox: {exc}"
    if isinstance(exc, jinja2.UndefinedError):
        return f"undefined: {exc.message}"
    if isinstance(exc, jinja2.TemplateNotFound):
        return f"includes a missing template {exc.name}"
    return f"{type(exc).__name__}: {exc}"


def one_line(text: str) -> str:
    return " ".join(text.split())
