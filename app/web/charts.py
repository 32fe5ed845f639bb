"""Geometry of the Stats tab's chart: a stacked bar per hour of deliveries, on a y-axis
with round values.

Computed here rather than in the template so that it can be tested, and here rather than
in app/services/stats.py, which returns the numbers and knows nothing of pixels.

The SVG holds only the bars and grid lines and stretches to the width of its card
(`preserveAspectRatio="none"`); the axis labels are HTML around it
(templates/deliveries/_chart.html), so they keep the page's font size at every width
instead of shrinking with a scaled drawing.
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


@dataclass(frozen=True)
class Tick:
    """A y-axis value and its grid line; `percent` is its height (0, 50 or 100), which the
    label's CSS class names, since a strict CSP allows no style attributes."""

    value: int
    y: int
    percent: int


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    ticks: list[Tick]  # bottom up


CHART_HEIGHT = 120
BAR_WIDTH = 16
BAR_GAP = 4
CHART_WIDTH = 24 * (BAR_WIDTH + BAR_GAP)
# The axis ends at the first of these (times a power of ten) that holds the busiest hour:
# each halves into a whole number, so the middle line has a round value too.
_AXIS_STEPS = (1, 2, 4, 6, 8, 10)


def axis_top(peak: int) -> int:
    """The y-axis' top value: the smallest 1, 2, 4, 6 or 8 times a power of ten that is at
    least `peak` (at least 1, so an empty day still has an axis)."""
    scale = 1
    while True:
        for step in _AXIS_STEPS:
            if step * scale >= peak:
                return step * scale
        scale *= 10


def chart(hours: list[HourBucket]) -> Chart:
    top = axis_top(max((h.succeeded + h.failed + h.pending for h in hours), default=0))
    values = (0, top) if top == 1 else (0, top // 2, top)
    ticks = [Tick(value, CHART_HEIGHT - round(value / top * CHART_HEIGHT), value * 100 // top) for value in values]
    return Chart(_bars(hours, top), ticks)


def _bars(hours: list[HourBucket], top: int) -> list[Bar]:
    """A stacked bar per hour (succeeded at the bottom, then failed, then pending), scaled
    so that `top` is the full height."""
    bars = []
    for index, hour in enumerate(hours):
        # Cumulative heights are rounded, not each segment, so a full stack is exactly full.
        segments, below, stacked = [], 0, 0
        for kind, count in ((SUCCEEDED, hour.succeeded), (FAILED, hour.failed), (PENDING, hour.pending)):
            stacked += count
            height = round(stacked / top * CHART_HEIGHT)
            if height > below:
                segments.append(Segment(kind, CHART_HEIGHT - height, height - below))
            below = height
        bars.append(Bar(
            x=index * (BAR_WIDTH + BAR_GAP),
            segments=segments,
            label=f"{hour.start:%H}" if index % 3 == 0 else "",
            title=f"{hour.start:%H:00} UTC: {hour.succeeded} succeeded, {hour.failed} failed, {hour.pending} pending",
        ))
    return bars
