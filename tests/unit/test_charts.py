"""The history chart: every month of the range, gaps as gaps, the picture itself, lazy import."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession

from bot.texts import readings as texts
from services import charts, readings
from tests.unit.test_readings import TODAY, make_meter

ROOT = Path(__file__).resolve().parents[2]
LABELS = charts.ChartLabels(texts.CHART_Y, texts.CHART_ESTIMATED, texts.CHART_GAP)


async def test_every_month_of_the_range_is_on_the_chart_and_a_missed_one_is_a_gap(
    session: AsyncSession,
) -> None:
    june, july, august, september, october = (date(2026, m, 1) for m in range(6, 11))
    missed_august = await make_meter(
        session,
        number="7400000001",
        history=[(june, ["100"]), (july, ["150"]), (september, ["250"]), (october, ["300"])],
    )
    stopped_in_july = await make_meter(
        session, number="7400000002", history=[(june, ["100"]), (july, ["140"])]
    )

    [history] = await readings.history(session, missed_august.account_id, TODAY)
    months = readings.chart_months(history)
    assert [m.period for m in months] == [june, july, august, september, october]
    assert [m.gap for m in months] == [True, False, True, False, False]
    # June has no earlier reading: its consumption is unknown, not zero.
    assert months[0].consumption == {}
    assert months[1].consumption == {1: Decimal(50)} and months[1].months == 1
    # September's 100 kWh since July cover two months and say so.
    assert months[3].consumption == {1: Decimal(100)} and months[3].months == 2
    assert months[4].consumption == {1: Decimal(50)} and months[4].months == 1

    # Months after the last reading, up to the previous month, show as missed too.
    [stopped] = await readings.history(session, stopped_in_july.account_id, TODAY)
    months = readings.chart_months(stopped)
    assert [m.period for m in months] == [june, july, august, september, october]
    assert [m.gap for m in months] == [True, False, True, True, True]


def _panel(zones: int = 3) -> charts.ChartPanel:
    names = [texts.chart_series_name(zones, zone) for zone in range(1, zones + 1)]
    values: list[float | None] = [None, 120.0, None, 260.0, 90.0, 110.0]
    series = [
        charts.BarSeries(name, [v * (i + 1) / 3 if v else None for v in values])
        for i, name in enumerate(names)
    ]
    return charts.ChartPanel(
        texts.chart_title("0123456"),
        [texts.chart_month(date(2026, m, 1)) for m in range(5, 11)],
        series,
        [False, False, False, False, True, False],
        [True, False, True, False, False, False],
        [texts.CHART_GAP, "", texts.CHART_GAP, texts.chart_span(2), "", ""],
    )


def test_the_png_has_the_expected_size_and_is_not_blank() -> None:
    png = charts.render_consumption_png([_panel(), _panel(1)], LABELS)
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        width, height = image.size
        assert width == charts.WIDTH_INCHES * charts.DPI
        assert height == round((charts.PANEL_INCHES * 2 + 0.6) * charts.DPI)
        pixels = image.convert("RGB")
        colours = pixels.getcolors(maxcolors=width * height)
    assert colours is not None and len(colours) > 50  # bars, text, grid: not a blank canvas
    present = {colour for _, colour in colours}
    for hex_colour in (*charts.ZONE_COLOURS, charts.GAP_COLOUR):
        rgb = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
        assert rgb in present, hex_colour


def test_the_legend_is_beside_the_bars_and_the_y_axis_says_kwh() -> None:
    figure = charts.draw([_panel()], LABELS)
    figure.canvas.draw()
    [axes] = figure.axes
    assert axes.get_ylabel() == "кВт·ч"
    legend = axes.get_legend()
    assert legend is not None
    legend_texts = [text.get_text() for text in legend.get_texts()]
    assert legend_texts == ["Т1 пик", "Т2 ночь", "Т3 полупик", "расчётное", "нет показаний"]
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    legend_box = legend.get_window_extent(renderer)
    axes_box = axes.get_window_extent(renderer)
    assert legend_box.x0 >= axes_box.x1  # outside the plotting area: it covers no bar
    ticks = [label.get_text() for label in axes.get_xticklabels()]
    assert ticks == ["май 26", "июн 26", "июл 26", "авг 26", "сен 26", "окт 26"]


async def test_drawing_runs_in_a_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[threading.Thread] = []
    render = charts.render_consumption_png

    def recording(panels: list[charts.ChartPanel], labels: charts.ChartLabels) -> bytes:
        threads.append(threading.current_thread())
        return render(panels, labels)

    monkeypatch.setattr(charts, "render_consumption_png", recording)
    png = await charts.consumption_png([_panel(2)], LABELS)
    assert png.startswith(b"\x89PNG")
    assert threads and threads[0] is not threading.current_thread()  # not the event loop's


def test_matplotlib_is_imported_only_when_a_chart_is_drawn() -> None:
    probe = "import sys, handlers.readings, bot.app; print('matplotlib' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
