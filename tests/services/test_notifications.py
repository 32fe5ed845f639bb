"""Mail to a tenant's owners, against a real SMTP server on 127.0.0.1 (aiosmtpd).

A real receiver fails and the engine records it, which queues a notice; the mail job's
function (`send_due_mail`, or the scheduler's `run_mail`) sends what is due at the
injected clock's time. Every delivery gets a single attempt, so each 500 is a delivery
that failed for good.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from datetime import timedelta

import pytest

from app.scheduler import run_mail
from app.services import notifications
from app.services.notifications import send_due_mail
from app.services.users import create_user
from app.storage.models import MailNotice, Tenant, Webhook
from tests.helpers import MailServer, emit, free_port, make_webhook, self_signed_certificate

PERIOD = 3600
OWNER = "ops@example.com"


@pytest.fixture
def mail_server():
    server = MailServer().start()
    yield server
    server.stop()


@pytest.fixture
def settings(settings):
    return settings.replace(retry_schedule=(0,), auto_disable_failures=5, auto_disable_period=PERIOD,
                            notify_failing_after=2, mail_from="hookline@example.com",
                            public_url="https://hooks.example.com")


@pytest.fixture
def owner(db, clock):
    """The default tenant's users: one whose name is an address, one whose name is not."""
    tenant = Tenant.get(Tenant.slug == "default")
    create_user(OWNER, "o" * 12, tenant, clock())
    create_user("bob", "b" * 12, tenant, clock())
    return OWNER


def smtp(settings, port: int, credentials: str = "", **changes):
    return settings.replace(smtp_url=f"smtp://{credentials}127.0.0.1:{port}", **changes)


def parsed(envelope) -> email.message.EmailMessage:
    return email.message_from_bytes(envelope.content, policy=email.policy.default)


def text_and_html(message) -> tuple[str, str]:
    """Both parts, with the line ends they were written with (SMTP carries CRLF)."""
    return tuple(message.get_body((kind,)).get_content().replace("\r\n", "\n") for kind in ("plain", "html"))


async def step(settings, clock, engine, data=None) -> None:
    clock.advance(1)
    emit(settings, clock, data=data)
    await engine.run()


def gone_webhook(settings, clock, receiver, name="Billing") -> Webhook:
    receiver.plan("/gone", 410)
    return make_webhook(settings, clock, receiver.url("/gone"), name=name, events=["order.*"])


@pytest.mark.anyio
@pytest.mark.postgres
async def test_failing_then_recovered_and_failing_again_in_one_summary(owner, settings, clock, receiver,
                                                                       mail_server, make_engine):
    settings = smtp(settings, mail_server.port)
    engine = await make_engine(settings)
    receiver.plan("/dead", 500, 500, 200, 500)
    secrets = {"query": "query-secret-123", "header": "header-secret-456", "plain header": "team-value-789",
               "payload": "payload-secret-000"}
    dead = make_webhook(settings, clock, receiver.url(f"/dead?token={secrets['query']}"), name="Billing",
                        events=["order.*"], headers={"Authorization": f"Bearer {secrets['header']}",
                                                     "X-Team": secrets["plain header"]})
    secrets["signing secret"] = dead.secret.removeprefix("whsec_")

    await step(settings, clock, engine, {"card": secrets["payload"]})
    failing_since = clock()
    assert send_due_mail(clock(), settings).sent == 0, "one failed delivery is no news"
    await step(settings, clock, engine, {"card": secrets["payload"]})
    report = send_due_mail(clock(), settings)
    first_mail_at = clock()

    assert (report.sent, len(mail_server.messages)) == (1, 1)
    (envelope,) = mail_server.messages
    assert (envelope.mail_from, envelope.rcpt_tos) == ("hookline@example.com", [OWNER]), "bob is no address"
    message = parsed(envelope)
    assert message["Subject"] == "[Hookline] Webhook Billing is failing"
    assert (message["From"], message["To"]) == ("hookline@example.com", OWNER)
    text, html = text_and_html(message)
    link = f"https://hooks.example.com/webhooks/{dead.id}/deliveries"
    assert text == (
        "Webhook Billing is failing.\n\n"
        "Webhook: Billing (127.0.0.1)\n"
        "Tenant: default\n"
        "Status: started failing: 2 deliveries in a row failed\n"
        f"Failing since: {failing_since:%Y-%m-%d %H:%M} UTC\n"
        "Last error: HTTP 500\n"
        f"Delivery log: {link}\n"
    )
    assert f'<a href="{link}">' in html and "Billing (127.0.0.1)" in html
    for what, secret in secrets.items():
        assert secret not in envelope.content.decode(), f"the {what} is in the mail"

    await step(settings, clock, engine)  # 200: recovered
    await step(settings, clock, engine)
    await step(settings, clock, engine)  # failing again
    assert send_due_mail(clock(), settings).sent == 0, "one mail per webhook an hour"
    clock.now = first_mail_at + timedelta(seconds=PERIOD - 1)
    assert send_due_mail(clock(), settings).sent == 0
    clock.advance(1)
    assert send_due_mail(clock(), settings).sent == 1

    message = parsed(mail_server.messages[1])
    assert message["Subject"] == "[Hookline] Webhook Billing is failing"
    text, html = text_and_html(message)
    assert text.endswith("Since the last mail:\n"
                         f"- {first_mail_at + timedelta(seconds=1):%Y-%m-%d %H:%M} UTC: recovered: a delivery succeeded"
                         " after 2 failed\n"
                         f"- {first_mail_at + timedelta(seconds=3):%Y-%m-%d %H:%M} UTC: started failing: 2 deliveries"
                         " in a row failed\n")
    assert html.count("<li>") == 2


@pytest.mark.anyio
async def test_disabled_by_410_over_starttls_with_a_self_signed_certificate(owner, settings, clock, receiver,
                                                                          make_engine, tmp_path):
    certificate = self_signed_certificate(tmp_path)
    server = MailServer(certificate=certificate).start()
    try:
        untrusting = smtp(settings, server.port, "ada:pw%21@")
        engine = await make_engine(untrusting)
        gone = gone_webhook(untrusting, clock, receiver)
        await step(untrusting, clock, engine)
        assert Webhook.get_by_id(gone.id).enabled is False

        report = send_due_mail(clock(), untrusting)
        assert (report.sent, report.failed) == (0, 1)
        assert "CERTIFICATE_VERIFY_FAILED" in report.last_error, "a certificate no one vouches for is refused"
        assert server.logins == [], "and the password was never sent"

        trusting = untrusting.replace(smtp_ca_file=str(certificate[0]))
        clock.advance(60)
        assert send_due_mail(clock(), trusting).sent == 1
    finally:
        server.stop()
    assert server.logins == [("ada", "pw!")]
    message = parsed(server.messages[0])
    assert message["Subject"] == "[Hookline] Webhook Billing was disabled"
    text, _ = text_and_html(message)
    assert f"Status: disabled: The endpoint answered 410 Gone on {clock() - timedelta(seconds=60):%Y-%m-%d %H:%M} UTC\n" in text


@pytest.mark.anyio
async def test_smtps_speaks_tls_from_the_first_byte_and_a_wrong_ca_is_retried(owner, settings, clock, receiver,
                                                                            make_engine, tmp_path):
    certificate = self_signed_certificate(tmp_path)
    (tmp_path / "other").mkdir()
    stranger, _ = self_signed_certificate(tmp_path / "other")  # a CA, just not the server's
    server = MailServer(certificate=certificate, implicit_tls=True).start()
    try:
        wrong_ca = settings.replace(smtp_url=f"smtps://ada:pw%21@127.0.0.1:{server.port}",
                                    smtp_ca_file=str(stranger))
        engine = await make_engine(wrong_ca)
        gone_webhook(wrong_ca, clock, receiver)
        await step(wrong_ca, clock, engine)

        report = send_due_mail(clock(), wrong_ca)
        assert (report.sent, report.failed) == (0, 1)
        assert "CERTIFICATE_VERIFY_FAILED" in report.last_error
        assert server.logins == [] and server.messages == [], "nothing, not even the password, was sent"
        notice = MailNotice.get()
        assert (notice.status, notice.attempts, notice.next_attempt_at) == ("pending", 1, clock() + timedelta(minutes=1))

        right_ca = wrong_ca.replace(smtp_ca_file=str(certificate[0]))
        assert send_due_mail(clock(), right_ca).sent == 0, "not before its retry is due"
        clock.advance(60)
        assert send_due_mail(clock(), right_ca).sent == 1
    finally:
        server.stop()
    assert server.logins == [("ada", "pw!")]
    assert [envelope.rcpt_tos for envelope in server.messages] == [[OWNER]]
    assert parsed(server.messages[0])["Subject"] == "[Hookline] Webhook Billing was disabled"
    assert MailNotice.get().status == "sent"


@pytest.mark.anyio
@pytest.mark.parametrize("refusal", ["550 5.7.1 Relaying denied", "421 4.3.2 Service shutting down"])
async def test_a_refusing_server_is_retried_with_backoff_and_shows_in_metrics(owner, settings, clock, receiver,
                                                                             make_engine, refusal):
    server = MailServer(reply=refusal).start()
    try:
        settings = smtp(settings, server.port)
        engine = await make_engine(settings)
        gone_webhook(settings, clock, receiver)
        await step(settings, clock, engine)
        tried_at = []
        for wait in (0, 59, 1, 119, 1, 239, 1):  # 1, 2, 4 minutes after each failure
            clock.advance(wait)
            server.data_started.clear()
            await run_mail(engine.dispatcher, settings)
            if server.data_started.is_set():
                tried_at.append(clock())
        start = tried_at[0]
        assert [(t - start).total_seconds() for t in tried_at] == [0, 60, 180, 420]
        metrics = engine.dispatcher.metrics.exposition().decode()
        assert "hookline_mail_pending 1.0" in metrics and "hookline_mail_failing 1.0" in metrics
        assert "hookline_mail_failures_total 4.0" in metrics and "hookline_mail_sent_total 0.0" in metrics
        status = notifications.mail_status(settings, Tenant.get(Tenant.slug == "default").id)
        assert status.last_error == f"the SMTP server answered {refusal}"

        server.reply = "250 OK"
        clock.advance(480)
        await run_mail(engine.dispatcher, settings)
    finally:
        server.stop()
    assert len(server.messages) == 1
    metrics = engine.dispatcher.metrics.exposition().decode()
    assert "hookline_mail_pending 0.0" in metrics and "hookline_mail_sent_total 1.0" in metrics


@pytest.mark.anyio
async def test_no_server_listening_is_retried_later_and_ends_the_run(owner, settings, clock, receiver, make_engine):
    settings = smtp(settings, free_port())
    engine = await make_engine(settings)
    gone_webhook(settings, clock, receiver, name="First")
    gone_webhook(settings, clock, receiver, name="Second")
    await step(settings, clock, engine)
    report = send_due_mail(clock(), settings)
    assert (report.sent, report.failed) == (0, 1), "the other mail waits for the next run"
    assert report.last_error.startswith("ConnectionRefusedError")
    tried, waiting = MailNotice.select().order_by(MailNotice.attempts.desc())
    assert (tried.status, tried.attempts, tried.next_attempt_at) == ("pending", 1, clock() + timedelta(minutes=1))
    assert (waiting.status, waiting.attempts, waiting.next_attempt_at) == ("pending", 0, clock())


@pytest.mark.anyio
async def test_a_hanging_smtp_server_holds_up_no_delivery(owner, settings, clock, receiver, mail_server,
                                                          make_engine):
    settings = smtp(settings, mail_server.port)
    engine = await make_engine(settings)
    gone_webhook(settings, clock, receiver)
    await step(settings, clock, engine)
    healthy = make_webhook(settings, clock, receiver.url("/healthy"), events=["order.*"])

    mail_server.release.clear()  # DATA is not answered until released
    mailing = asyncio.create_task(run_mail(engine.dispatcher, settings))
    assert await asyncio.get_running_loop().run_in_executor(None, mail_server.data_started.wait, 10)
    await step(settings, clock, engine)
    assert len(receiver.to("/healthy")) == 1 and Webhook.get_by_id(healthy.id).consecutive_failures == 0
    assert not mailing.done() and mail_server.messages == [], "the mail is still being sent"

    mail_server.release.set()
    await mailing
    assert len(mail_server.messages) == 1


@pytest.mark.anyio
@pytest.mark.postgres
async def test_a_second_process_never_sends_a_notice_being_sent(owner, settings, clock, receiver, mail_server,
                                                                make_engine):
    settings = smtp(settings, mail_server.port)
    engine = await make_engine(settings)
    gone_webhook(settings, clock, receiver)
    await step(settings, clock, engine)
    meanwhile = []

    def send_while_another_process_runs(message, settings):
        meanwhile.append(send_due_mail(clock(), settings))
        notifications.mail.send(message, settings)

    assert send_due_mail(clock(), settings, send=send_while_another_process_runs).sent == 1
    assert [(r.sent, r.failed) for r in meanwhile] == [(0, 0)]
    assert len(mail_server.messages) == 1


@pytest.mark.anyio
async def test_whom_to_tell(db, settings, clock, receiver, mail_server, make_engine):
    settings = smtp(settings, mail_server.port)
    engine = await make_engine(settings)
    tenant = Tenant.get(Tenant.slug == "default")
    create_user("not-an-address", "n" * 12, tenant, clock())
    gone_webhook(settings, clock, receiver)
    await step(settings, clock, engine)
    assert notifications.recipients(tenant.id) == []
    report = send_due_mail(clock(), settings)
    assert (report.sent, report.skipped) == (0, 1), "no one to tell: dropped, not retried for ever"

    notifications.set_recipients(tenant.id, ["a@example.com", "b@example.org", "a@example.com"])
    assert notifications.recipients(tenant.id) == ["a@example.com", "b@example.org"]
    gone_webhook(settings, clock, receiver, name="Second")
    await step(settings, clock, engine)
    assert send_due_mail(clock(), settings).sent == 1
    assert mail_server.messages[0].rcpt_tos == ["a@example.com", "b@example.org"]

    notifications.set_recipients(tenant.id, None)
    assert notifications.recipients(tenant.id) == []


@pytest.mark.parametrize(
    ("value", "field"),
    [("ops@example.com", "notify"), (["ops@example.com", "nope"], "notify[1]"), ([None], "notify[0]"),
     (["x@example.com"] * 21, "notify"), (["a@example.com\nBcc: b@example.com"], "notify[0]")],
)
def test_bad_addresses_name_the_field(db, value, field):
    from app.rules.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        notifications.set_recipients(Tenant.get(Tenant.slug == "default").id, value)
    assert caught.value.field == field


@pytest.mark.anyio
async def test_nothing_is_queued_while_mail_is_off(owner, settings, clock, receiver, engine):
    gone_webhook(settings, clock, receiver)
    await step(settings, clock, engine)
    assert Webhook.select().where(Webhook.enabled == False).count() == 1  # noqa: E712 - SQL
    assert MailNotice.select().count() == 0


@pytest.mark.anyio
@pytest.mark.parametrize("mail_on", [True, False])
async def test_the_mail_job_runs_in_every_sender_when_mail_is_on(db, settings, make_engine, mail_on):
    from app.scheduler import build_scheduler

    settings = smtp(settings, free_port()) if mail_on else settings
    scheduler = build_scheduler((await make_engine(settings)).dispatcher, settings)
    job = scheduler.get_job("send-owner-mail")
    assert (job is not None) is mail_on
    if mail_on:
        assert (job.func, job.args[1], job.max_instances) == (run_mail, settings, 1)


def test_an_error_quoting_the_url_names_its_host_in_the_mail(db, settings, clock):
    from app.delivery.types import WebhookDisabled

    settings = smtp(settings, free_port())
    webhook = make_webhook(settings, clock, "http://127.0.0.1:9/hook?token=query-secret-123", name="Billing")
    url = webhook.url
    notifications.queue_notice(WebhookDisabled(webhook.id, webhook.tenant_id, "Billing", url,
                                               f"invalid URL: {url!r}", 1, clock(), None,
                                               "invalid URL: /hook?token=query-secret-123"), settings)
    (notice,) = MailNotice.select()
    assert notice.facts["reason"] == "invalid URL: '127.0.0.1'"
    assert notice.facts["last_error"] == "invalid URL: …"
    assert "query-secret-123" not in str(notice.facts)
