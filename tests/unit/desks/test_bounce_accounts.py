"""A bounce reported by the SMTP host of a mailbox's own account ([mailbox.smtp]) is from one
of ours, as one reported by [smtp]'s host is."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from mailtix.config.load import load_config
from mailtix.desks.bounce import BounceDesk


def test_the_hosts_of_every_smtp_account_are_our_own_domains(tmp_path: Path) -> None:
    path = tmp_path / "mailtix.toml"
    path.write_text(
        '[smtp]\nhost = "smtp.office365.com"\nusername = "a@acme.example"\npassword = "x"\n'
        '[[mailbox]]\nname = "a"\naddress = "a@acme.example"\nmaildir = "in-a"\n'
        '[[mailbox]]\nname = "b"\naddress = "b@beta.example"\nmaildir = "in-b"\n'
        '[mailbox.smtp]\nhost = "smtp.gmail.com"\nusername = "b@beta.example"\n'
        'password = "y"\n'
    )
    config = load_config(path, {})
    desk = BounceDesk(SimpleNamespace(config=config), None)  # type: ignore[arg-type]
    own = desk._own_domains()
    assert {"smtp.office365.com", "smtp.gmail.com", "acme.example", "beta.example"} <= own
