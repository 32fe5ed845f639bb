"""What smtp_url means, what counts as an address, and when webhook.failing goes out."""

import pytest

from app.config import ConfigError, Settings
from app.rules.mail import SmtpServer, is_address, parse_smtp_url
from app.rules.subscriptions import OPERATIONAL_TYPES
from app.services.catalog import BUILT_IN, TEST_EVENT_TYPE
from app.services.webhook_health import failing_percent


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", SmtpServer("mail.example.com", 25, None, None, False)),
        ("smtp://relay:2525", SmtpServer("relay", 2525, None, None, False)),
        ("smtp://ada:s%40cret@mail.example.com", SmtpServer("mail.example.com", 587, "ada", "s@cret", False)),
        ("smtp://ada:pw@mail.example.com:2587/", SmtpServer("mail.example.com", 2587, "ada", "pw", False)),
        ("smtps://ada:pw@mail.example.com", SmtpServer("mail.example.com", 465, "ada", "pw", True)),
        ("smtps://127.0.0.1:1465", SmtpServer("127.0.0.1", 1465, None, None, True)),
    ],
)
def test_smtp_urls(url, expected):
    assert parse_smtp_url(url) == expected


@pytest.mark.parametrize(
    ("url", "starttls"),
    [("smtp://host", False), ("smtp://u:p@host", True), ("smtps://u:p@host", False), ("smtps://host", False)],
)
def test_a_password_never_crosses_in_clear(url, starttls):
    server = parse_smtp_url(url)
    assert server.starttls is starttls
    assert server.implicit_tls or server.starttls or server.username is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mail.example.com", "must start with smtp:// or smtps://"),
        ("http://mail.example.com", "must start with smtp:// or smtps://"),
        ("smtp://", "names no host"),
        ("smtp://host:99999", "port"),
        ("smtp://host:abc", "port"),
        ("smtp://host/path", "only smtp[s]://"),
        ("smtp://host?starttls=1", "only smtp[s]://"),
    ],
)
def test_bad_smtp_urls(url, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_smtp_url(url)


def test_the_password_stays_out_of_reprs_and_config_errors():
    assert "hunter2" not in repr(parse_smtp_url("smtp://ada:hunter2@mail.example.com"))
    with pytest.raises(ConfigError) as caught:
        Settings().replace(smtp_url="smtp://ada:hunter2@mail.example.com/x", mail_from="h@example.com")
    assert "smtp_url" in str(caught.value) and "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"smtp_url": "smtp://relay"}, "mail_from"),
        ({"smtp_url": "smtp://relay", "mail_from": "hookline"}, "mail_from"),
        ({"notify_failing_after": 0}, "notify_failing_after"),
        ({"public_url": "hooks.example.com"}, "public_url"),
        ({"public_url": "https://hooks.example.com/?x=1"}, "public_url"),
    ],
)
def test_mail_settings_are_checked(changes, key):
    with pytest.raises(ConfigError, match=key):
        Settings().replace(**changes)


def test_mail_settings_that_are_fine():
    settings = Settings().replace(smtp_url="smtps://u:p@mail.example.com", mail_from="hookline@example.com",
                                  public_url="https://example.com/hookline")
    assert settings.notify_failing_after == 5


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        ("ops@example.com", True),
        ("first.last+hooks@mail.example.co.uk", True),
        ("ada", False),
        ("ada@localhost", False),
        ("ops@example.com\r\nBcc: x@evil.example", False),
        ("Ops <ops@example.com>", False),
        ("a@b.com, c@d.com", False),
        ("@example.com", False),
        ("x" * 250 + "@example.com", False),
        (None, False),
    ],
)
def test_addresses(address, valid):
    assert is_address(address) is valid


@pytest.mark.parametrize(
    ("streak", "threshold", "percent"),
    [
        (5, 10, 50), (7, 10, 70), (9, 10, 90), (6, 10, None), (8, 10, None), (10, 10, None), (4, 10, None),
        (2, 5, 50), (3, 5, 70), (4, 5, 90), (1, 5, None), (5, 5, None),
        (1, 3, 50), (2, 3, 90), (3, 3, None),  # 70 % and 90 % both fall on 2: the larger is said
        (1, 1, None), (0, 1, None),  # nothing below a threshold of 1
        (1, 0, None), (5, 0, None),  # never switched off: no share to reach
        (50, 100, 50), (70, 100, 70), (90, 100, 90),
    ],
)
def test_failing_percent(streak, threshold, percent):
    assert failing_percent(streak, threshold) == percent


def test_the_catalog_holds_every_operational_type_with_an_example():
    operational = {seed.name: seed for seed in BUILT_IN if seed.name != TEST_EVENT_TYPE}
    assert set(operational) == OPERATIONAL_TYPES
    assert all(seed.example and "never `*`" in seed.description for seed in operational.values())
