"""Procedural images and known-answer controls for validating the metrics.

A *scene* is a seeded synthetic picture (a smooth background gradient, a few
filled shapes, a little texture).  The controls transform it in ways whose
effect on each metric is known in advance:

- ``identity``: an exact copy (every distance 0);
- ``color_cast``: a warm tint (per-channel gain and offset, like the yellow cast
  the community complained about): colours move, layout stays;
- ``scrambled``: the image cut into a grid of blocks that are shuffled: the
  pixels (hence the colour histogram) are exactly the same, the layout is gone.

The tests and ``benchmarks/metrics_throughput.py`` use them; nothing here is
part of a pipeline stage.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

WARM_GAIN = (1.08, 1.0, 0.78)
WARM_OFFSET = (14.0, 6.0, -12.0)


def scene(size: int | tuple[int, int] = 256, seed: int = 0, n_shapes: int = 12) -> np.ndarray:
    """A seeded synthetic RGB scene, (H, W, 3) uint8."""
    w, h = (size, size) if isinstance(size, int) else size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c0, c1 = rng.uniform(40, 215, 3), rng.uniform(40, 215, 3)
    t = (xx / max(w - 1, 1) * 0.6 + yy / max(h - 1, 1) * 0.4)[..., None]
    bg = (c0 * (1 - t) + c1 * t).astype(np.uint8)
    img = Image.fromarray(bg)
    draw = ImageDraw.Draw(img)
    s = min(w, h)
    for _ in range(n_shapes):
        kind = rng.integers(0, 3)
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        rw, rh = rng.uniform(0.06, 0.3) * s, rng.uniform(0.06, 0.3) * s
        fill = tuple(int(v) for v in rng.integers(10, 246, 3))
        box = (x0 - rw, y0 - rh, x0 + rw, y0 + rh)
        if kind == 0:
            draw.ellipse(box, fill=fill)
        elif kind == 1:
            draw.rectangle(box, fill=fill)
        else:
            pts = [(x0 + rw * np.cos(a), y0 + rh * np.sin(a)) for a in np.sort(rng.uniform(0, 2 * np.pi, 5))]
            draw.polygon(pts, fill=fill)
    img = img.filter(ImageFilter.GaussianBlur(radius=max(s / 512, 0.5)))
    arr = np.asarray(img).astype(np.float32)
    arr += rng.normal(0, 3.0, arr.shape).astype(np.float32)  # sensor-like texture
    return np.clip(arr, 0, 255).astype(np.uint8)


def color_cast(img: np.ndarray, gain=WARM_GAIN, offset=WARM_OFFSET) -> np.ndarray:
    """A per-channel gain and offset (default: a warm, yellowish tint)."""
    out = img.astype(np.float32) * np.asarray(gain, np.float32) + np.asarray(offset, np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def scrambled(img: np.ndarray, grid: int = 8, seed: int = 0) -> np.ndarray:
    """The image's blocks (a ``grid`` x ``grid`` cut) shuffled: same pixels, layout destroyed."""
    h, w = img.shape[:2]
    bh, bw = h // grid, w // grid
    out = img.copy()
    blocks = [img[r * bh : (r + 1) * bh, c * bw : (c + 1) * bw] for r in range(grid) for c in range(grid)]
    order = np.random.default_rng(seed).permutation(len(blocks))
    # avoid fixed points so every block moves
    while np.any(order == np.arange(len(blocks))) and len(blocks) > 1:
        order = np.roll(order, 1)
    for i, j in enumerate(order):
        r, c = divmod(i, grid)
        out[r * bh : (r + 1) * bh, c * bw : (c + 1) * bw] = blocks[j]
    return out


def controls(img: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """The known-answer controls of ``img``: identity, color_cast, scrambled."""
    return {"identity": img.copy(), "color_cast": color_cast(img), "scrambled": scrambled(img, seed=seed)}
