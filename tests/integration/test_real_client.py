"""An agent answers with a real mail client: mutt, driven by keystrokes in tmux, reads the
notification over IMAP from Dovecot, replies (its own attribution line, quote, signature,
In-Reply-To/References) and sends through Postfix; mailtix runs the command and relays the answer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.live import customer_mail, mailtix, parse, ticket, tickets, unique, write_config

pytestmark = pytest.mark.integration


def need(binary: str) -> str:
    found = shutil.which(binary)
    if found:
        return found
    message = f"{binary} unavailable: apt-get install mutt tmux (tests/run.sh does)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message + " (required in CI)", pytrace=False)
    print(f"\n!!! {message}: the real mail client test is SKIPPED", file=sys.stderr)
    pytest.skip(message)


class Terminal:
    """One program in a detached tmux session of its own server (-L), read and typed into."""

    def __init__(self, socket: str, command: list[str], env: dict[str, str]) -> None:
        self.tmux = [need("tmux"), "-L", socket]
        subprocess.run([*self.tmux, "-f", "/dev/null", "new-session", "-d", "-x", "160", "-y",
                        "40", "-s", "client", *command], check=True, env=env)  # fmt: skip

    def screen(self) -> str:
        done = subprocess.run([*self.tmux, "capture-pane", "-p", "-t", "client"],
                              capture_output=True, text=True)  # fmt: skip
        return done.stdout

    def wait_for(self, text: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            shown = self.screen()
            if text in shown:
                return shown
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never showed; the screen:\n{self.screen()}")

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", "client", *keys], check=True)

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    opened: list[Terminal] = []
    yield opened
    for terminal in opened:
        terminal.close()


def muttrc(tmp_path: Path, stack: Any, login: str, address: str) -> Path:
    editor = tmp_path / "answer.sh"
    editor.write_text(
        "#!/bin/sh\n"  # what the agent types above mutt's attribution and quote
        "{ printf '#status pending\\n\\nHi Carol,\\nplease switch it off and on.\\n\\n'; "
        'cat "$1"; } > "$1.new" && mv "$1.new" "$1"\n'
    )
    editor.chmod(0o700)
    signature = tmp_path / "signature"
    signature.write_text("Alice Agent\nACME Support team\n")
    rc = tmp_path / "muttrc"
    rc.write_text(
        f'set folder="imap://{login}@{stack.host}:{stack.imap_port}/"\n'
        f'set spoolfile="+INBOX"\nset imap_pass="{stack.password(login)}"\n'
        "set ssl_starttls=no\nset ssl_force_tls=no\nunset imap_passive\n"
        f'set smtp_url="smtp://{stack.host}:{stack.smtp_port}/"\n'
        f'set from="Alice Agent <{address}>"\nset use_from=yes\nset hostname="example.test"\n'
        f'set editor="{editor}"\nset signature="{signature}"\n'
        "set fast_reply=yes\nset include=yes\nset reply_to=yes\nset edit_headers=no\n"
        'set record=""\nset copy=no\nset postpone=no\nset quit=yes\nset sleep_time=0\n'
        'set crypt_autosign=no\nset crypt_opportunistic_encrypt=no\nset header_cache=""\n'
        "set wait_key=no\nset user_agent=yes\nset confirmappend=no\nset move=no\nset mark_old=no\n"
        'set send_charset="utf-8"\nset charset="utf-8"\n'
    )
    return rc


def test_an_agent_answers_from_mutt(
    mailstack: Any, tmp_path: Path, terminals: list[Terminal]
) -> None:
    need("mutt")
    user = {k: unique(k) for k in ("support", "carol", "alice")}
    mailstack.add_user(user["carol"])
    alice = f"{user['alice']}@example.test"
    support = f"{user['support']}@example.test"
    carol = f"{user['carol']}@customer.test"
    config = write_config(
        tmp_path, mailstack, [{"name": "support", "user": user["support"]}],
        departments=f'[[department]]\nname = "general"\nagents = ["{alice}"]\n\n'
        f'[[agent]]\nemail = "{alice}"\nname = "Alice Agent"\n',
        extra='[agents]\nsecret = "0123456789abcdef0123"\n',
    )  # fmt: skip
    mailstack.send(customer_mail(f"Carol <{carol}>", support, "Printer jams", "It jams.\n"),
                   carol, [support])  # fmt: skip
    mailstack.wait_for_messages(user["support"])
    mailtix(config, "poll", "--once")
    ref = tickets(config)[0]["ref"]
    mailstack.wait_for_messages(user["alice"])  # the notification

    env = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "xterm",
           "HOME": str(tmp_path)}  # fmt: skip
    rc = muttrc(tmp_path, mailstack, user["alice"], alice)
    client = Terminal(f"mailtix-{user['alice']}", [need("mutt"), "-n", "-F", str(rc)], env)
    terminals.append(client)
    client.wait_for(f"[{ref}]")  # the index shows the notification
    client.keys("r")  # reply: fast_reply + editor script, then the compose menu
    client.wait_for("y:Send")
    client.keys("y")
    client.wait_for("Mail sent")
    client.keys("q")

    reply = parse(mailstack.wait_for_messages(user["support"])[-1])
    assert "mutt" in str(reply.get("User-Agent", "")).lower()  # really mutt's mail
    assert reply["In-Reply-To"] and "wrote:" in reply.get_body(("plain",)).get_content()
    mailtix(config, "poll", "--once")

    shown = ticket(config, ref)
    assert shown["status"] == "pending" and shown["assignee"] == alice
    relay_raw = mailstack.wait_for_messages(user["carol"], count=2)[-1]  # ack, then the answer
    relay = parse(relay_raw)
    body = relay.get_body(("plain",)).get_content()
    assert relay["From"].addresses[0].addr_spec == support
    assert relay["Subject"] == f"Re: [{ref}] Printer jams"
    assert "please switch it off and on." in body
    assert "#status" not in body and "wrote:" not in body and "> " not in body
    assert "ACME Support team" not in body  # mutt's "-- " signature is stripped
    assert alice.encode() not in relay_raw  # the agent's address never reaches the customer
