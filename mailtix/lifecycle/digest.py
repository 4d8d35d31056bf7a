"""The scheduled digest: decide whether it is due (cron syntax in the report's time zone),
build the HTML report with a text alternative and queue it through the mailer (suppression and
budgets like any automatic mail), once per due time across every worker (the last sent time is
kept in the store)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from mailtix.config.report import ReportConfig, cron_trigger, report_config
from mailtix.domain.clock import iso
from mailtix.domain.values import Address, OutgoingMail
from mailtix.outbound.compose import make_message_id
from mailtix.report.build import build_report
from mailtix.report.formats import render_table
from mailtix.report.html_page import render_html
from mailtix.report.period import Period
from mailtix.store import settings
from mailtix.store.models import database_proxy

log = logging.getLogger(__name__)

DIGEST = "digest"  # the outbox kind
LAST_SENT = "report.digest_last_sent"
NEVER_SENT_LOOKBACK = timedelta(days=1)  # a first digest is only sent for a fire time this recent


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def next_digest(
    schedule: str, last_sent: datetime | None, now: datetime, tz: tzinfo
) -> datetime | None:
    """The first scheduled time after ``last_sent`` (or, never sent, after a day before
    ``now``), as aware UTC; None when the schedule never fires again."""
    trigger = cron_trigger(schedule, tz)
    after = _aware(last_sent) if last_sent else _aware(now) - NEVER_SENT_LOOKBACK
    fire = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    return None if fire is None else fire.astimezone(UTC)


def digest_due(schedule: str, last_sent: datetime | None, now: datetime, tz: tzinfo) -> bool:
    """True when a scheduled time has passed since the last digest (naive times are UTC).
    Several missed times make one digest, not several."""
    fire = next_digest(schedule, last_sent, now, tz)
    return fire is not None and fire <= _aware(now)


def run_digest(app: Any, now: datetime) -> str:
    """Queue the digest if it is due at ``now`` (naive UTC); one line saying what happened."""
    config: ReportConfig = report_config(app.config)
    if not config.digest_enabled or config.digest_schedule is None:
        return "digest: not configured ([report] digest_to and digest_schedule)"
    raw = settings.get(LAST_SENT)
    last = datetime.fromisoformat(raw) if raw else None
    if not digest_due(config.digest_schedule, last, now, config.zone):
        upcoming = next_digest(config.digest_schedule, last, now, config.zone)
        return f"digest: not due (next {upcoming.isoformat() if upcoming else 'never'})"
    period = Period(now - timedelta(days=config.digest_days), now, config.zone)
    report = build_report(app.db, app.config, period, now)
    mail = digest_mail(app.config, config, report, now)
    with database_proxy.atomic():
        if not settings.compare_and_set(LAST_SENT, raw, iso(now) or ""):
            return "digest: already sent by another worker"
        item = app.pipeline.mailer.queue_mail(mail, DIGEST, now)
    if isinstance(item, str):
        return f"digest: held back for {', '.join(config.digest_to)}: {item}"
    log.info("digest queued for %s (outbox %d)", ", ".join(config.digest_to), item.id)
    return f"digest: queued for {', '.join(config.digest_to)} (outbox {item.id})"


def digest_mail(
    app_config: Any, config: ReportConfig, report: dict[str, Any], now: datetime
) -> OutgoingMail:
    """The digest as multipart/alternative: the HTML report and the text tables."""
    mailbox = app_config.mailboxes[0]
    since, until = (report["period"][k][:10] for k in ("since", "until"))
    title = f"{mailbox.display_name} digest {since} to {until}"
    return OutgoingMail(
        sender=Address(mailbox.address, mailbox.display_name),
        to=tuple(Address(a) for a in config.digest_to),
        subject=title,
        text=render_table(report) + "\n",
        html=render_html(report, title),
        message_id=make_message_id(app_config.tickets.message_id_domain),
        auto_submitted="auto-generated",
    )
