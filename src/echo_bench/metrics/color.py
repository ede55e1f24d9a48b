"""Color shift: does the output keep the input's colors?

Two measures, both computed with torch (batched, on the GPU when there is one):

**Color shift magnitude** (the paper's metric, pooled per model).  For each image
a 256-bin histogram per RGB channel; the extreme bins 0-4 and 251-255 are
ignored (clipped blacks and whites say little about a tint).  Per model, the
histograms of all applicable input images are summed, bins 5..250 kept, each
channel normalized to sum 1 and its mean intensity taken, giving a mean-RGB
vector; the same for the model's outputs; the magnitude is the Euclidean
distance between the two vectors (0..441).  Because the mean of a summed
histogram is ``sum(value sums) / sum(pixel counts)``, each sample only needs to
keep, per channel, the number of kept pixels and the sum of their values
(:func:`kept_moments`): pooling those later gives exactly the pooled number.
The same formula on one input/output pair gives a per-sample magnitude.

**CIEDE2000** (a perceptual per-sample variant).  Both images are resized to a
common working grid, converted to CIELAB (kornia, sRGB D65) and compared with
the CIEDE2000 colour difference (:func:`ciede2000`, written here in torch since
kornia has none): ``delta_e_mean_color`` is the CIEDE2000 difference between the
images' mean Lab colours (a global cast, insensitive to changes of layout),
``delta_e_pixel`` the mean per-pixel CIEDE2000 (also moves with structure).
A difference of about 1 is just noticeable, 2-10 perceptible at a glance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from kornia.color import rgb_to_lab

from echo_bench.metrics.device import resolve_device
from echo_bench.metrics.images import as_writable, resized_batch

BINS = 256
DEFAULT_LO, DEFAULT_HI = 5, 250  # kept bins, inclusive


# --- histograms -------------------------------------------------------------------


def channel_histograms(
    images: Sequence[np.ndarray | torch.Tensor],
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 8,
    method: str = "auto",
) -> np.ndarray:
    """Per-channel 256-bin histograms, shape (N, 3, 256), int64 pixel counts.

    ``images`` are (H, W, 3) uint8 arrays (sizes may differ).  On a GPU a batch is
    one ``torch.bincount`` over the concatenated pixels of its images, each image
    and channel offset into its own block of 256 bins; on the CPU (where one large
    bincount is memory-bound) each channel's uint8 plane is counted directly
    (``method``: ``auto`` picks by device; ``batched`` or ``planes`` force one).
    """
    device = resolve_device(device)
    if method == "auto":
        method = "planes" if device.type == "cpu" else "batched"
    if method not in ("batched", "planes"):
        raise ValueError(f"histogram method must be auto, batched or planes, got {method!r}")
    out = np.zeros((len(images), 3, BINS), dtype=np.int64)
    chan_off = torch.arange(3, device=device, dtype=torch.int32) * BINS
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        tensors = []
        for img in chunk:
            t = img if isinstance(img, torch.Tensor) else torch.from_numpy(as_writable(img))
            if t.dtype != torch.uint8 or t.ndim != 3 or t.shape[2] != 3:
                raise ValueError(f"expected (H, W, 3) uint8 images, got {tuple(t.shape)} {t.dtype}")
            tensors.append(t.to(device, non_blocking=True))
        if method == "planes":
            for j, t in enumerate(tensors):
                for c in range(3):
                    out[start + j, c] = torch.bincount(t[:, :, c].reshape(-1), minlength=BINS).cpu().numpy()
            continue
        idx = [(t.reshape(-1, 3).to(torch.int32) + (chan_off + j * 3 * BINS)).reshape(-1) for j, t in enumerate(tensors)]
        counts = torch.bincount(torch.cat(idx), minlength=len(chunk) * 3 * BINS)
        out[start : start + len(chunk)] = counts.reshape(len(chunk), 3, BINS).cpu().numpy()
    return out


def naive_channel_histograms(images: Sequence[np.ndarray]) -> np.ndarray:
    """The one-image-at-a-time reference: ``np.histogram`` per image and channel."""
    out = np.zeros((len(images), 3, BINS), dtype=np.int64)
    for i, img in enumerate(images):
        for c in range(3):
            out[i, c], _ = np.histogram(img[:, :, c], bins=BINS, range=(0, BINS))
    return out


def kept_moments(hist: np.ndarray, lo: int = DEFAULT_LO, hi: int = DEFAULT_HI) -> tuple[np.ndarray, np.ndarray]:
    """Per channel, the pixel count and the sum of values over bins ``lo..hi`` (inclusive).

    ``hist`` has shape (..., 3, 256); both results (..., 3), int64 (exact).
    """
    if not 0 <= lo <= hi < BINS:
        raise ValueError(f"bad kept bin range {lo}..{hi}")
    kept = hist[..., lo : hi + 1].astype(np.int64)
    values = np.arange(lo, hi + 1, dtype=np.int64)
    return kept.sum(-1), (kept * values).sum(-1)


def mean_rgb_from_moments(counts: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """Mean intensity per channel (NaN where no pixel was kept)."""
    counts = np.asarray(counts, dtype=np.float64)
    sums = np.asarray(sums, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.where(counts > 0, counts, 1), np.nan)


def mean_rgb(hist: np.ndarray, lo: int = DEFAULT_LO, hi: int = DEFAULT_HI) -> np.ndarray:
    """Mean intensity per channel of the normalized histogram restricted to bins ``lo..hi``."""
    return mean_rgb_from_moments(*kept_moments(hist, lo, hi))


def pooled_mean_rgb(hists: np.ndarray, lo: int = DEFAULT_LO, hi: int = DEFAULT_HI) -> np.ndarray:
    """Mean RGB of the summed histograms of many images, shape (N, 3, 256) -> (3,)."""
    return mean_rgb(np.asarray(hists).sum(0), lo, hi)


def color_shift_magnitude(mean_a: Sequence[float], mean_b: Sequence[float]) -> float:
    """Euclidean distance between two mean-RGB vectors."""
    a = np.asarray(mean_a, dtype=np.float64)
    b = np.asarray(mean_b, dtype=np.float64)
    return float(np.sqrt(((a - b) ** 2).sum()))


@dataclass(frozen=True)
class PooledColorShift:
    mean_in: tuple[float, float, float]
    mean_out: tuple[float, float, float]
    magnitude: float
    n_in: int  # images (or samples) pooled on the input side
    n_out: int


def pooled_color_shift(
    in_counts: np.ndarray, in_sums: np.ndarray, out_counts: np.ndarray, out_sums: np.ndarray
) -> PooledColorShift:
    """The paper's per-model number from per-sample moments ((N, 3) counts and sums per side)."""
    in_counts, in_sums = np.atleast_2d(in_counts), np.atleast_2d(in_sums)
    out_counts, out_sums = np.atleast_2d(out_counts), np.atleast_2d(out_sums)
    m_in = mean_rgb_from_moments(in_counts.sum(0), in_sums.sum(0))
    m_out = mean_rgb_from_moments(out_counts.sum(0), out_sums.sum(0))
    return PooledColorShift(
        tuple(float(x) for x in m_in),
        tuple(float(x) for x in m_out),
        color_shift_magnitude(m_in, m_out),
        int(in_counts.shape[0]),
        int(out_counts.shape[0]),
    )


def pooled_color_shift_from_hists(
    input_hists: np.ndarray, output_hists: np.ndarray, lo: int = DEFAULT_LO, hi: int = DEFAULT_HI
) -> PooledColorShift:
    """The paper's per-model number from (N, 3, 256) histograms of inputs and outputs."""
    ci, si = kept_moments(np.asarray(input_hists), lo, hi)
    co, so = kept_moments(np.asarray(output_hists), lo, hi)
    return pooled_color_shift(ci, si, co, so)


# --- CIEDE2000 -------------------------------------------------------------------------


def ciede2000(lab1: torch.Tensor, lab2: torch.Tensor, *, dim: int = -3, kL: float = 1.0, kC: float = 1.0,
              kH: float = 1.0) -> torch.Tensor:
    """CIEDE2000 colour difference (Sharma, Wu & Dalal 2005) between CIELAB tensors.

    ``dim`` is the L,a,b channel axis (-3 for kornia's (B, 3, H, W); -1 for (..., 3)).
    Returns the difference with that axis removed.
    """
    L1, a1, b1 = lab1.unbind(dim)
    L2, a2, b2 = lab2.unbind(dim)
    pow25_7 = 25.0**7
    c1 = torch.sqrt(a1 * a1 + b1 * b1)
    c2 = torch.sqrt(a2 * a2 + b2 * b2)
    c_bar7 = ((c1 + c2) / 2) ** 7
    g = 0.5 * (1 - torch.sqrt(c_bar7 / (c_bar7 + pow25_7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p = torch.sqrt(a1p * a1p + b1 * b1)
    c2p = torch.sqrt(a2p * a2p + b2 * b2)
    h1p = torch.remainder(torch.rad2deg(torch.atan2(b1, a1p)), 360.0)
    h2p = torch.remainder(torch.rad2deg(torch.atan2(b2, a2p)), 360.0)
    h1p = torch.where((a1p == 0) & (b1 == 0), torch.zeros_like(h1p), h1p)
    h2p = torch.where((a2p == 0) & (b2 == 0), torch.zeros_like(h2p), h2p)

    dLp = L2 - L1
    dCp = c2p - c1p
    cprod = c1p * c2p
    dh = h2p - h1p
    dhp = torch.where(dh > 180, dh - 360, torch.where(dh < -180, dh + 360, dh))
    dhp = torch.where(cprod == 0, torch.zeros_like(dhp), dhp)
    dHp = 2 * torch.sqrt(cprod) * torch.sin(torch.deg2rad(dhp) / 2)

    Lbp = (L1 + L2) / 2
    Cbp = (c1p + c2p) / 2
    hsum = h1p + h2p
    hbp = torch.where(
        (h1p - h2p).abs() <= 180,
        hsum / 2,
        torch.where(hsum < 360, (hsum + 360) / 2, (hsum - 360) / 2),
    )
    hbp = torch.where(cprod == 0, hsum, hbp)

    rad = torch.deg2rad
    T = (
        1
        - 0.17 * torch.cos(rad(hbp - 30))
        + 0.24 * torch.cos(rad(2 * hbp))
        + 0.32 * torch.cos(rad(3 * hbp + 6))
        - 0.20 * torch.cos(rad(4 * hbp - 63))
    )
    d_theta = 30 * torch.exp(-(((hbp - 275) / 25) ** 2))
    cbp7 = Cbp**7
    Rc = 2 * torch.sqrt(cbp7 / (cbp7 + pow25_7))
    lm50 = (Lbp - 50) ** 2
    Sl = 1 + 0.015 * lm50 / torch.sqrt(20 + lm50)
    Sc = 1 + 0.045 * Cbp
    Sh = 1 + 0.015 * Cbp * T
    Rt = -torch.sin(rad(2 * d_theta)) * Rc
    tl, tc, th = dLp / (kL * Sl), dCp / (kC * Sc), dHp / (kH * Sh)
    return torch.sqrt(torch.clamp(tl * tl + tc * tc + th * th + Rt * tc * th, min=0.0))


def rgb_batch_to_lab(batch: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) sRGB in [0, 1] -> CIELAB (kornia; D65, L in 0..100)."""
    return rgb_to_lab(batch)


# --- per-sample measurement -----------------------------------------------------------


@dataclass
class ColorPair:
    """What the color metrics keep per sample (all plain numbers, JSON-able)."""

    in_counts: list[int]  # kept pixels per channel of the edited input (the sample's first input image)
    in_sums: list[int]  # sum of kept values per channel
    all_in_counts: list[int]  # the same over all input images of the sample (the ``all_inputs`` variant)
    all_in_sums: list[int]
    out_counts: list[int]
    out_sums: list[int]
    mean_in: list[float]
    mean_out: list[float]
    magnitude: float  # per-sample color shift magnitude (same formula on edited input and output)
    lab_in: list[float]  # mean CIELAB of the first input image, working grid
    lab_out: list[float]
    delta_e_mean_color: float  # CIEDE2000 between the mean Lab colours
    delta_e_pixel: float  # mean per-pixel CIEDE2000 on the working grid


def measure_pairs(
    inputs: Sequence[Sequence[np.ndarray]],
    outputs: Sequence[np.ndarray],
    *,
    lo: int = DEFAULT_LO,
    hi: int = DEFAULT_HI,
    lab_size: int = 256,
    device: torch.device | str = "cpu",
    batch_size: int = 8,
) -> list[ColorPair]:
    """Color measurements for each sample: its input images (one or more) and one output.

    The output is compared with the input it edits: the sample's first input
    image (inputs are stored most important first, and the first is the one an
    edit starts from; the control models edit exactly that one).  The moments of
    all input images pooled are kept beside (``all_in_*``) for the
    ``all_inputs`` variant.  The CIEDE2000 variants use the first input too.
    """
    if len(inputs) != len(outputs):
        raise ValueError("inputs and outputs differ in length")
    device = resolve_device(device)
    flat_in = [img for imgs in inputs for img in imgs]
    owner = np.repeat(np.arange(len(inputs)), [len(imgs) for imgs in inputs])
    if any(len(imgs) == 0 for imgs in inputs):
        raise ValueError("every sample needs at least one input image")
    h_in_flat = channel_histograms(flat_in, device=device, batch_size=batch_size)
    h_all = np.zeros((len(inputs), 3, BINS), dtype=np.int64)
    np.add.at(h_all, owner, h_in_flat)
    first = np.concatenate([[0], np.cumsum([len(imgs) for imgs in inputs])[:-1]]).astype(np.int64)
    h_in = h_in_flat[first]
    h_out = channel_histograms(list(outputs), device=device, batch_size=batch_size)
    ci, si = kept_moments(h_in, lo, hi)
    cai, sai = kept_moments(h_all, lo, hi)
    co, so = kept_moments(h_out, lo, hi)

    lab_in = np.zeros((len(inputs), 3))
    lab_out = np.zeros((len(inputs), 3))
    de_mean = np.zeros(len(inputs))
    de_pix = np.zeros(len(inputs))
    for start in range(0, len(inputs), batch_size):
        stop = min(start + batch_size, len(inputs))
        a = rgb_batch_to_lab(resized_batch([inputs[i][0] for i in range(start, stop)], lab_size, device))
        b = rgb_batch_to_lab(resized_batch([outputs[i] for i in range(start, stop)], lab_size, device))
        ma, mb = a.mean((-2, -1)), b.mean((-2, -1))
        lab_in[start:stop] = ma.double().cpu().numpy()
        lab_out[start:stop] = mb.double().cpu().numpy()
        de_mean[start:stop] = ciede2000(ma.double(), mb.double(), dim=-1).cpu().numpy()
        de_pix[start:stop] = ciede2000(a, b, dim=-3).mean((-2, -1)).double().cpu().numpy()

    result = []
    for i in range(len(inputs)):
        m_in = mean_rgb_from_moments(ci[i], si[i])
        m_out = mean_rgb_from_moments(co[i], so[i])
        result.append(
            ColorPair(
                in_counts=[int(x) for x in ci[i]],
                in_sums=[int(x) for x in si[i]],
                all_in_counts=[int(x) for x in cai[i]],
                all_in_sums=[int(x) for x in sai[i]],
                out_counts=[int(x) for x in co[i]],
                out_sums=[int(x) for x in so[i]],
                mean_in=[_f(x) for x in m_in],
                mean_out=[_f(x) for x in m_out],
                magnitude=_f(color_shift_magnitude(m_in, m_out)),
                lab_in=[_f(x) for x in lab_in[i]],
                lab_out=[_f(x) for x in lab_out[i]],
                delta_e_mean_color=_f(de_mean[i]),
                delta_e_pixel=_f(de_pix[i]),
            )
        )
    return result


def _f(x: float) -> float:
    x = float(x)
    return x if math.isfinite(x) else float("nan")
