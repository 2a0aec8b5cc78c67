"""Small test helpers shared by unit and end-to-end tests."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T | None]], *, timeout: float = 5.0) -> T:
    """Re-run `probe` until it returns something truthy, for effects with no message to wait on
    (a row written by a background handler); fails with AssertionError after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


def real_jpeg(
    width: int = 40, height: int = 30, colour: tuple[int, int, int] = (200, 40, 40)
) -> bytes:
    """A JPEG that decodes (uploads sent on to staff are re-encoded, so they must be real)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "JPEG")
    return out.getvalue()


def real_pdf(text: str = "scan") -> bytes:
    """A one-page PDF that parses (documents sent on to staff are checked structurally)."""
    from fpdf import FPDF

    pdf = FPDF(format=(148, 210))
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text=text)
    return bytes(pdf.output())
