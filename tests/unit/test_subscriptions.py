import pytest

from app.rules.subscriptions import is_operational, is_valid_pattern, is_valid_type_name, matches


@pytest.mark.parametrize(
    ("patterns", "event_type", "expected"),
    [
        (["*"], "order.created", True),
        (["*"], "anything", True),
        (["order.created"], "order.created", True),
        (["order.created"], "order.paid", False),
        (["order.created"], "order.created.late", False),
        (["order.*"], "order.created", True),
        (["order.*"], "order.item.added", True),
        (["order.*"], "orders.created", False),
        (["order.*"], "order", False),
        (["order.item.*"], "order.item.added", True),
        (["order.item.*"], "order.created", False),
        (["user.*", "order.paid"], "order.paid", True),
        (["user.*", "order.paid"], "order.created", False),
        ([], "order.created", False),
        # Operational events: never through `*`, only by name or family.
        (["*"], "webhook.disabled", False),
        (["*"], "delivery.exhausted", False),
        (["*"], "webhook.test", True),
        (["webhook.disabled"], "webhook.disabled", True),
        (["webhook.*"], "webhook.failing", True),
        (["webhook.*"], "delivery.exhausted", False),
        (["delivery.*"], "delivery.exhausted", True),
        (["*", "webhook.recovered"], "webhook.recovered", True),
        (["*", "webhook.recovered"], "webhook.secret_rotated", False),
    ],
)
def test_matches(patterns, event_type, expected):
    assert matches(patterns, event_type) is expected


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("order.created", True),
        ("order", True),
        ("user.signed_up", True),
        ("invoice-v2.payment_failed.2", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("", False),
        (".order", False),
        ("order.", False),
        ("order..created", False),
        ("order created", False),
        ("order/created", False),
        ("order.*", False),
        ("*", False),
        # Bug: `$` in EVENT_TYPE_NAME also matches before a final newline.
        pytest.param("order.created\n", False, id="trailing-newline"),
    ],
)
def test_is_valid_type_name(name, valid):
    assert is_valid_type_name(name) is valid


@pytest.mark.parametrize(
    ("pattern", "valid"),
    [
        ("*", True),
        ("order.created", True),
        ("order.*", True),
        ("order.item.*", True),
        ("a" * 128 + ".*", True),
        (".*", False),
        ("*.created", False),
        ("order*", False),
        ("order.**", False),
        ("order.*.*", False),
        ("order.*.created", False),
        pytest.param("order.created\n", False, id="trailing-newline"),
        ("", False),
    ],
)
def test_is_valid_pattern(pattern, valid):
    assert is_valid_pattern(pattern) is valid


@pytest.mark.parametrize(
    ("pattern", "operational"),
    [("webhook.disabled", True), ("delivery.exhausted", True), ("webhook.*", True), ("delivery.*", True),
     ("webhook.test", False), ("order.*", False), ("*", False), ("webhooks.*", False), ("deliveryx.*", False)],
)
def test_is_operational(pattern, operational):
    assert is_operational(pattern) is operational
