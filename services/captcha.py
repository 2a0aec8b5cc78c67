"""Image CAPTCHA: a random text, drawn readably off the event loop, checked loosely.

The alphabet leaves out characters that look alike on a phone screen (0/O/D/Q, 1/I/L, 5/S,
2/Z, 8/B, 6/G, V/U/Y…), the picture is large with mild distortion and little noise, and the
check ignores case, spaces and Cyrillic look-alikes typed on a Russian keyboard (С, Е, Н, К…),
so a person who reads the picture right is never refused for how they typed it.
The drawing library is imported when the first picture is drawn, not at start-up.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ALPHABET = "ACEFHJKMNPRTUWX34679"
LENGTH = 5
MAX_MISSES = 3  # wrong answers to one picture before a new one is drawn
WIDTH, HEIGHT = 400, 150
FONT_SIZES = (72, 80)

# What a Russian keyboard gives for the Latin letters of ALPHABET (and common slips).
_LOOK_ALIKES = str.maketrans(
    {
        "А": "A", "С": "C", "Е": "E", "Н": "H", "К": "K", "М": "M", "Р": "P", "Т": "T",
        "Х": "X", "У": "Y", "В": "B", "О": "O", "Ё": "E", "З": "3",
        "-": "", "_": "", ".": "",
    }
)  # fmt: skip

TextFactory = Callable[[], str]


def random_text(length: int = LENGTH) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def fold(text: str) -> str:
    """What a typed answer or code means: no spaces or dashes, upper case, Latin letters."""
    return "".join(text.split()).upper().translate(_LOOK_ALIKES)


def matches(expected: str, answer: str) -> bool:
    """Case, spaces and Cyrillic look-alikes do not matter."""
    return bool(expected) and secrets.compare_digest(fold(expected).encode(), fold(answer).encode())


@dataclass(frozen=True, slots=True)
class Challenge:
    text: str
    png: bytes


def _image_class() -> Any:
    """A calmer ImageCaptcha: little rotation and warp, a few dots, dark text on light."""
    from captcha.image import ImageCaptcha, random_color

    class ReadableCaptcha(ImageCaptcha):
        character_offset_dx = (0, 2)
        character_offset_dy = (0, 3)
        character_rotate = (-10, 10)
        character_warp_dx = (0.05, 0.12)
        character_warp_dy = (0.05, 0.12)
        word_space_probability = 0.3
        word_offset_dx = 0.1

        def create_captcha_image(self, chars: str, color: Any, background: Any) -> Any:
            """The library's layout, but each glyph is pasted by its own alpha: the library's
            luminance mask turns dark text pale grey."""
            from PIL.Image import new as new_image
            from PIL.ImageDraw import Draw

            image = new_image("RGB", (self._width, self._height), background)
            draw = Draw(image)
            glyphs = [self._draw_character(c, draw, color) for c in chars]
            gap = max(4, (self._width - sum(g.size[0] for g in glyphs)) // (len(glyphs) + 1))
            offset = max(
                0, (self._width - sum(g.size[0] for g in glyphs) - gap * (len(glyphs) - 1)) // 2
            )
            for glyph in glyphs:
                width, height = glyph.size
                image.paste(glyph, (offset, (self._height - height) // 2), glyph.getchannel("A"))
                offset += width + gap
            return image

        def generate_image(self, chars: str, bg_color: Any = None, fg_color: Any = None) -> Any:
            background = bg_color or random_color(235, 255)
            color = fg_color or random_color(10, 80, 255)
            image = self.create_captcha_image(chars, color, background)
            self.create_noise_dots(image, color, width=2, number=12)
            self.create_noise_curve(image, color)
            return image

    return ReadableCaptcha


class Captcha:
    """Draws challenges; `text_factory` is injectable so a demo or a test can choose the text."""

    def __init__(self, text_factory: TextFactory | None = None) -> None:
        self._text_factory = text_factory or random_text
        self._image: Any = None

    def _draw(self, text: str) -> bytes:
        if self._image is None:
            self._image = _image_class()(width=WIDTH, height=HEIGHT, font_sizes=FONT_SIZES)
        png: bytes = self._image.generate(text, format="png").getvalue()
        return png

    async def new_challenge(self) -> Challenge:
        text = self._text_factory()
        png = await asyncio.to_thread(self._draw, text)
        return Challenge(text=text, png=png)


__all__ = ["ALPHABET", "MAX_MISSES", "Captcha", "Challenge", "fold", "matches", "random_text"]
