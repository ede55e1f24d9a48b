"""Everything the win-rate stage reports for one split, from a JUDGMENTS table.

:func:`analyze` returns plain data: a per-model table (win rate with its
bootstrap interval, Bradley-Terry rating with its interval, battle counts,
mean score per judge with intervals, each judge's own win rate) and a JSON-ready
dict with the same plus judge agreement, rating distributions, run-to-run
spread and the settings used.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from echo_bench.judge import agreement as agr
from echo_bench.judge.battles import battle_counts, battles, score_table, single_judge, win_rates
from echo_bench.judge.uncertainty import (
    bootstrap_counts,
    bradley_terry,
    bt_bootstrap,
    percentile_interval,
    ratio_bootstrap,
    to_elo,
    win_rate_bootstrap,
)


def _r(x: Any, nd: int = 6) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else round(x, nd)


def analyze(
    judgments: pl.DataFrame,
    *,
    weights: Mapping[str, float],
    missing_output: str,
    vote_rule: str,
    n_boot: int,
    seed: int,
    level: float = 0.95,
    bt_prior: float = 1.0,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """(per-model table, full results dict) for the judgments of one split.

    Only the judges named in ``weights`` vote; rows of other judges are counted
    in ``results["ignored_rows"]`` and otherwise left out.
    """
    splits = sorted(set(judgments["split"].to_list()))
    if len(splits) > 1:
        raise ValueError(f"analyze one split at a time, got {splits}")
    known = judgments.filter(pl.col("judge").is_in(list(weights)))
    ignored = judgments.height - known.height
    judges = [j for j in weights if j in set(known["judge"].to_list())]
    # models and prompts come from all rows (a model every judge skipped still has its missing outputs)
    table = score_table(known, judges=judges, models=sorted(set(judgments["model"].to_list())),
                        samples=sorted(set(judgments["sample_id"].to_list())))
    P, M, J = len(table.samples), len(table.models), len(table.judges)
    b = battles(table, {j: weights[j] for j in judges}, missing_output=missing_output, vote_rule=vote_rule)
    wr = win_rates(b)
    points, games = b.points, b.games
    counts = bootstrap_counts(P, n_boot, seed)
    boot_wr = win_rate_bootstrap(points, games, counts)
    wr_lo, wr_hi = percentile_interval(boot_wr, level) if n_boot else (np.full(M, np.nan),) * 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # models without battles: all-NaN columns
        wr_se = np.nanstd(boot_wr, axis=0, ddof=1) if n_boot > 1 else np.full(M, np.nan)

    pair_wins, _ = b.pairwise()
    theta = bradley_terry(pair_wins.sum(axis=0), prior=bt_prior) if M else np.zeros(0)
    boot_theta = bt_bootstrap(pair_wins, counts, prior=bt_prior) if (M and n_boot) else np.zeros((0, M))
    bt_lo, bt_hi = percentile_interval(to_elo(boot_theta), level) if n_boot else (np.full(M, np.nan),) * 2

    # mean score per judge and model, with the same resamples
    valid = ~np.isnan(table.scores)  # (J, P, M)
    num = np.transpose(np.nan_to_num(table.scores), (1, 0, 2))  # (P, J, M)
    den = np.transpose(valid, (1, 0, 2)).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        ms = np.where(den.sum(0) > 0, num.sum(0) / np.where(den.sum(0) > 0, den.sum(0), 1), np.nan)  # (J, M)
    boot_ms = ratio_bootstrap(num, den, counts) if n_boot else np.zeros((0, J, M))
    ms_lo, ms_hi = percentile_interval(boot_ms, level) if n_boot else (np.full((J, M), np.nan),) * 2

    per_judge_wr = {j: win_rates(single_judge(table, j, missing_output=missing_output))["win_rate"].to_numpy() for j in judges}
    outputs = table.has_output.sum(axis=0)

    cols: dict[str, Any] = {
        "model": table.models,
        "win_rate": wr["win_rate"].to_numpy(),
        "win_rate_ci_low": wr_lo,
        "win_rate_ci_high": wr_hi,
        "win_rate_se": wr_se,
        "battles": wr["battles"].to_numpy(),
        "wins": wr["wins"].to_numpy(),
        "ties": wr["ties"].to_numpy(),
        "losses": wr["losses"].to_numpy(),
        "bt_elo": to_elo(theta),
        "bt_elo_ci_low": bt_lo,
        "bt_elo_ci_high": bt_hi,
        "outputs": outputs.astype(np.int64),
        "missing_outputs": (P - outputs).astype(np.int64),
    }
    for j, name in enumerate(judges):
        cols[f"mean_score_{name}"] = ms[j]
        cols[f"mean_score_{name}_ci_low"] = ms_lo[j]
        cols[f"mean_score_{name}_ci_high"] = ms_hi[j]
        cols[f"win_rate_{name}_alone"] = per_judge_wr[name]
    per_model = pl.DataFrame(cols)
    float_cols = [c for c, t in per_model.schema.items() if t == pl.Float64]
    per_model = per_model.with_columns([pl.col(c).round(6) for c in float_cols])
    per_model = per_model.sort(["win_rate", "model"], descending=[True, False], nulls_last=True)

    dist = agr.rating_distribution(judgments.filter(pl.col("judge").is_in(judges)))
    results: dict[str, Any] = {
        "split": splits[0] if splits else None,
        "producer": "echo_bench.judge",
        "backends": sorted(set(known["backend"].drop_nulls().to_list())),
        "offline_only": set(known["backend"].drop_nulls().to_list()) <= {"offline"},
        "settings": {
            "judges": {j: float(weights[j]) for j in judges},
            "missing_output": missing_output,
            "vote_rule": vote_rule,
            "bootstrap": {"n": n_boot, "seed": seed, "level": level, "unit": "prompt"},
            "bradley_terry": {"prior": bt_prior, "scale": "elo: 1000 + 400/ln(10) * theta, mean theta 0"},
        },
        "counts": {
            "prompts": P,
            "models": M,
            "judges": J,
            "judgment_rows": judgments.height,
            "ignored_rows": ignored,
            "ignored_judges": sorted(set(judgments["judge"].to_list()) - set(judges)),
            "battles": battle_counts(b),
        },
        "models": per_model.to_dicts(),
        "agreement": {
            **agr.outcome_agreement(b),
            "tie_share": agr.tie_shares(b),
            "rank_correlation": agr.rank_correlations(table),
        },
        "rating_distribution": dist.to_dicts(),
        "repeat_spread": agr.repeat_spread(judgments.filter(pl.col("judge").is_in(judges))),
    }
    return per_model, _clean(results)


def _clean(x: Any) -> Any:
    """JSON-ready: NaN -> None, numpy scalars -> Python, floats rounded to 6 places."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return _r(x)
    return x


def headline(results: Mapping[str, Any]) -> dict[str, Any]:
    """The DVC metrics of a split: win rates with intervals, top model, parse failures, ties."""
    models = results["models"]
    dist = results["rating_distribution"]
    ok = sum(d["ok"] for d in dist)
    pf = sum(d["parse_failed"] for d in dist)
    return _clean(
        {
            "split": results["split"],
            "prompts": results["counts"]["prompts"],
            "models": results["counts"]["models"],
            "judges": results["counts"]["judges"],
            "offline_only": results["offline_only"],
            "top_model": models[0]["model"] if models and models[0]["win_rate"] is not None else None,
            "win_rate": {m["model"]: m["win_rate"] for m in models},
            "win_rate_ci_low": {m["model"]: m["win_rate_ci_low"] for m in models},
            "win_rate_ci_high": {m["model"]: m["win_rate_ci_high"] for m in models},
            "bt_elo": {m["model"]: m["bt_elo"] for m in models},
            "parse_failure_rate": (pf / (ok + pf)) if (ok + pf) else None,
            "tie_share": results["agreement"]["tie_share"].get("all_battles"),
        }
    )
