"""The short form of a webhook's URL in the list (app/web/short_urls.py): host and the end of the path."""

from __future__ import annotations

import pytest

from app.web.short_urls import ShortUrl, short_url


@pytest.mark.parametrize(("url", "origin", "tail"), [
    ("https://erp.example.com/hook", "erp.example.com", "/hook"),
    ("https://erp.example.com", "erp.example.com", ""),
    ("https://erp.example.com/", "erp.example.com", ""),
    ("http://127.0.0.1:8080/hook", "http://127.0.0.1:8080", "/hook"),
    ("https://erp.example.com:8443/a/b", "erp.example.com:8443", "/a/b"),
    # The middle gives way; the last segments that fit in 22 characters stay.
    ("https://erp.example.com/api/v2/integrations/hookline/orders/hook", "erp.example.com", "/…/hookline/orders/hook"),
    ("https://erp.example.com/api/v2/integrations/hookline/invoices/hook", "erp.example.com", "/…/invoices/hook"),
    # A last segment too long on its own keeps its end.
    ("https://hooks.example.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX1234",
     "hooks.example.com", "/…" + "X" * 16 + "1234"),
    ("https://erp.example.com/a/b/orders/", "erp.example.com", "/a/b/orders/"),
    ("https://erp.example.com/api/v2/integrations/hookline/orders/", "erp.example.com", "/…/hookline/orders/"),
    ("https://erp.example.com/hook?token=abc", "erp.example.com", "/hook?…"),
    ("https://user:pa55@erp.example.com/hook", "erp.example.com", "/hook"),
    ("https://[::1]:8443/hook", "[::1]:8443", "/hook"),
    ("not a url", "not a url", ""),
    ("https://[::1/hook", "https://[::1/hook", ""),
])
def test_short_url_keeps_host_and_the_end_of_the_path(url, origin, tail):
    assert short_url(url) == ShortUrl(origin, tail)


def test_urls_that_share_a_long_prefix_stay_apart():
    prefix = "https://erp.example.com/api/v2/integrations/hookline/tenants/acme"
    shown = {str(short_url(f"{prefix}/{name}/hook")) for name in ("orders", "invoices", "refunds")}
    assert shown == {"erp.example.com/…/acme/orders/hook", "erp.example.com/…/acme/invoices/hook",
                     "erp.example.com/…/acme/refunds/hook"}


@pytest.mark.parametrize("limit", [8, 16, 24, 40])
def test_a_long_last_segment_keeps_its_end_within_the_limit(limit):
    tail = short_url("https://h.example/" + "/".join(["segment"] * 12) + "/" + "x" * 60, limit).tail
    assert len(tail) <= limit and tail.endswith("xxxx")
