"""A small deterministic word cloud: words sized by frequency, placed on a spiral.

Layout (:func:`layout`): words sorted by weight (then alphabetically); font size
``min_size + (max_size - min_size) * sqrt(w / w_max)``; each word's box is its
ink box in DejaVu Sans at that size (measured with Pillow) plus ``pad`` pixels.
Starting from the canvas centre, the word walks out on an Archimedean spiral
(radius growing by ``step`` pixels per turn, x stretched by the canvas aspect
ratio, seeded start angle) until its box lies inside the canvas and overlaps no
box placed before it; a word that finds no place is shrunk by 15 % and tried
again, down to ``min_size``, then left out (reported).  All words are horizontal.

The same layout feeds the paper figure (:func:`figure`) and the HTML report
(the SVG draws each word at its box centre with its measured width), so both
show the same cloud.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class CloudSettings:
    width: int = 900
    height: int = 450
    max_words: int = 60
    min_size: float = 11.0
    max_size: float = 64.0
    pad: int = 2
    step: float = 4.0
    seed: int = 0


def _measure(word: str, size: float) -> tuple[int, int]:
    from echo_bench.analyses.plots import font_path

    font = _font(font_path(), int(round(size)))
    left, top, right, bottom = font.getbbox(word)
    return max(1, right - left), max(1, bottom - top)


_FONTS: dict[tuple[str, int], Any] = {}


def _font(path: str, size: int) -> Any:
    from PIL import ImageFont

    key = (path, size)
    if key not in _FONTS:
        _FONTS[key] = ImageFont.truetype(path, size)
    return _FONTS[key]


def _overlaps(box: tuple[float, float, float, float], placed: list[tuple[float, float, float, float]]) -> bool:
    x0, y0, x1, y1 = box
    for a0, b0, a1, b1 in placed:
        if x0 < a1 and a0 < x1 and y0 < b1 and b0 < y1:
            return True
    return False


def layout(
    weights: Mapping[str, float] | Sequence[tuple[str, float]],
    settings: CloudSettings = CloudSettings(),
    *,
    groups: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``{"width", "height", "words": [{text, weight, group, size, x, y, w, h}], "dropped": [...]}``.

    ``x``, ``y`` are the centre of the word's box in pixels (y down); ``w``, ``h``
    its measured ink size; ``group`` the category (for colours) when given.
    """
    items = list(weights.items()) if isinstance(weights, Mapping) else list(weights)
    items = [(str(k), float(v)) for k, v in items if v and v > 0]
    items.sort(key=lambda kv: (-kv[1], kv[0]))
    items = items[: settings.max_words]
    W, H = settings.width, settings.height
    out: list[dict[str, Any]] = []
    dropped: list[str] = []
    if not items:
        return {"width": W, "height": H, "words": out, "dropped": dropped}
    wmax = items[0][1]
    rng = np.random.default_rng(settings.seed)
    placed: list[tuple[float, float, float, float]] = []
    aspect = W / H
    max_r = math.hypot(W, H) / 2
    for text, w in items:
        size = settings.min_size + (settings.max_size - settings.min_size) * math.sqrt(w / wmax)
        theta0 = float(rng.uniform(0, 2 * math.pi))
        done = False
        while not done:
            tw, th = _measure(text, size)
            bw, bh = tw + 2 * settings.pad, th + 2 * settings.pad
            t = 0.0
            while True:
                r = settings.step * t / (2 * math.pi)
                if r > max_r:
                    break
                cx = W / 2 + r * math.cos(t + theta0) * aspect ** 0.5
                cy = H / 2 + r * math.sin(t + theta0) / aspect ** 0.5
                box = (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)
                if box[0] >= 0 and box[1] >= 0 and box[2] <= W and box[3] <= H and not _overlaps(box, placed):
                    placed.append(box)
                    out.append({"text": text, "weight": w, "group": (groups or {}).get(text), "size": round(size, 2),
                                "x": round(cx, 2), "y": round(cy, 2), "w": tw, "h": th})
                    done = True
                    break
                # angular step so that consecutive positions are about 2 px apart on the spiral
                t += max(0.05, 2.0 / max(r, 1.0))
            if not done:
                if size <= settings.min_size:
                    dropped.append(text)
                    break
                size = max(settings.min_size, size * 0.85)
    return {"width": W, "height": H, "words": out, "dropped": dropped}


#: Colour of each feedback category in the cloud (and in the report).
CATEGORY_COLORS = {
    "identity": "#C44E52",
    "aspect_ratio": "#DD8452",
    "proportions": "#937860",
    "text_accuracy": "#4C72B0",
    "color_balance": "#CCB974",
    "coherency": "#8172B3",
    "image_quality": "#64B5CD",
    "prompt_adherence": "#55A868",
    "refusal": "#DA8BC3",
    "general": "#8C8C8C",
}


def figure(cloud: Mapping[str, Any], pdf: str | None, png: str | None, *, title: str = "") -> None:
    """The laid-out cloud drawn with matplotlib at the layout's pixel size (100 dpi)."""
    from echo_bench.analyses import plots

    W, H = cloud["width"], cloud["height"]
    dpi = 100
    with plots.style():
        fig = plots.plt.figure(figsize=(W / dpi, (H + (24 if title else 0)) / dpi), dpi=dpi)
        ax = fig.add_axes((0, 0, 1, H / (H + (24 if title else 0))))
        ax.set_xlim(0, W)
        ax.set_ylim(H, 0)
        ax.axis("off")
        for wd in cloud["words"]:
            ax.text(wd["x"], wd["y"], wd["text"], fontsize=wd["size"] * 72 / dpi, ha="center", va="center",
                    color=CATEGORY_COLORS.get(wd.get("group") or "general", "#333333"), family="DejaVu Sans")
        if not cloud["words"]:
            ax.text(W / 2, H / 2, "no failure keywords", ha="center", va="center", fontsize=12, color="#666666")
        if title:
            fig.text(0.5, 1 - 12 / (H + 24), title, ha="center", va="center", fontsize=9)
        plots.save(fig, pdf, png, dpi=dpi * 2)
