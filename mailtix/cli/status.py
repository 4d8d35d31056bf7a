"""``mailtix status [--json]``: is this help desk healthy? Per mailbox its last good poll, its
last error and what is left waiting; the outbox and the quarantine; OAuth tokens; whether a
daemon is running (its heartbeat in the store). Exit 0 when healthy, 1 when not, so it serves
as a health check. Read-only and light: the store and the config, no server, no routing file.

Unhealthy: no daemon beat within DAEMON_BEATS of its interval; a mailbox failing for longer
than FAILING_POLLS of its poll intervals (or one a running daemon has not polled for that long
plus the health refresh); failed outbox mail, or pending mail whose last attempt failed; an
OAuth2 account that can no longer sign in on its own within OAUTH_MARGIN (its refresh was
refused, a device-flow account never signed in, or the token it lives on runs out: the refresh
token's end where the provider said it, else an access token with no refresh token behind it;
access tokens that are refreshed as they expire are not a problem). Quarantined mail is
counted, not judged: keeping it aside is mailtix working as designed.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mailtix.cli.common import open_store_view, print_json
from mailtix.config.model import Config, MailboxConfig
from mailtix.domain.clock import iso, utcnow
from mailtix.domain.vocabulary import QuarantineStatus
from mailtix.report.formats import table
from mailtix.runtime.health import REFRESH_SECONDS
from mailtix.signin.tokens import login_command, standing
from mailtix.store import health
from mailtix.store.models import Heartbeat, MailboxHealth, OutboxItem, QuarantineItem

DAEMON_BEATS = 3  # beats missed before a daemon counts as gone
FAILING_POLLS = 3  # poll intervals a mailbox may fail (or be unpolled) before it is unhealthy
OAUTH_MARGIN = timedelta(hours=1)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    status = sub.add_parser(
        "status", parents=[common],
        help="health of mailboxes, outbox, quarantine and daemon (exit 1: unhealthy)",
    )  # fmt: skip
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=show_status)


@dataclass(frozen=True)
class Daemon:
    running: bool
    workers: list[dict[str, Any]]
    started_at: datetime | None  # of the oldest running one


def show_status(args: argparse.Namespace) -> int:
    config = open_store_view(args).config
    report = build_status(config, utcnow())
    if args.json:
        print_json(report)
    else:
        print(render(report))
    return 0 if report["healthy"] else 1


def build_status(config: Config, now: datetime) -> dict[str, Any]:
    """The status document (the JSON of ``--json``); ``problems`` says why it is unhealthy."""
    problems: list[str] = []
    daemon = _daemon(health.heartbeats(), now)
    if not daemon.running:
        problems.append(f"daemon: {_not_running(daemon)}")
    rows = health.mailboxes()
    mailboxes = [_mailbox(m, rows.get(m.name), daemon, now, problems) for m in config.mailboxes]
    outbox = _outbox(problems)
    held = QuarantineItem.select().where(QuarantineItem.status == QuarantineStatus.HELD).count()
    kept = QuarantineItem.select().where(QuarantineItem.status == QuarantineStatus.KEPT).count()
    oauth = _oauth(config, now, problems)
    return {
        "healthy": not problems,
        "problems": problems,
        "checked_at": iso(now),
        "daemon": {"running": daemon.running, "workers": daemon.workers},
        "mailboxes": mailboxes,
        "outbox": outbox,
        "quarantine": {"held": held, "kept": kept},  # kept: spam/ignored mail, not a problem
        "oauth": oauth,
    }


def _daemon(beats: list[Heartbeat], now: datetime) -> Daemon:
    workers, running = [], []
    for beat in beats:
        age = (now - beat.beat_at).total_seconds()
        alive = beat.stopped_at is None and age <= DAEMON_BEATS * beat.interval
        if alive:
            running.append(beat.started_at)
        workers.append({
            "worker": beat.worker, "running": alive, "started_at": iso(beat.started_at),
            "last_beat": iso(beat.beat_at), "beat_age_seconds": round(age),
            "stopped_at": iso(beat.stopped_at),
        })  # fmt: skip
    shown = [w for w in workers if w["running"]] or workers[:1]  # else the latest one only
    return Daemon(bool(running), shown, min(running) if running else None)


def _not_running(daemon: Daemon) -> str:
    if not daemon.workers:
        return "no `mailtix run` has used this store"
    last = daemon.workers[0]
    if last["stopped_at"]:
        return f"not running: {last['worker']} stopped at {last['stopped_at']}"
    return (f"not running: the last heartbeat, of {last['worker']}, is {last['beat_age_seconds']}"
            f" s old ({last['last_beat']})")  # fmt: skip


def _mailbox(
    mailbox: MailboxConfig,
    row: MailboxHealth | None,
    daemon: Daemon,
    now: datetime,
    problems: list[str],
) -> dict[str, Any]:
    grace = timedelta(seconds=FAILING_POLLS * mailbox.poll_interval)
    problem = None
    if row is None:
        started = daemon.started_at
        if mailbox.polled and (started is None or now - started > grace):  # LMTP: not polled
            problem = "never polled"
    elif row.failing_since is not None and now - row.failing_since >= grace:
        problem = f"failing since {iso(row.failing_since)}: {row.last_error}"
    elif daemon.running and now - row.checked_at > grace + timedelta(seconds=REFRESH_SECONDS):
        problem = f"not polled since {iso(row.checked_at)}"
    if problem:
        problems.append(f"mailbox {mailbox.name}: {problem}")
    failing = row is not None and row.failing_since is not None
    return {
        "name": mailbox.name,
        "address": mailbox.address,
        "polled": mailbox.polled,
        "healthy": problem is None,
        "last_poll": iso(row.checked_at) if row else None,
        "last_success": iso(row.last_success_at) if row else None,
        "last_error": (row.last_error or None) if row else None,
        "last_error_at": iso(row.last_error_at) if row else None,
        "failing_since": iso(row.failing_since) if row else None,
        "waiting": None if row is None or failing else row.waiting,
    }


def _outbox(problems: list[str]) -> dict[str, Any]:
    pending = OutboxItem.status.in_(("pending", "sending"))
    counts = {
        "pending": OutboxItem.select().where(pending).count(),
        "failed": OutboxItem.select().where(OutboxItem.status == "failed").count(),
    }
    retrying = OutboxItem.select().where(pending & (OutboxItem.last_error != ""))
    last = retrying.order_by(OutboxItem.id.desc()).first()
    counts["retrying"] = retrying.count()
    if counts["failed"]:
        problems.append(f"outbox: {counts['failed']} failed (`mailtix outbox list`)")
    if last is not None:
        problems.append(f"outbox: {counts['retrying']} waiting for a retry: {last.last_error}")
    return {**counts, "last_error": last.last_error if last is not None else None}


def _oauth(config: Config, now: datetime, problems: list[str]) -> list[dict[str, Any]]:
    """Each OAuth2 account with its token cache, when it can no longer sign in on its own
    (``expires_at``; null: not known to end) and its access token's expiry; an account that
    needs a person already, or within OAUTH_MARGIN, adds a problem."""
    found = []
    for account, oauth in _oauth_accounts(config):
        cache = getattr(oauth, "token_cache", None)
        known = standing(oauth) if cache else None
        expires = _token_expiry(oauth)
        problem = known.problem if known else None
        if problem is None and expires is not None and expires - now <= OAUTH_MARGIN:
            problem = f"token expires {iso(expires)}"
        if problem:
            problems.append(f"oauth {account}: {problem}; run `{login_command(account)}`")
        access = _naive(known.access_expires_at) if known else None
        found.append({
            "account": account, "token_cache": str(cache) if cache else None,
            "signed_in": bool(cache and Path(cache).is_file()), "expires_at": iso(expires),
            "access_token_expires_at": iso(access), "healthy": problem is None,
        })  # fmt: skip
    return found


def _oauth_accounts(config: Config) -> list[tuple[str, Any]]:
    shared = getattr(config.smtp, "oauth2", None)
    accounts: list[tuple[str, Any]] = [("smtp", shared)]
    for mailbox in config.mailboxes:
        accounts.append((f"mailbox {mailbox.name}", getattr(mailbox, "oauth2", None)))
        own = getattr(getattr(mailbox, "smtp", None), "oauth2", None)
        if own is not None and own != shared:  # an inherited sign-in is [smtp]'s, listed once
            accounts.append((f"mailbox {mailbox.name} smtp", own))
    return [(name, oauth) for name, oauth in accounts if oauth is not None]


def _token_expiry(oauth: Any) -> datetime | None:
    """When the account can no longer sign in without a person (naive UTC, as ``now``), read
    from ``oauth.token_cache``; None while its refresh token is good for as long as the
    provider lets it (or the account has no cache yet)."""
    if getattr(oauth, "token_cache", None) is None:
        return None
    return _naive(standing(oauth).runs_out)


def _naive(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


def _state(mailbox: dict[str, Any]) -> str:
    if mailbox["healthy"]:
        return "ok"
    return "FAILING" if mailbox["failing_since"] else "NOT POLLED"


def render(report: dict[str, Any]) -> str:
    """The status as a few aligned tables and the problems, for a terminal."""
    daemon = report["daemon"]
    state = "healthy" if report["healthy"] else "UNHEALTHY"
    lines = [f"mailtix: {state} at {report['checked_at']}"]
    lines += [f"  {p}" for p in report["problems"]]
    if daemon["running"]:
        beats = ", ".join(
            f"{w['worker']} ({w['beat_age_seconds']} s ago)" for w in daemon["workers"]
        )
        lines.append(f"daemon: running: {beats}")
    else:
        last = daemon["workers"][0]["last_beat"] if daemon["workers"] else "never"
        lines.append(f"daemon: not running (last heartbeat: {last})")
    rows = [
        [m["name"], _state(m), m["last_success"] or ("never" if m["polled"] else "- (LMTP)"),
         str(m["waiting"]) if m["waiting"] is not None else "-",
         f"{m['last_error_at']} {m['last_error']}" if m["last_error"] else "-"]
        for m in report["mailboxes"]
    ]  # fmt: skip
    lines += ["", table(rows, ["MAILBOX", "STATE", "LAST GOOD POLL", "WAITING", "LAST ERROR"])]
    out = report["outbox"]
    last_error = f"; last error: {out['last_error']}" if out["last_error"] else ""
    lines += ["", f"outbox: {out['pending']} pending ({out['retrying']} retrying), "
              f"{out['failed']} failed{last_error}"]  # fmt: skip
    kept = report["quarantine"]["kept"]
    lines.append(f"quarantine: {report['quarantine']['held']} held, {kept} spam or ignored kept")
    for account in report["oauth"]:
        ends = account["expires_at"] or "renewed as it is used"
        lines.append(f"oauth {account['account']}: {'ok' if account['healthy'] else 'SIGN IN'}; "
                     f"signs in on its own until: {ends}; access token expires "
                     f"{account['access_token_expires_at'] or '-'}")  # fmt: skip
    return "\n".join(lines)
