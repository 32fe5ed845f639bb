"""Dashboard sessions the server can end: signed with a key the database does not hold,
refused after sign-out, a password change or a removed user, ended when idle or old, and
a sign-in limit that spaces or case in the name do not get around."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from bs4 import BeautifulSoup
from cryptography.fernet import Fernet
from itsdangerous import TimestampSigner, URLSafeSerializer

from app.services.server_secrets import signing_keys
from app.services.sessions import touch_interval
from app.services.users import change_password, create_user, login_limit_key, remove_user
from app.storage.db import database
from app.storage.models import BrowserSession, User, Webhook
from tests.helpers import ADMIN, ADMIN_PASSWORD, ADMIN_USER, ENCRYPTION_KEY, serving, sign_in

DASHBOARD_COOKIE = "hookline_session"
SALT = "hookline-dashboard-session"


def browser(api: httpx.Client, cookies: dict | None = None) -> httpx.Client:
    """Another browser, or one holding a copy of some cookies."""
    return httpx.Client(base_url=api.base_url, cookies=cookies or {})


def signed_in(client: httpx.Client) -> bool:
    response = client.get("/webhooks")
    assert response.status_code in (200, 303), response.text
    return response.status_code == 200


def login(client: httpx.Client, name: str, password: str) -> httpx.Response:
    page = BeautifulSoup(client.get("/login").text, "html.parser")
    token = page.select_one("input[name=csrf_token]")["value"]
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token})


def cookie_sid(client: httpx.Client) -> str:
    """The session token inside the real cookie, read with the real key."""
    return URLSafeSerializer(signing_keys("session"), salt=SALT).loads(client.cookies[DASHBOARD_COOKIE])["sid"]


def database_texts(settings) -> set[str]:
    """Every text value stored anywhere in the SQLite file: what a stolen backup holds."""
    path = settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as raw:
        tables = [name for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        texts = set()
        for table in tables:
            for row in raw.execute(f'SELECT * FROM "{table}"'):
                texts.update(value for value in row if isinstance(value, str))
    raw.close()
    return texts


def test_a_copy_of_the_database_cannot_sign_an_admin_session(dashboard, api, settings):
    stored = database_texts(settings)
    assert "server_secret" not in database.get_tables(), "no signing key is kept in the database"
    session_rows = [row.id for row in BrowserSession.select()]
    assert len(session_rows) == 1 and cookie_sid(dashboard.client) not in stored, "the database has the hash only"

    candidates = [text for text in stored if len(text) >= 16]
    forged = []
    for secret in candidates:
        for sid in session_rows:
            forged.append(URLSafeSerializer(secret, salt=SALT).dumps({"sid": sid}))
        # The cookie format the dashboard used before (Starlette's SessionMiddleware).
        legacy = base64.b64encode(json.dumps({"user_id": 1, "tenant_id": 1}).encode())
        forged.append(TimestampSigner(secret).sign(legacy).decode())
    assert len(forged) > 20
    for value in forged:
        with browser(api, {DASHBOARD_COOKIE: value}) as attacker:
            assert not signed_in(attacker), value

    # The forger's format is right: the real key with the real token does sign in, and the
    # real key with what the database holds (the token's hash) still does not.
    real_key = URLSafeSerializer(signing_keys("session"), salt=SALT)
    with browser(api, {DASHBOARD_COOKIE: real_key.dumps({"sid": cookie_sid(dashboard.client)})}) as control:
        assert signed_in(control)
    with browser(api, {DASHBOARD_COOKIE: real_key.dumps({"sid": session_rows[0]})}) as attacker:
        assert not signed_in(attacker)


def test_an_unreadable_cookie_is_no_session_and_is_deleted(dashboard, api):
    not_an_object = URLSafeSerializer(signing_keys("session"), salt=SALT).dumps(["sid"])
    for value in ("garbage", "a.b", "eyJzaWQiOiJ4In0.forged-signature", not_an_object):
        with browser(api, {DASHBOARD_COOKIE: value}) as client:
            response = client.get("/webhooks")
            assert (response.status_code, response.headers["location"]) == (303, "/login?next=/webhooks"), value
            assert response.headers["set-cookie"].startswith(f'{DASHBOARD_COOKIE}=""; Path=/; Max-Age=0'), value


def test_a_cookie_copied_before_sign_out_is_refused_after_it(dashboard, api):
    token = dashboard.csrf
    with browser(api, dict(dashboard.client.cookies)) as copy:
        assert signed_in(copy)
        assert dashboard.post("/logout").headers["location"] == "/login"
        assert not signed_in(copy)
        # Nor can the copy change anything with the form token it saw before.
        refused = copy.post("/webhooks", data={"name": "x", "url": "http://127.0.0.1:9/h", "events": "order.created",
                                               "csrf_token": token})
        assert refused.status_code in (303, 403)
    assert Webhook.select().count() == 0
    assert BrowserSession.select().count() == 0


def test_a_password_change_ends_every_session_of_the_user(dashboard, api, clock):
    create_user("bob", "bob password 123", User.get().tenant, clock())
    with browser(api) as laptop, browser(api) as phone, browser(api) as bob:
        sign_in(laptop)
        sign_in(phone)
        sign_in(bob, "bob", "bob password 123")
        with browser(api, dict(laptop.cookies)) as copy:
            change_password(ADMIN_USER, "a brand new password")
            assert not any(signed_in(c) for c in (dashboard.client, laptop, phone, copy))
        assert signed_in(bob), "other users stay signed in"
        assert login(laptop, ADMIN_USER, ADMIN_PASSWORD).status_code == 422
        assert login(laptop, ADMIN_USER, "a brand new password").status_code == 303


def test_removing_a_user_ends_their_sessions(dashboard, api, clock):
    create_user("bob", "bob password 123", User.get().tenant, clock())
    with browser(api) as bob:
        sign_in(bob, "bob", "bob password 123")
        with browser(api, dict(bob.cookies)) as copy:
            remove_user(" bob ")
            assert not signed_in(bob) and not signed_in(copy)
    assert signed_in(dashboard.client)


@pytest.mark.parametrize(
    "accounts, removed, message",
    [
        ([("ada", True)], "ada", "the only account"),
        ([("ada", True), ("bob", False)], "ada", "the last admin"),
        ([("ada", True)], "eve", "no user named 'eve'"),
    ],
)
def test_the_last_admin_and_unknown_users_cannot_be_removed(db, clock, accounts, removed, message):
    from app.rules.errors import ServiceError
    from app.storage.models import Tenant

    for name, is_admin in accounts:
        create_user(name, "a long password", Tenant.get(), clock(), is_admin=is_admin)
    with pytest.raises(ServiceError, match=message):
        remove_user(removed)
    assert User.select().count() == len(accounts)


def test_cli_set_password_and_remove_user_sign_people_out(dashboard, api, settings, clock):
    create_user("bob", "bob password 123", User.get().tenant, clock())
    env = {
        **{name: os.environ[name] for name in ("PATH", "PYTHONPATH") if name in os.environ},
        "HOOKLINE_CONFIG": str(Path(__file__).parents[2] / "config.toml"),
        "HOOKLINE_DATABASE_URL": settings.database_url,
        "HOOKLINE_ENCRYPTION_KEYS": ENCRYPTION_KEY,
    }
    hookline = str(Path(sys.executable).parent / "hookline")

    def run(*args: str, password: str | None = None) -> subprocess.CompletedProcess:
        extra = {"HOOKLINE_PASSWORD": password} if password else {}
        return subprocess.run([hookline, *args], env={**env, **extra}, capture_output=True, text=True, timeout=60)

    with browser(api) as bob:
        sign_in(bob, "bob", "bob password 123")
        changed = run("set-password", ADMIN_USER, password="changed from the shell")
        assert changed.returncode == 0, changed.stderr
        assert not signed_in(dashboard.client) and signed_in(bob)
        removed = run("remove-user", "bob")
        assert removed.returncode == 0, removed.stderr
        assert not signed_in(bob)
    last = run("remove-user", ADMIN_USER)
    assert last.returncode == 2 and "the only account" in last.stderr
    short = run("set-password", ADMIN_USER, password="short")
    assert short.returncode == 2 and "password: must be at least 10 characters" in short.stderr


@pytest.fixture
def short_sessions(settings, clock):
    """The app with a 10-minute idle limit and a 1-hour absolute one, and the admin `ada`."""
    from app.services.users import create_first_admin

    with serving(settings.replace(session_idle_timeout=600, session_max_age=3600), clock, run_sender=False) as client:
        create_first_admin(ADMIN_USER, ADMIN_PASSWORD, clock())
        yield client


def test_an_idle_session_ends_after_the_idle_timeout(short_sessions, clock):
    sign_in(short_sessions)
    for _ in range(5):  # 45 minutes of use, a request every 9 minutes: never idle for 10
        clock.advance(9 * 60)
        assert signed_in(short_sessions)
    clock.advance(10 * 60)
    assert not signed_in(short_sessions)
    assert BrowserSession.select().count() == 0, "the ended session is deleted"


def test_a_session_in_use_ends_at_its_absolute_lifetime(short_sessions, clock):
    sign_in(short_sessions)
    for _ in range(6):
        clock.advance(9 * 60)
        assert signed_in(short_sessions)
    clock.advance(9 * 60)  # 63 minutes after sign-in
    assert not signed_in(short_sessions)


def test_last_seen_is_written_at_most_once_per_interval(short_sessions, clock):
    sign_in(short_sessions)
    seen = set()
    for _ in range(30):  # a poll every 5 s for 150 s
        clock.advance(5)
        assert signed_in(short_sessions)
        seen.add(BrowserSession.get().last_seen_at)
    interval = touch_interval(600)
    assert interval == 60 and len(seen) == 3, sorted(seen)


def test_sessions_that_ended_are_deleted_when_someone_signs_in(short_sessions, clock):
    sign_in(short_sessions)
    with browser(short_sessions) as other:
        sign_in(other)
        assert BrowserSession.select().count() == 2
        clock.advance(3601)
        with browser(short_sessions) as later:
            sign_in(later)
    assert BrowserSession.select().count() == 1


def test_sessions_signed_with_an_old_encryption_key_work_until_it_is_removed(settings, clock):
    from app.services.users import create_first_admin

    new_key = Fernet.generate_key().decode()
    with serving(settings, clock, run_sender=False) as api:
        create_first_admin(ADMIN_USER, ADMIN_PASSWORD, clock())
        cookies = dict(sign_in(api).client.cookies)
    with serving(settings.replace(encryption_keys=(new_key, ENCRYPTION_KEY)), clock, run_sender=False) as api:
        with browser(api, cookies) as rotated:
            assert signed_in(rotated), "the old key still verifies while it is listed"
    with serving(settings.replace(encryption_keys=(new_key,)), clock, run_sender=False) as api:
        with browser(api, cookies) as removed:
            response = removed.get("/webhooks")
            assert (response.status_code, response.headers["location"]) == (303, "/login?next=/webhooks")
            assert "Max-Age=0" in response.headers["set-cookie"], "the dead cookie is cleared"
            assert login(removed, ADMIN_USER, ADMIN_PASSWORD).status_code == 303


@pytest.mark.parametrize(
    "name, key",
    [
        ("admin", "admin"),
        (" admin", "admin"),
        ("ADMIN ", "admin"),
        ("\tAdmin\u00a0", "admin"),
        ("\uff41\uff44\uff4d\uff49\uff4e", "admin"),  # fullwidth letters (NFKC)
        ("Stra\u00dfe", "strasse"),
        ("ad min", "ad min"),
    ],
)
def test_login_limit_key(name, key):
    assert login_limit_key(name) == key


def test_padded_or_recased_names_share_the_sign_in_limit(settings, clock):
    from app.services.users import create_first_admin

    with serving(settings.replace(login_rate_limit="3/15m"), clock, run_sender=False) as api:
        create_first_admin("admin", ADMIN_PASSWORD, clock())
        statuses = [login(api, name, "wrong password").status_code for name in ("admin", " admin", "ADMIN ")]
        assert statuses == [422, 422, 422]
        limited = login(api, " admin", ADMIN_PASSWORD)
        assert limited.status_code == 429 and "Too many failed sign-ins" in limited.text
        assert login(api, "someone else", "wrong password").status_code == 422, "other names keep their own budget"
        clock.advance(15 * 60)
        assert login(api, " admin ", ADMIN_PASSWORD).status_code == 303, "a padded name still signs in"


@pytest.mark.parametrize(
    "created, last_seen, now, ended",
    [
        (0, 0, 599, False),
        (0, 0, 600, True),  # idle for exactly the timeout
        (0, 3000, 3599, False),
        (0, 3500, 3600, True),  # the absolute lifetime, however recently used
        (0, 500, 100, False),  # a clock turned back does not end it
    ],
)
def test_has_ended(created, last_seen, now, ended):
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    at = lambda seconds: start + timedelta(seconds=seconds)  # noqa: E731
    session = BrowserSession(created_at=at(created), last_seen_at=at(last_seen), expires_at=at(created + 3600))
    assert session.has_ended(at(now), idle_timeout=600) is ended


@pytest.mark.parametrize("idle, interval", [(43200, 60), (600, 60), (120, 12), (60, 6)])
def test_touch_interval(idle, interval):
    assert touch_interval(idle) == interval


def test_the_dashboard_cookie_is_lax_even_when_the_portal_is_embeddable(settings, clock):
    from app.services.users import create_first_admin

    embedded = settings.replace(portal_frame_ancestors=("https://app.example.com",))
    with serving(embedded, clock, run_sender=False) as api:
        create_first_admin(ADMIN_USER, ADMIN_PASSWORD, clock())
        cookie = login(api, ADMIN_USER, ADMIN_PASSWORD).headers["set-cookie"]
        assert "Cookie" in api.get("/webhooks").headers["vary"], "shared caches must not mix sessions' pages"
        assert "vary" not in api.get("/api/v1/webhooks", headers=ADMIN).headers
    assert cookie.startswith(f"{DASHBOARD_COOKIE}=") and "SameSite=Lax" in cookie and "HttpOnly" in cookie
    assert "Partitioned" not in cookie and "Max-Age=1209600" in cookie


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"HOOKLINE_SESSION_IDLE_TIMEOUT": "30s"},
         r"session_idle_timeout \(HOOKLINE_SESSION_IDLE_TIMEOUT\): must be at least 1m"),
        ({"HOOKLINE_SESSION_MAX_AGE": "0"}, r"session_max_age \(HOOKLINE_SESSION_MAX_AGE\): must be at least 1m"),
        ({"HOOKLINE_SESSION_MAX_AGE": "soon"}, "HOOKLINE_SESSION_MAX_AGE: 'soon' is not a duration"),
    ],
)
def test_session_lifetimes_are_checked_at_start(tmp_path, monkeypatch, environ, message):
    from app.config import ConfigError, load_settings

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=environ)


def test_session_lifetimes_are_read_from_the_file(tmp_path):
    from app.config import load_settings

    path = tmp_path / "config.toml"
    path.write_text('session_idle_timeout = "30m"\nsession_max_age = "7d"\n')
    settings = load_settings(path, environ={})
    assert (settings.session_idle_timeout, settings.session_max_age) == (1800, 7 * 86400)


def test_signing_keys_are_derived_per_purpose_and_per_encryption_key():
    from app.rules.secretbox import SecretBox

    other = Fernet.generate_key()
    box = SecretBox([ENCRYPTION_KEY.encode(), other])
    session, portal = box.derive("session"), box.derive("portal link")
    assert len(session) == len(portal) == 2 and all(len(key) == 32 for key in session + portal)
    assert len(set(session + portal)) == 4, "a key per purpose and per encryption key"
    assert session == SecretBox([ENCRYPTION_KEY.encode(), other]).derive("session"), "every process derives the same"
    assert session[0] == SecretBox([ENCRYPTION_KEY.encode()]).derive("session")[0]
    assert base64.urlsafe_b64decode(ENCRYPTION_KEY) not in session
