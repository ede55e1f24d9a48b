"""Structure distance: does the output keep the input's layout?

Both backends resize input and output to 224x224, describe every image by a
self-similarity matrix (how alike each pair of regions is) and report the mean
squared difference between the input's and the output's matrices (0 when the
structure is kept; appearance changes that keep the layout move it little).

``dino`` (the paper's, from Splice, Tumanyan et al. 2022): ImageNet
normalization, DINO ViT-S/16, the keys of the last block's attention (6 heads
concatenated, CLS token included: 197 tokens x 384), cosine self-similarity
(197x197), MSE.  The ViT-S/16 is written here (:class:`DinoViTS16`) and loads
the official ``dino_deitsmall16_pretrain.pth`` state dict from a local file or a
torch hub cache folder (:func:`load_dino_vits16`); no hub code runs.

``offline`` (the default, weight-free, needs no download): *patch-descriptor
self-similarity*.  The 224x224 image is cut into the same 14x14 grid of 16x16
patches as the ViT.  Each patch is described by its mean CIELAB colour, its
luminance contrast and magnitude-weighted histograms of Sobel gradient
orientation (8 unsigned bins) at three scales (224, 112, 56 px), plus the same
colour and gradient features averaged over its 3x3 patch neighbourhood
(context).  Every feature is standardized across the 196 patches of the image
(so a global colour cast or contrast change, which moves all patches alike,
cancels), each feature group gets equal weight, and the cosine self-similarity
of the 196 patch vectors (196x196) is compared by MSE like the DINO matrices.
Its values are on their own scale (not comparable with the paper's DINO numbers);
controls in ``tests/metrics/test_structure.py`` check identical -> 0, colour
cast and blur -> small, scrambled patches -> large.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from kornia.color import rgb_to_lab
from kornia.filters import spatial_gradient

from echo_bench.metrics.device import resolve_device
from echo_bench.metrics.images import resized_batch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DINO_FILE = "dino_deitsmall16_pretrain.pth"
SIZE = 224
PATCH = 16


# --- DINO ViT-S/16 ----------------------------------------------------------------------


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def qkv_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        return self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv_heads(x)
        attn = (q @ k.transpose(-2, -1)) * self.scale
        x = (attn.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(x)


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = _Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = _Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class DinoViTS16(nn.Module):
    """ViT-S/16 with DINO's parameter names (a state dict of the official checkpoint loads strictly)."""

    def __init__(self, img_size: int = SIZE, patch: int = PATCH, dim: int = 384, depth: int = 12,
                 heads: int = 6, *, init_weights: bool = True) -> None:
        super().__init__()
        self.patch = patch
        self.patch_embed = _PatchEmbed(patch, dim)
        n = (img_size // patch) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, dim))
        self.blocks = nn.ModuleList([_Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        if init_weights:  # random init (DINO's); skipped when a checkpoint overwrites every weight
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
            nn.init.trunc_normal_(self.cls_token, std=0.02)
            self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def _pos(self, n_patches: int, h: int, w: int) -> torch.Tensor:
        if n_patches == self.pos_embed.shape[1] - 1:
            return self.pos_embed
        cls, grid = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        side = int(math.sqrt(grid.shape[1]))
        grid = grid.reshape(1, side, side, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(h // self.patch, w // self.patch), mode="bicubic", align_corners=False)
        return torch.cat([cls, grid.permute(0, 2, 3, 1).reshape(1, n_patches, -1)], 1)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        t = self.patch_embed(x)
        t = torch.cat([self.cls_token.expand(b, -1, -1), t], 1)
        return t + self._pos(t.shape[1] - 1, h, w)

    def last_block_keys(self, x: torch.Tensor) -> torch.Tensor:
        """Keys of the last block's attention, heads concatenated: (B, 1 + patches, 384)."""
        t = self.tokens(x)
        for blk in self.blocks[:-1]:
            t = blk(t)
        last = self.blocks[-1]
        k = last.attn.qkv_heads(last.norm1(t))[1]  # (B, heads, N, d)
        return k.transpose(1, 2).reshape(t.shape[0], t.shape[1], -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.tokens(x)
        for blk in self.blocks:
            t = blk(t)
        return self.norm(t)[:, 0]


def find_dino_checkpoint(path: str | os.PathLike[str]) -> Path:
    """The checkpoint file at ``path``: the file itself, or ``dino_deitsmall16_pretrain.pth``
    inside a folder (e.g. a torch hub dir, where it sits under ``checkpoints/``)."""
    p = Path(path).expanduser()
    if p.is_file():
        return p
    if p.is_dir():
        for cand in (p / DINO_FILE, p / "checkpoints" / DINO_FILE):
            if cand.is_file():
                return cand
        found = sorted(p.rglob(DINO_FILE))
        if found:
            return found[0]
    raise FileNotFoundError(
        f"no DINO ViT-S/16 checkpoint at {p} (expected {DINO_FILE}, a file or a folder holding it, "
        "e.g. ~/.cache/torch/hub/checkpoints); set metrics.structure.dino_weights or use backend offline"
    )


def load_dino_vits16(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> DinoViTS16:
    """DINO ViT-S/16 with the weights at ``path`` (state dict, or a full DINO checkpoint's teacher)."""
    ckpt = torch.load(find_dino_checkpoint(path), map_location="cpu", weights_only=True)
    if isinstance(ckpt, dict) and "teacher" in ckpt:
        ckpt = ckpt["teacher"]
    if isinstance(ckpt, dict) and "state_dict" in ckpt:
        ckpt = ckpt["state_dict"]
    state = {}
    for k, v in ckpt.items():
        for prefix in ("module.", "backbone."):
            if k.startswith(prefix):
                k = k[len(prefix) :]
        if k.startswith("head."):
            continue
        state[k] = v
    model = DinoViTS16(init_weights=False)
    model.load_state_dict(state, strict=True)
    return model.eval().to(device)


def cosine_self_similarity(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(B, N, D) -> (B, N, N) cosine similarities (rows of zeros give 0)."""
    x = x / x.norm(dim=-1, keepdim=True).clamp_min(eps)
    return x @ x.transpose(-2, -1)


def imagenet_normalize(batch: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN, device=batch.device, dtype=batch.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=batch.device, dtype=batch.dtype).view(1, 3, 1, 1)
    return (batch - mean) / std


@torch.no_grad()
def dino_self_similarity(model: DinoViTS16, batch: torch.Tensor) -> torch.Tensor:
    """(B, 3, 224, 224) RGB in [0, 1] -> (B, 197, 197) key self-similarity (Splice)."""
    return cosine_self_similarity(model.last_block_keys(imagenet_normalize(batch)))


# --- offline: patch-descriptor self-similarity ----------------------------------------------

N_ORIENT = 8


def _orientation_hist(lum: torch.Tensor, grid: int) -> torch.Tensor:
    """(B, 1, H, W) luminance -> (B, 8, grid, grid) magnitude-weighted unsigned orientation histograms."""
    g = spatial_gradient(lum, mode="sobel", order=1, normalized=True)  # (B, 1, 2, H, W)
    gx, gy = g[:, 0, 0], g[:, 0, 1]
    mag = torch.sqrt(gx * gx + gy * gy)
    theta = torch.remainder(torch.atan2(gy, gx), math.pi)  # unsigned, [0, pi)
    pos = theta / math.pi * N_ORIENT
    lo = torch.floor(pos)
    frac = pos - lo
    lo = lo.long() % N_ORIENT
    hi = (lo + 1) % N_ORIENT
    b, h, w = mag.shape
    hist = torch.zeros(b, N_ORIENT, h, w, device=lum.device, dtype=lum.dtype)
    hist.scatter_add_(1, lo.unsqueeze(1), (mag * (1 - frac)).unsqueeze(1))
    hist.scatter_add_(1, hi.unsqueeze(1), (mag * frac).unsqueeze(1))
    return F.adaptive_avg_pool2d(hist, grid)


def _standardize(f: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """(B, D, N) -> per image and feature, zero mean and unit variance across the N patches,
    scaled so the group's total weight is 1 whatever its number of features."""
    f = f - f.mean(-1, keepdim=True)
    f = f / torch.sqrt(f.pow(2).mean(-1, keepdim=True) + eps)
    return f / math.sqrt(f.shape[1])


def patch_descriptors(batch: torch.Tensor, *, patch: int = PATCH) -> torch.Tensor:
    """(B, 3, S, S) RGB in [0, 1] -> (B, (S/patch)^2, D) standardized patch descriptors."""
    b, _, s, _ = batch.shape
    grid = s // patch
    lab = rgb_to_lab(batch.clamp(0, 1))
    lum = lab[:, :1] / 100.0
    color = F.adaptive_avg_pool2d(lab / 100.0, grid)  # (B, 3, g, g)
    contrast = torch.sqrt(
        (F.adaptive_avg_pool2d(lum * lum, grid) - F.adaptive_avg_pool2d(lum, grid) ** 2).clamp_min(0)
    )
    grads = []
    scaled = lum
    for level in range(3):
        if level:
            scaled = F.avg_pool2d(scaled, 2)
        grads.append(_orientation_hist(scaled, grid))
    ctx = lambda x: F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)  # noqa: E731
    groups = [color, ctx(color), contrast, *grads, ctx(grads[0]), ctx(grads[1])]
    feats = torch.cat([_standardize(g.flatten(2)) for g in groups], 1)  # (B, D, N)
    return feats.transpose(1, 2)


@torch.no_grad()
def patch_self_similarity(batch: torch.Tensor) -> torch.Tensor:
    """(B, 3, 224, 224) -> (B, 196, 196) cosine self-similarity of the patch descriptors."""
    return cosine_self_similarity(patch_descriptors(batch))


# --- the metric ------------------------------------------------------------------------------


class StructureDistance:
    """Structure distance between input and output images, batched on ``device``.

    ``backend``: ``offline`` (patch descriptors, no weights) or ``dino`` (needs ``dino_weights``).
    """

    def __init__(self, backend: str = "offline", *, dino_weights: str | None = None,
                 device: torch.device | str = "cpu", size: int = SIZE) -> None:
        self.device = resolve_device(device)
        self.size = int(size)
        if backend == "offline":
            self.model = None
            self.name = "offline-patch-selfsim"
        elif backend == "dino":
            if not dino_weights:
                raise ValueError(
                    "metrics.structure.backend is 'dino' but metrics.structure.dino_weights is not set "
                    f"(a path to {DINO_FILE} or a folder holding it)"
                )
            self.model = load_dino_vits16(dino_weights, self.device)
            self.name = "dino-vits16-keys"
        else:
            raise ValueError(f"metrics.structure.backend must be offline or dino, got {backend!r}")
        self.backend = backend

    def self_similarity(self, batch: torch.Tensor) -> torch.Tensor:
        if self.model is None:
            return patch_self_similarity(batch)
        return dino_self_similarity(self.model, batch)

    @torch.no_grad()
    def distances(
        self, inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], *, batch_size: int = 8
    ) -> np.ndarray:
        """Per pair, the MSE between the input's and the output's self-similarity matrices."""
        if len(inputs) != len(outputs):
            raise ValueError("inputs and outputs differ in length")
        out = np.zeros(len(inputs), dtype=np.float64)
        for start in range(0, len(inputs), batch_size):
            stop = min(start + batch_size, len(inputs))
            a = resized_batch(inputs[start:stop], self.size, self.device)
            b = resized_batch(outputs[start:stop], self.size, self.device)
            sims = self.self_similarity(torch.cat([a, b], 0))
            sa, sb = sims[: stop - start], sims[stop - start :]
            out[start:stop] = (sa - sb).pow(2).mean((-2, -1)).double().cpu().numpy()
        return out
