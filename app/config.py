"""Settings: read `config.toml` and `HOOKLINE_*` environment variables once, at start.

Every key in the file can be overridden by an environment variable of the same name in
upper case with a `HOOKLINE_` prefix (`port` -> `HOOKLINE_PORT`), so containers need no
file. Values are checked here, before anything starts, and a bad one stops the process
with the offending key named: a typo must never become a silently different default.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import json
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from app.rules import contracts, durations, jsontext, placeholders
from app.rules.crontab import crontab_trigger
from app.rules.errors import InvalidInput
from app.rules.mail import is_address, parse_smtp_url
from app.rules.ratelimit import Rate

DEFAULT_CONFIG_PATH = "config.toml"

_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.*-]+(:\d+)?$")
_PUBLIC_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d+)?(/[^\s?#]*)?$")


class ConfigError(Exception):
    """A setting is missing, unknown or malformed; the message names the key."""


@dataclass(frozen=True)
class EventTypeSeed:
    name: str
    description: str = ""
    example: object = None


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///data/hookline.db"
    # PostgreSQL behind a pooler in transaction mode (PgBouncer): a URL that reaches the
    # server itself, for what needs a session of its own (LISTEN, the retention lock).
    # Empty: database_url is direct (docs/deploy.md).
    database_direct_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    admin_key: str = ""
    # Seconds to wait before each attempt: the first entry is the first attempt.
    retry_schedule: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    retry_jitter: float = 0.1
    retry_after_cap: float = 3600
    request_timeout: float = 10
    # Open requests cost little (a coroutine and a socket each): 256 leaves room for slow
    # receivers next to fast ones. bench/noisy.py, 20 of 200 webhooks hanging or failing:
    # healthy throughput 0.98x of a run without them at 256/8, 0.27x at the former 50/5.
    max_concurrency: int = 256
    # Sends in flight at once to one webhook, unless it sets its own max_in_flight. A 32nd
    # of max_concurrency: 20 receivers that hang until timeout hold at most 160 of 256 slots.
    max_in_flight_per_webhook: int = 8
    sweep_interval: float = 1
    # A custom payload template renders in a separate process (app/delivery/render_pool.py), stopped
    # after this much CPU time, and with this much memory beyond the process's own. The
    # default templates render in ~0.1-0.4 ms, so 50 ms leaves a custom one a lot of room.
    template_cpu_limit: float = 0.05
    template_memory_limit: int = 64 * 1024 * 1024
    sweep_batch_size: int = 100
    lease_seconds: float = 60
    max_payload_bytes: int = 256 * 1024
    idempotency_ttl: float = 86400
    auto_register_event_types: bool = False
    allow_http: bool = False
    allow_private_networks: tuple[str, ...] = ()
    # Fernet keys for webhook secrets at rest: the first encrypts, all decrypt (rotation).
    # Empty: a key file, created on first start.
    encryption_keys: tuple[str, ...] = ()
    encryption_key_file: str = "data/hookline.key"
    # Dashboard: mark the session cookies Secure (set this when Hookline is served over https).
    secure_cookies: bool = False
    # A dashboard session ends after this long without a request, and this long after
    # sign-in whatever happens (portal sessions: portal_session_ttl).
    session_idle_timeout: float = 12 * 3600
    session_max_age: float = 14 * 86400
    # Sites allowed to show the dashboard in an iframe (CSP frame-ancestors), e.g. the
    # customer-facing app that hands out portal links.
    portal_frame_ancestors: tuple[str, ...] = ()
    portal_link_ttl: float = 600
    portal_session_ttl: float = 3600
    # After a secret rotation the old secret keeps signing (next to the new one) this long.
    secret_rotation_grace: float = 86400
    # A webhook is disabled after this many deliveries in a row failed for good (0: never)
    # and nothing succeeded for auto_disable_period.
    auto_disable_failures: int = 5
    auto_disable_period: float = 86400
    # "deliveries": the rule above; "attempts": disabled after auto_disable_failures failed
    # attempts in a row, retries included; "never". Tenants and webhooks may set their own.
    auto_disable_rule: str = "deliveries"
    # The delivery contract of every tenant that sets none (docs/contracts.md), as JSON text:
    # the signatures list and the envelope template. Empty: Hookline's own.
    signatures: str = ""
    envelope: str = ""
    # Default headers of every tenant's webhooks, as JSON text (a null drops one of Hookline's).
    headers: str = ""
    # Retention: a cron job (crontab syntax, UTC) purges attempts and succeeded deliveries
    # older than retention_succeeded, failed ones older than retention_failed.
    retention_cron: str = "17 3 * * *"
    retention_succeeded: float = 30 * 86400
    retention_failed: float = 90 * 86400
    retention_batch_size: int = 1000
    # Rate limits, "N/period" (a burst of N, refilled at N per period; "" or 0: off), counted
    # in each process's memory. Emits per API key and per client IP; failed sign-ins per
    # client IP and user name, and per client IP.
    emit_rate_limit: str = "20000/1s"
    emit_ip_rate_limit: str = "20000/1s"
    # Hookline's own log lines: "debug" adds one per successful attempt.
    log_level: str = "info"
    login_rate_limit: str = "10/15m"
    login_ip_rate_limit: str = "50/15m"
    # Requests per request-inspector capture URL (/inspect/<token>), which take no key.
    inspector_rate_limit: str = "60/1m"
    # GET /metrics (Prometheus) needs `Authorization: Bearer <metrics_token>`; empty: off.
    metrics_token: str = ""
    # OpenTelemetry: spans for emit, claim and attempt go to this OTLP/HTTP traces URL, e.g.
    # "http://127.0.0.1:4318/v1/traces" (needs `pip install 'hookline[otel]'`); empty: off.
    otlp_endpoint: str = ""
    # Mail to each tenant's owners when a webhook starts failing, is disabled or recovers
    # (docs/operations.md). Empty smtp_url: no mail. smtp_ca_file: a CA bundle (PEM) to trust
    # instead of the system's, for a server with a private or self-signed certificate.
    smtp_url: str = ""
    smtp_ca_file: str = ""
    mail_from: str = ""
    # "Starts failing": this many deliveries in a row ended failed.
    notify_failing_after: int = 5
    # The dashboard's address as its users reach it ("https://hooks.example.com"), for the
    # links in mails; empty: mails name the page without a link.
    public_url: str = ""
    event_types: tuple[EventTypeSeed, ...] = ()
    dev: bool = False

    def for_dev(self) -> Settings:
        """Local trials: plain http and loopback receivers are allowed."""
        loopback = tuple(dict.fromkeys(self.allow_private_networks + ("127.0.0.0/8", "::1/128")))
        return dataclasses.replace(self, dev=True, allow_http=True, allow_private_networks=loopback)

    @property
    def direct_database_url(self) -> str:
        """The connection for session state: LISTEN and session advisory locks."""
        return self.database_direct_url or self.database_url

    def replace(self, **changes: object) -> Settings:
        return _validated(dataclasses.replace(self, **changes))


_FIELDS = {f.name: f for f in dataclasses.fields(Settings) if f.name not in ("event_types", "dev")}


def load_settings(path: str | os.PathLike | None = None, environ: dict | None = None) -> Settings:
    """Build Settings from the TOML file (if present) and the environment."""
    environ = os.environ if environ is None else environ
    explicit = path or environ.get("HOOKLINE_CONFIG")
    config_path = Path(explicit or DEFAULT_CONFIG_PATH)
    raw: dict = {}
    if config_path.exists():
        try:
            raw = tomllib.loads(config_path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_path}: not valid TOML ({exc})") from None
    elif explicit:
        raise ConfigError(f"config file {config_path} does not exist")

    values: dict = {}
    for key, value in raw.items():
        if key == "event_types":
            values["event_types"] = _parse_event_types(value)
        elif key in _FIELDS:
            values[key] = _coerce(key, value)
        else:
            raise ConfigError(f"{config_path}: unknown key {key!r}")
    for key in _FIELDS:
        env_name = "HOOKLINE_" + key.upper()
        if env_name in environ:
            values[key] = _coerce(env_name, _parse_env(key, environ[env_name]))
    return _validated(Settings(**values))


def _parse_env(key: str, text: str) -> object:
    kind = _FIELDS[key].type
    if kind.startswith("tuple"):
        text = text.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                raise ConfigError(f"HOOKLINE_{key.upper()}: not a valid JSON list") from None
        return [part.strip() for part in text.split(",") if part.strip()]
    if kind == "bool":
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"HOOKLINE_{key.upper()}: expected true or false, got {text!r}")
    return text


def _coerce(name: str, value: object) -> object:
    key = name.removeprefix("HOOKLINE_").lower()
    kind = _FIELDS[key].type
    if key in CONTRACT_KEYS:
        return _contract_part(name, key, value)
    if kind == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{name}: expected a string")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: expected true or false")
        return value
    if kind == "int":
        try:
            if isinstance(value, bool) or isinstance(value, float):
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: expected an integer, got {value!r}") from None
    if kind == "float":
        return parse_duration(name, value)
    if key == "retry_schedule":
        if not isinstance(value, list) or not value:
            raise ConfigError(f"{name}: expected a non-empty list of durations")
        return tuple(parse_duration(name, item) for item in value)
    if key == "portal_frame_ancestors":
        if not isinstance(value, list) or not all(isinstance(item, str) and _ORIGIN.match(item) for item in value):
            raise ConfigError(f"{name}: expected a list of origins such as \"https://app.example.com\"")
        return tuple(value)
    if key == "encryption_keys":
        if not isinstance(value, list) or not all(isinstance(item, str) and _is_fernet_key(item) for item in value):
            raise ConfigError(f"{name}: expected a list of Fernet keys (32 url-safe base64 bytes each)")
        return tuple(value)
    if key == "allow_private_networks":
        if not isinstance(value, list):
            raise ConfigError(f"{name}: expected a list of CIDR networks")
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except (TypeError, ValueError):
                raise ConfigError(f"{name}: {item!r} is not a CIDR network") from None
        return tuple(value)
    raise AssertionError(f"no coercion for {key}")


CONTRACT_KEYS = {"signatures": contracts.parse_signatures, "envelope": placeholders.parse_envelope,
                 "headers": contracts.parse_default_headers}


def _contract_part(name: str, key: str, value: object) -> str:
    """A TOML value (or JSON text, from the environment) of a contract key, checked as the
    API checks it, as canonical JSON text."""
    if isinstance(value, str):
        if not value.strip():
            return ""
        try:
            value = jsontext.loads(value)
        except jsontext.JSONTextError as exc:
            raise ConfigError(f"{name}: not valid JSON ({exc.reason})") from None
    try:
        CONTRACT_KEYS[key](value)
        return jsontext.dumps(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: not JSON ({exc})") from None
    except InvalidInput as exc:
        raise ConfigError(f"{name}: {exc.message}") from None


def _is_fernet_key(text: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(text.encode())) == 32
    except ValueError:
        return False


def parse_duration(name: str, value: object) -> float:
    """Seconds from a number or a string such as "500ms", "5s", "5m", "2h", "1d"."""
    try:
        return durations.parse(value)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


LOG_LEVELS = ("debug", "info", "warning", "error")
RATE_LIMITS = ("emit_rate_limit", "emit_ip_rate_limit", "login_rate_limit", "login_ip_rate_limit",
               "inspector_rate_limit")


def parse_rate(name: str, text: str) -> Rate | None:
    """A rate limit setting as a Rate (None: no limit)."""
    try:
        return Rate.parse(text, lambda period: parse_duration(name, period))
    except ValueError as exc:
        raise ConfigError(f"{name} (HOOKLINE_{name.upper()}): {exc}") from None


def _parse_event_types(value: object) -> tuple[EventTypeSeed, ...]:
    if not isinstance(value, list):
        raise ConfigError("event_types: expected an array of tables ([[event_types]])")
    seeds = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ConfigError(f"event_types[{index}].name: required string")
        unknown = set(item) - {"name", "description", "example"}
        if unknown:
            raise ConfigError(f"event_types[{index}]: unknown key {sorted(unknown)[0]!r}")
        seeds.append(EventTypeSeed(item["name"], item.get("description", ""), item.get("example")))
    return tuple(seeds)


def _validated(settings: Settings) -> Settings:
    checks = [
        ("port", 0 < settings.port < 65536, "must be between 1 and 65535"),
        ("max_concurrency", settings.max_concurrency >= 1, "must be at least 1"),
        ("max_in_flight_per_webhook", settings.max_in_flight_per_webhook >= 1, "must be at least 1"),
        ("sweep_batch_size", settings.sweep_batch_size >= 1, "must be at least 1"),
        ("auto_disable_failures", settings.auto_disable_failures >= 0, "must be 0 (never) or more"),
        ("retention_batch_size", settings.retention_batch_size >= 1, "must be at least 1"),
        ("retention_failed", settings.retention_failed >= settings.retention_succeeded,
         "must be at least retention_succeeded: failed deliveries are kept longer"),
        ("max_payload_bytes", settings.max_payload_bytes >= 1024, "must be at least 1024"),
        ("request_timeout", settings.request_timeout > 0, "must be greater than 0"),
        ("sweep_interval", settings.sweep_interval > 0, "must be greater than 0"),
        ("template_cpu_limit", 0.001 <= settings.template_cpu_limit <= 10, "must be between 1ms and 10s"),
        ("template_memory_limit", settings.template_memory_limit >= 16 * 1024 * 1024,
         "must be at least 16777216 (16 MiB)"),
        ("session_idle_timeout", settings.session_idle_timeout >= 60, "must be at least 1m"),
        ("session_max_age", settings.session_max_age >= 60, "must be at least 1m"),
        ("retry_jitter", 0 <= settings.retry_jitter < 1, "must be between 0 and 1"),
        ("lease_seconds", settings.lease_seconds > settings.request_timeout,
         "must be longer than request_timeout, or a slow send would be claimed twice"),
        ("admin_key", not settings.admin_key or len(settings.admin_key) >= 24,
         "must be at least 24 characters"),
        ("database_url", settings.database_url.startswith(("sqlite:///", "postgresql://", "postgres://")),
         "must start with sqlite:/// or postgresql://"),
        ("database_direct_url", not settings.database_direct_url or (
            settings.database_direct_url.startswith(("postgresql://", "postgres://"))
            and settings.database_url.startswith(("postgresql://", "postgres://"))),
         "must start with postgresql://, and is for a PostgreSQL database_url behind a pooler only"),
        ("otlp_endpoint", not settings.otlp_endpoint or settings.otlp_endpoint.startswith(("http://", "https://")),
         "must be an http:// or https:// URL such as http://127.0.0.1:4318/v1/traces"),
        ("log_level", settings.log_level.lower() in LOG_LEVELS, f"must be one of {', '.join(LOG_LEVELS)}"),
        ("notify_failing_after", settings.notify_failing_after >= 1, "must be at least 1"),
        ("mail_from", not settings.smtp_url or is_address(settings.mail_from),
         "must be an address such as hookline@example.com when smtp_url is set"),
        ("public_url", not settings.public_url or _PUBLIC_URL.match(settings.public_url),
         "must be an http(s) URL such as https://hooks.example.com"),
        ("auto_disable_rule", settings.auto_disable_rule in contracts.AUTO_DISABLE_RULES,
         f"must be one of {', '.join(contracts.AUTO_DISABLE_RULES)}"),
    ]
    for key, ok, message in checks:
        if not ok:
            raise ConfigError(f"{key} (HOOKLINE_{key.upper()}): {message}")
    try:
        crontab_trigger(settings.retention_cron)
    except ValueError as exc:
        raise ConfigError(
            f"retention_cron (HOOKLINE_RETENTION_CRON): {settings.retention_cron!r} is not a crontab schedule "
            f"(five fields: minute hour day month weekday, e.g. \"17 3 * * *\"): {exc}"
        ) from None
    for key in RATE_LIMITS:
        parse_rate(key, getattr(settings, key))
    if settings.smtp_url:
        try:
            parse_smtp_url(settings.smtp_url)
        except ValueError as exc:
            raise ConfigError(f"smtp_url (HOOKLINE_SMTP_URL): {exc}") from None
    for key in CONTRACT_KEYS:
        _contract_part(f"{key} (HOOKLINE_{key.upper()})", key, getattr(settings, key))
    return settings
