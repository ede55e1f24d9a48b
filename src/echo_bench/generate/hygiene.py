"""Image hygiene for generated outputs: one canonical form, whatever a backend returned.

Every output image, from a control, an API, a local pipeline or an imported
folder, goes through :func:`normalize` before it is written:

1. decoded with Pillow (PNG, JPEG, WebP, ...; a decompression bomb or a file
   that does not decode is an error, recorded as the sample's ``failed`` reason);
2. EXIF orientation applied (so the pixels are the ones a viewer sees), then
   converted to RGB: an alpha channel is composited over white, palette and
   grey images are expanded, 16-bit images reduced to 8 bits;
3. the size policy of ``params.yaml`` (``generate.image``): an image whose
   longer side exceeds ``max_side`` is scaled down, keeping its aspect ratio
   (never scaled up); ``max_side: null`` keeps every size;
4. re-encoded as PNG from the bare pixels, so no metadata survives (no EXIF,
   no ICC profile, no text chunks), with a fixed compression level: equal
   pixels give equal bytes;
5. hashed: the sha256 of the PNG bytes goes into the manifest.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from echo_bench.io import sha256_bytes, write_bytes

RESAMPLE = {
    "lanczos": Image.Resampling.LANCZOS,
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "box": Image.Resampling.BOX,
    "nearest": Image.Resampling.NEAREST,
}

#: Largest image (in pixels) that is decoded at all; larger ones are rejected as bombs.
MAX_PIXELS = 64_000_000


class ImageError(ValueError):
    """An image that cannot be used (does not decode, too large, empty)."""


@dataclass(frozen=True)
class SizePolicy:
    """``generate.image`` of params.yaml."""

    max_side: int | None = 1024  # longer side above this is scaled down (aspect kept); None: keep
    resample: str = "lanczos"
    compress_level: int = 3  # PNG zlib level; fixed so equal pixels give equal bytes

    @classmethod
    def from_params(cls, cfg: Mapping[str, Any]) -> SizePolicy:
        known = {"max_side", "resample", "compress_level"}
        unknown = set(cfg) - known
        if unknown:
            raise ValueError(f"generate.image: unknown keys {sorted(unknown)} (known: {sorted(known)})")
        max_side = cfg.get("max_side", 1024)
        policy = cls(
            max_side=None if max_side is None else int(max_side),
            resample=str(cfg.get("resample", "lanczos")),
            compress_level=int(cfg.get("compress_level", 3)),
        )
        if policy.resample not in RESAMPLE:
            raise ValueError(f"generate.image.resample must be one of {sorted(RESAMPLE)}, got {policy.resample!r}")
        if policy.max_side is not None and policy.max_side < 8:
            raise ValueError(f"generate.image.max_side must be >= 8 or null, got {policy.max_side}")
        if not 0 <= policy.compress_level <= 9:
            raise ValueError(f"generate.image.compress_level must be 0..9, got {policy.compress_level}")
        return policy

    def as_dict(self) -> dict[str, Any]:
        return {"max_side": self.max_side, "resample": self.resample, "compress_level": self.compress_level}


@dataclass(frozen=True)
class NormalizedImage:
    png: bytes  # the canonical PNG bytes
    sha256: str  # of ``png``
    width: int
    height: int
    resized_from: tuple[int, int] | None = None  # (width, height) before the size policy, if it applied

    def pixels(self) -> np.ndarray:
        return decode_rgb(self.png)


def open_image(data: bytes | str | os.PathLike[str]) -> Image.Image:
    """Decode image bytes or a file, fully loaded; :class:`ImageError` when it cannot be used."""
    src = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else Path(data)
    try:
        im = Image.open(src)  # reads the header only
        if im.width * im.height > MAX_PIXELS:
            raise ImageError(f"decompression_bomb: {im.width}x{im.height} pixels > {MAX_PIXELS}")
        im.load()
    except Image.DecompressionBombError as e:
        raise ImageError(f"decompression_bomb: {e}") from e
    except ImageError:
        raise
    except (OSError, SyntaxError, ValueError) as e:  # PIL raises these for truncated / unknown data
        raise ImageError(f"undecodable: {type(e).__name__}: {e}") from e
    if im.width < 1 or im.height < 1:
        raise ImageError("empty image")
    return im


def to_rgb(im: Image.Image) -> Image.Image:
    """EXIF orientation applied, alpha composited over white, converted to 8-bit RGB."""
    im = ImageOps.exif_transpose(im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        hi = 65535.0 if arr.max() > 255 else 255.0
        im = Image.fromarray(np.clip(np.rint(arr / hi * 255.0), 0, 255).astype(np.uint8), "L")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    return im.convert("RGB")


def decode_rgb(data: bytes | str | os.PathLike[str]) -> np.ndarray:
    """(H, W, 3) uint8 RGB pixels of image bytes or a file (EXIF orientation applied)."""
    return np.asarray(to_rgb(open_image(data)))


def apply_size_policy(im: Image.Image, policy: SizePolicy) -> Image.Image:
    """Scale ``im`` down so its longer side is at most ``policy.max_side`` (aspect ratio kept)."""
    if policy.max_side is None or max(im.size) <= policy.max_side:
        return im
    w, h = im.size
    scale = policy.max_side / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return im.resize(size, RESAMPLE[policy.resample])


def encode_png(rgb: np.ndarray | Image.Image, compress_level: int = 3) -> bytes:
    """PNG bytes of bare RGB pixels: no metadata chunks at all."""
    arr = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ImageError(f"expected (H, W, 3) pixels, got shape {arr.shape}")
    im = Image.fromarray(arr, "RGB")  # a fresh image: nothing of the source's info dict
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=compress_level, optimize=False)
    return buf.getvalue()


def normalize(src: bytes | str | os.PathLike[str] | Image.Image | np.ndarray, policy: SizePolicy) -> NormalizedImage:
    """The canonical RGB PNG of ``src`` under ``policy``, with its sha256."""
    if isinstance(src, np.ndarray):
        if src.dtype != np.uint8 or src.ndim != 3 or src.shape[2] not in (3, 4):
            raise ImageError(f"expected an (H, W, 3|4) uint8 array, got {src.dtype} {src.shape}")
        im = to_rgb(Image.fromarray(np.ascontiguousarray(src), "RGBA" if src.shape[2] == 4 else "RGB"))
    elif isinstance(src, Image.Image):
        im = to_rgb(src)
    else:
        im = to_rgb(open_image(src))
    before = im.size
    im = apply_size_policy(im, policy)
    png = encode_png(np.asarray(im), policy.compress_level)
    return NormalizedImage(
        png=png,
        sha256=sha256_bytes(png),
        width=im.width,
        height=im.height,
        resized_from=before if im.size != before else None,
    )


def write_normalized(img: NormalizedImage, path: str | os.PathLike[str]) -> None:
    """Write the PNG atomically."""
    write_bytes(path, img.png)
