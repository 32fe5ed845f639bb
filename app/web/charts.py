"""SVG geometry of the Stats tab's chart: a stacked bar per hour of deliveries.

Computed here rather than in the template so that it can be tested, and here rather than
in app/services/stats.py, which returns the numbers and knows nothing of pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.services.stats import HourBucket
from app.storage.models import FAILED, PENDING, SUCCEEDED


@dataclass(frozen=True)
class Segment:
    kind: str  # succeeded, failed or pending: also the CSS class suffix
    y: int
    height: int


@dataclass(frozen=True)
class Bar:
    x: int
    segments: list[Segment]  # bottom to top; empty ones left out
    label: str
    title: str


CHART_HEIGHT = 120
BAR_WIDTH = 16
BAR_GAP = 4
CHART_WIDTH = 24 * (BAR_WIDTH + BAR_GAP)


def chart_bars(hours: list[HourBucket]) -> list[Bar]:
    """SVG geometry of a stacked bar per hour (succeeded at the bottom, then failed, then
    pending), scaled to the busiest hour; kept out of the template so it can be tested."""
    peak = max((h.succeeded + h.failed + h.pending for h in hours), default=0) or 1
    bars = []
    for index, hour in enumerate(hours):
        # Cumulative heights are rounded, not each segment, so a full stack is exactly full.
        segments, below, stacked = [], 0, 0
        for kind, count in ((SUCCEEDED, hour.succeeded), (FAILED, hour.failed), (PENDING, hour.pending)):
            stacked += count
            top = round(stacked / peak * CHART_HEIGHT)
            if top > below:
                segments.append(Segment(kind, CHART_HEIGHT - top, top - below))
            below = top
        bars.append(Bar(
            x=index * (BAR_WIDTH + BAR_GAP),
            segments=segments,
            label=f"{hour.start:%H}" if index % 3 == 0 else "",
            title=f"{hour.start:%H:00} UTC: {hour.succeeded} succeeded, {hour.failed} failed, {hour.pending} pending",
        ))
    return bars
