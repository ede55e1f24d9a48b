"""Procedural pictures of the sample, drawn from recipes (plain dicts).

A recipe names an operation (``op``) and its arguments; operations that change
an image take their source as a nested recipe (``src``), so an edit's output is
drawn from the same input the post shows.  ``render`` is deterministic: the
same recipe and size give the same pixels, hence the same file bytes.

Faces are real photos that installed packages ship (scikit-image's astronaut,
matplotlib's Grace Hopper), loaded at run time and cropped per case.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

Box = list[int]  # [x0, y0, x1, y1], pixels, x1/y1 exclusive


@dataclass
class Rendered:
    image: Image.Image
    boxes: dict[str, Box] = field(default_factory=dict)  # named regions (screenshot, side-by-side)


# --- fonts and face photos -------------------------------------------------------------


@functools.cache
def font_path(bold: bool = False) -> str:
    """DejaVu Sans as shipped inside matplotlib (same file on every machine with that version)."""
    import matplotlib
    from matplotlib import font_manager

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    bundled = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name
    if bundled.exists():
        return str(bundled)
    props = font_manager.FontProperties(family="DejaVu Sans", weight="bold" if bold else "normal")
    return font_manager.findfont(props, fallback_to_default=True)


@functools.lru_cache(maxsize=64)
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_path(bold), size)


#: Face photos: loader, and the square crop (center x, center y, side) that frames the face.
FACE_SOURCES = ("astronaut", "grace_hopper")
_FACE_FRAMES = {"astronaut": (225, 140, 270), "grace_hopper": (262, 250, 400)}


@functools.cache
def face_photo(source: str) -> Image.Image:
    if source == "astronaut":
        from skimage import data

        return Image.fromarray(data.astronaut()).convert("RGB")
    if source == "grace_hopper":
        from matplotlib import cbook

        with cbook.get_sample_data("grace_hopper.jpg") as f:
            return Image.open(io.BytesIO(f.read())).convert("RGB")
    raise ValueError(f"unknown face source {source!r}; known: {FACE_SOURCES}")


# --- small helpers ------------------------------------------------------------------------


def dims(size: int, aspect: str = "1:1") -> tuple[int, int]:
    """Width and height of an image with the long side ``size`` and ``aspect`` 'w:h'."""
    w, h = (int(x) for x in aspect.split(":"))
    return (size, round(size * h / w)) if w >= h else (round(size * w / h), size)


def gradient(w: int, h: int, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    t = np.linspace(0.0, 1.0, h)[:, None, None]
    rows = (1 - t) * np.array(top, float) + t * np.array(bottom, float)
    return Image.fromarray(np.repeat(rows, w, axis=1).astype(np.uint8), "RGB")


def jitter(rng: np.random.Generator, color: tuple[int, int, int], amount: int = 18) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in color)  # type: ignore[return-value]


def shade(color: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(int(np.clip(c * factor, 0, 255)) for c in color)  # type: ignore[return-value]


def wrap(text: str, fnt: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Greedy word wrap of ``text`` into lines no wider than ``width`` pixels."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            trial = f"{line} {word}".strip()
            if line and fnt.getlength(trial) > width:
                lines.append(line)
                line = word
            else:
                line = trial
        lines.append(line)
    return lines


def fit_text(
    text: str, width: int, height: int, *, bold: bool = True, max_size: int = 96
) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """The largest font (and its wrapped lines) that fits ``text`` in width x height."""
    for size in range(max_size, 7, -2):
        fnt = font(size, bold)
        lines = wrap(text, fnt, width)
        widest = max(fnt.getlength(line) for line in lines)
        if widest <= width and len(lines) * size * 1.25 <= height:
            return fnt, lines
    fnt = font(8, bold)
    return fnt, wrap(text, fnt, width)


def draw_lines(
    draw: ImageDraw.ImageDraw, lines: list[str], fnt: ImageFont.FreeTypeFont, box: Box, fill, *, center: bool = True
) -> None:
    x0, y0, x1, y1 = box
    step = round(fnt.size * 1.25)
    y = y0 + ((y1 - y0) - step * len(lines)) // 2 if center else y0
    for line in lines:
        lw = fnt.getlength(line)
        x = x0 + ((x1 - x0) - lw) / 2 if center else x0
        draw.text((x, y), line, font=fnt, fill=fill)
        y += step


# --- scenes ---------------------------------------------------------------------------------

_THEMES: dict[str, dict] = {
    "sunset": {
        "sky": ((255, 150, 90), (95, 45, 120)),
        "ground": (55, 45, 70),
        "sun": (255, 215, 120),
        "sun_y": 0.55,
        "hills": 2,
        "sea": (70, 60, 120),
        "tower": True,
    },
    "dawn": {
        "sky": ((150, 185, 235), (250, 205, 175)),
        "ground": (80, 115, 85),
        "sun": (255, 240, 200),
        "sun_y": 0.5,
        "hills": 3,
        "sea": (110, 150, 190),
    },
    "snow": {
        "sky": ((150, 170, 205), (215, 225, 240)),
        "ground": (238, 242, 250),
        "hills": 2,
        "trees": (35, 70, 50),
        "cabin": True,
    },
    "night": {"sky": ((10, 15, 45), (45, 55, 105)), "ground": (25, 30, 40), "moon": True, "stars": 60, "houses": True},
    "city": {
        "sky": ((95, 140, 205), (250, 200, 150)),
        "ground": (70, 70, 80),
        "sun": (255, 235, 180),
        "sun_y": 0.2,
        "buildings": False,
    },
    "city_night": {"sky": ((15, 10, 35), (60, 30, 80)), "ground": (30, 25, 40), "buildings": True, "stars": 0},
    "beach": {
        "sky": ((90, 165, 235), (205, 230, 250)),
        "ground": (232, 212, 160),
        "sun": (255, 250, 220),
        "sun_y": 0.15,
        "sea": (35, 165, 180),
        "palm": True,
    },
    "forest": {"sky": ((185, 195, 190), (225, 220, 205)), "ground": (95, 85, 50), "trees": (190, 95, 40), "hills": 1},
    "desert": {
        "sky": ((110, 165, 230), (250, 215, 160)),
        "ground": (215, 165, 105),
        "sun": (255, 245, 210),
        "sun_y": 0.18,
        "hills": 2,
        "station": True,
    },
    "meadow": {
        "sky": ((80, 140, 230), (190, 220, 250)),
        "ground": (85, 155, 60),
        "sun": (255, 250, 220),
        "sun_y": 0.15,
        "flowers": True,
    },
}
SCENE_THEMES = tuple(_THEMES)


def draw_scene(recipe: dict, size: int) -> Image.Image:
    theme = _THEMES[recipe["theme"]]
    rng = np.random.default_rng(recipe["seed"])
    w, h = dims(size, recipe.get("aspect", "1:1"))
    top, bottom = (jitter(rng, c) for c in theme["sky"])
    img = gradient(w, h, top, bottom)
    d = ImageDraw.Draw(img)
    horizon = int(h * rng.uniform(0.58, 0.72))
    if theme.get("stars"):
        for _ in range(theme["stars"]):
            x, y = int(rng.integers(0, w)), int(rng.integers(0, horizon))
            d.point((x, y), fill=(255, 255, 230))
    if theme.get("sun"):
        r = int(size * rng.uniform(0.06, 0.1))
        cx, cy = int(w * rng.uniform(0.2, 0.8)), int(horizon * theme["sun_y"])
        d.ellipse(
            (cx - 2 * r, cy - 2 * r, cx + 2 * r, cy + 2 * r), fill=shade(theme["sun"], 0.97 if sum(top) > 400 else 0.75)
        )
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=theme["sun"])
    if theme.get("moon"):
        r = int(size * 0.06)
        cx, cy = int(w * rng.uniform(0.6, 0.85)), int(h * 0.18)
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(245, 240, 210))
    for layer in range(theme.get("hills", 0)):
        base = horizon - int(h * 0.02 * layer)
        pts = [(0, base)]
        for x in np.linspace(0, w, 7):
            pts.append((int(x), int(base - h * rng.uniform(0.08, 0.28) / (layer + 1))))
        pts.append((w, base))
        d.polygon(pts, fill=shade(jitter(rng, theme["ground"], 10), 0.65 + 0.12 * layer))
    d.rectangle((0, horizon, w, h), fill=jitter(rng, theme["ground"], 8))
    if theme.get("sea"):
        d.rectangle((0, horizon, w, horizon + int((h - horizon) * 0.55)), fill=theme["sea"])
        for k in range(6):
            y = horizon + 4 + k * 6
            d.line(
                (int(w * rng.uniform(0, 0.5)), y, int(w * rng.uniform(0.5, 1)), y),
                fill=shade(theme["sea"], 1.25),
                width=1,
            )
    _scene_features(d, rng, theme, w, h, horizon)
    return img


def _scene_features(
    d: ImageDraw.ImageDraw, rng: np.random.Generator, theme: dict, w: int, h: int, horizon: int
) -> None:
    if theme.get("trees"):
        for _ in range(int(rng.integers(4, 9))):
            x = int(rng.integers(0, w))
            th = int(h * rng.uniform(0.15, 0.3))
            y = horizon + int(rng.integers(0, max(1, (h - horizon) // 2)))
            d.polygon([(x, y - th), (x - th // 3, y), (x + th // 3, y)], fill=jitter(rng, theme["trees"], 20))
            d.rectangle((x - 2, y, x + 2, y + th // 6), fill=(70, 45, 30))
    if theme.get("cabin") or theme.get("station"):
        bw, bh = int(w * 0.28), int(h * 0.16)
        x0, y0 = int(w * rng.uniform(0.15, 0.5)), horizon + int((h - horizon) * 0.2)
        wall = (120, 75, 45) if theme.get("cabin") else (200, 190, 170)
        d.rectangle((x0, y0, x0 + bw, y0 + bh), fill=wall)
        d.polygon([(x0 - 6, y0), (x0 + bw // 2, y0 - bh // 1.6), (x0 + bw + 6, y0)], fill=(90, 40, 35))
        d.rectangle((x0 + bw // 5, y0 + bh // 3, x0 + bw // 5 + bw // 6, y0 + bh // 3 + bh // 4), fill=(255, 210, 120))
    if theme.get("houses"):
        for _ in range(5):
            x0 = int(rng.integers(0, w - 30))
            hw, hh = int(w * 0.1), int(h * 0.08)
            d.rectangle((x0, horizon - hh, x0 + hw, horizon), fill=(50, 45, 60))
            d.rectangle(
                (x0 + hw // 3, horizon - hh // 2, x0 + hw // 3 + 4, horizon - hh // 2 + 4), fill=(255, 220, 130)
            )
    if theme.get("buildings") is not None:
        lit = bool(theme["buildings"])
        x = 0
        while x < w:
            bw = int(w * rng.uniform(0.08, 0.16))
            bh = int(h * rng.uniform(0.25, 0.6))
            body = (40, 35, 60) if lit else jitter(rng, (120, 130, 150), 25)
            d.rectangle((x, horizon - bh, x + bw, horizon), fill=body)
            for wy in range(horizon - bh + 6, horizon - 6, 10):
                for wx in range(x + 4, x + bw - 4, 8):
                    if rng.random() < 0.5:
                        d.rectangle((wx, wy, wx + 3, wy + 4), fill=(255, 200, 90) if lit else (190, 215, 235))
            x += bw + int(rng.integers(1, 6))
        if lit:
            y = horizon - int(h * 0.1)
            d.rectangle((int(w * 0.1), y, int(w * 0.35), y + 8), fill=(255, 60, 180))
            d.rectangle((int(w * 0.6), y - 20, int(w * 0.8), y - 12), fill=(60, 230, 255))
    if theme.get("tower"):
        x = int(w * rng.uniform(0.6, 0.8))
        top = horizon - int(h * 0.35)
        d.polygon([(x - 10, horizon), (x - 6, top), (x + 6, top), (x + 10, horizon)], fill=(235, 230, 225))
        d.rectangle((x - 8, top - 10, x + 8, top), fill=(250, 230, 120))
        d.rectangle((x - 9, top + 20, x + 9, top + 28), fill=(200, 50, 50))
    if theme.get("palm"):
        x = int(w * rng.uniform(0.15, 0.35))
        d.line((x, h - 10, x + 12, horizon - int(h * 0.25)), fill=(110, 80, 50), width=5)
        cx, cy = x + 12, horizon - int(h * 0.25)
        for ang in np.linspace(0, 2 * np.pi, 7, endpoint=False):
            d.line((cx, cy, cx + int(30 * np.cos(ang)), cy + int(14 * np.sin(ang))), fill=(40, 140, 60), width=4)
    if theme.get("flowers"):
        for _ in range(70):
            x, y = int(rng.integers(0, w)), int(rng.integers(horizon + 3, h))
            r = 1 + (y - horizon) // 25
            d.ellipse((x - r, y - r, x + r, y + r), fill=(250, 205, 40))


# --- objects ----------------------------------------------------------------------------------

OBJECT_THINGS = ("mug", "sneaker", "bottle", "cat", "robot", "lamp", "plant", "car", "cake", "figure")


def draw_object(recipe: dict, size: int) -> Image.Image:
    rng = np.random.default_rng(recipe["seed"])
    w, h = dims(size, recipe.get("aspect", "1:1"))
    img = gradient(w, h, jitter(rng, (236, 230, 222)), jitter(rng, (200, 192, 185)))
    d = ImageDraw.Draw(img)
    cx, cy, s = w // 2 + int(rng.integers(-w // 10, w // 10 + 1)), int(h * 0.55), min(w, h) * rng.uniform(0.28, 0.36)
    d.ellipse((cx - s, cy + s * 0.75, cx + s, cy + s * 1.0), fill=(170, 160, 155))  # shadow
    color = jitter(rng, ((200, 60, 50), (60, 110, 190), (240, 170, 60), (90, 160, 110))[int(rng.integers(0, 4))], 25)
    if "color" in recipe:
        color = tuple(recipe["color"])
    _OBJECT_DRAWERS[recipe["thing"]](d, cx, cy, s, color)
    return img


def _mug(d, cx, cy, s, c):
    d.rectangle((cx - s * 0.6, cy - s * 0.5, cx + s * 0.5, cy + s * 0.85), fill=c)
    d.ellipse((cx - s * 0.6, cy - s * 0.65, cx + s * 0.5, cy - s * 0.35), fill=shade(c, 0.7))
    d.arc((cx + s * 0.3, cy - s * 0.25, cx + s * 0.9, cy + s * 0.45), -90, 90, fill=c, width=max(3, int(s * 0.12)))
    for k in (-0.3, 0.0, 0.25):
        d.arc((cx + s * k - 8, cy - s * 1.2, cx + s * k + 8, cy - s * 0.75), 90, 270, fill=(250, 250, 250), width=2)


def _sneaker(d, cx, cy, s, c):
    d.polygon(
        [
            (cx - s, cy + s * 0.7),
            (cx - s, cy),
            (cx - s * 0.2, cy - s * 0.3),
            (cx + s * 0.3, cy + s * 0.2),
            (cx + s, cy + s * 0.4),
            (cx + s, cy + s * 0.7),
        ],
        fill=c,
    )
    d.rectangle((cx - s, cy + s * 0.6, cx + s, cy + s * 0.8), fill=(245, 245, 245))
    for k in range(3):
        d.line(
            (cx - s * 0.5 + k * s * 0.15, cy - s * 0.1, cx - s * 0.35 + k * s * 0.15, cy + s * 0.1),
            fill=(250, 250, 250),
            width=2,
        )


def _bottle(d, cx, cy, s, c):
    d.rounded_rectangle(
        (cx - s * 0.5, cy - s * 0.4, cx + s * 0.5, cy + s * 0.85), radius=int(s * 0.2), fill=shade(c, 1.1)
    )
    d.rectangle((cx - s * 0.15, cy - s * 0.75, cx + s * 0.15, cy - s * 0.4), fill=(210, 190, 120))
    d.rectangle((cx - s * 0.3, cy, cx + s * 0.3, cy + s * 0.3), fill=(250, 245, 235))


def _cat(d, cx, cy, s, c):
    c = (235, 140, 50)
    d.ellipse((cx - s * 0.8, cy - s * 0.1, cx + s * 0.8, cy + s * 0.9), fill=c)
    d.ellipse((cx - s * 0.55, cy - s * 0.75, cx + s * 0.55, cy + s * 0.2), fill=c)
    d.polygon([(cx - s * 0.5, cy - s * 0.45), (cx - s * 0.4, cy - s * 1.0), (cx - s * 0.1, cy - s * 0.7)], fill=c)
    d.polygon([(cx + s * 0.5, cy - s * 0.45), (cx + s * 0.4, cy - s * 1.0), (cx + s * 0.1, cy - s * 0.7)], fill=c)
    for ex in (-0.22, 0.22):
        d.ellipse((cx + s * ex - 5, cy - s * 0.35 - 5, cx + s * ex + 5, cy - s * 0.35 + 5), fill=(40, 60, 30))
    d.polygon(
        [
            (cx - s * 0.3, cy - s * 0.85),
            (cx - s * 0.2, cy - s * 1.1),
            (cx, cy - s * 0.9),
            (cx + s * 0.2, cy - s * 1.1),
            (cx + s * 0.3, cy - s * 0.85),
        ],
        fill=(245, 200, 40),
    )


def _robot(d, cx, cy, s, c):
    d.rectangle((cx - s * 0.6, cy - s * 0.1, cx + s * 0.6, cy + s * 0.85), fill=shade(c, 0.9))
    d.rounded_rectangle(
        (cx - s * 0.5, cy - s * 0.8, cx + s * 0.5, cy - s * 0.15), radius=int(s * 0.15), fill=(190, 195, 205)
    )
    for ex in (-0.22, 0.22):
        d.ellipse((cx + s * ex - 9, cy - s * 0.5 - 9, cx + s * ex + 9, cy - s * 0.5 + 9), fill=(40, 200, 230))
    d.line((cx, cy - s * 0.8, cx, cy - s * 1.05), fill=(90, 90, 90), width=3)
    d.ellipse((cx - 5, cy - s * 1.1 - 5, cx + 5, cy - s * 1.1 + 5), fill=(230, 60, 60))


def _lamp(d, cx, cy, s, c):
    d.ellipse((cx - s * 0.5, cy + s * 0.7, cx + s * 0.5, cy + s * 0.9), fill=(180, 140, 60))
    d.line((cx, cy + s * 0.8, cx - s * 0.3, cy), fill=(180, 140, 60), width=5)
    d.line((cx - s * 0.3, cy, cx + s * 0.2, cy - s * 0.6), fill=(180, 140, 60), width=5)
    d.polygon(
        [(cx + s * 0.05, cy - s * 0.9), (cx + s * 0.6, cy - s * 0.5), (cx + s * 0.3, cy - s * 0.2)], fill=(200, 160, 70)
    )


def _plant(d, cx, cy, s, c):
    d.polygon(
        [
            (cx - s * 0.45, cy + s * 0.2),
            (cx + s * 0.45, cy + s * 0.2),
            (cx + s * 0.35, cy + s * 0.9),
            (cx - s * 0.35, cy + s * 0.9),
        ],
        fill=(190, 110, 80),
    )
    for ang in np.linspace(-2.6, -0.5, 6):
        x, y = cx + s * 0.8 * np.cos(ang), cy + s * 0.2 + s * 0.9 * np.sin(ang)
        d.line((cx, cy + s * 0.2, x, y), fill=(40, 110, 50), width=3)
        d.ellipse((x - s * 0.22, y - s * 0.14, x + s * 0.22, y + s * 0.14), fill=(50, 140, 70))


def _car(d, cx, cy, s, c):
    c = (150, 190, 230)
    d.rounded_rectangle((cx - s, cy, cx + s, cy + s * 0.55), radius=int(s * 0.15), fill=c)
    d.polygon(
        [(cx - s * 0.55, cy), (cx - s * 0.3, cy - s * 0.45), (cx + s * 0.35, cy - s * 0.45), (cx + s * 0.6, cy)],
        fill=shade(c, 0.9),
    )
    d.polygon(
        [
            (cx - s * 0.45, cy - 3),
            (cx - s * 0.25, cy - s * 0.38),
            (cx + s * 0.3, cy - s * 0.38),
            (cx + s * 0.5, cy - 3),
        ],
        fill=(210, 230, 245),
    )
    for wx in (-0.55, 0.55):
        d.ellipse((cx + s * wx - s * 0.22, cy + s * 0.35, cx + s * wx + s * 0.22, cy + s * 0.8), fill=(35, 35, 40))


def _cake(d, cx, cy, s, c):
    for k, col in enumerate(((250, 240, 235), (240, 150, 170), (250, 240, 235))):
        y0 = cy + s * 0.8 - (k + 1) * s * 0.45
        d.rectangle((cx - s * (0.9 - k * 0.18), y0, cx + s * (0.9 - k * 0.18), y0 + s * 0.45), fill=col)
    for x in np.linspace(-0.4, 0.4, 4):
        d.ellipse((cx + s * x - 6, cy - s * 0.6 - 6, cx + s * x + 6, cy - s * 0.6 + 6), fill=(220, 30, 50))


def _figure(d, cx, cy, s, c):
    d.rounded_rectangle(
        (cx - s * 0.9, cy - s * 1.1, cx + s * 0.9, cy + s * 0.95),
        radius=8,
        fill=(245, 245, 250),
        outline=(120, 120, 140),
        width=3,
    )
    d.ellipse((cx - s * 0.22, cy - s * 0.85, cx + s * 0.22, cy - s * 0.4), fill=(240, 200, 170))
    d.rectangle((cx - s * 0.3, cy - s * 0.4, cx + s * 0.3, cy + s * 0.3), fill=c)
    d.rectangle((cx - s * 0.25, cy + s * 0.3, cx - s * 0.05, cy + s * 0.75), fill=(60, 60, 80))
    d.rectangle((cx + s * 0.05, cy + s * 0.3, cx + s * 0.25, cy + s * 0.75), fill=(60, 60, 80))
    d.rectangle((cx + s * 0.45, cy - s * 0.2, cx + s * 0.75, cy + s * 0.1), fill=shade(c, 0.7))


_OBJECT_DRAWERS: dict[str, Callable] = {
    "mug": _mug,
    "sneaker": _sneaker,
    "bottle": _bottle,
    "cat": _cat,
    "robot": _robot,
    "lamp": _lamp,
    "plant": _plant,
    "car": _car,
    "cake": _cake,
    "figure": _figure,
}


# --- portraits ----------------------------------------------------------------------------------


def draw_portrait(recipe: dict, size: int) -> Image.Image:
    """A square crop around a real face, with small per-case framing and color changes."""
    rng = np.random.default_rng(recipe["seed"])
    photo = face_photo(recipe["face"])
    cx, cy, side = _FACE_FRAMES[recipe["face"]]
    side = int(side * rng.uniform(0.92, 1.1))
    cx += int(rng.integers(-side // 20, side // 20 + 1))
    cy += int(rng.integers(-side // 20, side // 20 + 1))
    x0 = int(np.clip(cx - side // 2, 0, photo.width - side))
    y0 = int(np.clip(cy - side // 2, 0, photo.height - side))
    img = photo.crop((x0, y0, x0 + side, y0 + side)).resize((size, size), Image.Resampling.LANCZOS)
    img = ImageEnhance.Brightness(img).enhance(float(rng.uniform(0.92, 1.08)))
    return ImageEnhance.Color(img).enhance(float(rng.uniform(0.9, 1.1)))


# --- text on images --------------------------------------------------------------------------------


def draw_poster(recipe: dict, size: int) -> Image.Image:
    """A poster whose only words are ``recipe['text']``, big and bold."""
    rng = np.random.default_rng(recipe["seed"])
    w, h = dims(size, recipe.get("aspect", "3:4"))
    bg, fg = [
        ((235, 215, 170), (160, 40, 35)),
        ((25, 45, 80), (250, 210, 80)),
        ((240, 240, 235), (20, 20, 25)),
        ((200, 60, 50), (255, 245, 225)),
    ][int(rng.integers(0, 4))]
    img = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(img)
    cx, cy = w // 2, int(h * 0.75)
    for ang in np.linspace(0, np.pi, 9):
        d.polygon(
            [
                (cx, cy),
                (cx + int(w * np.cos(ang)), cy - int(w * np.sin(ang))),
                (cx + int(w * np.cos(ang + 0.15)), cy - int(w * np.sin(ang + 0.15))),
            ],
            fill=shade(bg, 0.9),
        )
    pad = w // 12
    d.rectangle((pad // 2, pad // 2, w - pad // 2, h - pad // 2), outline=fg, width=max(2, w // 90))
    text_box = [pad, int(h * 0.12), w - pad, int(h * 0.55)]
    d.rectangle(text_box, fill=bg)
    fnt, lines = fit_text(recipe["text"], text_box[2] - text_box[0], text_box[3] - text_box[1])
    draw_lines(d, lines, fnt, text_box, fg)
    return img


def draw_sign(recipe: dict, size: int) -> Image.Image:
    """Text on a wooden board, a neon tube or a chalkboard."""
    rng = np.random.default_rng(recipe["seed"])
    w, h = dims(size, recipe.get("aspect", "4:3"))
    kind = recipe["kind"]
    if kind == "wood":
        img = draw_scene({"theme": "city", "seed": recipe["seed"], "aspect": recipe.get("aspect", "4:3")}, size)
        board, ink = (125, 80, 45), (250, 235, 200)
    elif kind == "neon":
        img = Image.new("RGB", (w, h), (70, 35, 30))
        d = ImageDraw.Draw(img)
        for y in range(0, h, 12):
            for x in range(-(y // 12 % 2) * 12, w, 24):
                d.rectangle((x + 1, y + 1, x + 22, y + 10), fill=jitter(rng, (110, 50, 40), 10))
        board, ink = None, (255, 80, 200)
    else:
        img = Image.new("RGB", (w, h), (120, 90, 60))
        board, ink = (35, 60, 45), (240, 240, 235)
    d = ImageDraw.Draw(img)
    box = [int(w * 0.1), int(h * 0.15), int(w * 0.9), int(h * 0.5) if kind == "wood" else int(h * 0.85)]
    if board:
        d.rectangle(box, fill=board, outline=shade(board, 0.6), width=3)
    inner = [box[0] + 8, box[1] + 6, box[2] - 8, box[3] - 6]
    fnt, lines = fit_text(recipe["text"], inner[2] - inner[0], inner[3] - inner[1])
    if kind == "neon":
        glow = Image.new("RGB", (w, h), (0, 0, 0))
        draw_lines(ImageDraw.Draw(glow), lines, fnt, inner, ink)
        img = Image.fromarray(
            np.clip(np.asarray(img, int) + np.asarray(glow.filter(ImageFilter.GaussianBlur(4)), int), 0, 255).astype(
                np.uint8
            )
        )
        d = ImageDraw.Draw(img)
        ink = (255, 215, 245)
    draw_lines(d, lines, fnt, inner, ink)
    return img


# --- edits of an image (operations with a source) -------------------------------------------------------


def stylize(img: Image.Image, style: str, seed: int = 0) -> Image.Image:
    """Restyle ``img`` without moving what is in it (geometry kept, so structure stays comparable)."""
    if style == "none":
        return img.copy()
    if style == "ghibli":  # flatter, painted-looking regions, more saturated
        out = img.filter(ImageFilter.MedianFilter(3))
        out = ImageEnhance.Color(out).enhance(1.35)
        return ImageOps.posterize(ImageEnhance.Brightness(out).enhance(1.06), 5)
    if style == "clay":
        out = img.filter(ImageFilter.SMOOTH_MORE).filter(ImageFilter.SMOOTH_MORE)
        return ImageOps.posterize(ImageEnhance.Contrast(ImageEnhance.Color(out).enhance(1.3)).enhance(1.15), 4)
    if style == "pixel":
        small = img.resize((max(8, img.width // 8), max(8, img.height // 8)), Image.Resampling.BOX)
        return ImageOps.posterize(small.resize(img.size, Image.Resampling.NEAREST), 4)
    if style == "sketch":
        gray = ImageOps.grayscale(img)
        blur = ImageOps.invert(gray).filter(ImageFilter.GaussianBlur(3))
        g, b = np.asarray(gray, float), np.asarray(blur, float)
        dodge = np.clip(g * 255.0 / np.maximum(255.0 - b, 1.0), 0, 255).astype(np.uint8)
        return Image.fromarray(dodge, "L").convert("RGB")
    if style == "watercolor":
        out = img.filter(ImageFilter.MedianFilter(3)).filter(ImageFilter.GaussianBlur(1.2))
        return ImageEnhance.Brightness(ImageEnhance.Color(out).enhance(1.2)).enhance(1.08)
    if style == "neon":
        dark = ImageEnhance.Brightness(img).enhance(0.4)
        edges = np.asarray(ImageOps.grayscale(img).filter(ImageFilter.FIND_EDGES), float)[..., None]
        glow = edges * np.array([1.2, 0.4, 1.0]) + np.roll(edges, 2, axis=1) * np.array([0.2, 1.0, 1.2])
        return Image.fromarray(np.clip(np.asarray(dark, float) + 2.0 * glow, 0, 255).astype(np.uint8))
    if style == "vintage":
        a = np.asarray(img, float)
        sepia = a @ np.array([[0.393, 0.349, 0.272], [0.769, 0.686, 0.534], [0.189, 0.168, 0.131]])
        a = 0.6 * sepia + 0.4 * a
        yy, xx = np.mgrid[0 : img.height, 0 : img.width]
        r = np.hypot((xx - img.width / 2) / img.width, (yy - img.height / 2) / img.height)
        return Image.fromarray(np.clip(a * (1.0 - 0.6 * r**2)[..., None], 0, 255).astype(np.uint8))
    if style == "winter":
        a = 0.65 * np.asarray(img, float) + 0.35 * np.array([235.0, 242.0, 255.0])
        out = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
        d = ImageDraw.Draw(out)
        rng = np.random.default_rng(seed)
        for _ in range(img.width * img.height // 400):
            x, y = int(rng.integers(0, img.width)), int(rng.integers(0, img.height))
            d.ellipse((x - 1, y - 1, x + 1, y + 1), fill=(255, 255, 255))
        return out
    if style == "headshot":
        out = img.filter(ImageFilter.SMOOTH)
        return ImageEnhance.Contrast(ImageEnhance.Brightness(out).enhance(1.06)).enhance(1.05)
    raise ValueError(f"unknown style {style!r}")


STYLE_NAMES = ("none", "ghibli", "clay", "pixel", "sketch", "watercolor", "neon", "vintage", "winter", "headshot")


def yellow_cast(img: Image.Image, strength: float) -> Image.Image:
    """The warm, yellow tint the community complains about: blue drops most, red least."""
    gain = 1.0 - strength * np.array([0.05, 0.11, 0.22])
    a = np.asarray(img, float) * gain + strength * np.array([4.0, 1.0, 0.0])
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def glitch(img: Image.Image, seed: int) -> Image.Image:
    """Incoherent output: tiles swapped, duplicated and mirrored."""
    rng = np.random.default_rng(seed)
    a = np.asarray(img).copy()
    th, tw = img.height // 4, img.width // 4
    for _ in range(4):
        (y1, x1), (y2, x2) = rng.integers(0, 4, size=(2, 2)) * (th, tw)
        a[y1 : y1 + th, x1 : x1 + tw] = a[y2 : y2 + th, x2 : x2 + tw][:, ::-1]
    return Image.fromarray(a)


def paste(obj: Image.Image, scene: Image.Image, seed: int) -> Image.Image:
    """The object of one picture placed into another (multi-image composition)."""
    rng = np.random.default_rng(seed)
    out = scene.copy()
    side = int(min(scene.size) * rng.uniform(0.38, 0.5))
    crop = obj.crop((obj.width // 8, obj.height // 8, obj.width * 7 // 8, obj.height * 7 // 8)).resize(
        (side, side), Image.Resampling.LANCZOS
    )
    mask = Image.new("L", (side, side), 0)
    ImageDraw.Draw(mask).ellipse((2, 2, side - 2, side - 2), fill=255)
    x = int(rng.integers(0, scene.width - side))
    y = scene.height - side - int(rng.integers(2, max(3, scene.height // 10)))
    out.paste(crop, (x, y), mask.filter(ImageFilter.GaussianBlur(3)))
    return out


def side_by_side(left: Image.Image, right: Image.Image, size: int, labels: bool) -> Rendered:
    """Two pictures in one image, same height, a white gutter between; boxes name each half."""
    h = size
    lw, rw = round(left.width * h / left.height), round(right.width * h / right.height)
    gap = max(4, size // 48)
    canvas = Image.new("RGB", (lw + gap + rw, h), (255, 255, 255))
    canvas.paste(left.resize((lw, h), Image.Resampling.LANCZOS), (0, 0))
    canvas.paste(right.resize((rw, h), Image.Resampling.LANCZOS), (lw + gap, 0))
    if labels:
        d = ImageDraw.Draw(canvas)
        fnt = font(max(9, size // 18), bold=True)
        for x, word in ((6, "Before"), (lw + gap + 6, "After")):
            tw = int(fnt.getlength(word))
            d.rounded_rectangle((x, 6, x + tw + 10, 10 + fnt.size + 4), radius=4, fill=(20, 20, 20))
            d.text((x + 5, 8), word, font=fnt, fill=(255, 255, 255))
    return Rendered(canvas, {"left": [0, 0, lw, h], "right": [lw + gap, 0, lw + gap + rw, h]})


def chat_screenshot(prompt: str, upload: Image.Image | None, output: Image.Image, size: int) -> Rendered:
    """A phone screenshot of a ChatGPT conversation: the user's upload and prompt, the assistant's image."""
    w = size * 3 // 2
    m = max(8, size // 16)
    body, small, bold = font(max(10, size // 18)), font(max(8, size // 24)), font(max(10, size // 16), bold=True)
    parts: list[tuple[str, tuple]] = []
    boxes: dict[str, Box] = {}
    y = m + small.size + m // 2
    parts.append(("status", (m, m // 2)))
    header_y = y
    y += bold.size + m
    if upload is not None:
        uw = int(size * 0.6)
        uh = round(upload.height * uw / upload.width)
        boxes["input"] = [w - m - uw, y, w - m, y + uh]
        y += uh + m // 2
    max_text = int(w * 0.68)
    lines = wrap(prompt, body, max_text - 2 * m)
    step = round(body.size * 1.3)
    bubble_w = int(max(body.getlength(line) for line in lines)) + 2 * m
    bubble = [w - m - bubble_w, y, w - m, y + step * len(lines) + m]
    boxes["prompt"] = bubble
    y = bubble[3] + m
    label_y = y
    y += small.size + m // 2
    ow = w - 3 * m - size // 10
    oh = round(output.height * ow / output.width)
    boxes["output"] = [2 * m + size // 10, y, 2 * m + size // 10 + ow, y + oh]
    y += oh + m
    bar_y = y
    height = y + body.size + 3 * m

    canvas = Image.new("RGB", (w, height), (255, 255, 255))
    d = ImageDraw.Draw(canvas)
    d.text((m, m // 2), "9:41", font=small, fill=(0, 0, 0))
    d.rectangle((w - m - 22, m // 2 + 2, w - m, m // 2 + small.size - 1), outline=(0, 0, 0), width=1)
    d.rectangle((w - m - 20, m // 2 + 4, w - m - 6, m // 2 + small.size - 3), fill=(0, 0, 0))
    title = "ChatGPT"
    d.text(((w - bold.getlength(title)) / 2, header_y), title, font=bold, fill=(20, 20, 20))
    d.line((0, header_y + bold.size + m // 2, w, header_y + bold.size + m // 2), fill=(230, 230, 230), width=1)
    if upload is not None:
        x0, y0, x1, y1 = boxes["input"]
        canvas.paste(upload.resize((x1 - x0, y1 - y0), Image.Resampling.LANCZOS), (x0, y0))
    d.rounded_rectangle(bubble, radius=m, fill=(236, 236, 236))
    ty = bubble[1] + m // 2
    for line in lines:
        d.text((bubble[0] + m, ty), line, font=body, fill=(15, 15, 15))
        ty += step
    logo = size // 10
    d.ellipse((m, label_y, m + logo, label_y + logo), fill=(16, 163, 127))
    d.text((2 * m + logo, label_y), "Image created", font=small, fill=(110, 110, 110))
    x0, y0, x1, y1 = boxes["output"]
    canvas.paste(output.resize((x1 - x0, y1 - y0), Image.Resampling.LANCZOS), (x0, y0))
    d.rounded_rectangle((m, bar_y, w - m, bar_y + body.size + 2 * m), radius=m, outline=(200, 200, 200), width=1)
    d.text((2 * m, bar_y + m), "Message", font=body, fill=(150, 150, 150))
    return Rendered(canvas, boxes)


# --- the recipe interpreter ----------------------------------------------------------------------------


def render(recipe: dict, size: int, cache: dict[str, Rendered] | None = None) -> Rendered:
    """Draw ``recipe`` at ``size``; ``cache`` (keyed by the recipe's JSON) shares sources between outputs."""
    cache = {} if cache is None else cache
    key = json.dumps(recipe, sort_keys=True)
    if key not in cache:
        cache[key] = _render(recipe, size, cache)
    return cache[key]


def _render(r: dict, size: int, cache: dict[str, Rendered]) -> Rendered:
    op = r["op"]

    def sub(name: str) -> Image.Image:
        return render(r[name], size, cache).image

    if op == "scene":
        return Rendered(draw_scene(r, size))
    if op == "object":
        return Rendered(draw_object(r, size))
    if op == "portrait":
        return Rendered(draw_portrait(r, size))
    if op == "poster":
        return Rendered(draw_poster(r, size))
    if op == "sign":
        return Rendered(draw_sign(r, size))
    if op == "style":
        return Rendered(stylize(sub("src"), r["style"], r.get("seed", 0)))
    if op == "tint":
        return Rendered(yellow_cast(sub("src"), r["strength"]))
    if op == "stretch":
        return Rendered(sub("src").resize(dims(size, r["aspect"]), Image.Resampling.LANCZOS))
    if op == "glitch":
        return Rendered(glitch(sub("src"), r["seed"]))
    if op == "paste":
        return Rendered(paste(sub("obj"), sub("scene"), r["seed"]))
    if op == "side_by_side":
        return side_by_side(sub("left"), sub("right"), size, r.get("labels", False))
    if op == "screenshot":
        upload = sub("input") if r.get("input") else None
        return chat_screenshot(r["prompt"], upload, sub("output"), size)
    raise ValueError(f"unknown image op {op!r}")


def encode(img: Image.Image, fmt: str, jpeg_quality: int) -> bytes:
    """File bytes with fixed settings and no metadata (no timestamps), so equal pixels give equal bytes."""
    buf = io.BytesIO()
    if fmt == "png":
        img.save(buf, format="PNG", compress_level=6, optimize=False)
    elif fmt == "jpg":
        img.convert("RGB").save(
            buf, format="JPEG", quality=jpeg_quality, subsampling=2, optimize=False, progressive=False
        )
    else:
        raise ValueError(f"unknown image format {fmt!r}")
    return buf.getvalue()
