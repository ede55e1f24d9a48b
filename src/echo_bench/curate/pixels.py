"""Pixel rules of the offline image step: hashes, junk, seams, chat-screenshot layout, crops.

What pixels alone can tell, and what they cannot (see docs/curation.md, rules M1-M6):

* **Duplicates** (M2): two images whose 64-bit average hash and difference hash
  both differ in at most ``max_distance`` bits and whose mean colours differ by
  at most ``max_color_delta`` per channel show the same picture (resized,
  re-compressed).  Reliable for copies; an edit that changes almost nothing
  (same layout, same colours) also passes as a copy.
* **Junk** (M1): only what is measurable -- tiny images, near-uniform images,
  banner-shaped strips.  Memes, logos, charts and unrelated photos look like any
  other picture to these rules; only a VLM can tell them apart.
* **Side-by-side composites** (M3): a vertical gutter (a narrow run of uniform
  columns) or a sharp straight edge over most of the height, near the middle
  of a wide image, with textured panels on both sides.  Confidence is ``high``
  only for a gutter whose two panels look alike (correlated structure, as in a
  before/after pair).
* **Grids** (M3b): cuts that cross the whole image, vertical and horizontal
  (gutters or straight edges between 15% and 85% of the side).  A grid of three
  or more cells (2x2, 1x3, ...) is a collage of several outputs; two cells are
  a before/after composite only when the text has an edit cue and the panels'
  structure correlates (M3), otherwise a collage of two outputs.
* **Chat screenshots** (M4): a large uniform background with stacked blocks
  (recursive XY-cut): text lines plus at least one solid, textured picture
  block.  This is a layout cue, not a reading of the screen: the rules cannot
  tell a ChatGPT screenshot from a poster or a slide with a photo, and cannot
  read the prompt (no OCR), so every screenshot found offline has confidence
  ``low`` and the prompt stays unread.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from echo_bench.io import sha256_bytes, write_bytes

Box = tuple[float, float, float, float]  # x_min, y_min, x_max, y_max as fractions of width and height

ANALYSIS_SIDE = 360  # layout and seam analysis work on a copy at most this wide


@dataclass(frozen=True)
class PixelSettings:
    """``multimodal.*`` pixel knobs (keyword defaults for tests; the stage passes params)."""

    duplicate_max_distance: int = 5  # bits, for both the average and the difference hash
    duplicate_max_color_delta: float = 2.5  # largest difference of the per-channel mean colours (0-255)
    junk_min_side: int = 64  # px
    junk_min_std: float = 2.5  # grey-level standard deviation below which an image is blank
    junk_max_aspect: float = 4.0
    composite_min_aspect: float = 1.2  # width / height of a side-by-side composite
    composite_min_similarity: float = 0.3  # panel structure correlation for a confident split


@dataclass
class Seam:
    kind: str  # gutter | edge
    x0: int  # left panel ends here (exclusive), in original pixels
    x1: int  # right panel starts here
    similarity: float  # correlation of the two panels' structure
    confident: bool

    def boxes(self, width: int, height: int) -> tuple[Box, Box]:
        return (0.0, 0.0, self.x0 / width, 1.0), (self.x1 / width, 0.0, 1.0, 1.0)


@dataclass
class Layout:
    pictures: list[Box] = field(default_factory=list)  # picture blocks, top to bottom
    text_blocks: int = 0
    bg_share: float = 0.0
    is_screenshot: bool = False


@dataclass
class Features:
    path: str
    readable: bool
    error: str = ""
    width: int = 0
    height: int = 0
    ahash: int = 0
    dhash: int = 0
    mean_rgb: tuple[float, float, float] = (0.0, 0.0, 0.0)
    junk: str | None = None
    seam: Seam | None = None
    grid: Grid | None = None
    layout: Layout | None = None


# --- loading and hashing -----------------------------------------------------------------


def load_rgb(path: str | Path) -> Image.Image:
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        return im.convert("RGB")


def average_hash(gray: Image.Image) -> int:
    """64-bit average hash: 8x8 box-downscaled grey levels above their mean."""
    a = np.asarray(gray.resize((8, 8), Image.Resampling.BOX), dtype=np.float32)
    bits = (a > a.mean()).ravel()
    return int("".join("1" if b else "0" for b in bits), 2)


def difference_hash(gray: Image.Image) -> int:
    """64-bit difference hash: 9x8 downscale, each pixel brighter than its right neighbour."""
    a = np.asarray(gray.resize((9, 8), Image.Resampling.BOX), dtype=np.float32)
    bits = (a[:, :-1] > a[:, 1:]).ravel()
    return int("".join("1" if b else "0" for b in bits), 2)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def is_duplicate(f: Features, g: Features, max_distance: int, max_color_delta: float) -> bool:
    """Same picture: both hashes within ``max_distance`` bits and mean colours within ``max_color_delta``.

    The colour test keeps an edit that preserves the layout (a filter, a style
    transfer, a colour change) from passing as a copy of its input.
    """
    return (
        f.readable
        and g.readable
        and hamming(f.ahash, g.ahash) <= max_distance
        and hamming(f.dhash, g.dhash) <= max_distance
        and max(abs(a - b) for a, b in zip(f.mean_rgb, g.mean_rgb, strict=True)) <= max_color_delta
    )


# --- junk ----------------------------------------------------------------------------------


def junk_reason(gray: np.ndarray, settings: PixelSettings) -> str | None:
    h, w = gray.shape
    if min(h, w) < settings.junk_min_side:
        return f"too small ({w}x{h})"
    if float(gray.std()) < settings.junk_min_std:
        return "blank (near-uniform)"
    if max(h, w) / max(1, min(h, w)) > settings.junk_max_aspect:
        return f"banner-shaped ({w}x{h})"
    return None


# --- side-by-side composites ----------------------------------------------------------------


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) runs of True in a 1-D bool array."""
    if flags.size == 0:
        return []
    d = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _structure(gray: np.ndarray) -> np.ndarray:
    im = Image.fromarray(gray.astype(np.uint8)).resize((24, 24), Image.Resampling.BOX)
    a = np.asarray(im, dtype=np.float32)
    gy, gx = np.gradient(a)
    return np.hypot(gx, gy).ravel()


def _similarity(left: np.ndarray, right: np.ndarray) -> float:
    if left.shape[1] < 8 or right.shape[1] < 8:
        return 0.0
    a, b = _structure(left), _structure(right)
    if a.std() < 1e-6 or b.std() < 1e-6:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def find_seam(gray: np.ndarray, scale: float, settings: PixelSettings) -> Seam | None:
    """A vertical gutter or straight edge near the middle of a wide image (rule M3), or None.

    ``gray`` is the analysis copy, ``scale`` = original width / analysis width.
    """
    h, w = gray.shape
    if w / max(1, h) < settings.composite_min_aspect or w < 32 or h < 16:
        return None
    g = gray.astype(np.float32)
    col_std = g.std(axis=0)
    lo, hi = int(0.3 * w), int(0.7 * w)
    textured = float(np.median(col_std)) > 8.0
    if not textured:
        return None
    best: Seam | None = None
    # gutter: a narrow run of uniform columns inside the middle band, textured columns on both sides
    for s, e in _runs(col_std < 4.0):
        if e <= lo or s >= hi or e - s > 0.1 * w or s < 2 or e > w - 2:
            continue
        left_tex = float(np.median(col_std[max(0, s - max(3, w // 20)) : s]))
        right_tex = float(np.median(col_std[e : min(w, e + max(3, w // 20))]))
        if left_tex < 8.0 or right_tex < 8.0:
            continue
        sim = _similarity(g[:, :s], g[:, e:])
        cand = Seam("gutter", round(s * scale), round(e * scale), sim, sim >= settings.composite_min_similarity)
        if best is None or abs((s + e) / 2 - w / 2) < abs((best.x0 + best.x1) / (2 * scale) - w / 2):
            best = cand
    if best is not None:
        return best
    # edge: a column boundary that is strong on most rows and much stronger than the typical one
    diff = np.abs(np.diff(g, axis=1))
    d = diff.mean(axis=0)
    c = (diff > 10.0).mean(axis=0)
    med = float(np.median(d)) + 1e-6
    band = np.arange(lo, min(hi, w - 1))
    ok = band[(c[band] >= 0.8) & (d[band] >= max(12.0, 5.0 * med))]
    if ok.size == 0:
        return None
    x = int(ok[np.argmax(d[ok])]) + 1
    sim = _similarity(g[:, :x], g[:, x:])
    return Seam("edge", round(x * scale), round(x * scale), sim, False)


# --- grids of several pictures (output collages) ------------------------------------------------


@dataclass
class Grid:
    """Cuts of an image into a grid of cells (rule M3b), in original pixels.

    ``x_cuts``/``y_cuts`` are (end of the cell before, start of the cell after)
    per cut; ``kinds`` says gutter or edge per cut; ``regular`` is true when the
    cells of each axis have the same size within 6%.
    """

    x_cuts: list[tuple[int, int]]
    y_cuts: list[tuple[int, int]]
    kinds: list[str]
    regular: bool
    width: int
    height: int
    similarity: float = 0.0  # structure correlation of the two cells of a two-cell grid (as for M3)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return len(self.y_cuts) + 1, len(self.x_cuts) + 1

    @property
    def n_cells(self) -> int:
        r, c = self.shape
        return r * c

    @property
    def clean(self) -> bool:
        """Every cut is a gutter, or the cells are regular: the split is reliable."""
        return self.regular or all(k == "gutter" for k in self.kinds)

    def boxes(self) -> list[Box]:
        """The cells as fraction boxes, row by row, left to right."""
        xs = [0] + [v for cut in self.x_cuts for v in cut] + [self.width]
        ys = [0] + [v for cut in self.y_cuts for v in cut] + [self.height]
        cols = [(xs[2 * i], xs[2 * i + 1]) for i in range(len(xs) // 2)]
        rows = [(ys[2 * i], ys[2 * i + 1]) for i in range(len(ys) // 2)]
        return [(x0 / self.width, y0 / self.height, x1 / self.width, y1 / self.height)
                for y0, y1 in rows for x0, x1 in cols]


def _axis_cuts(g: np.ndarray) -> list[tuple[int, int, str]]:
    """Cuts between columns of ``g``: full-height gutters (uniform column runs, at most 10% of the
    width, textured on both sides) and straight edges (a boundary strong on 80% of the rows and
    5x the median), between 15% and 85% of the width; (start, end, kind) in ``g``'s pixels."""
    h, w = g.shape
    if w < 32 or h < 16:
        return []
    col_std = g.std(axis=0)
    lo, hi = 0.15 * w, 0.85 * w
    k = max(3, w // 20)
    cuts: list[tuple[int, int, str]] = []
    for s, e in _runs(col_std < 4.0):
        if s < lo or e > hi or e - s > 0.1 * w:
            continue
        if float(np.median(col_std[max(0, s - k) : s])) >= 8.0 and float(np.median(col_std[e : e + k])) >= 8.0:
            cuts.append((s, e, "gutter"))
    diff = np.abs(np.diff(g, axis=1))
    d = diff.mean(axis=0)
    c = (diff > 10.0).mean(axis=0)
    med = float(np.median(d)) + 1e-6
    strong = (c >= 0.8) & (d >= max(12.0, 5.0 * med))
    strong[: int(lo)] = False
    strong[int(hi) :] = False
    for s, e in _runs(strong):
        x = s + int(np.argmax(d[s:e])) + 1
        if not any(a - 2 <= x <= b + 2 for a, b, _ in cuts):
            cuts.append((x, x, "edge"))
    return sorted(cuts)


def _regular(cuts: list[tuple[int, int, str]], size: int) -> bool:
    bounds = [0] + [v for a, b, _ in cuts for v in (a, b)] + [size]
    lengths = [bounds[2 * i + 1] - bounds[2 * i] for i in range(len(bounds) // 2)]
    return max(lengths) - min(lengths) <= 0.06 * size


def _reliable_cuts(cuts: list[tuple[int, int, str]], size: int) -> list[tuple[int, int, str]]:
    """The cuts of one axis that split a picture into cells: only a regular set (cells equal
    within 6%), first with every cut, else with the gutters alone.  A single picture has
    uniform bands and straight edges too (a horizon, a wall, a banner), rarely at exactly
    equal spacing; a collage of outputs, with or without gutters, has its cells equal."""
    if cuts and _regular(cuts, size):
        return cuts
    gutters = [c for c in cuts if c[2] == "gutter"]
    return gutters if gutters and _regular(gutters, size) else []


def find_grid(gray: np.ndarray, scale: float) -> Grid | None:
    """The grid of an image made of several pictures (rule M3b), or None for a single picture.

    ``gray`` is the analysis copy, ``scale`` = original width / analysis width.
    A cut must cross the whole image (a gutter is uniform over the full height
    or width); cells narrower than 15% of the side are not split off.
    """
    g = gray.astype(np.float32)
    if float(np.median(g.std(axis=0))) <= 8.0:
        return None
    h, w = g.shape
    xc = _reliable_cuts(_axis_cuts(g), w)
    yc = _reliable_cuts(_axis_cuts(g.T), h)
    if not xc and not yc:
        return None
    full_w, full_h = round(w * scale), round(h * scale)
    sim = 0.0
    if len(xc) + len(yc) == 1:
        a, b, _ = (xc or yc)[0]
        t = g if xc else g.T
        sim = _similarity(t[:, :a], t[:, b:])
    return Grid(
        x_cuts=[(round(a * scale), round(b * scale)) for a, b, _ in xc],
        y_cuts=[(round(a * scale), round(b * scale)) for a, b, _ in yc],
        kinds=[k for *_, k in xc + yc],
        regular=(_regular(xc, w) if xc else True) and (_regular(yc, h) if yc else True),
        width=full_w,
        height=full_h,
        similarity=sim,
    )


# --- chat screenshot layout -------------------------------------------------------------------


def _background(rgb: np.ndarray) -> np.ndarray:
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.int32)
    q = border // 16
    keys = q[:, 0] * 256 + q[:, 1] * 16 + q[:, 2]
    vals, counts = np.unique(keys, return_counts=True)
    mode = vals[np.argmax(counts)]
    return border[keys == mode].mean(axis=0)


def _xy_cut(mask: np.ndarray, y0: int, y1: int, x0: int, x1: int, gap: int, out: list, depth: int = 0) -> None:
    sub = mask[y0:y1, x0:x1]
    if not sub.any():
        return
    rows = _runs(sub.any(axis=1))
    rows = _merge(rows, gap)
    if len(rows) > 1 and depth < 12:
        for s, e in rows:
            _xy_cut(mask, y0 + s, y0 + e, x0, x1, gap, out, depth + 1)
        return
    ys, ye = y0 + rows[0][0], y0 + rows[0][1]
    cols = _merge(_runs(mask[ys:ye, x0:x1].any(axis=0)), gap)
    if len(cols) > 1 and depth < 12:
        for s, e in cols:
            _xy_cut(mask, ys, ye, x0 + s, x0 + e, gap, out, depth + 1)
        return
    out.append((ys, ye, x0 + cols[0][0], x0 + cols[0][1]))


def _merge(runs: list[tuple[int, int]], gap: int) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for s, e in runs:
        if merged and s - merged[-1][1] < gap:
            merged[-1][1] = e
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def find_layout(rgb: np.ndarray) -> Layout:
    """Blocks of a screenshot-like layout (rule M4) on the analysis copy."""
    h, w, _ = rgb.shape
    bg = _background(rgb).astype(np.int16)
    a = rgb.astype(np.int16)
    nonbg = (np.abs(a[..., 0] - bg[0]) > 14) | (np.abs(a[..., 1] - bg[1]) > 14) | (np.abs(a[..., 2] - bg[2]) > 14)
    bg_share = float(1.0 - nonbg.mean())
    lay = Layout(bg_share=bg_share)
    if bg_share < 0.3 or h < 64 or w < 64:
        return lay
    blocks: list[tuple[int, int, int, int]] = []
    _xy_cut(nonbg, 0, h, 0, w, max(2, h // 120), blocks)
    pictures = []
    for ys, ye, xs, xe in blocks:
        bh, bw = ye - ys, xe - xs
        if bh >= 0.08 * h and bw >= 0.2 * w:
            block = rgb[ys:ye, xs:xe]
            fill = float(nonbg[ys:ye, xs:xe].mean())
            q = (block.astype(np.int32) // 8).reshape(-1, 3)
            keys = q[:, 0] * 1024 + q[:, 1] * 32 + q[:, 2]
            dominant = float(np.bincount(keys).max() / keys.size)
            if fill >= 0.93 and dominant < 0.7:
                pictures.append((ys / h, xs / w, ye / h, xe / w))
                continue
        if bh < 0.08 * h:
            lay.text_blocks += 1
    pictures.sort()
    lay.pictures = [(x0, y0, x1, y1) for y0, x0, y1, x1 in pictures]
    covered = sum((b[2] - b[0]) * (b[3] - b[1]) for b in lay.pictures)
    lay.is_screenshot = bool(lay.pictures) and lay.text_blocks >= 2 and covered < 0.85
    return lay


# --- features of one image ----------------------------------------------------------------------


def features(path: str | Path, settings: PixelSettings) -> Features:
    """Hashes, junk reason, seam and layout of one image file (unreadable files are flagged, not raised)."""
    try:
        im = load_rgb(path)
    except Exception as e:  # noqa: BLE001 - any decoding problem makes the image unusable, not the stage
        return Features(str(path), readable=False, error=f"{type(e).__name__}: {e}")
    w, h = im.size
    gray_full = im.convert("L")
    f = Features(str(path), True, width=w, height=h, ahash=average_hash(gray_full), dhash=difference_hash(gray_full))
    f.mean_rgb = tuple(float(v) for v in np.asarray(im.resize((64, 64), Image.Resampling.BOX), dtype=np.float32)
                       .reshape(-1, 3).mean(axis=0))  # type: ignore[assignment]
    scale = 1.0
    small = im
    if w > ANALYSIS_SIDE:
        scale = w / ANALYSIS_SIDE
        small = im.resize((ANALYSIS_SIDE, max(1, round(h / scale))), Image.Resampling.BOX)
    rgb = np.asarray(small, dtype=np.uint8)
    gray = np.asarray(small.convert("L"), dtype=np.uint8)
    f.junk = junk_reason(np.asarray(gray_full, dtype=np.uint8), settings)
    if f.junk is None:
        f.layout = find_layout(rgb)
        if not f.layout.is_screenshot:
            f.seam = find_seam(gray, scale, settings)
            f.grid = find_grid(gray, scale)
    return f


# --- crops ----------------------------------------------------------------------------------------


def crop_png(path: str | Path, box: Box) -> bytes | None:
    """PNG bytes of ``box`` (fractions) of the image, or None for a degenerate box."""
    im = load_rgb(path)
    w, h = im.size
    x0, y0, x1, y1 = (max(0.0, min(1.0, float(v))) for v in box)
    px = (round(x0 * w), round(y0 * h), round(x1 * w), round(y1 * h))
    if px[2] - px[0] < 8 or px[3] - px[1] < 8:
        return None
    buf = io.BytesIO()
    im.crop(px).save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def write_crop(data: bytes, crops_dir: str | Path) -> str:
    """Store ``data`` as ``<crops_dir>/<sha256>.png`` (once) and return that path (posix, as given)."""
    name = f"{sha256_bytes(data)}.png"
    path = Path(crops_dir) / name
    if not path.exists():
        write_bytes(path, data)
    return (Path(crops_dir) / name).as_posix()
