"""PNG charts of monthly consumption, drawn with matplotlib's Agg canvas off the event loop.

Labels come from the caller (the texts module), so this module holds no user-facing words.
The object API (Figure + FigureCanvasAgg) is used instead of pyplot: no global state, safe in
worker threads. matplotlib is imported only when a chart is drawn: it takes about a second to
import, and the bot starts (and most updates run) without ever drawing one.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ZONE_COLOURS = ("#f2a900", "#3b5ba5", "#7fb069")
GAP_COLOUR = "#ececec"
NOTE_COLOUR = "#555555"
WIDTH_INCHES = 9
PANEL_INCHES = 3.2
DPI = 100


@dataclass(frozen=True, slots=True)
class BarSeries:
    """One stacked layer: a zone's consumption per month (None = not known that month)."""

    label: str
    values: list[float | None]


@dataclass(frozen=True, slots=True)
class ChartPanel:
    """One meter: every month of the range on the x axis, one stacked series per zone."""

    title: str
    months: list[str]
    series: list[BarSeries]
    hatched: list[bool]  # months whose values are estimated, drawn hatched
    gaps: list[bool] | None = None  # months with no reading: a shaded slot, no bar
    notes: list[str] | None = None  # a word over a month: «нет показаний», «за 2 мес.»


@dataclass(frozen=True, slots=True)
class ChartLabels:
    """The words the chart needs, from the texts module."""

    y_axis: str  # «кВт·ч»
    estimated: str  # the legend of hatched bars
    gap: str  # the legend of a month without a reading


def draw(panels: list[ChartPanel], labels: ChartLabels) -> Figure:
    """One panel per meter, stacked bars per zone, gaps shaded, the legend right of the bars."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    height = PANEL_INCHES * max(len(panels), 1) + 0.6
    figure = Figure(figsize=(WIDTH_INCHES, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes_list = figure.subplots(max(len(panels), 1), 1, squeeze=False)[:, 0]
    for axes, panel in zip(axes_list, panels, strict=False):
        positions = list(range(len(panel.months)))
        gaps = panel.gaps or [False] * len(positions)
        notes = panel.notes or [""] * len(positions)
        for position, gap in zip(positions, gaps, strict=True):
            if gap:
                axes.axvspan(position - 0.4, position + 0.4, color=GAP_COLOUR, zorder=0)
        bottoms = [0.0] * len(positions)
        for index, series in enumerate(panel.series):
            heights = [v if v is not None and v > 0 else 0.0 for v in series.values]
            bars = axes.bar(
                positions,
                heights,
                bottom=bottoms,
                label=series.label,
                color=ZONE_COLOURS[index % len(ZONE_COLOURS)],
                edgecolor="white",
                zorder=2,
            )
            for bar, hatched in zip(bars, panel.hatched, strict=False):
                if hatched:
                    bar.set_hatch("//")
            bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
        top = max(bottoms, default=0.0)
        for position, note, gap, total in zip(positions, notes, gaps, bottoms, strict=True):
            if not note:
                continue
            if gap:  # written upwards inside the shaded slot, from the axis
                axes.text(position, 0.03, note, rotation=90, ha="center", va="bottom",
                          fontsize=7, color=NOTE_COLOUR, parse_math=False,
                          transform=axes.get_xaxis_transform())  # fmt: skip
            else:  # over the bar
                axes.text(position, total + top * 0.01, note, ha="center", va="bottom",
                          fontsize=7, color=NOTE_COLOUR, parse_math=False)  # fmt: skip
        # Serial numbers come from the registry: a «$» must not switch on mathtext.
        axes.set_title(panel.title, fontsize=11, parse_math=False)
        axes.set_xticks(
            positions, panel.months, fontsize=8, rotation=45, ha="right", parse_math=False
        )
        axes.set_xlim(-0.6, max(len(positions), 1) - 0.4)
        axes.set_ylabel(labels.y_axis)
        axes.margins(y=0.12)
        axes.set_ylim(bottom=0)
        axes.grid(axis="y", alpha=0.3)
        axes.set_axisbelow(True)
        handles, legend_labels = axes.get_legend_handles_labels()
        if len(panel.series) == 1:
            handles, legend_labels = [], []
        if any(panel.hatched):
            handles.append(Patch(facecolor="white", edgecolor="grey", hatch="//"))
            legend_labels.append(labels.estimated)
        if any(gaps):
            handles.append(Patch(facecolor=GAP_COLOUR, edgecolor=GAP_COLOUR))
            legend_labels.append(labels.gap)
        if handles:
            axes.legend(handles, legend_labels, fontsize=8, loc="upper left",
                        bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)  # fmt: skip
    return figure


def render_consumption_png(panels: list[ChartPanel], labels: ChartLabels) -> bytes:
    """The chart as PNG bytes."""
    buffer = io.BytesIO()
    draw(panels, labels).savefig(buffer, format="png")
    return buffer.getvalue()


async def consumption_png(panels: list[ChartPanel], labels: ChartLabels) -> bytes:
    """`render_consumption_png` in a worker thread, so drawing never blocks the bot."""
    return await asyncio.to_thread(render_consumption_png, panels, labels)
