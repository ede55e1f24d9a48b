"""Benchmark: battles, vote, win rates and bootstrap intervals at paper-plus scale.

    .venv/bin/python benchmarks/winrates.py [--models 10] [--prompts 2000] [--judges 4] [--boot 1000]

Simulates a JUDGMENTS table (models of graded quality, judges with their own
noise and bias, 3% missing outputs, 2% parse failures), then times each step of
what the winrates stage computes.  Target: win rates + 1,000 bootstrap
resamples in < 10 s on 2 cores for 10 models x 2,000 prompts x 4 judges.
Also checks the vectorized bootstrap against a literal recomputation for a few
resamples.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import polars as pl

from echo_bench.judge.battles import battles, score_table, win_rates
from echo_bench.judge.report import analyze
from echo_bench.judge.uncertainty import (
    bootstrap_counts,
    bradley_terry,
    bt_bootstrap,
    percentile_interval,
    win_rate_bootstrap,
)
from echo_bench.schemas import JUDGMENTS


def simulate(n_models: int, n_prompts: int, n_judges: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    quality = np.linspace(8.0, 3.0, n_models)
    difficulty = rng.normal(0, 1.0, n_prompts)
    bias = rng.normal(0, 0.5, n_judges)
    J, P, M = n_judges, n_prompts, n_models
    raw = quality[None, None, :] - difficulty[None, :, None] + bias[:, None, None] + rng.normal(0, 1.5, (J, P, M))
    score = np.clip(np.rint(raw), 1, 10)
    missing = np.broadcast_to(rng.random((P, M)) < 0.03, (J, P, M))
    parse_fail = rng.random((J, P, M)) < 0.02
    status = np.where(missing, "no_output", np.where(parse_fail, "parse_failed", "ok"))
    jj, pp, mm = np.meshgrid(np.arange(J), np.arange(P), np.arange(M), indexing="ij")
    n = J * P * M
    return pl.DataFrame(
        {
            "split": ["image_to_image"] * n,
            "sample_id": [f"p{p:05d}" for p in pp.ravel()],
            "model": [f"model_{m:02d}" for m in mm.ravel()],
            "judge": [f"judge_{j}" for j in jj.ravel()],
            "backend": ["offline"] * n,
            "template": ["judge_single@v1"] * n,
            "repeat": np.zeros(n, dtype=np.int32),
            "raw": [None] * n,
            "score": np.where(status.ravel() == "ok", score.ravel(), np.nan),
            "status": status.ravel(),
            "error": [None] * n,
        },
        schema_overrides={"repeat": pl.Int32},
    ).with_columns(pl.col("score").fill_nan(None)).select(JUDGMENTS.names()).cast(dict(JUDGMENTS))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=10)
    ap.add_argument("--prompts", type=int, default=2000)
    ap.add_argument("--judges", type=int, default=4)
    ap.add_argument("--boot", type=int, default=1000)
    a = ap.parse_args()
    df = simulate(a.models, a.prompts, a.judges)
    weights = {f"judge_{j}": 1.0 for j in range(a.judges)}
    print(f"judgments: {df.height:,} rows ({a.models} models x {a.prompts} prompts x {a.judges} judges), "
          f"bootstrap {a.boot}")

    t0 = time.perf_counter()
    table = score_table(df, judges=list(weights))
    t1 = time.perf_counter()
    b = battles(table, weights, missing_output="loss", vote_rule="plurality")
    wr = win_rates(b)
    t2 = time.perf_counter()
    counts = bootstrap_counts(len(table.samples), a.boot, seed=1)
    boot = win_rate_bootstrap(b.points, b.games, counts)
    lo, hi = percentile_interval(boot)
    t3 = time.perf_counter()
    pw, _ = b.pairwise()
    theta = bradley_terry(pw.sum(axis=0))
    bt = bt_bootstrap(pw, counts)
    t4 = time.perf_counter()
    print(f"score table      {t1 - t0:7.3f} s")
    print(f"battles + vote   {t2 - t1:7.3f} s  ({int((~np.isnan(b.outcome)).sum()):,} battles)")
    print(f"win-rate boot    {t3 - t2:7.3f} s  ({a.boot} resamples)")
    print(f"Bradley-Terry    {t4 - t3:7.3f} s  (point fit + {a.boot} bootstrap fits)")
    print(f"core total       {t4 - t0:7.3f} s  (target < 10 s for win rates + bootstrap)")

    t5 = time.perf_counter()
    analyze(df, weights=weights, missing_output="loss", vote_rule="plurality", n_boot=a.boot, seed=1)
    t6 = time.perf_counter()
    print(f"full analyze()   {t6 - t5:7.3f} s  (+ per-judge win rates, mean-score CIs, agreement, distributions)")

    # correctness spot check: resample 0 recomputed literally from the resampled prompts
    idx = np.repeat(np.arange(len(table.samples)), counts[0].astype(int))
    sub = table.scores[:, idx, :], table.has_output[idx]
    from echo_bench.judge.battles import ScoreTable

    lit = win_rates(battles(ScoreTable([str(i) for i in range(len(idx))], table.models, table.judges, sub[0], sub[1]), weights))
    err = float(np.max(np.abs(lit["win_rate"].to_numpy() - boot[0])))
    print(f"bootstrap check  max |vectorized - literal| = {err:.2e}")
    print("model        win rate  95% CI            BT elo  95% CI")
    elo = 1000 + 400 / np.log(10) * theta
    elo_lo, elo_hi = percentile_interval(1000 + 400 / np.log(10) * bt)
    for m in np.argsort(-wr["win_rate"].to_numpy()):
        print(f"{table.models[m]:<12} {wr['win_rate'][int(m)]:.3f}     [{lo[m]:.3f}, {hi[m]:.3f}]    "
              f"{elo[m]:7.1f} [{elo_lo[m]:.1f}, {elo_hi[m]:.1f}]")


if __name__ == "__main__":
    main()
