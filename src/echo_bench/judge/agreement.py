"""How much the judges agree, and how much one judge agrees with itself.

* :func:`rating_distribution` -- each judge's ratings: mean, std, quantiles,
  histogram 1-10, and how often its replies failed to parse or its calls failed.
* :func:`outcome_agreement` -- for each pair of judges, over the battles both
  judged (both outputs present, neither abstaining): the share of identical
  outcomes (A / tie / B), the share among battles neither called a tie, and
  Cohen's kappa of the three-way outcome.  Also each judge against the vote.
* :func:`tie_shares` -- share of ties among each judge's battles and the vote's.
* :func:`rank_correlations` -- Spearman and Kendall (tau-b) correlations between
  judges of per-model mean scores and of per-item scores.
* :func:`repeat_spread` -- run-to-run spread of a judge over ``judge.repeats``:
  the mean within-item standard deviation, the share of items whose repeats
  differ, and the range of per-model mean scores across repeats (MT-Bench-style
  "scores move by ~0.2 between runs").
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import polars as pl

from echo_bench.judge.battles import Battles, ScoreTable

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def _f(x: Any) -> float | None:
    """A JSON-friendly float (None for NaN/None)."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


def rating_distribution(judgments: pl.DataFrame) -> pl.DataFrame:
    """One row per judge: status counts, parse-failure rate and the distribution of its ratings."""
    rows = []
    for judge in sorted(set(judgments["judge"].to_list())):
        d = judgments.filter(pl.col("judge") == judge)
        st = d["status"].value_counts()
        cnt = dict(zip(st["status"].to_list(), st["count"].to_list()))
        s = d.filter(pl.col("status") == "ok")["score"].drop_nulls().to_numpy()
        reached = cnt.get("ok", 0) + cnt.get("parse_failed", 0)
        row: dict[str, Any] = {
            "judge": judge,
            "backend": ",".join(sorted(set(d["backend"].drop_nulls().to_list()))),
            "rows": d.height,
            "ok": cnt.get("ok", 0),
            "parse_failed": cnt.get("parse_failed", 0),
            "call_failed": cnt.get("call_failed", 0),
            "no_output": cnt.get("no_output", 0),
            "parse_failure_rate": _f(cnt.get("parse_failed", 0) / reached) if reached else None,
            "mean": _f(s.mean()) if s.size else None,
            "std": _f(s.std(ddof=1)) if s.size > 1 else None,
        }
        for q in QUANTILES:
            row[f"q{int(q * 100):02d}"] = _f(np.quantile(s, q)) if s.size else None
        hist = np.bincount(np.clip(np.rint(s).astype(int), 1, 10), minlength=11)[1:] if s.size else np.zeros(10, int)
        for r in range(10):
            row[f"n_{r + 1}"] = int(hist[r])
        rows.append(row)
    return pl.DataFrame(rows) if rows else pl.DataFrame({"judge": []}, schema={"judge": pl.Utf8})


def _kappa(x: np.ndarray, y: np.ndarray) -> float | None:
    """Cohen's kappa of two label vectors with values in {-1, 0, 1}."""
    if x.size == 0:
        return None
    po = float(np.mean(x == y))
    pe = sum(float(np.mean(x == v)) * float(np.mean(y == v)) for v in (-1.0, 0.0, 1.0))
    return None if pe >= 1.0 else (po - pe) / (1.0 - pe)


def outcome_agreement(b: Battles) -> dict[str, list[dict[str, Any]]]:
    """Pairwise agreement of judges on battle outcomes, and of each judge with the vote."""
    jo = b.judge_outcomes
    both = b.has_output[:, b.ia] & b.has_output[:, b.ib]
    pairs = []
    for j, k in itertools.combinations(range(len(b.judges)), 2):
        m = both & ~np.isnan(jo[j]) & ~np.isnan(jo[k])
        x, y = jo[j][m], jo[k][m]
        decisive = (x != 0) & (y != 0)
        pairs.append(
            {
                "judge_a": b.judges[j],
                "judge_b": b.judges[k],
                "battles": int(m.sum()),
                "agreement": _f(np.mean(x == y)) if x.size else None,
                "agreement_without_ties": _f(np.mean(x[decisive] == y[decisive])) if decisive.any() else None,
                "battles_without_ties": int(decisive.sum()),
                "cohen_kappa": _f(_kappa(x, y)),
            }
        )
    with_vote = []
    voted = b.decided_by == 1
    for j, name in enumerate(b.judges):
        m = voted & ~np.isnan(jo[j])
        x, y = jo[j][m], b.outcome[m]
        with_vote.append(
            {
                "judge": name,
                "battles": int(m.sum()),
                "agreement_with_vote": _f(np.mean(x == y)) if x.size else None,
                "cohen_kappa_with_vote": _f(_kappa(x, y)),
            }
        )
    return {"pairs": pairs, "with_vote": with_vote}


def tie_shares(b: Battles) -> dict[str, float | None]:
    """Share of ties among each judge's own battles (both outputs present) and among the vote's battles."""
    both = b.has_output[:, b.ia] & b.has_output[:, b.ib]
    out: dict[str, float | None] = {}
    for j, name in enumerate(b.judges):
        m = both & ~np.isnan(b.judge_outcomes[j])
        out[name] = _f(np.mean(b.judge_outcomes[j][m] == 0)) if m.any() else None
    v = b.decided_by == 1
    out["vote"] = _f(np.mean(b.outcome[v] == 0)) if v.any() else None
    valid = ~np.isnan(b.outcome)
    out["all_battles"] = _f(np.mean(b.outcome[valid] == 0)) if valid.any() else None
    return out


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    u, inv, cnt = np.unique(x, return_inverse=True, return_counts=True)
    start = np.concatenate([[0], np.cumsum(cnt)[:-1]])
    return (start + (cnt + 1) / 2.0)[inv]


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho: Pearson correlation of the average ranks."""
    rx, ry = average_ranks(x), average_ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    den = math.sqrt(float((rx * rx).sum() * (ry * ry).sum()))
    return float((rx * ry).sum() / den) if den > 0 else float("nan")


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b from the contingency table of the distinct values (ratings are few distinct values).

    concordant = sum_ij N_ij * N[k > i, l > j], discordant = sum_ij N_ij * N[k > i, l < j],
    tau_b = (C - D) / sqrt((n0 - tx) (n0 - ty)) with n0 = n(n-1)/2 and tx, ty the tied pairs.
    """
    ux, xi = np.unique(x, return_inverse=True)
    uy, yi = np.unique(y, return_inverse=True)
    if len(ux) * len(uy) > 4_000_000:  # many distinct values: an O(n log n) implementation is needed
        from scipy import stats

        return float(stats.kendalltau(x, y, variant="b").statistic)
    N = np.zeros((len(ux), len(uy)))
    np.add.at(N, (xi, yi), 1.0)
    # G[i, j] = sum of N over rows > i and columns > j;  L[i, j] = rows > i and columns < j
    below = np.zeros_like(N)
    below[:-1] = N[::-1].cumsum(axis=0)[::-1][1:]  # rows strictly greater than i
    G = np.zeros_like(N)
    G[:, :-1] = below[:, ::-1].cumsum(axis=1)[:, ::-1][:, 1:]
    L = np.zeros_like(N)
    L[:, 1:] = below.cumsum(axis=1)[:, :-1]
    conc, disc = float((N * G).sum()), float((N * L).sum())
    n = float(len(x))
    n0 = n * (n - 1) / 2
    rx, ry = N.sum(axis=1), N.sum(axis=0)
    tx, ty = float((rx * (rx - 1) / 2).sum()), float((ry * (ry - 1) / 2).sum())
    den = math.sqrt((n0 - tx) * (n0 - ty))
    return (conc - disc) / den if den > 0 else float("nan")


def _spearman_kendall(x: np.ndarray, y: np.ndarray) -> tuple[float | None, float | None]:
    if x.size < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return None, None
    return _f(spearman(x, y)), _f(kendall_tau_b(x, y))


def rank_correlations(table: ScoreTable) -> list[dict[str, Any]]:
    """Spearman / Kendall tau-b between each pair of judges, on model means and on items."""
    import warnings

    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(table.scores, axis=1) if table.scores.size else np.zeros((len(table.judges), 0))
    for j, k in itertools.combinations(range(len(table.judges)), 2):
        mm = ~np.isnan(means[j]) & ~np.isnan(means[k])
        rho_m, tau_m = _spearman_kendall(means[j][mm], means[k][mm])
        si, sk = table.scores[j].ravel(), table.scores[k].ravel()
        mi = ~np.isnan(si) & ~np.isnan(sk)
        rho_i, tau_i = _spearman_kendall(si[mi], sk[mi])
        out.append(
            {
                "judge_a": table.judges[j],
                "judge_b": table.judges[k],
                "models": int(mm.sum()),
                "spearman_model_means": rho_m,
                "kendall_model_means": tau_m,
                "items": int(mi.sum()),
                "spearman_items": rho_i,
                "kendall_items": tau_i,
            }
        )
    return out


def repeat_spread(judgments: pl.DataFrame) -> list[dict[str, Any]]:
    """Run-to-run spread of each judge over its repeats (items with at least two parsed repeats)."""
    ok = judgments.filter((pl.col("status") == "ok") & pl.col("score").is_not_null())
    out = []
    for judge in sorted(set(judgments["judge"].to_list())):
        d = ok.filter(pl.col("judge") == judge)
        repeats = sorted(set(judgments.filter(pl.col("judge") == judge)["repeat"].to_list()))
        items = d.group_by("sample_id", "model").agg(
            pl.col("score").std(ddof=0).alias("sd"), pl.col("score").n_unique().alias("nu"), pl.len().alias("n")
        ).filter(pl.col("n") >= 2)
        per_rep = d.group_by("model", "repeat").agg(pl.col("score").mean().alias("m"))
        rng = per_rep.group_by("model").agg((pl.col("m").max() - pl.col("m").min()).alias("r"), pl.len().alias("k"))
        rng = rng.filter(pl.col("k") >= 2)
        out.append(
            {
                "judge": judge,
                "repeats": len(repeats),
                "items_with_repeats": items.height,
                "mean_within_item_std": _f(items["sd"].mean()) if items.height else None,
                "share_items_repeats_differ": _f((items["nu"] > 1).mean()) if items.height else None,
                "mean_model_score_range": _f(rng["r"].mean()) if rng.height else None,
                "max_model_score_range": _f(rng["r"].max()) if rng.height else None,
            }
        )
    return out
