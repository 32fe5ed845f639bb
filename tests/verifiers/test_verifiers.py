"""The verifiers of docs/contracts.md (docs/verifiers/<language>), run the way the doc says
to run them, in Python, Node.js, PHP, Java and Go, on requests a real receiver on 127.0.0.1
captured from real deliveries of the doc's own contract examples (each sent to
`POST /api/v1/webhooks` as the doc writes it, only `url` pointed at the receiver). Every
verifier must accept the request and refuse it with one byte of the body changed and with
another key: a verifier that says ok to everything fails here.

Java and Go are compiled once per session. A language whose tools are missing skips, saying
how to get them (scripts/install-verifiers.sh, which `make test` runs first).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.config import EventTypeSeed, Settings
from app.delivery.signing import generate_secret, generate_signing_key, public_key
from app.rules.clock import system_clock
from tests.helpers import ADMIN, ADMIN_KEY, ENCRYPTION_KEY, Received, Receiver, serving

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "contracts.md"
VERIFIERS = ROOT / "docs" / "verifiers"
INSTALL = "run scripts/install-verifiers.sh (make test does) to install Debian's php-cli and golang-go"

# How each contract example of the doc is verified: a scheme of the verifiers' command line
# and the headers it reads.
CHECKS = [
    ("ar-code", "hmac-hex", ("X-ARCode-Signature",)),
    ("chat-app", "hmac-prefixed", ("X-Emergence-Signature",)),
    ("ops-center", "hmac-hex", ("X-Webhook-Signature",)),
    ("audit-trail", "hmac-timestamped", ("X-Audit-Trail-Signature", "X-Audit-Trail-Timestamp")),
    ("e-commerce", "hmac-prefixed", ("X-Webhook-Signature",)),
    ("stripe-style", "stripe-style", ("Stripe-Signature",)),
    ("ed25519", "ed25519", ()),
    ("hookline-default", "standard", ()),
    ("hookline-default", "hmac-timestamped", ("X-Webhook-Signature", "X-Webhook-Timestamp")),
]
# Rotated after the first events, then sent another: both keys must verify it.
ROTATED = ("stripe-style", "ed25519", "hookline-default")
LANGUAGES = ("python", "node", "php", "java", "go")

ORDER = {"id": "ord_1001", "total": 4990, "currency": "EUR"}
SIGNUP = {"user_id": "usr_42", "email": "ada@example.com"}
# JSON that JSON.parse + JSON.stringify does not give back as it was sent (the producer's
# digits are kept): each is the `value` of an order.paid event's data.
AWKWARD = {"float": "10.0", "exponent": "1e3", "big-integer": "12345678901234567890",
           "integer-like-key": '{"b": 1, "2": 2}'}

def doc_blocks(marker: str) -> dict[str, str]:
    """The fenced code blocks of docs/contracts.md that follow `<!-- marker: name -->`."""
    pattern = re.compile(rf"<!-- {marker}: (\S+) -->\n```\w*\n(.*?)```\n", re.S)
    return {name: code for name, code in pattern.findall(DOC.read_text())}


# -- the doc and the files -------------------------------------------------------------


def test_the_doc_shows_every_verifier_file_as_it_is():
    shown = doc_blocks("verifier")
    files = sorted(str(path.relative_to(ROOT)) for path in VERIFIERS.rglob("*") if path.is_file())
    assert sorted(shown) == files
    for name, code in shown.items():
        assert code == (ROOT / name).read_text(), f"docs/contracts.md shows another {name}"


def test_the_doc_has_a_contract_example_for_every_check():
    assert sorted(doc_blocks("contract")) == sorted({contract for contract, _, _ in CHECKS})


# -- the verifiers, compiled once --------------------------------------------------------


SOURCES = {"python": "python/verify.py", "node": "node/verify.js", "php": "php/verify.php", "java": "java/Verify.java",
           "go": "go/verify.go"}


def runner(language: str, built: Path) -> tuple[tuple[str, ...], list[str] | None, list[str]]:
    """What a language's verifier needs on the PATH, how it is compiled into `built` (None:
    it is not), and how it runs."""
    source = str(VERIFIERS / SOURCES[language])
    return {
        "python": ((), None, [sys.executable, source]),
        "node": (("node",), None, ["node", source]),
        "php": (("php",), None, ["php", source]),
        # A JVM that starts in a third less time: these runs are short.
        "java": (("javac", "java"), ["javac", "-d", str(built), source],
                 ["java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", str(built), "Verify"]),
        "go": (("go",), ["go", "build", "-o", str(built / "verify-go"), source], [str(built / "verify-go")]),
    }[language]


@pytest.fixture(scope="session")
def toolchain(tmp_path_factory):
    """`toolchain(language)`: the command that runs that language's verifier (compiled at
    its first use in the session), or a skip saying what is missing."""
    built = tmp_path_factory.mktemp("verifiers")
    commands: dict[str, list[str] | str] = {}

    def command(language: str) -> list[str]:
        if language not in commands:
            tools, build, run = runner(language, built)
            absent = [tool for tool in tools if shutil.which(tool) is None]
            if absent:
                commands[language] = f"{', '.join(absent)} missing: {INSTALL}"
            else:
                if build:
                    result = subprocess.run(build, capture_output=True, text=True, timeout=300)
                    assert result.returncode == 0, result.stderr
                commands[language] = run
        if isinstance(commands[language], str):
            pytest.skip(commands[language])
        return commands[language]

    return command


def verify(command: list[str], scheme: str, *checks: tuple[str, Path], headers: tuple[str, ...] = ()) -> list[str]:
    """What the verifier prints for each (key, request file), the runs side by side."""
    runs = [subprocess.Popen([*command, scheme, key, str(path), *headers], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for key, path in checks]
    printed = []
    for run in runs:
        stdout, stderr = run.communicate(timeout=60)
        assert run.returncode in (0, 1), stderr
        assert stdout.strip() == ("ok" if run.returncode == 0 else "FAILED")
        printed.append(stdout.strip())
    return printed


def request_file(path: Path, request: Received, body: bytes | None = None) -> Path:
    """A captured request as the verifiers read it: header lines, an empty line, the body."""
    head = "".join(f"{name}: {value}\n" for name, value in request.headers.items())
    path.write_bytes(head.encode() + b"\n" + (request.body if body is None else body))
    return path


def one_byte_changed(body: bytes) -> bytes:
    return body[:-2] + bytes([body[-2] ^ 1]) + body[-1:]


def another_key(scheme: str) -> str:
    if scheme == "ed25519":
        return public_key(generate_signing_key())
    return generate_secret() if scheme == "standard" else "another-secret-of-the-same-shape"


# -- real deliveries of the doc's contracts ----------------------------------------------


@dataclass
class Delivered:
    webhook: dict  # the API's answer to the create
    key: str  # what its receivers verify with: the secret, or the ed25519 public key
    requests: list[Received]  # in the order they arrived
    rotated: Received | None = None  # the request after a rotation
    new_key: str | None = None


@pytest.fixture(scope="module")
def delivered(tmp_path_factory) -> dict[str, Delivered]:
    """Each contract example of the doc, created through the API and sent an order and a
    sign-up (and the ar-code one awkward JSON as well); then ROTATED rotate and get one more."""
    folder = tmp_path_factory.mktemp("contracts")
    settings = Settings(
        database_url=f"sqlite:///{folder}/hookline.db", admin_key=ADMIN_KEY, encryption_keys=(ENCRYPTION_KEY,),
        allow_http=True, allow_private_networks=("127.0.0.0/8",),
        event_types=(EventTypeSeed("order.created"), EventTypeSeed("order.paid"), EventTypeSeed("user.signed_up")),
    )
    receiver = Receiver().start()
    try:
        with serving(settings, system_clock, run_sender=True) as api:
            webhooks = {}
            for name, text in doc_blocks("contract").items():
                answer = api.post("/api/v1/webhooks", json={**json.loads(text), "url": receiver.url(f"/{name}")},
                                  headers=ADMIN)
                assert answer.status_code == 201, (name, answer.text)
                webhooks[name] = answer.json()
            emit(api, {"type": "order.created", "data": ORDER})
            emit(api, {"type": "user.signed_up", "data": SIGNUP})
            for case, value in AWKWARD.items():
                emit(api, '{"type": "order.paid", "data": {"case": "%s", "value": %s}}' % (case, value))
            events = ["order.created", "user.signed_up"] + ["order.paid"] * len(AWKWARD)
            expected = {name: sum(subscribed(webhook, t) for t in events) for name, webhook in webhooks.items()}
            for name, count in expected.items():
                receiver.wait_for(count, f"/{name}")
            result = {name: Delivered(webhook, key_of(webhook), list(receiver.to(f"/{name}")))
                      for name, webhook in webhooks.items()}
            for name in ROTATED:
                answer = api.post(f"/api/v1/webhooks/{webhooks[name]['id']}/rotate-secret", json={"grace_seconds": 3600},
                                  headers=ADMIN)
                assert answer.status_code == 200, answer.text
                result[name].new_key = answer.json()["public_key" if name == "ed25519" else "secret"]
            emit(api, {"type": "order.created", "data": ORDER})
            for name in ROTATED:
                result[name].rotated = receiver.wait_for(expected[name] + 1, f"/{name}")[-1]
            yield result
    finally:
        receiver.stop()


def emit(api, event: dict | str) -> None:
    """`event` as JSON text: sent as written, the producer's digits kept."""
    content = event if isinstance(event, str) else json.dumps(event)
    answer = api.post("/api/v1/events", content=content, headers={**ADMIN, "Content-Type": "application/json"})
    assert answer.status_code in (201, 202), answer.text


def subscribed(webhook: dict, type_name: str) -> bool:
    return any(p == "*" or p == type_name or (p.endswith(".*") and type_name.startswith(p[:-1]))
               for p in webhook["events"])


def key_of(webhook: dict) -> str:
    return webhook["public_key"] if webhook["signatures"] == [{"scheme": "ed25519"}] else webhook["secret"]


def event_of(request: Received) -> tuple[str, dict]:
    """The event type and data of a request, whichever of the doc's envelopes it has."""
    body = json.loads(request.body)
    return body.get("type", body.get("event")), body["data"]


def first(delivered: Delivered, type_name: str) -> Received:
    return next(r for r in delivered.requests if event_of(r)[0] == type_name)


# -- every verifier on every contract ------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("contract, scheme, headers", CHECKS, ids=[f"{c}-{s}" for c, s, _ in CHECKS])
def test_verifier_accepts_the_delivery_and_refuses_a_changed_one(language, contract, scheme, headers, toolchain,
                                                                 delivered, tmp_path):
    command = toolchain(language)
    sent = delivered[contract]
    request = first(sent, "order.created" if contract != "chat-app" else "user.signed_up")
    genuine = request_file(tmp_path / "genuine", request)

    tampered = request_file(tmp_path / "tampered", request, one_byte_changed(request.body))
    checks = [(sent.key, genuine), (sent.key, tampered), (another_key(scheme), genuine)]
    assert verify(command, scheme, *checks, headers=headers) == ["ok", "FAILED", "FAILED"]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("contract, scheme, headers", [c for c in CHECKS if c[0] in ROTATED],
                         ids=[f"{c}-{s}" for c, s, _ in CHECKS if c in ROTATED])
def test_during_a_rotation_both_keys_verify(language, contract, scheme, headers, toolchain, delivered, tmp_path):
    command = toolchain(language)
    sent = delivered[contract]
    rotated = request_file(tmp_path / "rotated", sent.rotated)
    # An hmac header without a separator carries the new secret's value alone.
    old_key_verifies = "ok" if scheme != "hmac-timestamped" else "FAILED"
    checks = [(sent.new_key, rotated), (sent.key, rotated)]
    assert verify(command, scheme, *checks, headers=headers) == ["ok", old_key_verifies]


def test_node_over_json_stringify_of_the_parsed_body_fails_where_the_raw_body_verifies(toolchain, delivered, tmp_path):
    """What docs/contracts.md says of `JSON.stringify(req.body)`, on real deliveries."""
    command = toolchain("node")
    sent = delivered["ar-code"]
    plain = request_file(tmp_path / "plain", first(sent, "order.created"))
    awkward = {event_of(r)[1]["case"]: r for r in sent.requests if event_of(r)[0] == "order.paid"}
    assert sorted(awkward) == sorted(AWKWARD)
    files = [plain] + [request_file(tmp_path / case, request) for case, request in awkward.items()]
    checks = [(sent.key, path) for path in files]

    assert verify(command, "hmac-hex", *checks, headers=("X-ARCode-Signature",)) == ["ok"] * len(files)
    over_parsed = verify(command, "hmac-hex-of-parsed-body", *checks, headers=("X-ARCode-Signature",))
    assert over_parsed == ["ok"] + ["FAILED"] * len(awkward), list(awkward)


def test_each_system_gets_the_headers_and_body_its_receivers_read(delivered):
    """The table of issue 14, row by row, beside the signatures the verifiers check."""
    iso_time = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
    not_sent = ("x-webhook-event", "x-webhook-timestamp", "webhook-signature")

    ar_code = first(delivered["ar-code"], "order.created")
    assert ar_code.headers["x-arcode-event"] == "order.created"
    assert re.fullmatch(r"[0-9a-f]{64}", ar_code.headers["x-arcode-signature"])
    assert list(json.loads(ar_code.body)) == ["id", "type", "timestamp", "data"]
    assert not any(name in ar_code.headers for name in (*not_sent, "x-webhook-signature"))

    chat = delivered["chat-app"]
    request = first(chat, "user.signed_up")
    assert request.headers["user-agent"] == "Emergence-Webhooks/1.0"
    assert request.headers["x-emergence-event"] == "user.signed_up"
    assert request.headers["x-emergence-webhook-id"] == chat.webhook["id"]
    body = json.loads(request.body)
    assert list(body) == ["event", "timestamp", "data", "user_id"] and iso_time.match(body["timestamp"])
    assert (body["event"], body["data"], body["user_id"]) == ("user.signed_up", SIGNUP, "usr_42")
    assert not any(name in request.headers for name in not_sent)

    ops = delivered["ops-center"]
    request = first(ops, "order.created")
    assert json.loads(request.body) == {"event": "order.created", "timestamp": json.loads(request.body)["timestamp"],
                                        "data": ORDER, "webhook_id": ops.webhook["id"]}
    assert ops.webhook["timeout"] == 30 and ops.webhook["retry_schedule"] == [0, 60, 300, 900, 3600, 7200]

    audit = delivered["audit-trail"]
    request = first(audit, "order.created")
    body = json.loads(request.body)
    assert list(body) == ["id", "type", "timestamp", "tenantId", "data"]
    assert body["id"] == request.headers["x-audit-trail-delivery-id"] and body["id"].startswith("dlv_")
    assert (body["type"], body["tenantId"], body["data"]) == ("order.created", "default", ORDER)
    assert request.headers["x-audit-trail-timestamp"].isdigit()
    assert audit.webhook["auto_disable"] == {"rule": "attempts", "failures": 5}

    shop = first(delivered["e-commerce"], "order.created")
    assert shop.headers["x-webhook-event"] == "order.created" and shop.headers["x-webhook-timestamp"].isdigit()
    assert json.loads(shop.body)["shop"] == {"id": 42, "name": "Example Shop", "url": "https://shop.example",
                                             "currency": "EUR"}
    assert "webhook-signature" not in shop.headers
