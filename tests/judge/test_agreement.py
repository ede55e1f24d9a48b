"""Agreement between judges and within a judge, on tables whose answers are known."""

from __future__ import annotations

import polars as pl
import pytest

from echo_bench.judge import agreement as agr
from echo_bench.judge.battles import battles, score_table


def test_outcome_agreement_by_hand(hand_table):
    b = battles(score_table(hand_table), {"j1": 1, "j2": 1, "j3": 1})
    pairs = {(p["judge_a"], p["judge_b"]): p for p in agr.outcome_agreement(b)["pairs"]}
    # battles with both outputs: p1 x 6, p2 A-B, A-C, B-C, p3 A-B (10); j2 abstains on p2 A-C and B-C
    # j1 vs j2 on 8 battles: p1 A-B (A, tie) x, A-C (A, A) ok, A-D ok, B-C (tie, B) x, B-D ok, C-D ok,
    #                        p2 A-B (tie, A) x, p3 A-B (B, B) ok  -> 5 / 8
    p = pairs[("j1", "j2")]
    assert p["battles"] == 8 and p["agreement"] == pytest.approx(5 / 8)
    # without ties: both decisive on p1 A-C, A-D, B-D, C-D, p3 A-B: all agree
    assert p["battles_without_ties"] == 5 and p["agreement_without_ties"] == 1.0
    # j1 vs j3 on 10: p1 A-B (A,B) x, A-C (A,C) x, A-D ok, B-C (tie,B) x, B-D ok, C-D ok,
    #                 p2 A-B (tie,tie) ok, A-C (C,C) ok, B-C (C,C) ok, p3 A-B (B,A) x -> 6 / 10
    assert pairs[("j1", "j3")]["agreement"] == pytest.approx(0.6)
    ties = agr.tie_shares(b)
    # j1 ties on p1 B-C (6-6) and p2 A-B (5-5) of its 10 battles; the vote ties p1 A-B and p2 A-B of 10;
    # over all 18 battles the p3 C-D tie of two missing outputs adds one
    assert ties["j1"] == pytest.approx(0.2) and ties["vote"] == pytest.approx(0.2)
    assert ties["all_battles"] == pytest.approx(3 / 18)
    with_vote = {r["judge"]: r for r in agr.outcome_agreement(b)["with_vote"]}
    # j3 vs vote on 10: p1 A-B (B vs tie) x, A-C (C vs A) x, A-D, B-C, B-D, C-D ok, p2 A-B, A-C, B-C ok, p3 (A vs B) x
    assert with_vote["j3"]["battles"] == 10 and with_vote["j3"]["agreement_with_vote"] == pytest.approx(0.7)


def test_rating_distribution(hand_table):
    d = {r["judge"]: r for r in agr.rating_distribution(hand_table).to_dicts()}
    j2 = d["j2"]
    assert (j2["rows"], j2["ok"], j2["parse_failed"], j2["no_output"]) == (12, 8, 1, 3)
    assert j2["parse_failure_rate"] == pytest.approx(1 / 9)
    # j2's ok ratings: 7 7 5 4 6 4 3 4
    assert j2["mean"] == pytest.approx(40 / 8) and j2["q50"] == pytest.approx(4.5)
    assert [j2[f"n_{k}"] for k in range(1, 11)] == [0, 0, 1, 3, 1, 1, 2, 0, 0, 0]


def test_rank_correlations(make_judgments):
    base = {f"p{i}": {"a": 1 + i % 3, "b": 4 + i % 4, "c": 8 + i % 2} for i in range(6)}
    same_order = {p: {m: 2 * v - 1 for m, v in s.items()} for p, s in base.items()}  # monotone transform
    reversed_ = {p: {m: 11 - v for m, v in s.items()} for p, s in base.items()}
    t = score_table(make_judgments({"j1": base, "j2": same_order, "j3": reversed_}))
    r = {(x["judge_a"], x["judge_b"]): x for x in agr.rank_correlations(t)}
    assert r[("j1", "j2")]["spearman_model_means"] == pytest.approx(1.0)
    assert r[("j1", "j2")]["kendall_items"] == pytest.approx(1.0)
    assert r[("j1", "j3")]["spearman_items"] == pytest.approx(-1.0)
    assert r[("j1", "j3")]["kendall_model_means"] == pytest.approx(-1.0) and r[("j1", "j3")]["items"] == 18


def test_repeat_spread(make_judgments):
    r0 = make_judgments({"j": {"p1": {"a": 5, "b": 7}, "p2": {"a": 6, "b": 8}}})
    r1 = make_judgments({"j": {"p1": {"a": 5, "b": 9}, "p2": {"a": 6, "b": 8}}}).with_columns(
        pl.lit(1, dtype=pl.Int32).alias("repeat"))
    s = agr.repeat_spread(pl.concat([r0, r1]))[0]
    assert s["repeats"] == 2 and s["items_with_repeats"] == 4
    assert s["share_items_repeats_differ"] == pytest.approx(0.25)  # only p1/b moved (7 -> 9)
    assert s["mean_within_item_std"] == pytest.approx(0.25)  # population std of (7, 9) = 1, others 0
    # per-model mean by repeat: b 7.5 -> 8.5 (range 1), a unchanged -> mean range 0.5, max 1
    assert (s["mean_model_score_range"], s["max_model_score_range"]) == (pytest.approx(0.5), pytest.approx(1.0))


def test_rank_statistics_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    import numpy as np

    rng = np.random.default_rng(3)
    for n, k in ((7, 3), (200, 10), (1000, 4)):
        x = rng.integers(1, k + 1, n).astype(float)
        y = np.clip(x + rng.integers(-2, 3, n), 1, 10).astype(float)
        assert agr.spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
        assert agr.kendall_tau_b(x, y) == pytest.approx(stats.kendalltau(x, y, variant="b").statistic, abs=1e-12)
    x = rng.normal(size=50)
    y = x + rng.normal(size=50)
    assert agr.kendall_tau_b(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)
