"""The Stats tab's chart says what its bars are worth and which clock its hours are on
(issue 16, defect 11; its width is measured in tests/e2e/test_catalog_and_stats_browser.py)."""

from __future__ import annotations

from app.storage.models import SUCCEEDED, Delivery
from tests.helpers import emit, make_webhook, soup


def test_the_chart_has_y_axis_values_and_utc_hours(dashboard, settings, clock):
    webhook = make_webhook(settings, clock, "http://127.0.0.1:9/hook", name="Billing")
    for n in range(3):
        emit(settings, clock, data={"n": n})
    Delivery.update(status=SUCCEEDED).execute()
    page = soup(dashboard.get(f"/webhooks/{webhook.id}/stats"))
    card = page.select_one("section.chart-card")
    assert "(UTC)" in card.h2.text and card.select_one(".chart-x-title").text == "Hour of day, UTC"
    ticks = [(span.text, span["class"][1]) for span in card.select(".chart-y .chart-tick")]
    assert ticks == [("0", "tick-0"), ("2", "tick-50"), ("4", "tick-100")], "3 in the busiest hour: the axis goes to 4"
    hours = [span.text for span in card.select(".chart-x span")]
    assert len(hours) == 24 and hours[::3] == [f"{(clock().hour + 1 + h) % 24:02d}" for h in range(0, 24, 3)]
    svg = card.select_one("svg.chart")
    assert svg["preserveaspectratio"] == "none" and "axis goes up to 4" in svg["aria-label"]
    assert [line["y1"] for line in svg.select("line")] == ["120", "60", "0"]
    (bar,) = svg.select("rect.bar-succeeded")
    assert (bar["y"], bar["height"]) == ("30", "90"), "3 of 4 on the axis"
