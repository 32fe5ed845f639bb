"""The dashboard's contract fields (app/web/contract_form.py): form to API shape and back,
and which box shows an error the API names by its path."""

from __future__ import annotations

import pytest
from starlette.datastructures import FormData

from app.rules import contracts, jsontext
from app.rules.errors import InvalidInput
from app.web import contract_form


def form_of(values: dict) -> FormData:
    """A form as the browser posts `values`: unticked boxes absent, lists repeated."""
    items = []
    for name, value in values.items():
        if value is True:
            items.append((name, "1"))
        elif isinstance(value, list):
            items += [(name, item) for item in value]
        elif value not in (False, None):
            items.append((name, value))
    return FormData(items)


@pytest.mark.parametrize("preset", contract_form.PRESETS)
def test_each_preset_is_a_contract_the_rules_accept(preset):
    values = {key: value for key, value in contract_form.PRESETS[preset].items() if key != "add_headers"}
    fields = contract_form.contract_fields(form_of(values))
    assert contracts.parse_signatures(fields["signatures"])


@pytest.mark.parametrize("signatures", [
    [{"scheme": "standard"}, {"scheme": "hmac", "header": "X-Webhook-Signature", "value": "sha256={digest}",
                              "content": "{timestamp}.{body}"}],
    [{"scheme": "hmac", "header": "Stripe-Signature", "value": "t={timestamp},v1={digest}",
      "content": "{timestamp}.{body}", "separator": ","}],
    [{"scheme": "ed25519"}],
    [{"scheme": "hmac", "header": "X-Sig", "algorithm": "sha512", "encoding": "base64"}],
])
def test_a_stored_contract_shown_in_the_form_and_saved_again_is_the_same(signatures):
    stored = contracts.stored_parts({"signatures": signatures, "envelope": {"event": "{event.type}", "n": 1},
                                     "auto_disable": {"rule": "attempts", "failures": 5}})
    values = contract_form.form_values(stored["signatures"], stored["envelope"], stored["auto_disable"])
    assert contracts.stored_parts(contract_form.contract_fields(form_of(values))) == stored


def test_nothing_set_inherits_everything():
    assert contract_form.contract_fields(form_of(contract_form.form_values(None, None, None))) == {
        "signatures": None, "envelope": None, "auto_disable": None}


@pytest.mark.parametrize("ticked, error, box", [
    ({"sig_hmac": True}, "signatures[0].value", "hmac_value"),
    ({"sig_standard": True, "sig_hmac": True}, "signatures[1].header", "hmac_header"),
    ({"sig_standard": True, "sig_hmac": True}, "signatures[0].scheme", "signatures"),
    ({"sig_hmac": True}, "signatures", "signatures"),
    ({}, "envelope.shop.name", "envelope"),
    ({}, "auto_disable.failures", "auto_disable_failures"),
    ({}, "auto_disable.period", "auto_disable_period"),
    ({}, "auto_disable.rule", "auto_disable_rule"),
    ({}, "secret", "secret"),
    ({}, "headers.X-Team", None),
    ({}, "url", None),
])
def test_an_error_is_shown_by_the_box_that_holds_its_path(ticked, error, box):
    form = form_of({"signatures_set": "custom", **ticked})
    assert contract_form.error_field(InvalidInput(error, "is wrong"), form) == box


def test_default_headers_are_dropped_only_by_a_form_that_shows_them():
    assert contract_form.default_headers_dropped(form_of({"send_default": []})) == {}
    shown = form_of({"default_headers": "shown", "send_default": ["User-Agent"]})
    assert contract_form.default_headers_dropped(shown) == {"X-Webhook-Event": None, "X-Webhook-Timestamp": None}


def test_presets_are_json_for_the_buttons():
    assert jsontext.loads_stored(contract_form.presets_json()["Stripe style"])["hmac_separator"] == ","
