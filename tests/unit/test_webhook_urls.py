import pytest

from app.rules.webhook_urls import MAX_URL_LENGTH, UrlRejected, check_webhook_url


def long_url(length: int) -> str:
    prefix = "https://example.com/"
    return prefix + "a" * (length - len(prefix))


@pytest.mark.parametrize(
    ("url", "allow_http", "networks"),
    [
        ("https://example.com/hook", False, ()),
        ("https://example.com:8443/hook?tenant=1", False, ()),
        ("https://93.184.215.14/hook", False, ()),
        ("https://[2606:4700::1111]/hook", False, ()),
        ("http://example.com/hook", True, ()),
        ("https://127.0.0.1/hook", False, ("127.0.0.0/8",)),
        ("https://10.0.0.1/hook", False, ("10.0.0.0/8",)),
        ("https://192.168.1.1/hook", False, ("10.0.0.0/8", "192.168.1.0/24")),
        ("https://[::1]/hook", False, ("::1/128",)),
        ("https://169.254.10.20/hook", False, ("169.254.0.0/16",)),
        ("https://localhost/hook", False, ("127.0.0.0/8",)),
        ("https://LocalHost./hook", False, ("127.0.0.0/8",)),
        ("https://foo.localhost/hook", False, ("127.0.0.0/8",)),
        ("http://127.0.0.1:8001/hook", True, ("127.0.0.0/8", "::1/128")),
        (long_url(MAX_URL_LENGTH), False, ()),
    ],
)
def test_accepted(url, allow_http, networks):
    assert check_webhook_url(url, allow_http, networks) == url


def test_surrounding_space_is_stripped():
    assert check_webhook_url("  https://example.com/hook\n", False, ()) == "https://example.com/hook"


@pytest.mark.parametrize(
    ("url", "allow_http", "networks", "phrase"),
    [
        (None, False, (), "required"),
        ("   ", False, (), "required"),
        ("http://example.com/hook", False, (), "must use https"),
        ("ftp://example.com/hook", True, (), "must be an http:// or https:// URL"),
        ("ftp://example.com/hook", False, (), "must be an https:// URL"),
        ("example.com/hook", True, (), "must be an http:// or https:// URL"),
        ("example.com/hook", False, (), "must be an https:// URL"),
        ("", True, (), "required: an http:// or https:// URL"),
        ("", False, (), "required: an https:// URL"),
        ("https://user:pass@example.com/hook", False, (), "must not contain credentials"),
        ("https://token@example.com/hook", False, (), "must not contain credentials"),
        ("https:///hook", False, (), "must include a host name"),
        ("https://:443/hook", False, (), "must include a host name"),
        ("https://example.com:99999/hook", False, (), "invalid port"),
        ("https://example.com:http/hook", False, (), "invalid port"),
        ("https://example.com/hook#part", False, (), "must not contain a #fragment"),
        (long_url(MAX_URL_LENGTH + 1), False, (), "longer than 2048 characters"),
    ],
)
def test_malformed_urls_are_refused(url, allow_http, networks, phrase):
    with pytest.raises(UrlRejected, match=phrase):
        check_webhook_url(url, allow_http, networks)


@pytest.mark.parametrize(
    ("url", "networks"),
    [
        ("https://127.0.0.1/hook", ()),
        ("https://10.0.0.1/hook", ()),
        ("https://192.168.1.1/hook", ()),
        ("https://[::1]/hook", ()),
        ("https://169.254.10.20/hook", ()),
        ("https://0.0.0.0/hook", ()),
        ("https://[::ffff:127.0.0.1]/hook", ("10.0.0.0/8",)),
        ("https://10.0.0.1/hook", ("192.168.0.0/16",)),
        ("https://[::1]/hook", ("127.0.0.0/8",)),
        ("https://169.254.10.20/hook", ("10.0.0.0/8", "192.168.0.0/16")),
    ],
)
def test_private_addresses_are_refused_unless_allowlisted(url, networks):
    with pytest.raises(UrlRejected, match="is a private or reserved address; add its network to allow_private_networks"):
        check_webhook_url(url, False, networks)


@pytest.mark.parametrize(
    ("url", "networks"),
    [
        ("https://localhost/hook", ()),
        ("https://localhost./hook", ()),
        ("https://foo.localhost/hook", ()),
        ("https://localhost/hook", ("::1/128", "10.0.0.0/8")),
        pytest.param("https://foo.localhost./hook", (), id="trailing-dot-localhost"),
        ("https://127.1/hook", ()),
        ("https://2130706433/hook", ()),
        ("https://0x7f.0.0.1/hook", ()),
        ("https://0177.0.0.1/hook", ()),
    ],
)
def test_local_names_and_legacy_ipv4_spellings_are_refused(url, networks):
    with pytest.raises(UrlRejected, match="is a private or reserved address; add its network to allow_private_networks"):
        check_webhook_url(url, False, networks)


@pytest.mark.parametrize(
    ("url", "networks"),
    [
        ("https://metadata.google.internal/computeMetadata/v1/", ()),
        ("https://metadata.google.internal/computeMetadata/v1/", ("127.0.0.0/8", "169.254.0.0/16")),
        ("https://METADATA.google.internal/", ("0.0.0.0/0", "::/0")),
        pytest.param("https://metadata.google.internal./computeMetadata/v1/", (), id="trailing-dot-metadata"),
        ("https://169.254.169.254/latest/meta-data/", ("169.254.0.0/16",)),
        ("https://[fd00:ec2::254]/latest/meta-data/", ("fc00::/7",)),
    ],
)
def test_cloud_metadata_is_refused_even_when_allowlisted(url, networks):
    with pytest.raises(UrlRejected, match="cloud metadata service and is never a webhook target"):
        check_webhook_url(url, False, networks)
