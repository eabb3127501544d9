"""The milestone certificate (阅读里程碑证书): a PNG in Chinese the family keeps and shares in WeChat, drawn with
pillow when asked for, never stored.

The Chinese is set in Noto Serif SC and Noto Sans SC (SIL Open Font License 1.1), which the `pylopdf-fonts-zh-cn`
wheel ships: a dependency of the project, so a machine with only Python and pip draws the same certificate.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from datetime import date

import pylopdf_fonts_zh_cn as noto
from PIL import Image, ImageDraw, ImageFont

# 5:4, the shape WeChat shows a mini-program's share card in; wide enough to stay sharp in a chat or in Moments.
WIDTH, HEIGHT = 1000, 800
_PAPER = "#FFF8EC"
_BORDER = "#E3893B"
_INK = "#4A3421"
_ACCENT = "#C8553D"
_QUIET = "#8A7660"
_MARGIN = 28
_TEXT_WIDTH = WIDTH - 2 * 110  # inside the borders, with room to breathe


@dataclass(frozen=True, slots=True)
class Certificate:
    child_name: str
    books: int
    programme: str
    library: str
    """The library the family collects its packs at, the one the family knows: it gives the certificate."""
    reached_on: date
    """The day of the network's calendar the milestone was reached."""


async def certificate_png(certificate: Certificate) -> bytes:
    """The certificate as a PNG of `WIDTH` x `HEIGHT`, drawn off the event loop (about 0.1 s of CPU)."""
    return await asyncio.to_thread(_draw, certificate)


def _font(serif: bool, size: int) -> ImageFont.FreeTypeFont:
    # Opened for each certificate (about 3 ms): a font shared between the threads drawing at once is not safe.
    return ImageFont.truetype(str(noto.serif_path() if serif else noto.sans_path()), size)


def _fitting(text: str, serif: bool, size: int, smallest: int, after: str = "") -> tuple[str, ImageFont.FreeTypeFont]:
    """`text` + `after` set within the text width: at `size`, or smaller down to `smallest`, and past that with `text`
    cut short (a name may run to 50 characters)."""
    font = _font(serif, size)
    while size > smallest and font.getlength(text + after) > _TEXT_WIDTH:
        size -= 4
        font = _font(serif, size)
    while len(text) > 1 and font.getlength(text + after) > _TEXT_WIDTH:
        text = text[:-2] + "…"
    return text + after, font


def _draw(c: Certificate) -> bytes:
    image = Image.new("RGB", (WIDTH, HEIGHT), _PAPER)
    draw = ImageDraw.Draw(image)
    draw.rectangle((_MARGIN, _MARGIN, WIDTH - _MARGIN, HEIGHT - _MARGIN), outline=_BORDER, width=8)
    inner = _MARGIN + 16
    draw.rectangle((inner, inner, WIDTH - inner, HEIGHT - inner), outline=_BORDER, width=2)
    for x in (inner + 26, WIDTH - inner - 26):  # a dot in each corner, as on a printed certificate
        for y in (inner + 26, HEIGHT - inner - 26):
            draw.ellipse((x - 7, y - 7, x + 7, y + 7), fill=_BORDER)

    _centred(draw, 130, "阅读里程碑证书", _font(True, 64), _INK)
    _centred(draw, 200, *_fitting(c.programme, False, 30, 18), _QUIET)
    _centred(draw, 305, *_fitting(c.child_name, True, 72, 36, after=" 小朋友"), _ACCENT)
    _centred(draw, 400, "和家人一起读完了", _font(False, 40), _INK)
    _centred(draw, 505, f"{c.books} 本书", _font(True, 110), _ACCENT)
    _centred(draw, 600, "特发此证，愿书香伴你长大！", _font(False, 32), _INK)
    right = WIDTH - inner - 70
    library, font = _fitting(c.library, False, 30, 18)
    draw.text((right, 672), library, font=font, fill=_INK, anchor="rm")
    day = f"{c.reached_on.year}年{c.reached_on.month}月{c.reached_on.day}日"
    draw.text((right, 716), day, font=_font(False, 28), fill=_QUIET, anchor="rm")

    buffer = io.BytesIO()
    # zlib level 3: half the time of the default for a tenth more bytes (some 75 KB).
    image.save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def _centred(draw: ImageDraw.ImageDraw, y: int, text: str, font: ImageFont.FreeTypeFont, colour: str) -> None:
    draw.text((WIDTH // 2, y), text, font=font, fill=colour, anchor="mm")
