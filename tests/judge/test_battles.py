"""Win rates recomputed by hand from a small score table (ties, missing outputs, split votes).

The table (fixture ``hand_table``; "-" = no output, "pf" = the judge's reply did not parse):

    prompt  judge   A   B   C   D
    p1      j1      8   6   6   3
            j2      7   7   5   4
            j3      5   9   6   2
    p2      j1      5   5   9   -
            j2      6   4   pf  -
            j3      6   6   7   -
    p3      j1      3   4   -   -
            j2      3   4   -   -
            j3      9   2   -   -

Judges' outcomes and the vote (equal weights, plurality rule, missing output = loss):

    p1 A-B: j1 A, j2 tie, j3 B      -> A 1, tie 1, B 1: split vote -> tie
    p1 A-C: j1 A, j2 A, j3 C        -> A
    p1 A-D: A A A                   -> A
    p1 B-C: j1 tie, j2 B, j3 B      -> B
    p1 B-D: B B B -> B;  p1 C-D: C C C -> C
    p2 A-B: j1 tie, j2 A, j3 tie    -> tie 2 > A 1 -> tie  (the "net" rule: A)
    p2 A-C: j1 C, j2 abstains, j3 C -> C
    p2 B-C: j1 C, j2 abstains, j3 C -> C
    p2 A-D, B-D, C-D: D has no output -> A, B, C win (no vote)
    p3 A-B: j1 B, j2 B, j3 A        -> B
    p3 A-C, A-D: A;  B-C, B-D: B;  C-D: both missing -> tie

Points (win 1, tie 0.5, loss 0), 3 battles per model per prompt:
    A: p1 0.5+1+1, p2 0.5+0+1, p3 0+1+1   = 6.0 / 9
    B: p1 0.5+1+1, p2 0.5+0+1, p3 1+1+1   = 7.0 / 9
    C: p1 0+0+1,   p2 1+1+1,   p3 0+0+0.5 = 4.5 / 9
    D: p1 0+0+0,   p2 0+0+0,   p3 0+0+0.5 = 0.5 / 9
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from echo_bench.judge.battles import battle_counts, battles, score_table, single_judge, vote, win_rates

MISSING = "no_output"

EQUAL = {"j1": 1.0, "j2": 1.0, "j3": 1.0}


def rates(df: pl.DataFrame, weights=EQUAL, **kw) -> dict[str, float]:
    b = battles(score_table(df, judges=list(weights)), weights, **kw)
    return dict(zip(*win_rates(b).select("model", "win_rate").to_dict(as_series=False).values()))


def test_win_rates_by_hand_loss_rule(hand_table):
    got = rates(hand_table, missing_output="loss", vote_rule="plurality")
    assert got == pytest.approx({"A": 6.0 / 9, "B": 7.0 / 9, "C": 4.5 / 9, "D": 0.5 / 9})
    b = battles(score_table(hand_table), EQUAL, missing_output="loss", vote_rule="plurality")
    wr = win_rates(b).sort("model")
    # A: wins p1 A-C, A-D; p2 A-D; p3 A-C, A-D = 5; ties p1 A-B, p2 A-B = 2; losses p2 A-C, p3 A-B = 2
    assert wr.row(0, named=True) | {"win_rate": 0, "points": 0} == {
        "model": "A", "win_rate": 0, "battles": 9, "wins": 5, "ties": 2, "losses": 2, "points": 0,
    }
    # D: 8 losses and the tie of two missing outputs on p3
    assert wr.filter(pl.col("model") == "D").select("wins", "ties", "losses").row(0) == (0, 1, 8)
    c = battle_counts(b)
    # 18 battles: 10 with both outputs (all decided by vote), 8 by the missing-output rule
    assert c["possible"] == 18 and c["decided_by_vote"] == 10 and c["decided_by_missing_output"] == 8
    assert c["ties"] == 3  # p1 A-B, p2 A-B, p3 C-D


def test_win_rates_by_hand_skip_rule(hand_table):
    # skip: only battles with both outputs: p1 all six, p2 A-B (tie), A-C (C), B-C (C), p3 A-B (B)
    #   A: p1 0.5+1+1, p2 0.5+0, p3 0   = 3.0 / 6
    #   B: p1 0.5+1+1, p2 0.5+0, p3 1   = 4.0 / 6
    #   C: p1 0+0+1,   p2 1+1           = 3.0 / 5
    #   D: p1 0+0+0                     = 0.0 / 3
    got = rates(hand_table, missing_output="skip", vote_rule="plurality")
    assert got == pytest.approx({"A": 3.0 / 6, "B": 4.0 / 6, "C": 3.0 / 5, "D": 0.0})


def test_net_vote_rule_by_hand(hand_table):
    # "net" ignores tie votes: p2 A-B (j1 tie, j2 A, j3 tie) becomes a win for A; nothing else changes
    #   A: 6.0 + 0.5 = 6.5 / 9;  B: 7.0 - 0.5 = 6.5 / 9
    got = rates(hand_table, missing_output="loss", vote_rule="net")
    assert got == pytest.approx({"A": 6.5 / 9, "B": 6.5 / 9, "C": 4.5 / 9, "D": 0.5 / 9})


def test_weighted_vote_by_hand(hand_table):
    # j3 weighs 2:
    #   p1 A-B: A 1, tie 1, B 2 -> B;   p1 A-C: A 2 (j1+j2), C 2 (j3) -> equal -> tie
    #   p1 B-C: tie 1, B 3 -> B;        p2 A-B: tie 3, A 1 -> tie;   p3 A-B: B 2, A 2 -> tie
    #   A: p1 0+0.5+1, p2 0.5+0+1, p3 0.5+1+1 = 5.5 / 9
    #   B: p1 1+1+1,   p2 0.5+0+1, p3 0.5+1+1 = 7.0 / 9
    #   C: p1 0.5+0+1, p2 1+1+1,   p3 0+0+0.5 = 5.0 / 9
    got = rates(hand_table, {"j1": 1.0, "j2": 1.0, "j3": 2.0}, missing_output="loss", vote_rule="plurality")
    assert got == pytest.approx({"A": 5.5 / 9, "B": 7.0 / 9, "C": 5.0 / 9, "D": 0.5 / 9})


def test_single_judge_is_not_the_vote(hand_table):
    # the reference code let its first judge decide; j1 alone on p1: A-B A, A-C A, B-C tie ...
    t = score_table(hand_table)
    b = single_judge(t, "j1", missing_output="loss")
    got = dict(zip(*win_rates(b).select("model", "win_rate").to_dict(as_series=False).values()))
    # j1 alone: p1 A beats B, C, D; B-C tie; B, C beat D
    #           p2 A-B tie, C beats A and B, D missing;  p3 B beats A, C/D missing
    #   A: p1 1+1+1, p2 0.5+0+1, p3 0+1+1 = 6.5 / 9
    assert got["A"] == pytest.approx(6.5 / 9)
    assert got["A"] != pytest.approx(rates(hand_table)["A"])


def test_every_judge_abstaining_drops_the_battle(make_judgments):
    df = make_judgments(
        {"j1": {"p": {"A": "parse_failed", "B": 5}}, "j2": {"p": {"A": "parse_failed", "B": 7}}}
    )
    b = battles(score_table(df), {"j1": 1, "j2": 1}, missing_output="loss")
    assert np.isnan(b.outcome).all()
    assert battle_counts(b)["dropped_all_judges_abstained"] == 1
    assert win_rates(b)["battles"].to_list() == [0, 0]


def test_two_missing_outputs_tie_or_skip(make_judgments):
    df = make_judgments({"j": {"p": {"A": MISSING, "B": MISSING, "C": 5}}})
    assert rates(df, {"j": 1.0}, missing_output="loss") == pytest.approx({"A": 0.25, "B": 0.25, "C": 1.0})
    skip = rates(df, {"j": 1.0}, missing_output="skip")
    assert all(np.isnan(v) for v in skip.values())


def test_vote_rules_table():
    # outcomes of 3 judges (1 = A, 0 = tie, -1 = B, nan = abstain) for several battles
    o = np.array(
        [
            [1, 1, 1, 1, np.nan, 1],
            [0, -1, 1, 0, np.nan, np.nan],
            [0, 0, -1, -1, np.nan, np.nan],
        ],
        dtype=float,
    )
    plur, votes = vote(o, [1, 1, 1], "plurality")
    net, _ = vote(o, [1, 1, 1], "net")
    np.testing.assert_array_equal(votes[:, 0], [1, 2, 0])  # battle 0: A 1, tie 2, B 0
    np.testing.assert_array_equal(plur[:5], [0, 0, 1, 0, np.nan][:5])
    assert np.isnan(plur[4]) and plur[5] == 1  # all abstain -> no outcome; one judge decides alone
    np.testing.assert_array_equal(net[[0, 1, 2, 3, 5]], [1, 0, 1, 0, 1])
    with pytest.raises(ValueError):
        vote(o, [1, 0, 1], "plurality")
    with pytest.raises(ValueError):
        vote(o, [1, 1, 1], "majority")


def test_repeats_are_averaged_before_battles(hand_table):
    # a second repeat of j1 that rates B 10 on p1: j1's p1 score of B becomes (6 + 10) / 2 = 8 = A's -> A-B tie by j1
    extra = hand_table.filter((pl.col("judge") == "j1") & (pl.col("sample_id") == "p1")).with_columns(
        pl.lit(1, dtype=pl.Int32).alias("repeat"),
        pl.when(pl.col("model") == "B").then(10.0).otherwise(pl.col("score")).alias("score"),
    )
    t = score_table(pl.concat([hand_table, extra]))
    j1 = t.judges.index("j1")
    assert t.scores[j1, 0, t.models.index("B")] == pytest.approx(8.0)
    assert t.n_repeats[j1, 0, t.models.index("B")] == 2
