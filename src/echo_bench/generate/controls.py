"""Known-answer control models: deterministic "generators" whose effect is known in advance.

They stand in the model list beside the real models, so every downstream number
has a known answer to check against: the judges and the metrics must rank
``identity`` above ``scramble``, the colour-shift metric must measure the cast
of ``color_cast``, the text metric must find the error rate of ``typo``, the face
metric must see that ``face_swap`` lost the identity.

=============  ======================================  ========================================
control        image-to-image (input image given)      text-to-image (no input image)
=============  ======================================  ========================================
identity       the first input, pixel for pixel         the requested text (``requested_text``,
                                                        the text metric's target) rendered
                                                        faithfully with DejaVu Sans on a plain
                                                        canvas; without any, the prompt's words
color_cast     the input with a global cast: every      the identity canvas, cast the same way
               pixel moved in CIELAB so that the mean
               moves by ``delta_lab`` (default +20 b*:
               yellow), or a per-channel ``gain``
scramble       the input cut in ``block`` x ``block``    the identity canvas, scrambled
               tiles, tiles permuted (no tile stays):
               the colour histogram is exactly kept,
               the layout is destroyed
typo           the input with the requested text        the requested text with a known error
               (with errors) on a banner at the bottom  rate rendered on the canvas
               in the mean colour of the strip it covers
face_swap      the face region (dlib HOG detector,      the identity canvas with a synthetic face
               else a central ellipse) replaced by a    in the central ellipse
               synthetic face keeping the region's mean
               colour; nothing else changes
=============  ======================================  ========================================

``typo`` substitutes ``round(cer * len(text))`` non-space characters of the
requested text with characters that do not occur in the text, so the
Levenshtein distance to the requested text is exactly that count and the
character error rate is ``cer`` up to rounding (``0.5 / len(text)``).

Everything is seeded by the sample id and the ``generate.seed`` param
(:func:`derive_seed`); pixel work is done with torch and kornia.
"""

from __future__ import annotations

import contextlib
import hashlib
import string
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from echo_bench.text_requests import requested_text

CONTROLS = ("identity", "color_cast", "scramble", "typo", "face_swap")

#: Settings every control understands, with their library defaults (stages pass params.yaml's).
DEFAULTS: dict[str, Any] = {
    "canvas_size": [512, 512],  # width, height of text-to-image canvases
    "canvas_color": [235, 235, 235],
    "text_color": [20, 20, 20],
    "delta_lab": [0.0, 0.0, 20.0],  # color_cast: shift of (L*, a*, b*)
    "calibrate": True,  # color_cast: scale the shift so the image's mean moves by delta_lab despite gamut clipping
    "gain": None,  # color_cast: per-channel RGB gain instead of delta_lab, e.g. [1.08, 1.0, 0.8]
    "block": 32,  # scramble: tile side in pixels
    "fraction": 1.0,  # scramble: strength, the share of tiles that move
    "cer": 0.2,  # typo: character error rate
    "detector": "auto",  # face_swap: auto (dlib if importable, else center) | dlib | center
    "face_scale": 1.3,  # face_swap: the replaced ellipse, relative to the detected box
    "face_alpha": 1.0,  # face_swap: strength, the synthetic face's share in the blend (1 = replaced, 0 = untouched)
    "detect_max_side": 640,  # face_swap: detection runs on a copy at most this large
}


@dataclass
class ControlOutput:
    image: np.ndarray  # (H, W, 3) uint8
    info: dict[str, Any] = field(default_factory=dict)  # what the control did (goes into the manifest settings)


# --- seeds -------------------------------------------------------------------------------


def derive_seed(sample_id: str, seed: int, salt: str = "") -> int:
    """A 63-bit seed from the sample id and the global seed (and an optional salt)."""
    h = hashlib.sha256(f"{int(seed)}\x00{sample_id}\x00{salt}".encode()).digest()
    return int.from_bytes(h[:8], "big") & ((1 << 63) - 1)


# --- requested text --------------------------------------------------------------------------

def text_to_render(prompt: str, max_words: int = 40) -> tuple[list[str], str]:
    """What a text-to-image control writes: the requested text (:func:`echo_bench.text_requests.requested_text`,
    the text the metric checks), else the prompt's words.

    Returns ``(lines, source)`` with source ``quoted`` or ``prompt_words``.
    """
    spans = requested_text(prompt)
    if spans:
        return spans, "quoted"
    words = (prompt or "").split()[:max_words]
    return ([" ".join(words)] if words else []), "prompt_words"


# --- text rendering ----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def font_path() -> str:
    """DejaVu Sans as shipped by matplotlib."""
    import matplotlib.font_manager as fm

    return fm.findfont(fm.FontProperties(family="DejaVu Sans"), fallback_to_default=False)


@lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_path(), size)


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str] | None:
    """Words of ``text`` packed greedily into lines no wider than ``width`` px; None if a word alone is wider."""
    lines: list[str] = []
    cur = ""
    for word in text.split():
        if font.getlength(word) > width:
            return None
        cand = f"{cur} {word}" if cur else word
        if font.getlength(cand) <= width:
            cur = cand
        else:
            lines.append(cur)
            cur = word
    lines.append(cur)
    return lines


def _layout(lines: Sequence[str], width: int, height: int) -> tuple[ImageFont.FreeTypeFont, list[str], int]:
    """The largest font (and the lines, wrapped between words) whose text block fits ``width`` x ``height``.

    Words are never split unless a single word does not fit even at the smallest
    size (then it is cut to fit), so OCR reads the words as written.
    """
    text = [ln for ln in lines if ln.strip()]
    best: tuple[ImageFont.FreeTypeFont, list[str], int] | None = None
    lo, hi = 6, max(7, height // 3)
    while lo <= hi:
        size = (lo + hi) // 2
        font = _font(size)
        wrapped: list[str] | None = []
        for ln in text:
            w = _wrap(ln, font, width)
            if w is None:
                wrapped = None
                break
            wrapped.extend(w)
        line_h = int(size * 1.25)
        if wrapped is not None and line_h * len(wrapped) <= height:
            best = (font, wrapped, line_h)
            lo = size + 1
        else:
            hi = size - 1
    if best is None:  # a word too long for the canvas even at 6 px: cut lines to fit
        font = _font(6)
        cut = []
        for ln in text:
            while ln and font.getlength(ln) > width:
                ln = ln[:-1]
            cut.append(ln)
        return font, cut, 8
    return best


def draw_text_block(img: Image.Image, lines: Sequence[str], box: tuple[int, int, int, int], color: Sequence[int]) -> list[str]:
    """Draw ``lines`` centred in ``box`` (x0, y0, x1, y1) at the largest size that fits; the lines drawn."""
    x0, y0, x1, y1 = box
    font, wrapped, line_h = _layout(lines, x1 - x0, y1 - y0)
    draw = ImageDraw.Draw(img)
    top = y0 + ((y1 - y0) - line_h * len(wrapped)) // 2
    for i, ln in enumerate(wrapped):
        w = font.getlength(ln)
        draw.text((x0 + ((x1 - x0) - w) / 2, top + i * line_h), ln, font=font, fill=tuple(int(c) for c in color))
    return wrapped


def render_text(
    lines: Sequence[str],
    size: Sequence[int] = (512, 512),
    background: Sequence[int] = (235, 235, 235),
    color: Sequence[int] = (20, 20, 20),
) -> np.ndarray:
    """``lines`` rendered with DejaVu Sans on a plain canvas, (H, W, 3) uint8."""
    w, h = int(size[0]), int(size[1])
    img = Image.new("RGB", (w, h), tuple(int(c) for c in background))
    if any(ln.strip() for ln in lines):
        mx, my = max(4, w // 12), max(4, h // 12)
        draw_text_block(img, lines, (mx, my, w - mx, h - my), color)
    return np.asarray(img).copy()


def canvas_for(prompt: str, settings: Mapping[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    lines, source = text_to_render(prompt)
    img = render_text(lines, settings["canvas_size"], settings["canvas_color"], settings["text_color"])
    return img, {"text_source": source, "rendered_text": lines}


# --- torch helpers ------------------------------------------------------------------------------


@contextlib.contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Run torch with ``n`` intra-op threads inside the block (restored after).

    The controls run with one thread: the results then cannot depend on the
    machine's thread count (the colour-cast calibration reduces over pixels),
    and on a busy machine one thread is also faster (no spinning OpenMP workers).
    """
    before = torch.get_num_threads()
    if before != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float32 in [0, 1]."""
    arr = np.ascontiguousarray(img)
    if not arr.flags.writeable:
        arr = arr.copy()
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def _to_uint8(t: torch.Tensor) -> np.ndarray:
    return t.squeeze(0).mul(255.0).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


# --- the controls ----------------------------------------------------------------------------------


def identity(img: np.ndarray) -> np.ndarray:
    """The input, pixel for pixel."""
    return np.array(img, dtype=np.uint8, copy=True)


def _lab_shift(x: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    import kornia

    lab = kornia.color.rgb_to_lab(x) + delta.view(1, 3, 1, 1)
    return kornia.color.lab_to_rgb(lab, clip=True).clamp(0, 1)


def _thumb(x: torch.Tensor, max_side: int = 128) -> torch.Tensor:
    h, w = x.shape[-2:]
    if max(h, w) <= max_side:
        return x
    s = max_side / max(h, w)
    return torch.nn.functional.interpolate(x, size=(max(1, round(h * s)), max(1, round(w * s))), mode="area")


def calibrated_scale(x: torch.Tensor, delta: torch.Tensor, *, iters: int = 10, k_max: float = 4.0) -> float:
    """The factor ``k`` for which shifting by ``k * delta`` moves the mean CIELAB colour by ``|delta|``
    along ``delta`` (clipping at the sRGB gamut eats part of a plain shift); found by bisection
    on a thumbnail of at most 128 px, capped at ``k_max``."""
    import kornia

    norm = float(delta.norm())
    if norm == 0:
        return 1.0
    t = _thumb(x)
    direction = delta / norm
    base = kornia.color.rgb_to_lab(t).mean(dim=(0, 2, 3))

    def achieved(k: float) -> float:
        out = _lab_shift(t, delta * k).mul(255).round().div(255)  # as it will be stored: 8-bit
        return float((kornia.color.rgb_to_lab(out).mean(dim=(0, 2, 3)) - base) @ direction)

    if achieved(k_max) < norm:
        return k_max
    lo, hi = 0.0, k_max
    for _ in range(iters):
        mid = (lo + hi) / 2
        if achieved(mid) < norm:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def color_cast(
    img: np.ndarray,
    delta_lab: Sequence[float] = (0.0, 0.0, 20.0),
    gain: Sequence[float] | None = None,
    *,
    calibrate: bool = True,
    return_info: bool = False,
) -> np.ndarray | tuple[np.ndarray, dict[str, Any]]:
    """A global colour cast: ``gain`` per RGB channel, or a shift of every pixel by ``delta_lab`` in CIELAB.

    A plain CIELAB shift is clipped at the sRGB gamut (a white or saturated pixel
    cannot get much yellower), so the image's mean colour moves by less than
    ``delta_lab``.  With ``calibrate`` the shift applied to every pixel is
    ``k * delta_lab``, ``k >= 1`` chosen so that the *mean* shift of the image is
    ``delta_lab`` (along its direction; ``k`` is capped at 4 for images that
    cannot take the cast, the info says so).
    """
    x = _to_tensor(img)
    info: dict[str, Any] = {}
    with torch.no_grad():
        if gain is not None:
            out = (x * torch.tensor([float(g) for g in gain]).view(1, 3, 1, 1)).clamp(0, 1)
            info["gain"] = [float(g) for g in gain]
        else:
            delta = torch.tensor([float(d) for d in delta_lab])
            k = calibrated_scale(x, delta) if calibrate else 1.0
            out = _lab_shift(x, delta * k)
            info.update(delta_lab=[float(d) for d in delta_lab], calibrated=bool(calibrate),
                        applied_delta_lab=[round(float(d) * k, 4) for d in delta_lab])
    res = _to_uint8(out)
    return (res, info) if return_info else res


def mean_lab(img: np.ndarray) -> np.ndarray:
    """Mean (L*, a*, b*) of an RGB uint8 image (kornia's sRGB -> CIELAB, D65)."""
    import kornia

    with torch.no_grad():
        lab = kornia.color.rgb_to_lab(_to_tensor(img))
    return lab.mean(dim=(0, 2, 3)).double().numpy()


def derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A seeded permutation of ``range(n)`` without fixed points (``n >= 2``)."""
    perm = rng.permutation(n)
    if n < 2:
        return perm
    for i in range(n):  # swap each fixed point with its successor: still a permutation, fixed point gone
        if perm[i] == i:
            j = (i + 1) % n
            perm[i], perm[j] = perm[j], perm[i]
    return perm


def scramble(img: np.ndarray, block: int = 32, seed: int = 0, fraction: float = 1.0) -> tuple[np.ndarray, dict[str, Any]]:
    """Tiles of ``block`` x ``block`` pixels permuted (no moved tile stays in place).

    ``fraction`` is the strength: the share of tiles that move (a seeded subset,
    permuted among themselves; 1 moves every tile).  Only whole tiles move; the strips at the right and bottom edges that do not
    fill a tile stay, so the output is a permutation of the input's pixels and
    every colour count is kept exactly.
    """
    h, w = img.shape[:2]
    b = int(block)
    if b < 1:
        raise ValueError(f"scramble block must be >= 1, got {block}")
    nh, nw = h // b, w // b
    n = nh * nw
    if not 0.0 <= float(fraction) <= 1.0:
        raise ValueError(f"scramble fraction must be in [0, 1], got {fraction}")
    info = {"block": b, "tiles": n, "tile_grid": [nh, nw], "fraction": float(fraction)}
    out = np.array(img, dtype=np.uint8, copy=True)
    rng = np.random.default_rng(seed)
    k = n if float(fraction) >= 1.0 else int(np.floor(float(fraction) * n + 0.5))
    if n < 2 or k < 2:
        info["note"] = "fewer than two tiles to move: unchanged"
        info["tiles_moved"] = 0
        return out, info
    order = np.arange(n)
    if k < n:  # the moving subset, deranged among itself
        chosen = np.sort(rng.choice(n, size=k, replace=False))
        order[chosen] = chosen[derangement(k, rng)]
    else:
        order = derangement(n, rng)
    info["tiles_moved"] = int(k)
    perm = torch.from_numpy(np.ascontiguousarray(order))
    t = torch.from_numpy(out[: nh * b, : nw * b])  # (H', W', 3)
    tiles = t.reshape(nh, b, nw, b, 3).permute(0, 2, 1, 3, 4).reshape(n, b, b, 3)
    moved = tiles[perm].reshape(nh, nw, b, b, 3).permute(0, 2, 1, 3, 4).reshape(nh * b, nw * b, 3)
    out[: nh * b, : nw * b] = moved.numpy()
    return out, info


_POOL = string.ascii_letters + string.digits


def typo_text(text: str, cer: float, seed: int = 0) -> tuple[str, list[int]]:
    """``text`` with ``round(cer * len(text))`` non-space characters substituted (seeded).

    Replacements are characters absent from ``text`` (case-insensitively, letters
    keep their case), so the Levenshtein distance to ``text`` is exactly the
    number of substitutions.  Returns the new text and the substituted positions.
    """
    if not 0.0 <= float(cer) <= 1.0:
        raise ValueError(f"typo cer must be in [0, 1], got {cer}")
    n = len(text)
    eligible = [i for i, c in enumerate(text) if not c.isspace()]
    k = min(int(np.floor(float(cer) * n + 0.5)), len(eligible))
    if k == 0:
        return text, []
    rng = np.random.default_rng(seed)
    positions = sorted(int(i) for i in rng.choice(eligible, size=k, replace=False))
    present = set(text.lower()) | set(text.upper())
    lower = [c for c in string.ascii_lowercase if c not in present]
    upper = [c for c in string.ascii_uppercase if c not in present]
    digits = [c for c in string.digits if c not in present]
    fallback = [c for c in _POOL if c not in present] or list(_POOL)
    chars = list(text)
    for i in positions:
        c = text[i]
        pool = (upper if c.isupper() else lower) if c.isalpha() else digits
        pool = pool or fallback
        cand = [p for p in pool if p != c] or [p for p in _POOL if p != c]
        chars[i] = cand[int(rng.integers(len(cand)))]
    return "".join(chars), positions


# --- faces ------------------------------------------------------------------------------------------

_tls = threading.local()


def dlib_available() -> bool:
    try:
        import dlib  # noqa: F401
    except ImportError:
        return False
    return True


def _dlib_detector() -> Any:
    det = getattr(_tls, "detector", None)
    if det is None:
        import dlib

        det = _tls.detector = dlib.get_frontal_face_detector()
    return det


def detect_face(img: np.ndarray, detector: str = "auto", detect_max_side: int = 640) -> tuple[tuple[int, int, int, int], str]:
    """The largest face's box (x0, y0, x1, y1) and how it was found (``dlib_hog`` or ``center``).

    ``detector``: ``dlib`` (dlib's HOG frontal detector; an error when dlib is
    missing), ``center`` (a central box of half the image), or ``auto`` (dlib
    when importable, the central box when it is not or finds no face).
    """
    h, w = img.shape[:2]
    center = (w // 4, h // 4, w - w // 4, h - h // 4)
    if detector not in ("auto", "dlib", "center"):
        raise ValueError(f"face_swap detector must be auto, dlib or center, got {detector!r}")
    if detector == "center" or (detector == "auto" and not dlib_available()):
        return center, "center"
    scale = min(1.0, float(detect_max_side) / max(h, w))
    small = img
    if scale < 1.0:
        small = np.asarray(Image.fromarray(img).resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                                       Image.Resampling.BILINEAR))
    rects = _dlib_detector()(np.ascontiguousarray(small), 1)
    if len(rects) == 0:
        return center, "center"
    r = max(rects, key=lambda r: r.width() * r.height())
    box = (r.left() / scale, r.top() / scale, (r.right() + 1) / scale, (r.bottom() + 1) / scale)
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return (max(0, x0), max(0, y0), min(w, x1), min(h, y1)), "dlib_hog"


def ellipse_params(box: Sequence[float], scale: float = 1.3) -> tuple[float, float, float, float]:
    """Centre and semi-axes (cx, cy, ax, ay) of the ellipse inscribed in ``box`` scaled by ``scale``."""
    x0, y0, x1, y1 = (float(v) for v in box)
    return (x0 + x1) / 2, (y0 + y1) / 2, max((x1 - x0) / 2 * scale, 1.0), max((y1 - y0) / 2 * scale, 1.0)


def _uv(rows: tuple[int, int], cols: tuple[int, int], box: Sequence[float], scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Ellipse coordinates (u, v) of the pixel centres of rows [r0, r1) x cols [c0, c1): the face is u^2 + v^2 <= 1."""
    cx, cy, ax, ay = ellipse_params(box, scale)
    yy, xx = torch.meshgrid(torch.arange(rows[0], rows[1], dtype=torch.float32) + 0.5,
                            torch.arange(cols[0], cols[1], dtype=torch.float32) + 0.5, indexing="ij")
    return (xx - cx) / ax, (yy - cy) / ay


def ellipse_mask(shape: Sequence[int], box: Sequence[float], scale: float = 1.3) -> np.ndarray:
    """(H, W) bool: the pixels (by centre) inside the face ellipse of ``box``."""
    u, v = _uv((0, int(shape[0])), (0, int(shape[1])), box, scale)
    return (u**2 + v**2 <= 1.0).numpy()


def _ellipse_window(shape: Sequence[int], box: Sequence[float], scale: float) -> tuple[tuple[int, int], tuple[int, int]]:
    """Rows and columns (clipped to the image) that contain the face ellipse."""
    cx, cy, ax, ay = ellipse_params(box, scale)
    h, w = int(shape[0]), int(shape[1])
    r0, r1 = max(0, int(np.floor(cy - ay)) - 1), min(h, int(np.ceil(cy + ay)) + 1)
    c0, c1 = max(0, int(np.floor(cx - ax)) - 1), min(w, int(np.ceil(cx + ax)) + 1)
    return (r0, max(r0, r1)), (c0, max(c0, c1))


_SKIN = np.array([[255, 224, 196], [234, 192, 134], [198, 134, 66], [141, 85, 36], [90, 56, 37], [120, 200, 140]],
                 np.float32)


def synthetic_face(rows: tuple[int, int], cols: tuple[int, int], box: Sequence[float], scale: float,
                   avoid_rgb: np.ndarray, seed: int) -> np.ndarray:
    """A (rows, cols, 3) float image of a simple synthetic face drawn in the face ellipse of ``box``
    (image coordinates; ``rows``/``cols`` the window drawn).

    Skin tone: of a fixed palette, the one farthest from ``avoid_rgb`` (the
    original region's mean colour) among three seeded picks; eyes, brows, nose and
    a mouth at fixed proportions, a radial shading.
    """
    rng = np.random.default_rng(seed)
    picks = _SKIN[rng.choice(len(_SKIN), size=3, replace=False)]
    skin = picks[int(np.argmax(np.linalg.norm(picks - avoid_rgb[None], axis=1)))]
    u, v = _uv(rows, cols, box, scale)
    shade = (1.0 - 0.25 * (u**2 + v**2)).clamp(0.6, 1.0)
    face = torch.tensor(skin).view(1, 1, 3) * shade[..., None]

    def blob(u0: float, v0: float, ru: float, rv: float) -> torch.Tensor:
        return ((u - u0) / ru) ** 2 + ((v - v0) / rv) ** 2 <= 1.0

    dark = torch.tensor([30.0, 25.0, 25.0])
    eye_dx = 0.33 + 0.06 * float(rng.random())
    for sx in (-1, 1):
        face[blob(sx * eye_dx, -0.2, 0.13, 0.08)] = torch.tensor([250.0, 250.0, 250.0])
        face[blob(sx * eye_dx, -0.2, 0.06, 0.07)] = dark
        face[blob(sx * eye_dx, -0.42, 0.18, 0.035)] = dark
    face[blob(0.0, 0.08, 0.06, 0.16)] = torch.tensor(skin * 0.8)
    face[blob(0.0, 0.45, 0.3 + 0.1 * float(rng.random()), 0.07)] = torch.tensor([150.0, 40.0, 50.0])
    return face.numpy()


def face_swap(img: np.ndarray, seed: int = 0, detector: str = "auto", face_scale: float = 1.3,
              detect_max_side: int = 640, face_alpha: float = 1.0) -> tuple[np.ndarray, dict[str, Any]]:
    """The face region replaced by a synthetic face; pixels outside the region are untouched.

    ``face_alpha`` is the strength: inside the region the output is
    ``(1 - face_alpha) * input + face_alpha * synthetic face`` (1 replaces the face,
    smaller values give the dose-response series of docs/generation.md).

    The synthetic face is shifted so that the region keeps its mean colour (up to
    clipping): the face's structure and identity change, the image's colour
    balance does not, so colour metrics single out the colour-cast control.
    """
    box, source = detect_face(img, detector, detect_max_side)
    (r0, r1), (c0, c1) = rows, cols = _ellipse_window(img.shape, box, face_scale)
    u, v = _uv(rows, cols, box, face_scale)
    mask = (u**2 + v**2 <= 1.0).numpy()  # the same pixels as ellipse_mask(img.shape, box, face_scale)
    window = img[r0:r1, c0:c1]
    region_mean = window[mask].reshape(-1, 3).astype(np.float32).mean(axis=0) if mask.any() else np.zeros(3, np.float32)
    face = synthetic_face(rows, cols, box, face_scale, region_mean, seed)
    if mask.any():  # keep the region's mean colour: this control changes who it is, not the colour balance
        face[mask] += region_mean - face[mask].mean(axis=0)
    if not 0.0 <= face_alpha <= 1.0:
        raise ValueError(f"face_swap: face_alpha must be in [0, 1], got {face_alpha}")
    out = np.array(img, dtype=np.uint8, copy=True)
    blended = (1.0 - face_alpha) * window[mask].astype(np.float32) + face_alpha * face[mask]
    out[r0:r1, c0:c1][mask] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return out, {"face_box": [int(v) for v in box], "face_source": source, "face_scale": float(face_scale),
                 "face_alpha": float(face_alpha), "face_pixels": int(mask.sum())}


# --- dispatch -------------------------------------------------------------------------------------------


def control_settings(name: str, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``DEFAULTS`` overridden by ``settings``; unknown keys are an error."""
    if name not in CONTROLS:
        raise ValueError(f"unknown control {name!r}; known: {', '.join(CONTROLS)}")
    out = dict(DEFAULTS)
    for k, v in (settings or {}).items():
        if k not in DEFAULTS:
            raise ValueError(f"control {name}: unknown setting {k!r} (known: {', '.join(sorted(DEFAULTS))})")
        out[k] = v
    size = out["canvas_size"]
    out["canvas_size"] = [int(size), int(size)] if isinstance(size, (int, float)) else [int(s) for s in size]
    return out


def run_control(name: str, settings: Mapping[str, Any], *, prompt: str, inputs: Sequence[np.ndarray], seed: int) -> ControlOutput:
    """Apply control ``name`` to a sample: its prompt and its input images (empty for text-to-image).

    ``settings`` as returned by :func:`control_settings`; ``seed`` the sample's
    derived seed (:func:`derive_seed`).
    """
    with torch_threads(1):
        return _run_control(name, settings, prompt=prompt, inputs=inputs, seed=seed)


def _run_control(name: str, settings: Mapping[str, Any], *, prompt: str, inputs: Sequence[np.ndarray], seed: int) -> ControlOutput:
    s = settings
    info: dict[str, Any] = {"control": name, "mode": "image_to_image" if inputs else "text_to_image"}
    if name == "typo":
        spans = requested_text(prompt)
        source = "quoted" if spans else "prompt_words"
        target = "\n".join(spans) if spans else " ".join((prompt or "").split()[:40])
        typoed, positions = typo_text(target, float(s["cer"]), seed)
        info.update(text_source=source, requested_text=target, rendered_text=typoed, substitutions=len(positions),
                    cer=float(s["cer"]), measured_cer=(len(positions) / len(target)) if target else 0.0)
        lines = typoed.split("\n")
        if inputs:
            base = Image.fromarray(identity(inputs[0]))
            W, H = base.size
            band = max(16, H // 5)
            # The banner takes the mean colour of the strip it covers, so the control changes the
            # text, not the colour balance; the text is drawn in whichever of the two text colours
            # contrasts more with it.
            strip = np.asarray(base)[H - band:].reshape(-1, 3).astype(np.float64)
            fill = np.rint(strip.mean(axis=0)).astype(int)
            ink = max((s["text_color"], s["canvas_color"]),
                      key=lambda c: float(np.abs(np.asarray(c, dtype=np.float64) - fill).sum()))
            ImageDraw.Draw(base).rectangle((0, H - band, W, H), fill=tuple(int(c) for c in fill))
            if target:
                draw_text_block(base, lines, (W // 20, H - band + 2, W - W // 20, H - 2), ink)
            info["banner"] = [0, H - band, W, H]
            return ControlOutput(np.asarray(base).copy(), info)
        return ControlOutput(render_text(lines, s["canvas_size"], s["canvas_color"], s["text_color"]), info)

    if inputs:
        base = np.asarray(inputs[0], dtype=np.uint8)
    else:
        base, extra = canvas_for(prompt, s)
        info.update(extra)
    if name == "identity":
        return ControlOutput(identity(base), info)
    if name == "color_cast":
        out, extra = color_cast(base, s["delta_lab"], s.get("gain"), calibrate=bool(s["calibrate"]), return_info=True)
        info.update(extra)
        return ControlOutput(out, info)
    if name == "scramble":
        out, extra = scramble(base, int(s["block"]), seed, float(s["fraction"]))
        info.update(extra)
        return ControlOutput(out, info)
    if name == "face_swap":
        out, extra = face_swap(base, seed, str(s["detector"]), float(s["face_scale"]), int(s["detect_max_side"]),
                               float(s["face_alpha"]))
        info.update(extra)
        return ControlOutput(out, info)
    raise ValueError(f"unknown control {name!r}")
