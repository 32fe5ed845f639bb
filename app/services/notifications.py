"""Mail to a tenant's owners when a webhook starts failing, is disabled or recovers.

Sending never touches a delivery. The health observer (app/services/webhook_health.py)
writes a `MailNotice` inside the transaction that recorded the change, which costs one
insert; the mail job (app/scheduler.py) sends them later from a worker thread, so an SMTP
server that hangs or refuses shows in /metrics and on the dashboard's notifications page,
never in the sender's latency.

A webhook's notices that are due together go out as one mail, and a webhook gets at most
one mail an hour: notices written within the hour after a mail wait for the hour to end
and are summarised in the next one. A send claims its notices with a lease (as deliveries
are claimed), so several processes can run the job; a failed send is tried again after
1, 2, 4 … 60 minutes.

Whom to tell: the addresses set for the tenant (dashboard, `PATCH /api/v1/tenants/{slug}`),
or by default the tenant's users whose names are addresses. Users have no address field:
installs that sign in with an address get mail without setting anything, and an install
whose user names are not addresses names the recipients once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable
from urllib.parse import urlsplit

from app.config import Settings
from app.delivery.types import DeliveryFailed, HealthChange, WebhookDisabled, WebhookRecovered
from app.rules.errors import InvalidInput, NotFound
from app.rules.ids import new_id
from app.rules.mail import is_address
from app.services import mail
from app.storage.db import write_transaction
from app.storage.models import PENDING, MailNotice, Tenant, User

log = logging.getLogger("hookline.mail")

FAILING, DISABLED, RECOVERED = "failing", "disabled", "recovered"
SENT = "sent"
SKIPPED = "skipped"  # no one to tell when it was due
MAIL_INTERVAL = timedelta(hours=1)  # per webhook
LEASE = timedelta(minutes=2)  # longer than a send may take (mail.SMTP_TIMEOUT, a few round trips)
MAX_BACKOFF_MINUTES = 60
KEEP_SENT = timedelta(days=7)  # the record of what was mailed, then purged by the job
MAX_ADDRESSES = 20
MAILS_PER_RUN = 20


def queue_notice(change: HealthChange, settings: Settings) -> None:
    """Called by the health observer in the recording transaction. Nothing is queued while
    mail is off (no smtp_url): switching it on later does not mail about the past."""
    if not settings.smtp_url:
        return
    match change:
        case DeliveryFailed():
            kind, at, count, error, reason = FAILING, change.failed_at, change.consecutive_failures, change.last_error, None
        case WebhookDisabled():
            kind, at, count, error, reason = (DISABLED, change.disabled_at, change.consecutive_failures,
                                              change.last_error, change.reason)
        case WebhookRecovered():
            kind, at, count, error, reason = RECOVERED, change.recovered_at, change.failures, None, None
    host = urlsplit(change.url).hostname or ""
    facts = {
        "name": change.name,
        "host": host,  # the path and query may hold a receiver's token
        "at": at.isoformat(),
        "failing_since": change.failing_since.isoformat() if change.failing_since else None,
        "consecutive_failures": count,
        "last_error": _without_url(error, change.url, host),
        "reason": _without_url(reason, change.url, host),
    }
    with write_transaction():
        MailNotice.create(tenant=change.tenant_id, webhook=change.webhook_id, kind=kind, facts=facts,
                          next_attempt_at=at, created_at=at)


def _without_url(text: str | None, url: str, host: str) -> str | None:
    """An error that quotes the webhook's URL (an invalid one, say) names its host instead."""
    if text is None:
        return None
    parts = urlsplit(url)
    for quoted in (url, parts.path + ("?" + parts.query if parts.query else ""), parts.query):
        if len(quoted) > 1:
            text = text.replace(quoted, host if quoted == url else "…")
    return text


# --- whom to tell


def recipients(tenant_id: int) -> list[str]:
    """The addresses mails for this tenant go to."""
    tenant = Tenant.get_by_id(tenant_id)
    if tenant.notify is not None:
        return list(tenant.notify)
    names = User.select(User.name).where(User.tenant == tenant_id).order_by(User.name).tuples()
    return [name for (name,) in names if is_address(name)]


def set_recipients(tenant_id: int, value: object, field: str = "notify") -> Tenant:
    """`value`: a list of addresses (empty: no mail), or None for the default (the users
    whose names are addresses)."""
    addresses = checked_recipients(value, field)
    with write_transaction():
        if not Tenant.update(notify=addresses).where(Tenant.id == tenant_id).execute():
            raise NotFound("no such tenant")
    return Tenant.get_by_id(tenant_id)


def checked_recipients(value: object, field: str = "notify") -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_ADDRESSES:
        raise InvalidInput(field, f"must be a list of up to {MAX_ADDRESSES} addresses, or null for the tenant's users")
    for index, address in enumerate(value):
        if not is_address(address):
            raise InvalidInput(f"{field}[{index}]", f"{address!r} is not an address such as ops@example.com")
    return list(dict.fromkeys(value))


# --- the mail job


@dataclass
class MailReport:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class _Claim:
    lease: str
    webhook_id: str
    tenant_id: int
    notices: list[MailNotice]


def send_due_mail(now: datetime, settings: Settings, send: Callable = mail.send) -> MailReport:
    """One run of the mail job: claim a webhook's due notices, mail them, record how it
    went, and on to the next, up to MAILS_PER_RUN. Blocking (SMTP, the database): the
    scheduler runs it in a worker thread.

    One claim at a time, each just before its send: claimed all at once, the last of a run
    could wait behind slow sends until its lease ran out and another process sent it too.
    A failed send ends the run: the server is likely down or refusing, and trying every
    other mail against it would only make the run as long as their timeouts."""
    report = MailReport()
    passed: set[str] = set()  # webhooks this run has looked at
    for _ in range(MAILS_PER_RUN):
        claim = _claim_next(now, passed)
        if claim is None:
            break
        addresses = recipients(claim.tenant_id)
        if not addresses:
            log.info("no one to mail about webhook %s: tenant %d has no notification addresses", claim.webhook_id,
                     claim.tenant_id)
            _finish(claim, SKIPPED, now)
            report.skipped += 1
            continue
        message = mail.compose(claim.notices, Tenant.get_by_id(claim.tenant_id).slug, claim.webhook_id, addresses,
                               settings)
        try:
            send(message, settings)
        except mail.SEND_ERRORS as exc:
            report.failed += 1
            report.last_error = mail.describe(exc)
            _retry_later(claim, now, report.last_error)
            break
        _finish(claim, SENT, now)
        log.info("mailed %d owners of tenant %d about webhook %s (%d notices)", len(addresses), claim.tenant_id,
                 claim.webhook_id, len(claim.notices))
        report.sent += 1
    _purge(now)
    return report


def _claim_next(now: datetime, passed: set[str]) -> _Claim | None:
    """The due notices of the next webhook not yet `passed`, under a lease. A webhook
    mailed within the hour is put off until the hour is over; one whose mail another run
    is sending is left to it."""
    free = MailNotice.lease_expires_at.is_null() | (MailNotice.lease_expires_at <= now)
    due = (MailNotice.status == PENDING) & (MailNotice.next_attempt_at <= now) & free
    with write_transaction():
        while True:
            oldest = (MailNotice.select(MailNotice.webhook).where(due & MailNotice.webhook.not_in(passed))
                      .order_by(MailNotice.next_attempt_at).first())
            if oldest is None:
                return None
            webhook_id = oldest.webhook_id
            passed.add(webhook_id)
            of_webhook = MailNotice.webhook == webhook_id
            if MailNotice.select().where(of_webhook & (MailNotice.lease_expires_at > now)).exists():
                continue
            newest = (MailNotice.select(MailNotice.sent_at).where(of_webhook & (MailNotice.status == SENT))
                      .order_by(MailNotice.sent_at.desc()).first())
            if newest is not None and now < newest.sent_at + MAIL_INTERVAL:
                MailNotice.update(next_attempt_at=newest.sent_at + MAIL_INTERVAL).where(of_webhook & due).execute()
                continue
            lease = new_id("lease")
            MailNotice.update(lease=lease, lease_expires_at=now + LEASE).where(of_webhook & due).execute()
            notices = list(MailNotice.select().where(MailNotice.lease == lease).order_by(MailNotice.created_at))
            if notices:  # none: another process took them between the two statements
                return _Claim(lease, webhook_id, notices[0].tenant_id, notices)


def _finish(claim: _Claim, status: str, now: datetime) -> None:
    with write_transaction():
        MailNotice.update(status=status, sent_at=now, lease=None, lease_expires_at=None, last_error=None).where(
            MailNotice.lease == claim.lease).execute()


def _retry_later(claim: _Claim, now: datetime, error: str) -> None:
    attempts = max(notice.attempts for notice in claim.notices) + 1
    delay = timedelta(minutes=min(2 ** (attempts - 1), MAX_BACKOFF_MINUTES))
    log.warning("could not mail the owners about webhook %s (attempt %d): %s; next try in %s",
                claim.webhook_id, attempts, error, delay)
    with write_transaction():
        MailNotice.update(attempts=attempts, next_attempt_at=now + delay, lease=None, lease_expires_at=None,
                          last_error=error).where(MailNotice.lease == claim.lease).execute()


def _purge(now: datetime) -> None:
    with write_transaction():
        MailNotice.delete().where((MailNotice.status != PENDING) & (MailNotice.sent_at < now - KEEP_SENT)).execute()


# --- what the dashboard and /metrics show


@dataclass(frozen=True)
class NotificationSettings:
    """The dashboard's notifications page for one tenant."""

    chosen: list[str] | None  # the addresses set for the tenant; None: the default
    recipients: list[str]  # who gets mail now
    status: MailStatus


def notification_settings(tenant_id: int, settings: Settings) -> NotificationSettings:
    return NotificationSettings(Tenant.get_by_id(tenant_id).notify, recipients(tenant_id),
                                mail_status(settings, tenant_id))



@dataclass(frozen=True)
class MailStatus:
    enabled: bool  # smtp_url is set
    pending: int
    failing: int  # pending notices whose last send failed
    last_error: str | None


def mail_status(settings: Settings, tenant_id: int | None = None) -> MailStatus:
    """`tenant_id` None: the whole installation."""
    pending = MailNotice.select().where(MailNotice.status == PENDING)
    if tenant_id is not None:
        pending = pending.where(MailNotice.tenant == tenant_id)
    failing = pending.where(MailNotice.last_error.is_null(False))
    newest = failing.order_by(MailNotice.next_attempt_at.desc()).first()
    return MailStatus(bool(settings.smtp_url), pending.count(), failing.count(), newest.last_error if newest else None)
