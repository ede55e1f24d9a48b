"""Bootstrap over prompts and Bradley-Terry: checked against slow, obvious recomputations."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from echo_bench.judge.battles import battles, score_table, win_rates
from echo_bench.judge.report import analyze
from echo_bench.judge.uncertainty import bootstrap_counts, bradley_terry, bt_bootstrap, percentile_interval, win_rate_bootstrap


def random_judgments(rng, n_prompts=30, models=("a", "b", "c", "d"), judges=("j1", "j2", "j3"), p_missing=0.1):
    rows = []
    quality = {m: i for i, m in enumerate(models)}
    for p in range(n_prompts):
        for m in models:
            missing = rng.random() < p_missing
            for j in judges:
                if missing:
                    st, sc = "no_output", None
                elif rng.random() < 0.05:
                    st, sc = "parse_failed", None
                else:
                    st, sc = "ok", float(np.clip(round(3 + quality[m] + rng.normal(0, 2)), 1, 10))
                rows.append(("s", f"p{p:03d}", m, j, "offline", "t", 0, None, sc, st, None, None, None, None, None, None, None))
    from echo_bench.schemas import JUDGMENTS

    return pl.DataFrame(rows, schema=JUDGMENTS, orient="row")


def test_bootstrap_counts_are_seeded_resamples():
    c = bootstrap_counts(50, 200, seed=7)
    assert c.shape == (200, 50) and (c.sum(axis=1) == 50).all()
    np.testing.assert_array_equal(c, bootstrap_counts(50, 200, seed=7))
    assert not np.array_equal(c, bootstrap_counts(50, 200, seed=8))


def test_vectorized_bootstrap_equals_recomputing_on_resampled_prompts():
    rng = np.random.default_rng(0)
    df = random_judgments(rng)
    w = {"j1": 1.0, "j2": 1.0, "j3": 1.0}
    t = score_table(df, judges=list(w))
    b = battles(t, w, missing_output="loss", vote_rule="plurality")
    counts = bootstrap_counts(len(t.samples), 5, seed=3)
    fast = win_rate_bootstrap(b.points, b.games, counts)
    for r in range(5):
        # build the resampled judgments table literally: prompt p drawn k times -> k renamed copies
        parts = []
        for p, k in enumerate(counts[r].astype(int)):
            for copy in range(k):
                parts.append(df.filter(pl.col("sample_id") == t.samples[p]).with_columns(
                    pl.lit(f"{t.samples[p]}#{copy}").alias("sample_id")))
        slow = win_rates(battles(score_table(pl.concat(parts), judges=list(w), models=t.models), w)).sort("model")
        np.testing.assert_allclose(fast[r], slow["win_rate"].to_numpy(), rtol=1e-12)


def _mm(wins, iters=20000):
    """Hunter's MM algorithm for Bradley-Terry, the slow textbook way."""
    M = wins.shape[0]
    n = wins + wins.T
    pi = np.ones(M)
    for _ in range(iters):
        new = np.array([wins[i].sum() / sum(n[i, j] / (pi[i] + pi[j]) for j in range(M) if j != i) for i in range(M)])
        new /= np.exp(np.log(new).mean())
        if np.max(np.abs(new - pi)) < 1e-13:
            break
        pi = new
    return np.log(pi) - np.log(pi).mean()


def test_bradley_terry_known_answer_and_mm():
    # two models, a scored 3 of 4: theta_a - theta_b = ln 3 without prior; ln(3.5/1.5) with one virtual game
    w = np.array([[0.0, 3.0], [1.0, 0.0]])
    th = bradley_terry(w, prior=0.0)
    assert th[0] - th[1] == pytest.approx(math.log(3.0))
    th = bradley_terry(w, prior=1.0)
    assert th[0] - th[1] == pytest.approx(math.log(3.5 / 1.5))
    rng = np.random.default_rng(1)
    for _ in range(3):
        w = rng.integers(1, 20, size=(5, 5)).astype(float)
        np.fill_diagonal(w, 0)
        np.testing.assert_allclose(bradley_terry(w, prior=0.0), _mm(w), atol=1e-7)


def test_bradley_terry_batched_and_degenerate():
    w = np.array([[0.0, 5.0, 5.0], [0.0, 0.0, 5.0], [0.0, 0.0, 0.0]])  # a wins everything: no MLE without prior
    th = bradley_terry(w, prior=1.0)
    assert np.all(np.isfinite(th)) and th[0] > th[1] > th[2]
    batch = np.stack([w, w.T])
    tb = bradley_terry(batch, prior=1.0)
    np.testing.assert_allclose(tb[0], th)
    np.testing.assert_allclose(tb[1], -th, atol=1e-9)
    # a model that never played gets NaN
    w4 = np.zeros((3, 3))
    w4[0, 1], w4[1, 0] = 2.0, 1.0
    assert np.isnan(bradley_terry(w4, prior=1.0)[2])


def test_bt_bootstrap_matches_point_fit_on_identity_resample():
    rng = np.random.default_rng(2)
    df = random_judgments(rng, n_prompts=40)
    t = score_table(df)
    b = battles(t, {j: 1.0 for j in t.judges})
    pw, _ = b.pairwise()
    ones = np.ones((1, len(t.samples)))
    np.testing.assert_allclose(bt_bootstrap(pw, ones)[0], bradley_terry(pw.sum(axis=0)), atol=1e-9)


def test_analyze_intervals_cover_and_order():
    rng = np.random.default_rng(4)
    df = random_judgments(rng, n_prompts=120)
    per_model, res = analyze(df, weights={"j1": 1, "j2": 1, "j3": 1}, missing_output="loss", vote_rule="plurality",
                             n_boot=300, seed=0, level=0.95, bt_prior=1.0)
    assert per_model["model"].to_list() == ["d", "c", "b", "a"]  # quality order of the simulation
    assert (per_model["win_rate_ci_low"] <= per_model["win_rate"]).all()
    assert (per_model["win_rate"] <= per_model["win_rate_ci_high"]).all()
    assert (per_model["bt_elo_ci_low"] <= per_model["bt_elo"]).all() and (per_model["bt_elo"] <= per_model["bt_elo_ci_high"]).all()
    # BT order agrees with win rates here; intervals have positive width
    assert per_model.sort("bt_elo", descending=True)["model"].to_list() == ["d", "c", "b", "a"]
    assert ((per_model["win_rate_ci_high"] - per_model["win_rate_ci_low"]) > 0.01).all()
    # same seed -> same numbers; different seed -> different intervals
    again, _ = analyze(df, weights={"j1": 1, "j2": 1, "j3": 1}, missing_output="loss", vote_rule="plurality",
                       n_boot=300, seed=0, level=0.95, bt_prior=1.0)
    assert again.equals(per_model)
    assert res["counts"]["prompts"] == 120 and res["settings"]["bootstrap"]["unit"] == "prompt"


def test_percentile_interval_ignores_nan():
    s = np.array([[0.1, np.nan], [0.2, np.nan], [0.3, np.nan]])
    lo, hi = percentile_interval(s, 0.5)
    assert lo[0] == pytest.approx(0.15) and hi[0] == pytest.approx(0.25) and np.isnan(lo[1])
