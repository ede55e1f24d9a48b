"""How far the judges can be trusted: spread, agreement, ensemble vs single judges, separability.

All from one split's JUDGMENTS, with the same vote, missing-output rule and
bootstrap over prompts as the win rates (:mod:`echo_bench.judge.report`).

* **Run-to-run spread** over ``judge.repeats`` -- :func:`echo_bench.judge.agreement.repeat_spread`.
* **Krippendorff's alpha** between judges (:func:`krippendorff_alpha`), the
  units being the judged items (sample, model), each judge's value its score
  (mean over its parsed repeats), for the *interval* and the *ordinal*
  difference functions.  From the coincidence matrix ``o[c, k]`` (every ordered
  pair of values of two different judges on a unit, weighted 1 / (m_u - 1) with
  m_u the values on the unit; units with one value are not pairable), the
  marginals ``n_c`` and ``n = sum n_c``::

      D_o = sum_ck o[c,k] d2(c,k) / n
      D_e = sum_ck n_c n_k d2(c,k) / (n (n - 1))
      alpha = 1 - D_o / D_e

  interval: ``d2 = (c - k)^2``; ordinal: ``d2 = (sum_{g between c and k} n_g - (n_c + n_k) / 2)^2``.
* **Each judge alone vs the ensemble**: the judge's own win rates with
  bootstrap intervals, the Spearman correlation of its model ranking with the
  ensemble's, the agreement of its battle outcomes with the vote of the *other*
  judges (leave-one-out, so a judge is not compared with a vote it is part of),
  and its separability beside the ensemble's.
* **Separability** (Arena-Hard): the share of model pairs whose win-rate
  intervals do not overlap (also for the Bradley-Terry intervals).
* **Effective number of independent judges**, from the correlation matrix R of
  the judges' item scores (items every judge scored): ``J / (1 + (J - 1) mean r)``
  (the design effect of averaging equally correlated raters) and the
  participation ratio ``(sum lambda)^2 / sum lambda^2 = J^2 / ||R||_F^2`` of R's
  eigenvalues.  Both are 1 for identical judges and J for uncorrelated ones.
* **Parse failures per judge**: status counts of its rows.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from echo_bench.judge import agreement as agr
from echo_bench.judge.battles import ScoreTable, battles, score_table, single_judge, win_rates
from echo_bench.judge.uncertainty import bootstrap_counts, percentile_interval, win_rate_bootstrap

LEVELS = ("interval", "ordinal")


def _f(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else round(x, 6)


# --- Krippendorff's alpha -----------------------------------------------------------------


def coincidences(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values, coincidence matrix o[c, k]) of a (coders, units) array with NaN = no value."""
    v = np.asarray(values, dtype=float)
    distinct = np.unique(v[~np.isnan(v)])
    o = np.zeros((len(distinct), len(distinct)))
    for unit in v.T:
        x = unit[~np.isnan(unit)]
        m = x.size
        if m < 2:
            continue
        idx = np.searchsorted(distinct, x)
        for a, b in itertools.permutations(range(m), 2):
            o[idx[a], idx[b]] += 1.0 / (m - 1)
    return distinct, o


def _delta2(distinct: np.ndarray, n_c: np.ndarray, level: str) -> np.ndarray:
    if level == "interval":
        return (distinct[:, None] - distinct[None, :]) ** 2
    if level == "ordinal":
        cum = np.cumsum(n_c)
        lo = np.minimum.outer(np.arange(len(n_c)), np.arange(len(n_c)))
        hi = np.maximum.outer(np.arange(len(n_c)), np.arange(len(n_c)))
        between = cum[hi] - np.where(lo > 0, cum[lo - 1], 0.0)  # n_g for g from lo to hi, inclusive
        return (between - (n_c[:, None] + n_c[None, :]) / 2.0) ** 2
    raise ValueError(f"level must be one of {LEVELS}, not {level!r}")


def krippendorff_alpha(values: np.ndarray, level: str = "interval") -> float:
    """Krippendorff's alpha of a (coders, units) array (NaN = missing); NaN when undefined."""
    distinct, o = coincidences(values)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    if n <= 1 or len(distinct) < 2:
        return float("nan")
    d2 = _delta2(distinct, n_c, level)
    d_o = float((o * d2).sum()) / n
    d_e = float((np.outer(n_c, n_c) * d2).sum()) / (n * (n - 1))
    return float("nan") if d_e == 0 else 1.0 - d_o / d_e


def item_matrix(table: ScoreTable) -> np.ndarray:
    """(judges, items) scores of the items with output, NaN where a judge has no score."""
    return table.scores[:, table.has_output].reshape(len(table.judges), -1)


# --- separability, effective judges ---------------------------------------------------------


def separability(lo: np.ndarray, hi: np.ndarray) -> dict[str, Any]:
    """Share of model pairs (both with an interval) whose intervals do not overlap."""
    ok = np.isfinite(lo) & np.isfinite(hi)
    pairs = [(a, b) for a, b in itertools.combinations(range(len(lo)), 2) if ok[a] and ok[b]]
    apart = sum(1 for a, b in pairs if lo[a] > hi[b] or lo[b] > hi[a])
    return {"pairs": len(pairs), "separated": apart, "share": _f(apart / len(pairs)) if pairs else None}


def effective_judges(x: np.ndarray) -> dict[str, Any]:
    """Effective number of independent judges from a (judges, items) score array."""
    J = x.shape[0]
    full = x[:, ~np.isnan(x).any(axis=0)] if x.size else x
    out: dict[str, Any] = {"judges": J, "items_scored_by_all": int(full.shape[1]) if full.ndim == 2 else 0}
    if J < 2 or full.shape[1] < 3 or np.any(full.std(axis=1) == 0):
        return {**out, "mean_correlation": None, "design_effect": None, "participation_ratio": None}
    r = np.corrcoef(full)
    mean_r = float(r[np.triu_indices(J, 1)].mean())
    design = J / (1.0 + (J - 1) * mean_r) if (1.0 + (J - 1) * mean_r) > 0 else float("nan")
    participation = J * J / float((r * r).sum())
    return {**out, "mean_correlation": _f(mean_r), "design_effect": _f(design), "participation_ratio": _f(participation)}


# --- each judge alone vs the ensemble ------------------------------------------------------------


def _intervals(b, counts: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    boot = win_rate_bootstrap(b.points, b.games, counts)
    if counts.shape[0] == 0:
        return np.full(len(b.models), np.nan), np.full(len(b.models), np.nan)
    return percentile_interval(boot, level)


def _spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    m = np.isfinite(x) & np.isfinite(y)
    if m.sum() < 2 or np.all(x[m] == x[m][0]) or np.all(y[m] == y[m][0]):
        return None
    return _f(agr.spearman(x[m], y[m]))


def judges_alone(
    table: ScoreTable,
    weights: Mapping[str, float],
    *,
    missing_output: str,
    vote_rule: str,
    counts: np.ndarray,
    level: float,
) -> dict[str, Any]:
    """The ensemble's win rates and separability, and each judge's alone (with the leave-one-out agreement)."""
    ens = battles(table, {j: weights[j] for j in table.judges}, missing_output=missing_output, vote_rule=vote_rule)
    ens_wr = win_rates(ens)["win_rate"].to_numpy()
    lo, hi = _intervals(ens, counts, level)
    out: dict[str, Any] = {
        "ensemble": {
            "win_rate": dict(zip(table.models, map(_f, ens_wr))),
            "separability": separability(lo, hi),
            "mean_interval_width": _f(np.nanmean(hi - lo)) if np.isfinite(hi - lo).any() else None,
        },
        "judges": [],
    }
    both = table.has_output[:, ens.ia] & table.has_output[:, ens.ib]
    for j, name in enumerate(table.judges):
        alone = single_judge(table, name, missing_output=missing_output)
        wr = win_rates(alone)["win_rate"].to_numpy()
        a_lo, a_hi = _intervals(alone, counts, level)
        others = [k for k in table.judges if k != name]
        loo: dict[str, Any] = {"battles": 0, "agreement": None}
        if others:
            sub = ScoreTable(table.samples, table.models, others,
                             table.scores[[table.judges.index(k) for k in others]], table.has_output)
            rest = battles(sub, {k: weights[k] for k in others}, missing_output=missing_output, vote_rule=vote_rule)
            mine = ens.judge_outcomes[j]
            m = both & ~np.isnan(mine) & ~np.isnan(rest.outcome) & (rest.decided_by == 1)
            loo = {"battles": int(m.sum()), "agreement": _f(np.mean(mine[m] == rest.outcome[m])) if m.any() else None}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            width = np.nanmean(a_hi - a_lo) if np.isfinite(a_hi - a_lo).any() else float("nan")
        out["judges"].append(
            {
                "judge": name,
                "win_rate": dict(zip(table.models, map(_f, wr))),
                "spearman_with_ensemble": _spearman(wr, ens_wr),
                "agreement_with_other_judges_vote": loo,
                "separability": separability(a_lo, a_hi),
                "mean_interval_width": _f(width),
            }
        )
    return out


def parse_failures(judgments: pl.DataFrame) -> list[dict[str, Any]]:
    """Per judge: rows, ok, parse_failed, call_failed, no_output and the parse-failure rate."""
    dist = agr.rating_distribution(judgments)
    keep = ("judge", "backend", "rows", "ok", "parse_failed", "call_failed", "no_output", "parse_failure_rate")
    return [{k: r.get(k) for k in keep} for r in dist.to_dicts()] if dist.height else []


def reliability(
    judgments: pl.DataFrame,
    *,
    weights: Mapping[str, float],
    missing_output: str,
    vote_rule: str,
    n_boot: int,
    seed: int,
    level: float = 0.95,
    bt_intervals: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """The reliability section of one split (plain data, JSON-ready)."""
    known = judgments.filter(pl.col("judge").is_in(list(weights)))
    judges = [j for j in weights if j in set(known["judge"].to_list())]
    table = score_table(known, judges=judges, models=sorted(set(judgments["model"].to_list())),
                        samples=sorted(set(judgments["sample_id"].to_list())))
    counts = bootstrap_counts(len(table.samples), n_boot, seed)
    x = item_matrix(table)
    alpha = {level_: _f(krippendorff_alpha(x, level_)) if len(judges) > 1 else None for level_ in LEVELS}
    doc: dict[str, Any] = {
        "producer": "echo_bench.judge.reliability",
        "judges": judges,
        "offline_only": set(known["backend"].drop_nulls().to_list()) <= {"offline"},
        "repeat_spread": agr.repeat_spread(known),
        "krippendorff_alpha": {**alpha, "units": int(x.shape[1]),
                               "pairable_units": int(((~np.isnan(x)).sum(axis=0) >= 2).sum()) if x.size else 0},
        "alone_vs_ensemble": judges_alone(table, weights, missing_output=missing_output, vote_rule=vote_rule,
                                          counts=counts, level=level),
        "effective_judges": effective_judges(x),
        "parse_failures": parse_failures(known),
    }
    if bt_intervals is not None:
        doc["alone_vs_ensemble"]["ensemble"]["separability_bradley_terry"] = separability(*bt_intervals)
    return doc
