"""The owners' mail: what it says (plain text and HTML) and handing it to the SMTP server.

A mail is made from the facts a notice stored (app/services/notifications.py): the
webhook's name, its URL's host, the last error, since when it fails. Never the whole URL
(its path or query may carry a receiver's token), a secret, a header or a payload: the
notice does not hold them, so no mail can leak them.

smtplib, not an async client: the mail job runs in a worker thread anyway, a mail every
few minutes at most, and the standard library's STARTTLS and implicit TLS need nothing more.
"""

from __future__ import annotations

import html
import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid

from app.config import Settings
from app.rules.mail import parse_smtp_url
from app.storage.models import MailNotice

SMTP_TIMEOUT = 30  # seconds per socket operation
SEND_ERRORS = (smtplib.SMTPException, OSError)  # refused, unreachable, TLS, a timeout
HEADLINES = {
    "failing": "is failing",
    "disabled": "was disabled",
    "recovered": "recovered",
}


def compose(notices: list[MailNotice], tenant_slug: str, webhook_id: str, addresses: list[str],
            settings: Settings) -> EmailMessage:
    """One mail about one webhook: the newest notice is the headline, every notice since the
    last mail is listed (oldest first)."""
    newest = notices[-1]
    facts = newest.facts
    name = _one_line(facts["name"])
    headline = HEADLINES[newest.kind]
    link = f"{settings.public_url.rstrip('/')}/webhooks/{webhook_id}/deliveries" if settings.public_url else None
    details = [
        ("Webhook", f"{name} ({facts['host']})"),
        ("Tenant", tenant_slug),
        ("Status", _status(newest)),
        ("Failing since", _when(facts["failing_since"])),
        ("Last error", facts["last_error"]),
        ("Delivery log", link or f"the dashboard, Webhooks > {name} > Deliveries"),
    ]
    details = [(label, value) for label, value in details if value]
    history = [f"{_when(notice.facts['at'])}: {_status(notice)}" for notice in notices]

    message = EmailMessage()
    message["Subject"] = f"[Hookline] Webhook {name} {headline}"
    message["From"] = settings.mail_from
    message["To"] = ", ".join(addresses)
    message["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2])
    text = [f"Webhook {name} {headline}.", ""] + [f"{label}: {value}" for label, value in details]
    if len(history) > 1:
        text += ["", "Since the last mail:"] + [f"- {line}" for line in history]
    message.set_content("\n".join(text) + "\n")
    message.add_alternative(_html(f"Webhook {name} {headline}", details, history, link), subtype="html")
    return message


def _html(title: str, details: list[tuple[str, str]], history: list[str], link: str | None) -> str:
    rows = "".join(
        f"<tr><th align=\"left\">{html.escape(label)}</th><td>"
        + (f"<a href=\"{html.escape(value)}\">{html.escape(value)}</a>" if value == link else html.escape(value))
        + "</td></tr>"
        for label, value in details
    )
    since = ""
    if len(history) > 1:
        since = "<p>Since the last mail:</p><ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in history) + "</ul>"
    return f"<!doctype html><html><body><h1>{html.escape(title)}</h1><table>{rows}</table>{since}</body></html>\n"


def _status(notice: MailNotice) -> str:
    facts = notice.facts
    if notice.kind == "failing":
        return f"started failing: {facts['consecutive_failures']} deliveries in a row failed"
    if notice.kind == "disabled":
        return f"disabled: {facts['reason']}"
    return f"recovered: a delivery succeeded after {facts['consecutive_failures']} failed"


def _when(iso: str | None) -> str | None:
    return None if iso is None else f"{datetime.fromisoformat(iso):%Y-%m-%d %H:%M} UTC"


def _one_line(text: str) -> str:
    """A webhook's name in a Subject header: no line breaks or control characters."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def send(message: EmailMessage, settings: Settings) -> None:
    """Raises one of SEND_ERRORS if the server cannot be reached or refuses."""
    server = parse_smtp_url(settings.smtp_url)
    context = ssl.create_default_context(cafile=settings.smtp_ca_file or None)
    if server.implicit_tls:
        client = smtplib.SMTP_SSL(server.host, server.port, timeout=SMTP_TIMEOUT, context=context)
    else:
        client = smtplib.SMTP(server.host, server.port, timeout=SMTP_TIMEOUT)
    with client:
        if server.starttls:
            client.starttls(context=context)
        if server.username is not None:
            client.login(server.username, server.password or "")
        client.send_message(message)


def describe(exc: BaseException) -> str:
    """A send's failure in one line for the log, the dashboard and the notice."""
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"the SMTP server answered {exc.smtp_code} {_one_line(text)}"[:300]
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "the SMTP server refused every recipient"
    return f"{type(exc).__name__}: {_one_line(str(exc))}"[:300]
