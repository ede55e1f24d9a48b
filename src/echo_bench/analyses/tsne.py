"""A seeded 2-D t-SNE map: scikit-learn's when installed, else a small exact t-SNE in numpy.

The numpy version (:func:`tsne_exact`) follows van der Maaten and Hinton (2008):
Gaussian affinities whose bandwidths are found by bisection to match the
perplexity, symmetrized; a Student-t kernel in 2-D; gradient descent with
momentum (0.5, then 0.8), per-coordinate gains, early exaggeration 12 for the
first 250 iterations, learning rate max(n / 48, 50) and a PCA initialization
scaled to standard deviation 1e-4 (all as scikit-learn's defaults).  It is
O(n^2) in time and memory per iteration: meant for at most a few thousand points.

Both return coordinates centred and scaled to unit standard deviation, rounded,
so equal inputs give equal files (scikit-learn runs on one thread for that).
"""

from __future__ import annotations

from typing import Any

import numpy as np

BACKENDS = ("auto", "sklearn", "numpy")


def _pca_init(x: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(xc, full_matrices=False)
    y = u[:, :2] * s[:2]
    if y.shape[1] < 2:
        y = np.hstack([y, np.zeros((y.shape[0], 2 - y.shape[1]))])
    signs = np.sign(y[np.abs(y).argmax(axis=0), np.arange(2)])
    y = y * np.where(signs == 0, 1.0, signs)
    std = y[:, 0].std()
    return y / (std if std > 0 else 1.0) * 1e-4


def _affinities(x: np.ndarray, perplexity: float, tol: float = 1e-5, steps: int = 100) -> np.ndarray:
    """Symmetric joint probabilities P of the high-dimensional points."""
    n = x.shape[0]
    sq = (x * x).sum(axis=1)
    d = np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0)
    np.fill_diagonal(d, 0.0)
    target = np.log(perplexity)
    beta = np.ones(n)
    lo = np.full(n, -np.inf)
    hi = np.full(n, np.inf)
    mask = ~np.eye(n, dtype=bool)
    for _ in range(steps):
        # shift by the row minimum (off-diagonal) for numerical stability
        dmin = np.where(mask, d, np.inf).min(axis=1, keepdims=True)
        e = np.exp(-(d - dmin) * beta[:, None]) * mask
        s = e.sum(axis=1)
        s = np.where(s > 0, s, 1e-300)
        p = e / s[:, None]
        h = np.log(s) + beta * ((d - dmin) * e).sum(axis=1) / s  # entropy in nats
        diff = h - target
        if np.all(np.abs(diff) < tol):
            break
        up = diff > 0  # entropy too high: sharpen (raise beta)
        lo = np.where(up, beta, lo)
        hi = np.where(up, hi, beta)
        beta = np.where(up, np.where(np.isinf(hi), beta * 2.0, (beta + hi) / 2.0),
                        np.where(np.isinf(lo), beta / 2.0, (beta + lo) / 2.0))
    p = (p + p.T) / (2.0 * n)
    return np.maximum(p, 1e-12)


def tsne_exact(
    x: np.ndarray,
    *,
    perplexity: float = 30.0,
    n_iter: int = 1000,
    seed: int = 0,
    early_exaggeration: float = 12.0,
    exaggeration_iters: int = 250,
) -> np.ndarray:
    """Exact t-SNE of ``x`` (n x d) to 2-D (module docstring)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if n == 0:
        return np.zeros((0, 2))
    if n < 4:
        return _pca_init(x) * 1e4
    perplexity = min(perplexity, (n - 1) / 3.0)
    p = _affinities(x, perplexity)
    del seed  # PCA initialization: nothing random (the seed is kept for the signature)
    y = _pca_init(x)
    update = np.zeros_like(y)
    gains = np.ones_like(y)
    lr = max(n / early_exaggeration / 4.0, 50.0)
    for it in range(n_iter):
        exag = early_exaggeration if it < exaggeration_iters else 1.0
        momentum = 0.5 if it < exaggeration_iters else 0.8
        sq = (y * y).sum(axis=1)
        num = 1.0 / (1.0 + np.maximum(sq[:, None] + sq[None, :] - 2.0 * y @ y.T, 0.0))
        np.fill_diagonal(num, 0.0)
        q = np.maximum(num / num.sum(), 1e-12)
        w = (exag * p - q) * num
        grad = 4.0 * (w.sum(axis=1)[:, None] * y - w @ y)
        inc = update * grad < 0.0
        gains = np.where(inc, gains + 0.2, gains * 0.8)
        np.clip(gains, 0.01, None, out=gains)
        update = momentum * update - lr * gains * grad
        y = y + update
    return y


def tsne_sklearn(x: np.ndarray, *, perplexity: float, n_iter: int, seed: int) -> np.ndarray:
    import inspect

    from sklearn.manifold import TSNE

    n = x.shape[0]
    kw: dict[str, Any] = {
        "n_components": 2,
        "perplexity": min(perplexity, max((n - 1) / 3.0, 1.0)),
        "random_state": seed,
        "init": "pca",
        "learning_rate": "auto",
    }
    iters = "max_iter" if "max_iter" in inspect.signature(TSNE).parameters else "n_iter"
    kw[iters] = max(int(n_iter), 250)
    from threadpoolctl import threadpool_limits

    # one thread: the Barnes-Hut gradient sums in thread order, and equal inputs must give equal maps
    with threadpool_limits(limits=1):
        return TSNE(**kw).fit_transform(np.asarray(x, dtype=np.float32).astype(np.float64))


def sklearn_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("sklearn") is not None


def tsne(x: np.ndarray, *, backend: str = "auto", perplexity: float = 30.0, n_iter: int = 1000, seed: int = 0,
         decimals: int = 4) -> tuple[np.ndarray, dict[str, Any]]:
    """2-D coordinates (centred, unit std, rounded) and what made them."""
    if backend not in BACKENDS:
        raise ValueError(f"analyses.embed.tsne.backend must be one of {BACKENDS}, got {backend!r}")
    n = int(np.asarray(x).shape[0])
    use = backend if backend != "auto" else ("sklearn" if sklearn_available() else "numpy")
    if n < 4:
        use = "numpy"
    y = tsne_sklearn(x, perplexity=perplexity, n_iter=n_iter, seed=seed) if use == "sklearn" else tsne_exact(
        x, perplexity=perplexity, n_iter=n_iter, seed=seed)
    if n:
        y = y - y.mean(axis=0)
        sd = float(y.std())
        y = y / (sd if sd > 0 else 1.0)
    info = {"backend": use, "perplexity": float(min(perplexity, max((n - 1) / 3.0, 1.0))), "n_iter": int(n_iter),
            "seed": int(seed), "points": n}
    return np.round(y, decimals) + 0.0, info
