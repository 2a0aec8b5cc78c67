"""Image CAPTCHA for registration: a random text, drawn off the event loop, checked loosely.

The alphabet leaves out look-alikes (0/O, 1/I/L) and the check ignores case and spaces, so a
person who reads the picture right is never refused for how they typed it.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from captcha.image import ImageCaptcha

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 5
MAX_MISSES = 3  # wrong answers to one picture before a new one is drawn
WIDTH, HEIGHT = 280, 100

TextFactory = Callable[[], str]


def random_text(length: int = LENGTH) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def _normal(text: str) -> str:
    return "".join(text.split()).casefold()


def matches(expected: str, answer: str) -> bool:
    """Case-insensitive, spaces ignored."""
    return bool(expected) and secrets.compare_digest(
        _normal(expected).encode(), _normal(answer).encode()
    )


@dataclass(frozen=True, slots=True)
class Challenge:
    text: str
    png: bytes


class Captcha:
    """Draws challenges; `text_factory` is injectable so a demo or a test can choose the text."""

    def __init__(self, text_factory: TextFactory | None = None) -> None:
        self._text_factory = text_factory or random_text
        self._image = ImageCaptcha(width=WIDTH, height=HEIGHT)

    def _draw(self, text: str) -> bytes:
        return self._image.generate(text, format="png").getvalue()

    async def new_challenge(self) -> Challenge:
        text = self._text_factory()
        png = await asyncio.to_thread(self._draw, text)
        return Challenge(text=text, png=png)


__all__ = ["ALPHABET", "MAX_MISSES", "Captcha", "Challenge", "matches", "random_text"]
