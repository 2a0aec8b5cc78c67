"""PNG charts of monthly consumption, drawn with matplotlib's Agg canvas off the event loop.

Labels come from the caller (the texts module), so this module holds no user-facing words.
The object API (Figure + FigureCanvasAgg) is used instead of pyplot: no global state, safe in
worker threads.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

ZONE_COLOURS = ("#f2a900", "#3b5ba5", "#7fb069")


@dataclass(frozen=True, slots=True)
class BarSeries:
    """One stacked layer: a zone's consumption per month (None = no reading that month)."""

    label: str
    values: list[float | None]


@dataclass(frozen=True, slots=True)
class ChartPanel:
    """One meter: month labels on the x axis, one stacked series per zone."""

    title: str
    months: list[str]
    series: list[BarSeries]
    hatched: list[bool]  # months whose values are estimated, drawn hatched


def render_consumption_png(panels: list[ChartPanel], y_label: str, hatch_label: str) -> bytes:
    """Draw one panel per meter, stacked bars per zone; returns PNG bytes."""
    height = 3.2 * max(len(panels), 1) + 0.6
    figure = Figure(figsize=(9, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes_list = figure.subplots(max(len(panels), 1), 1, squeeze=False)[:, 0]
    for axes, panel in zip(axes_list, panels, strict=False):
        positions = list(range(len(panel.months)))
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
            )
            for bar, hatched in zip(bars, panel.hatched, strict=False):
                if hatched:
                    bar.set_hatch("//")
            bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
        # Serial numbers come from the registry: a «$» must not switch on mathtext.
        axes.set_title(panel.title, fontsize=11, parse_math=False)
        axes.set_xticks(
            positions, panel.months, fontsize=8, rotation=45, ha="right", parse_math=False
        )
        axes.set_ylabel(y_label)
        axes.grid(axis="y", alpha=0.3)
        axes.set_axisbelow(True)
        if len(panel.series) > 1 or any(panel.hatched):
            handles, labels = axes.get_legend_handles_labels()
            if any(panel.hatched):
                handles.append(Patch(facecolor="white", edgecolor="grey", hatch="//"))
                labels.append(hatch_label)
            axes.legend(handles, labels, fontsize=8, loc="upper left")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


async def consumption_png(panels: list[ChartPanel], y_label: str, hatch_label: str) -> bytes:
    """`render_consumption_png` in a worker thread, so drawing never blocks the bot."""
    return await asyncio.to_thread(render_consumption_png, panels, y_label, hatch_label)
