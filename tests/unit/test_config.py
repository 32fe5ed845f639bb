import json

import pytest

from app.config import ConfigError, EventTypeSeed, Settings, load_settings, parse_duration

ADMIN_KEY = "k" * 24


@pytest.fixture
def config_file(tmp_path):
    """Write `config.toml` under tmp_path and return its path."""

    def write(text: str = ""):
        path = tmp_path / "config.toml"
        path.write_text(text)
        return path

    return write


def test_defaults_when_there_is_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings == Settings()
    assert settings.retry_schedule == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    assert (settings.allow_http, settings.allow_private_networks) == (False, ())


def test_config_toml_in_the_working_directory_is_read(config_file, tmp_path, monkeypatch):
    config_file("port = 9001\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings(environ={}).port == 9001


def test_hookline_config_names_the_file(config_file):
    path = config_file("port = 9001\n")
    assert load_settings(environ={"HOOKLINE_CONFIG": str(path)}).port == 9001


@pytest.mark.parametrize("via", ["argument", "HOOKLINE_CONFIG"])
def test_a_named_file_that_is_missing_is_an_error(tmp_path, via):
    missing = str(tmp_path / "missing.toml")
    path, environ = (missing, {}) if via == "argument" else (None, {"HOOKLINE_CONFIG": missing})
    with pytest.raises(ConfigError, match="missing.toml does not exist"):
        load_settings(path, environ)


def test_toml_values_are_read(config_file):
    path = config_file(
        f"""
database_url = "postgresql://hookline@db/hookline"
host = "0.0.0.0"
port = 9000
admin_key = "{ADMIN_KEY}"
retry_schedule = [0, "5s", "1m"]
retry_jitter = 0.2
retry_after_cap = "2h"
request_timeout = "500ms"
lease_seconds = 30
max_concurrency = 8
auto_register_event_types = true
allow_http = true
allow_private_networks = ["10.0.0.0/8", "fd00::/8"]
"""
    )
    assert load_settings(path, {}) == Settings(
        database_url="postgresql://hookline@db/hookline",
        host="0.0.0.0",
        port=9000,
        admin_key=ADMIN_KEY,
        retry_schedule=(0, 5, 60),
        retry_jitter=0.2,
        retry_after_cap=7200,
        request_timeout=0.5,
        lease_seconds=30,
        max_concurrency=8,
        auto_register_event_types=True,
        allow_http=True,
        allow_private_networks=("10.0.0.0/8", "fd00::/8"),
    )


@pytest.mark.parametrize(
    ("name", "text", "field", "value"),
    [
        ("HOOKLINE_PORT", "9000", "port", 9000),
        ("HOOKLINE_HOST", "0.0.0.0", "host", "0.0.0.0"),
        ("HOOKLINE_ADMIN_KEY", ADMIN_KEY, "admin_key", ADMIN_KEY),
        ("HOOKLINE_ALLOW_HTTP", "true", "allow_http", True),
        ("HOOKLINE_ALLOW_HTTP", " ON ", "allow_http", True),
        ("HOOKLINE_ALLOW_HTTP", "false", "allow_http", False),
        ("HOOKLINE_ALLOW_HTTP", "", "allow_http", False),
        ("HOOKLINE_REQUEST_TIMEOUT", "5s", "request_timeout", 5),
        ("HOOKLINE_RETRY_SCHEDULE", "0,5s,1m", "retry_schedule", (0, 5, 60)),
        ("HOOKLINE_RETRY_SCHEDULE", '[0, "5s", 60]', "retry_schedule", (0, 5, 60)),
        ("HOOKLINE_ALLOW_PRIVATE_NETWORKS", '["10.0.0.0/8", "::1/128"]', "allow_private_networks", ("10.0.0.0/8", "::1/128")),
        ("HOOKLINE_ALLOW_PRIVATE_NETWORKS", "10.0.0.0/8, ::1/128", "allow_private_networks", ("10.0.0.0/8", "::1/128")),
        ("HOOKLINE_ALLOW_PRIVATE_NETWORKS", "", "allow_private_networks", ()),
    ],
)
def test_environment_values(config_file, name, text, field, value):
    assert getattr(load_settings(config_file(), {name: text}), field) == value


def test_environment_overrides_the_file(config_file):
    path = config_file('port = 9000\nallow_http = true\nallow_private_networks = ["10.0.0.0/8"]\n')
    environ = {"HOOKLINE_PORT": "9100", "HOOKLINE_ALLOW_HTTP": "false", "HOOKLINE_ALLOW_PRIVATE_NETWORKS": "192.168.0.0/16"}
    settings = load_settings(path, environ)
    assert (settings.port, settings.allow_http, settings.allow_private_networks) == (9100, False, ("192.168.0.0/16",))


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("500ms", 0.5),
        ("5s", 5),
        ("1.5s", 1.5),
        ("5m", 300),
        ("10min", 600),
        ("2h", 7200),
        ("1d", 86400),
        (" 30 ", 30),
        ("30", 30),
        (30, 30),
        (2.5, 2.5),
        (0, 0),
    ],
)
def test_parse_duration(value, seconds):
    assert parse_duration("request_timeout", value) == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5w", "'5w' is not a duration"),
        ("-5s", "'-5s' is not a duration"),
        ("s", "'s' is not a duration"),
        ("", "'' is not a duration"),
        (True, "True is not a duration"),
        (-1, "must be a finite, non-negative duration"),
        (float("nan"), "must be a finite, non-negative duration"),
        (float("inf"), "must be a finite, non-negative duration"),
    ],
)
def test_parse_duration_rejects(value, message):
    with pytest.raises(ConfigError, match=f"^request_timeout: {message}"):
        parse_duration("request_timeout", value)


@pytest.mark.parametrize(
    ("toml", "environ", "message"),
    [
        ("", {"HOOKLINE_PORT": "abc"}, "HOOKLINE_PORT: expected an integer, got 'abc'"),
        ("port = 8000.5", {}, "port: expected an integer"),
        ("port = 70000", {}, r"port \(HOOKLINE_PORT\): must be between 1 and 65535"),
        ("", {"HOOKLINE_PORT": "0"}, r"port \(HOOKLINE_PORT\): must be between 1 and 65535"),
        ("prot = 8000", {}, "unknown key 'prot'"),
        ("dev = true", {}, "unknown key 'dev'"),
        ("port = ", {}, "not valid TOML"),
        ('host = 1', {}, "host: expected a string"),
        ('allow_http = "yes"', {}, "allow_http: expected true or false"),
        ("", {"HOOKLINE_ALLOW_HTTP": "maybe"}, "HOOKLINE_ALLOW_HTTP: expected true or false, got 'maybe'"),
        ('allow_private_networks = ["10.0.0.0/33"]', {}, "allow_private_networks: '10.0.0.0/33' is not a CIDR network"),
        ('allow_private_networks = "10.0.0.0/8"', {}, "allow_private_networks: expected a list of CIDR networks"),
        ("", {"HOOKLINE_ALLOW_PRIVATE_NETWORKS": "10.0.0.0/8,intranet"},
         "HOOKLINE_ALLOW_PRIVATE_NETWORKS: 'intranet' is not a CIDR network"),
        ("", {"HOOKLINE_ALLOW_PRIVATE_NETWORKS": "[10.0.0.0/8]"}, "HOOKLINE_ALLOW_PRIVATE_NETWORKS: not a valid JSON list"),
        ('admin_key = "too-short"', {}, r"admin_key \(HOOKLINE_ADMIN_KEY\): must be at least 24 characters"),
        ("retry_schedule = []", {}, "retry_schedule: expected a non-empty list of durations"),
        ("", {"HOOKLINE_RETRY_SCHEDULE": " , "}, "HOOKLINE_RETRY_SCHEDULE: expected a non-empty list of durations"),
        ('retry_schedule = [0, "soon"]', {}, "retry_schedule: 'soon' is not a duration"),
        ("request_timeout = -1", {}, "request_timeout: must be a finite, non-negative duration"),
        ("request_timeout = 0", {}, r"request_timeout \(HOOKLINE_REQUEST_TIMEOUT\): must be greater than 0"),
        ("retry_jitter = 1", {}, r"retry_jitter \(HOOKLINE_RETRY_JITTER\): must be between 0 and 1"),
        ("lease_seconds = 10", {}, r"lease_seconds \(HOOKLINE_LEASE_SECONDS\): must be longer than request_timeout"),
        ('request_timeout = "2m"', {}, r"lease_seconds \(HOOKLINE_LEASE_SECONDS\): must be longer than request_timeout"),
        ("max_concurrency = 0", {}, r"max_concurrency \(HOOKLINE_MAX_CONCURRENCY\): must be at least 1"),
        ("max_in_flight_per_webhook = 0", {},
         r"max_in_flight_per_webhook \(HOOKLINE_MAX_IN_FLIGHT_PER_WEBHOOK\): must be at least 1"),
        ("max_payload_bytes = 1000", {}, r"max_payload_bytes \(HOOKLINE_MAX_PAYLOAD_BYTES\): must be at least 1024"),
        ('database_url = "mysql://db/hookline"', {}, r"database_url \(HOOKLINE_DATABASE_URL\): must start with sqlite:///"),
        ("", {"HOOKLINE_LOG_LEVEL": "verbose"}, r"log_level \(HOOKLINE_LOG_LEVEL\): must be one of debug, info"),
        ('template_cpu_limit = "0s"', {}, r"template_cpu_limit \(HOOKLINE_TEMPLATE_CPU_LIMIT\): must be between 1ms and 10s"),
        ("", {"HOOKLINE_TEMPLATE_CPU_LIMIT": "1m"}, r"template_cpu_limit \(HOOKLINE_TEMPLATE_CPU_LIMIT\): must be between"),
        ("template_memory_limit = 1048576", {},
         r"template_memory_limit \(HOOKLINE_TEMPLATE_MEMORY_LIMIT\): must be at least 16777216"),
    ],
)
def test_invalid_values_name_the_key(config_file, toml, environ, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(config_file(toml), environ)


def test_event_types_are_read(config_file):
    path = config_file(
        """
[[event_types]]
name = "order.created"
description = "A customer placed an order."
example = { id = "ord_1001", total = 4990 }

[[event_types]]
name = "user.signed_up"
"""
    )
    assert load_settings(path, {}).event_types == (
        EventTypeSeed("order.created", "A customer placed an order.", {"id": "ord_1001", "total": 4990}),
        EventTypeSeed("user.signed_up", "", None),
    )


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('event_types = "order.created"', r"event_types: expected an array of tables \(\[\[event_types\]\]\)"),
        ('[[event_types]]\ndescription = "no name"', r"event_types\[0\]\.name: required string"),
        ('[[event_types]]\nname = "a"\n[[event_types]]\nname = 7', r"event_types\[1\]\.name: required string"),
        ('[[event_types]]\nname = "a"\ncolour = "red"', r"event_types\[0\]: unknown key 'colour'"),
    ],
)
def test_invalid_event_types(config_file, toml, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(config_file(toml), {})


@pytest.mark.parametrize(
    ("networks", "expected"),
    [
        ((), ("127.0.0.0/8", "::1/128")),
        (("10.0.0.0/8",), ("10.0.0.0/8", "127.0.0.0/8", "::1/128")),
        (("127.0.0.0/8", "10.0.0.0/8"), ("127.0.0.0/8", "10.0.0.0/8", "::1/128")),
    ],
)
def test_for_dev_allows_http_and_loopback(networks, expected):
    settings = Settings(allow_private_networks=networks).for_dev()
    assert (settings.dev, settings.allow_http, settings.allow_private_networks) == (True, True, expected)


def test_replace_validates():
    assert Settings().replace(port=9000).port == 9000
    with pytest.raises(ConfigError, match=r"port \(HOOKLINE_PORT\)"):
        Settings().replace(port=0)


def test_contract_defaults_are_read_from_the_file_and_checked(config_file):
    settings = load_settings(config_file(
        'signatures = [{ scheme = "hmac", header = "X-Signature", value = "sha256={digest}" }]\n'
        'envelope = { event = "{event.type}", data = "{event.data}" }\n'
        'auto_disable_rule = "attempts"\n'), environ={})
    assert json.loads(settings.signatures) == [{"scheme": "hmac", "header": "X-Signature", "value": "sha256={digest}"}]
    assert json.loads(settings.envelope) == {"event": "{event.type}", "data": "{event.data}"}
    assert settings.auto_disable_rule == "attempts"


@pytest.mark.parametrize(("text", "environ", "message"), [
    ('signatures = [{ scheme = "hmac", header = "X-Signature", value = "sha256=" }]', {},
     "signatures: signatures[0].value: must hold {digest} exactly once"),
    ('envelope = { when = "{timestamp}" }', {}, "envelope: envelope.when: has an unknown placeholder {timestamp}"),
    ("", {"HOOKLINE_SIGNATURES": "[{"}, "HOOKLINE_SIGNATURES: not valid JSON"),
    ("", {"HOOKLINE_ENVELOPE": "[1]"}, "HOOKLINE_ENVELOPE: envelope: must be a JSON object"),
    ('auto_disable_rule = "sometimes"', {}, "auto_disable_rule (HOOKLINE_AUTO_DISABLE_RULE): must be one of"),
])
def test_bad_contract_defaults_stop_the_start_naming_the_key(config_file, text, environ, message):
    with pytest.raises(ConfigError) as refused:
        load_settings(config_file(text), environ=environ)
    assert message in str(refused.value)
