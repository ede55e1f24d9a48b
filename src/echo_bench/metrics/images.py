"""Loading images for the metrics: plain RGB uint8 arrays, and batches as tensors.

Images are decoded with Pillow, EXIF orientation applied, and converted to RGB
(an alpha channel is composited over white, palette and grey images are
expanded), so every metric sees the pixels a viewer sees.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps



def to_rgb_image(img: Image.Image) -> Image.Image:
    img = ImageOps.exif_transpose(img)
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, img)
    return img.convert("RGB")


def load_rgb(src: np.ndarray | str | os.PathLike[str] | Image.Image) -> np.ndarray:
    """An (H, W, 3) uint8 RGB array from a path, a PIL image or an array."""
    if isinstance(src, np.ndarray):
        arr = src
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        if arr.ndim != 3 or arr.shape[2] not in (3, 4):
            raise ValueError(f"expected an (H, W, 3) image array, got shape {arr.shape}")
        if arr.dtype != np.uint8:
            raise ValueError(f"expected a uint8 image array, got {arr.dtype}")
        return np.ascontiguousarray(arr[:, :, :3])
    if isinstance(src, Image.Image):
        return np.asarray(to_rgb_image(src))
    with Image.open(src) as im:
        im.load()
        return np.asarray(to_rgb_image(im))


def as_writable(img: np.ndarray) -> np.ndarray:
    """A contiguous, writable view or copy (torch.from_numpy warns on read-only arrays)."""
    img = np.ascontiguousarray(img)
    return img if img.flags.writeable else img.copy()


def to_tensor(img: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 in [0, 1] on ``device``."""
    t = torch.from_numpy(as_writable(img)).to(device)
    return t.permute(2, 0, 1).float().div_(255.0)


def resized_batch(
    images: Sequence[np.ndarray], size: int | tuple[int, int], device: torch.device | str = "cpu"
) -> torch.Tensor:
    """A (B, 3, h, w) float batch in [0, 1], each image resized (bilinear, antialiased) to ``size``."""
    hw = (size, size) if isinstance(size, int) else tuple(size)
    out = []
    for img in images:
        t = to_tensor(img, device).unsqueeze(0)
        if t.shape[-2:] != hw:
            t = F.interpolate(t, size=hw, mode="bilinear", align_corners=False, antialias=True)
        out.append(t.clamp_(0.0, 1.0))
    if not out:
        return torch.empty((0, 3, *hw), device=device)
    return torch.cat(out, 0)
