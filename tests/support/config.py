"""One small valid mailtix.toml for tests that need a config but are not about it.

``small_config(directory, ...)`` writes ``mailtix.toml`` (and the rule files it is given) into
``directory`` and returns its path; ``config_text(...)`` is the same text, for a test that
writes it elsewhere. The base is a SQLite store ``mailtix.db``, outgoing mail into the Maildir
``outgoing`` and one Maildir mailbox ``support``; each argument is a TOML fragment added where
it belongs, so a test shows only what it is about:

    small_config(tmp_path, mailbox='department = "general"', extra="[tickets]\\nprefix = \\"T\\"",
                 departments=DEPARTMENTS, routing="")

A test about config errors keeps its own text: there the text is the point.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "templates"


def config_text(
    *,
    address: str = "support@acme.example",
    maildir: str = "inbox",
    mailbox: str = "",
    smtp: str = 'maildir = "outgoing"',
    store: str = 'url = "sqlite:///mailtix.db"',
    rules: str = "",
    templates: bool = False,
    extra: str = "",
) -> str:
    """mailtix.toml: ``mailbox`` lines go into the ``support`` mailbox (Maildir ``maildir``),
    ``smtp`` and ``store`` replace those sections' lines, ``rules`` fills ``[rules]``,
    ``templates`` points ``[templates] dir`` at the repository's templates, ``extra`` (other
    sections, more ``[[mailbox]]`` tables) comes last."""
    parts = [
        f"[store]\n{store}\n",
        f"[smtp]\n{smtp}\n",
        f'[[mailbox]]\nname = "support"\naddress = "{address}"\nmaildir = "{maildir}"\n{mailbox}\n',
    ]
    if rules:
        parts.append(f"[rules]\n{rules}\n")
    if templates:
        parts.append(f'[templates]\ndir = "{TEMPLATES}"\n')
    parts.append(extra)
    return "\n".join(part.strip() + "\n" for part in parts if part.strip())


def small_config(
    directory: Path,
    *,
    departments: str | None = None,
    routing: str | None = None,
    organisations: str | None = None,
    rules: str = "",
    address: str = "support@acme.example",
    maildir: str = "inbox",
    mailbox: str = "",
    smtp: str = 'maildir = "outgoing"',
    store: str = 'url = "sqlite:///mailtix.db"',
    templates: bool = False,
    extra: str = "",
) -> Path:
    """``config_text(...)`` as ``directory/mailtix.toml``; each rule file given is written
    beside it and named in ``[rules]`` (after the ``rules`` lines given)."""
    files = {"departments": departments, "routing": routing, "organisations": organisations}
    named = [rules] if rules else []
    for kind, text in files.items():
        if text is not None:
            (directory / f"{kind}.toml").write_text(text)
            named.append(f'{kind} = "{kind}.toml"')
    text = config_text(
        address=address, maildir=maildir, mailbox=mailbox, smtp=smtp, store=store,
        rules="\n".join(named), templates=templates, extra=extra,
    )  # fmt: skip
    path = directory / "mailtix.toml"
    path.write_text(text)
    return path
