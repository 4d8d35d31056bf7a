"""OAuth2 sign-in end to end against real servers: Dovecot checks each access token at the
test's own token server (introspection), for IMAP and, through Dovecot SASL, for Postfix's
SMTP AUTH; mailtix refreshes its short-lived tokens at the same server."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.live import REPO, customer_mail, mailtix, tickets
from support.mailstack import MailStack, MailStackUnavailable
from support.oauth_server import OAuthServer

pytestmark = pytest.mark.integration

LIFETIME = 4.0  # seconds: every access token expires during a running daemon


@pytest.fixture(scope="module")
def oauth() -> Iterator[OAuthServer]:
    with OAuthServer(lifetime=LIFETIME) as server:
        yield server


@pytest.fixture(scope="module")
def stack(oauth: OAuthServer) -> Iterator[MailStack]:
    directory = tempfile.mkdtemp(prefix="mailtix-oauth-stack-")
    found = MailStack(directory, smtp_auth=True, oauth2_introspection_url=oauth.introspection_url)
    try:
        found.start()
    except MailStackUnavailable as error:
        shutil.rmtree(directory, ignore_errors=True)
        pytest.skip(f"mail stack unavailable: {error}")
    try:
        yield found
    finally:
        found.stop()
        shutil.rmtree(directory, ignore_errors=True)


def oauth2_block(table: str, oauth: OAuthServer, refresh_file: Path) -> str:
    return (
        f'[{table}.oauth2]\nprovider = "generic"\nclient_id = "mailtix-test"\n'
        f'token_url = "{oauth.token_url}"\nrefresh_token_file = "{refresh_file.name}"\n'
    )


def write_config(
    tmp_path: Path, stack: MailStack, oauth: OAuthServer,
    names: list[str], poll_interval: int = 2, device: bool = False,
) -> tuple[Path, dict[str, str]]:  # fmt: skip
    """A mailtix.toml whose [smtp] and every mailbox sign in with OAuth2; returns it and the
    refresh token of each account (by mailbox name, "smtp" for [smtp]). ``device``: the
    mailboxes sign in with ``flow = "device"`` (``mailtix auth login``) instead."""
    refresh: dict[str, str] = {}
    users = {name: stack.fresh_mailbox(name).login for name in names}
    sender = users[names[0]]

    def token_file(account: str, user: str) -> Path:
        refresh[account] = oauth.grant(user)
        path = tmp_path / f"refresh-{account}"
        path.write_text(refresh[account])
        path.chmod(0o600)
        return path

    text = (
        '[store]\nurl = "sqlite:///mailtix.db"\n[smtp]\n'
        f'host = "{stack.host}"\nport = {stack.smtp_port}\nsecurity = "none"\n'
        f'username = "{sender}"\nauth = "oauth2"\n'
        + oauth2_block("smtp", oauth, token_file("smtp", sender))
    )
    for name, user in users.items():
        text += (
            f'[[mailbox]]\nname = "{name}"\naddress = "{user}@example.test"\n'
            f'host = "{stack.host}"\nport = {stack.imap_port}\nsecurity = "none"\n'
            f'username = "{user}"\nauth = "oauth2"\npoll_interval = {poll_interval}\n'
            + (
                device_block(oauth)
                if device
                else oauth2_block("mailbox", oauth, token_file(name, user))
            )
        )
    text += f'[templates]\ndir = "{REPO / "templates"}"\n'
    path = tmp_path / "mailtix.toml"
    path.write_text(text)
    return path, {**refresh, **{f"user:{n}": u for n, u in users.items()}}


def device_block(oauth: OAuthServer) -> str:
    return (
        f'[mailbox.oauth2]\nprovider = "generic"\nclient_id = "mailtix-test"\nflow = "device"\n'
        f'token_url = "{oauth.token_url}"\ndevice_url = "{oauth.device_url}"\n'
    )


def write_to(stack: MailStack, user: str, subject: str) -> str:
    customer = stack.fresh_mailbox("customer", stack.customer_domain)
    mail = customer_mail(customer.address, f"{user}@example.test", subject)
    stack.send(mail, customer.address, [f"{user}@example.test"])
    return customer.login


def no_token_in(oauth: OAuthServer, *texts: str) -> None:
    secrets = [*oauth.issued, *oauth.refresh_tokens]
    leaked = [s for s in secrets for text in texts if s in text]
    assert leaked == [], "a token appears in the output or logs"


def test_poll_and_send_with_oauth2(tmp_path: Path, stack: MailStack, oauth: OAuthServer) -> None:
    config, accounts = write_config(tmp_path, stack, oauth, ["support"])
    user = accounts["user:support"]
    customer = write_to(stack, user, "Printer on fire")
    stack.wait_for_messages(user)
    run = mailtix(config, "-v", "poll", "--once")
    assert [t["subject"] for t in tickets(config)] == ["Printer on fire"]
    ack = stack.wait_for_messages(customer)
    assert len(ack) == 1 and b"Printer on fire" in ack[0]
    dovecot = (stack.log_dir / "dovecot.log").read_text(errors="replace")
    postfix = (stack.log_dir / "postfix.log").read_text(errors="replace")
    logins = [line for line in dovecot.splitlines() if f"user=<{user}>" in line]
    assert any(re.search(r"method=(OAUTHBEARER|XOAUTH2)", line) for line in logins), logins
    assert re.search(rf"sasl_method=(OAUTHBEARER|XOAUTH2), sasl_username={user}", postfix)
    for name in ("oauth-support.json", "oauth-smtp.json"):
        cache = tmp_path / "var" / name
        assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    status = mailtix(config, "auth", "status")
    shown = json.loads(mailtix(config, "auth", "status", "--json").stdout)
    assert [(s["account"], s["provider"], s["flow"]) for s in shown] == [
        ("mailbox support", "generic", "refresh_token"),
        ("smtp", "generic", "refresh_token"),
    ]
    assert all(s["expires_at"] and s["last_refresh"] for s in shown)
    assert shown[0]["expires_at"] in status.stdout
    no_token_in(oauth, run.stdout, run.stderr, dovecot, postfix, status.stdout, str(shown))


def test_tokens_expiring_in_a_running_daemon_are_refreshed(
    tmp_path: Path, stack: MailStack, oauth: OAuthServer
) -> None:
    config, accounts = write_config(tmp_path, stack, oauth, ["support"], poll_interval=60)
    user = accounts["user:support"]
    log = tmp_path / "daemon.log"
    with open(log, "wb") as out:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "mailtix", "--config", str(config), "-v", "run"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    customers = []
    try:
        for round_ in range(3):  # each round after the last access token expired (IDLE)
            customers.append(write_to(stack, user, f"Question {round_}"))
            deadline = time.monotonic() + 30
            while len(tickets(config)) <= round_ and time.monotonic() < deadline:
                time.sleep(0.3)
            assert len(tickets(config)) == round_ + 1, log.read_text()
            time.sleep(LIFETIME + 1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    for customer in customers:
        stack.wait_for_messages(customer, timeout=20)
    text = log.read_text(errors="replace")
    assert "access token expired; signing in again" in text
    print(f"access tokens issued: {oauth.refreshes}; daemon log {len(text)} chars")
    no_token_in(oauth, text)


def test_a_revoked_refresh_token_stops_only_its_mailbox(
    tmp_path: Path, stack: MailStack, oauth: OAuthServer
) -> None:
    config, accounts = write_config(tmp_path, stack, oauth, ["good", "bad"])
    oauth.revoke(accounts["bad"])
    write_to(stack, accounts["user:good"], "Still works")
    stack.wait_for_messages(accounts["user:good"])
    run = mailtix(config, "poll", "--once", check=False)
    assert run.returncode == 1
    assert [t["subject"] for t in tickets(config)] == ["Still works"]
    lines = [line for line in run.stderr.splitlines() if "mailbox bad" in line]
    assert len(lines) == 1 and " ERROR " in lines[0], run.stderr  # said once, as logged
    wanted = (
        "mailbox bad: the OAuth2 sign-in was refused (invalid_grant (HTTP 400)); "
        "run: mailtix auth login --mailbox bad"
    )
    assert all(line.endswith(wanted) for line in lines), lines
    no_token_in(oauth, run.stdout, run.stderr)
    assert os.path.exists(tmp_path / "var" / "oauth-good.json")


def start_login(config: Path, *account: str) -> tuple[subprocess.Popen[str], str]:
    """``mailtix auth login`` running, and the first line it printed (the URL and code)."""
    login = subprocess.Popen(
        [sys.executable, "-m", "mailtix", "--config", str(config), "-vv", "auth", "login",
         *account],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert login.stdout is not None
    return login, login.stdout.readline()


def test_auth_login_device_flow_then_poll_signs_in_with_oauthbearer(
    tmp_path: Path, stack: MailStack, oauth: OAuthServer
) -> None:
    config, accounts = write_config(tmp_path, stack, oauth, ["desk"], device=True)
    user = accounts["user:desk"]
    before = mailtix(config, "poll", "--once", check=False)
    assert before.returncode == 1
    assert "run: mailtix auth login --mailbox desk" in before.stderr
    login, first = start_login(config, "--mailbox", "desk")
    found = re.search(r"open (\S+) and enter the code (\S+) ", first)
    assert found and found.group(1) == oauth.url + "/verify", first
    time.sleep(1.3)  # the person takes a moment: the client polls (once a second) meanwhile
    oauth.approve(found.group(2), user)  # the test signs in at the URL, as the person would
    out, err = login.communicate(timeout=30)
    assert login.returncode == 0, err
    assert "mailbox desk: signed in (generic, flow device); access token expires" in out
    assert len(oauth.polls(found.group(2))) >= 2
    cache = tmp_path / "var" / "oauth-desk.json"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.parent.stat().st_mode) == 0o700

    write_to(stack, user, "After the device login")
    stack.wait_for_messages(user)
    run = mailtix(config, "-v", "poll", "--once")
    assert [t["subject"] for t in tickets(config)] == ["After the device login"]
    dovecot = (stack.log_dir / "dovecot.log").read_text(errors="replace")
    logins = [line for line in dovecot.splitlines() if f"user=<{user}>" in line]
    assert any("method=OAUTHBEARER" in line for line in logins), logins
    no_token_in(oauth, first, out, err, run.stdout, run.stderr, dovecot)


def test_auth_login_declined_or_interrupted(
    tmp_path: Path, stack: MailStack, oauth: OAuthServer
) -> None:
    config, _ = write_config(tmp_path, stack, oauth, ["desk"], device=True)
    login, first = start_login(config, "--mailbox", "desk")
    oauth.deny(first.split("enter the code ")[1].split()[0])
    out, err = login.communicate(timeout=30)
    assert login.returncode == 1
    assert err.splitlines() == ["mailtix: mailbox desk: not signed in: the sign-in was declined"]
    login, first = start_login(config, "--mailbox", "desk")
    assert "enter the code" in first
    login.send_signal(signal.SIGINT)
    out, err = login.communicate(timeout=30)
    assert login.returncode == 130
    assert err.splitlines() == ["mailbox desk: stopped; not signed in"]
    assert not (tmp_path / "var" / "oauth-desk.json").exists()
    smtp = subprocess.run(
        [sys.executable, "-m", "mailtix", "--config", str(config), "auth", "login", "--smtp"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert smtp.returncode == 0 and smtp.stdout.startswith(
        "smtp: signed in (generic, flow refresh_token)"
    ), smtp.stderr


def test_check_connect_says_which_mechanism_and_when_the_token_expires(
    tmp_path: Path, stack: MailStack, oauth: OAuthServer
) -> None:
    config, _ = write_config(tmp_path, stack, oauth, ["support"])
    started = time.time()
    proc = mailtix(config, "check", "--connect")
    assert proc.returncode == 0, proc.stderr
    said = {}
    for line in proc.stdout.splitlines():
        found = re.fullmatch(r"signed in: (.+) with (\S+) \(OAuth2; access token expires (\S+)\)",
                             line)  # fmt: skip
        if found:
            said[found.group(1)] = (found.group(2), found.group(3))
    assert set(said) == {"mailbox support", "smtp"}, proc.stdout
    assert said["mailbox support"][0] == "OAUTHBEARER"  # Dovecot offers it: preferred
    assert said["smtp"][0] in ("OAUTHBEARER", "XOAUTH2")
    cache = json.loads((tmp_path / "var" / "oauth-support.json").read_text())
    expires = datetime.fromtimestamp(cache["expires_at"], UTC).isoformat(timespec="seconds")
    assert said["mailbox support"][1] == expires
    assert started <= cache["expires_at"] - LIFETIME <= time.time()
    no_token_in(oauth, proc.stdout, proc.stderr)
