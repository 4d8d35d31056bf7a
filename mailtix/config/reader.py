"""Typed, problem-collecting access to parsed TOML tables, for the config loaders.

Nothing here raises for bad input: every problem becomes one line "FILE: KEY: what is wrong" in a
``Problems`` list, and the reader hands back a safe default so checking can go on.
"""

from __future__ import annotations

import ipaddress
import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ADDR_SPEC = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)
DOMAIN = re.compile(
    r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)
TOML_POSITION = re.compile(r"^(?P<msg>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)$")
MISSING = object()


class Problems:
    """Every problem found so far, one line each."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, file: str, key: str, message: str) -> None:
        self.lines.append(f"{file}: {key}: {message}" if key else f"{file}: {message}")


def show(value: object, limit: int = 60) -> str:
    """A value as the user wrote it in TOML (strings in double quotes), cut to ``limit``."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except ValueError:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def kind(value: object) -> str:
    """The TOML type name of a parsed value, for messages."""
    if isinstance(value, bool):
        return "a boolean"
    names = {str: "a string", int: "an integer", float: "a number", list: "a list", dict: "a table"}
    return next((n for t, n in names.items() if isinstance(value, t)), "a date/time")


def is_email(value: str) -> bool:
    return bool(ADDR_SPEC.match(value.lower())) and len(value) <= 254


def is_domain(value: str) -> bool:
    return bool(DOMAIN.match(value.lower())) and len(value) <= 253


def is_loopback(host: str) -> bool:
    name = host.strip().strip("[]").lower()
    if name in ("localhost", "localhost.localdomain") or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def read_toml(path: Path, label: str, problems: Problems) -> dict[str, Any] | None:
    """Parse one TOML file; on failure record one problem (with the line) and return None."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        problems.add(label, "", f"cannot read {path}: {exc.strerror or exc}")
        return None
    except UnicodeDecodeError as exc:
        problems.add(label, "", f"not valid UTF-8 (byte {exc.start})")
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = TOML_POSITION.match(str(exc))
        if found:
            problems.add(label, f"line {found['line']}", found["msg"])
        else:
            problems.add(label, "", f"invalid TOML: {exc}")
        return None


class Reader:
    """One TOML table at ``prefix`` in ``file``; unknown keys are reported on creation."""

    def __init__(
        self, problems: Problems, file: str, prefix: str, data: object, known: Iterable[str]
    ) -> None:
        self.problems, self.file, self.prefix = problems, file, prefix
        self.known = tuple(known)
        if not isinstance(data, dict):
            problems.add(file, prefix or "(top level)", f"must be a table, got {kind(data)}")
            data = {}
        self.data: dict[str, Any] = data
        for name in data:
            if name not in self.known:
                self.problem(name, "unknown key" + suggest(name, self.known))

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def problem(self, name: str, message: str) -> None:
        self.problems.add(self.file, self.key(name), message)

    def has(self, name: str) -> bool:
        return name in self.data

    def raw(self, name: str) -> object:
        return self.data.get(name, MISSING)

    def text(self, name: str, default: str = "", *, required: bool = False) -> str:
        value = self.data.get(name, MISSING)
        if value is MISSING:
            if required:
                self.problem(name, "required")
            return default
        if not isinstance(value, str):
            self.problem(name, f"must be a string, got {kind(value)}")
            return default
        if required and not value.strip():
            self.problem(name, "must not be empty")
        return value

    def integer(self, name: str, default: int, low: int, high: int | None = None) -> int:
        value = self.data.get(name, default)
        in_range = isinstance(value, int) and value >= low and (high is None or value <= high)
        if in_range and not isinstance(value, bool):
            return int(value)
        wanted = f"from {low} to {high}" if high is not None else f">= {low}"
        self.problem(name, f"must be an integer {wanted}, got {show(value)}")
        return default

    def number(self, name: str, default: float, low: float) -> float:
        value = self.data.get(name, default)
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= low:
            return float(value)
        self.problem(name, f"must be a number >= {low:g}, got {show(value)}")
        return default

    def boolean(self, name: str, default: bool) -> bool:
        value = self.data.get(name, default)
        if isinstance(value, bool):
            return value
        self.problem(name, f"must be true or false, got {show(value)}")
        return default

    def choice(self, name: str, default: str, choices: Iterable[str]) -> str:
        options = tuple(choices)
        value = self.data.get(name, default)
        if isinstance(value, str) and value.lower() in options:
            return value.lower()
        self.problem(name, f"must be one of {' | '.join(options)}, got {show(value)}")
        return default

    def strings(self, name: str) -> tuple[str, ...] | None:
        """A string or a non-empty list of strings (None, and a problem, otherwise)."""
        value = self.data.get(name, MISSING)
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return tuple(value)
        self.problem(name, f"must be a string or a list of strings, got {show(value)}")
        return None

    def tables(self, name: str) -> list[object]:
        """An array of tables ([[name]]); a problem (and []) if it is something else."""
        value = self.data.get(name, [])
        if isinstance(value, list):
            return value
        self.problem(name, f"must be an array of tables ([[{name}]]), got {kind(value)}")
        return []


def table_lines(path: Path, name: str) -> list[int]:
    """Line numbers of every ``[[name]]`` header in the file, in order (TOML gives none)."""
    pattern = re.compile(r"^\s*\[\[\s*" + re.escape(name) + r"\s*\]\]")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [n for n, line in enumerate(text.splitlines(), start=1) if pattern.match(line)]


def suggest(name: str, known: Iterable[str]) -> str:
    import difflib  # only a config with a mistyped key pays for it

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def check_secret(
    reader: Reader, base: Path, env: dict[str, str] | None, key: str = "password"
) -> str | None:
    """A secret of a section: ``KEY``, ``KEY_env`` (environment) or ``KEY_file`` (a file).
    ``env`` None: the secret is not needed, so ``KEY_env`` and ``KEY_file`` are not looked up."""
    names = (key, f"{key}_env", f"{key}_file")
    given = [k for k in names if reader.has(k)]
    if len(given) > 1:
        reader.problem(given[1], f"give only one of {', '.join(given)}")
        return None
    if not given:
        return None
    value = reader.raw(given[0])
    if not isinstance(value, str):
        reader.problem(given[0], f"must be a string, got {kind(value)}")
        return None
    if given[0] == key:
        return value
    if env is None:
        return None
    if given[0] == f"{key}_env":
        if value not in env:
            reader.problem(given[0], f"environment variable {value} is not set")
            return None
        return env[value]
    try:
        return (base / value).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        reader.problem(given[0], f"cannot read {base / value}: {reason}")
        return None


def absolute_store_url(url: str, base: Path) -> str | None:
    """The store URL with a relative SQLite path made absolute; None if not a supported URL."""
    if url.startswith(("postgresql://", "postgres://")):
        return url
    if not url.startswith("sqlite:///") or url == "sqlite:///":
        return None
    path = url[len("sqlite:///") :]
    if path == ":memory:" or path.startswith("/"):
        return url
    return "sqlite:///" + str((base / path).resolve())


def optional_file(reader: Reader, key: str, default: str, base: Path) -> Path | None:
    """A rules file: missing is fine under the default name (also when written out, as
    mailtix.toml.example and ``mailtix init`` do), a problem under any other name."""
    name = reader.text(key, default)
    path = base / (name or default)
    if path.is_file():
        return path
    if reader.has(key) and isinstance(reader.raw(key), str) and name != default:
        reader.problem(key, f"file not found: {path}")
    return None


def optional_sections(top: Reader, names: tuple[str, ...]) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for name in names:
        value = top.raw(name)
        if isinstance(value, dict):
            found[name] = value
        elif top.has(name):
            top.problem(name, f"must be a table ([{name}]), got {kind(value)}")
    return found
