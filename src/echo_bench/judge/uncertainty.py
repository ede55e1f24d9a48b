"""Honest uncertainty: bootstrap over prompts, Bradley-Terry ratings with intervals.

Battles on the same prompt are not independent (the same sample, the same
outputs, the same judges' moods), so intervals come from resampling *prompts*
with replacement, every battle of a drawn prompt coming along.  A resample is a
vector of multiplicities ``c`` (how often each prompt was drawn); with per-prompt
tables ``points[p, m]`` and ``games[p, m]`` its win rates are
``(c @ points) / (c @ games)``, so 1,000 resamples are two matrix products.

Bradley-Terry: P(a beats b) = sigmoid(theta_a - theta_b), fitted by maximum
likelihood (Newton's method on the concave log-likelihood, vectorized over
resamples) from the pairwise points (a tie counts half a win for each side).
``prior`` adds that many virtual games per pair, split evenly, so the MLE exists
even when a model wins or loses everything (shrinkage toward equal strength; with
thousands of real battles it is negligible).  Ratings are reported on the Elo
scale: ``1000 + 400 / ln(10) * theta`` with theta centered to mean 0.
"""

from __future__ import annotations

import math

import numpy as np

ELO_BASE, ELO_SCALE = 1000.0, 400.0 / math.log(10.0)


def bootstrap_counts(n_items: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_items) multiplicities of items drawn with replacement (seeded)."""
    if n_items <= 0 or n_boot <= 0:
        return np.zeros((max(n_boot, 0), max(n_items, 0)))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n_items, size=(n_boot, n_items))
    flat = (idx + (np.arange(n_boot) * n_items)[:, None]).ravel()
    return np.bincount(flat, minlength=n_boot * n_items).reshape(n_boot, n_items).astype(np.float64)


def ratio_bootstrap(num: np.ndarray, den: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(B, ...) resampled ratios sum(c * num) / sum(c * den) over the first axis (NaN where den = 0)."""
    shape = num.shape[1:]
    width = int(np.prod(shape))
    if num.shape[0] == 0 or width == 0:
        return np.full((counts.shape[0], *shape), np.nan)
    n = counts @ num.reshape(num.shape[0], width)
    d = counts @ den.reshape(den.shape[0], width)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(d > 0, n / np.where(d > 0, d, 1.0), np.nan)
    return r.reshape((counts.shape[0], *shape))


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over axis 0, ignoring NaN."""
    alpha = (1.0 - level) / 2.0
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo = np.nanquantile(samples, alpha, axis=0)
            hi = np.nanquantile(samples, 1.0 - alpha, axis=0)
    return lo, hi


def win_rate_bootstrap(points: np.ndarray, games: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(B, M) win rates of the resamples ``counts`` (B, P) from per-prompt ``points``/``games`` (P, M)."""
    return ratio_bootstrap(points, games, counts)


def bradley_terry(
    wins: np.ndarray, *, prior: float = 1.0, max_iter: int = 100, tol: float = 1e-10
) -> np.ndarray:
    """Centered BT strengths theta (..., M) from pairwise points ``wins[..., a, b]``.

    ``wins[..., a, b]`` is what a scored against b (win 1, tie 0.5); games are
    ``wins + wins^T``.  Leading axes are independent fits (e.g. bootstrap
    resamples).  Models with no game at all get NaN.
    """
    w = np.asarray(wins, dtype=float)
    M = w.shape[-1]
    if M == 0:
        return np.zeros(w.shape[:-1])
    eye = np.eye(M, dtype=bool)
    played = (w + np.swapaxes(w, -1, -2)).sum(axis=-1) > 0  # (..., M) real games only
    w = np.where(eye, 0.0, w + prior / 2.0)
    n = w + np.swapaxes(w, -1, -2)
    has_games = n.sum(axis=-1) > 0
    theta = np.zeros(w.shape[:-1])
    W = w.sum(axis=-1)
    ones = np.ones((M, M)) / M
    for _ in range(max_iter):
        d = theta[..., :, None] - theta[..., None, :]
        p = 1.0 / (1.0 + np.exp(-d))
        grad = W - (n * p).sum(axis=-1)
        h = n * p * (1.0 - p)
        lap = np.where(eye, h.sum(axis=-1)[..., :, None], -h)
        # a model that never played is pinned at 0 by a unit diagonal
        lap = lap + np.where(has_games[..., :, None] | ~eye, 0.0, 1.0) * eye
        try:
            step = np.linalg.solve(lap + ones, grad[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = (np.linalg.pinv(lap + ones) @ grad[..., None])[..., 0]
        step = np.clip(step, -2.0, 2.0)
        theta = theta + step
        theta = theta - theta.mean(axis=-1, keepdims=True)
        if np.nanmax(np.abs(step)) < tol:
            break
    return np.where(played, theta, np.nan)


def to_elo(theta: np.ndarray) -> np.ndarray:
    return ELO_BASE + ELO_SCALE * theta


def bt_bootstrap(pair_wins: np.ndarray, counts: np.ndarray, *, prior: float = 1.0) -> np.ndarray:
    """(B, M) BT strengths of the resamples from per-prompt pairwise points (P, M, M)."""
    P, M, _ = pair_wins.shape
    resampled = (counts @ pair_wins.reshape(P, M * M)).reshape(counts.shape[0], M, M)
    return bradley_terry(resampled, prior=prior)
