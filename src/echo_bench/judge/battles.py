"""Pseudo-pairwise battles from single-answer scores, the vote across judges, win rates.

Everything is dense numpy over (judge, prompt, model) so that a bootstrap over
prompts is a weighted sum of per-prompt tables (:mod:`echo_bench.judge.uncertainty`).

From scores to battles (the rules; see docs/judging.md)
-------------------------------------------------------
* **Scores.** A judge's score of an item (sample, model) is the mean of its
  parsed ratings over the repeats that parsed (``status == "ok"``).  An item
  whose repeats all failed to parse or whose calls failed has no score from that
  judge: the judge *abstains* on every battle of that item.
* **Missing outputs.** An item has an output unless all its rows say
  ``no_output`` (or it has no row at all).  With ``missing_output = "loss"`` a
  model without output loses to a model with one, and two models without output
  tie; these battles are decided by the rule, not by the judges.  With
  ``missing_output = "skip"`` every battle involving a missing output is dropped.
* **A judge's outcome** on the battle of models A and B on a prompt: A wins if
  its score is higher, B wins if lower, equal scores tie.
* **The vote.** Each judge that does not abstain puts its weight on its outcome
  (A, B or tie).  ``vote_rule = "plurality"`` (default): A wins iff the weight on
  A is strictly greater than the weight on B *and* than the weight on tie (B
  likewise); every other case is a tie -- in particular equal weight on A and B
  is a tie, and so is a draw between a side and "tie".  ``vote_rule = "net"``:
  the side with the strictly larger weight wins, tie votes count for neither
  side, equal weights tie.  Weights are compared with a tolerance of 1e-9 x the
  total weight.  If every judge abstains the battle has no outcome and is
  dropped (counted as ``abstained``).
* **Win rate** of a model: mean over its battles of 1 (win), 0.5 (tie), 0 (loss).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

MISSING_RULES = ("loss", "skip")
VOTE_RULES = ("plurality", "net")

# outcome codes (float arrays, NaN = no outcome)
A_WINS, TIE, B_WINS = 1.0, 0.0, -1.0


@dataclass
class ScoreTable:
    """Scores as dense arrays: ``scores[j, p, m]`` (NaN = no score), ``has_output[p, m]``."""

    samples: list[str]
    models: list[str]
    judges: list[str]
    scores: np.ndarray  # (J, P, M) float
    has_output: np.ndarray  # (P, M) bool
    n_repeats: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0), dtype=np.int32))  # (J, P, M) ok repeats

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.scores.shape  # type: ignore[return-value]


def score_table(
    judgments: pl.DataFrame,
    *,
    judges: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    samples: Sequence[str] | None = None,
) -> ScoreTable:
    """Dense score arrays from a JUDGMENTS frame (one split).

    ``judges``/``models``/``samples`` fix the order (default: sorted values found).
    Rows of judges not listed are ignored (the caller counts them).
    """
    df = judgments.select("sample_id", "model", "judge", "score", "status")
    judges = list(judges) if judges is not None else sorted(set(df["judge"].to_list()))
    models = list(models) if models is not None else sorted(set(df["model"].to_list()))
    samples = list(samples) if samples is not None else sorted(set(df["sample_id"].to_list()))
    J, P, M = len(judges), len(samples), len(models)
    scores = np.full((J, P, M), np.nan)
    n_rep = np.zeros((J, P, M), dtype=np.int32)
    has_output = np.zeros((P, M), dtype=bool)
    if df.is_empty() or J * P * M == 0:
        return ScoreTable(samples, models, judges, scores, has_output, n_rep)
    jidx = pl.DataFrame({"judge": judges, "_j": np.arange(J)})
    pidx = pl.DataFrame({"sample_id": samples, "_p": np.arange(P)})
    midx = pl.DataFrame({"model": models, "_m": np.arange(M)})
    df = df.join(pidx, on="sample_id", how="inner").join(midx, on="model", how="inner")
    out = df.group_by("_p", "_m").agg((pl.col("status") != "no_output").any().alias("o"))
    has_output[out["_p"].to_numpy(), out["_m"].to_numpy()] = out["o"].to_numpy()
    ok = (
        df.join(jidx, on="judge", how="inner")
        .filter((pl.col("status") == "ok") & pl.col("score").is_not_null())
        .group_by("_j", "_p", "_m")
        .agg(pl.col("score").mean().alias("s"), pl.len().alias("n"))
    )
    if ok.height:
        j, p, m = ok["_j"].to_numpy(), ok["_p"].to_numpy(), ok["_m"].to_numpy()
        scores[j, p, m] = ok["s"].to_numpy()
        n_rep[j, p, m] = ok["n"].to_numpy()
    # a score on an item without output cannot happen through judge.grade; be safe:
    scores[:, ~has_output] = np.nan
    return ScoreTable(samples, models, judges, scores, has_output, n_rep)


@dataclass
class Battles:
    """Every battle of a split: pairs (ia[k], ib[k]) x prompts, with their outcomes."""

    samples: list[str]
    models: list[str]
    judges: list[str]
    ia: np.ndarray  # (K,) index of model A of pair k (ia < ib)
    ib: np.ndarray  # (K,)
    outcome: np.ndarray  # (P, K) +1 A wins, 0 tie, -1 B wins, NaN no battle
    decided_by: np.ndarray  # (P, K) int8: 0 none, 1 vote, 2 missing-output rule
    votes: np.ndarray  # (3, P, K) weight on A, on tie, on B
    judge_outcomes: np.ndarray  # (J, P, K) each judge's own outcome (NaN = abstain or not judged)
    missing_output: str
    vote_rule: str
    has_output: np.ndarray  # (P, M) bool

    @functools.cached_property
    def _per_model(self) -> tuple[np.ndarray, np.ndarray]:
        return per_model(self.outcome, self.ia, self.ib, len(self.models))

    @property
    def points(self) -> np.ndarray:
        """(P, M) points a model scored on each prompt (win 1, tie 0.5, loss 0)."""
        return self._per_model[0]

    @property
    def games(self) -> np.ndarray:
        """(P, M) battles a model took part in on each prompt."""
        return self._per_model[1]

    def pairwise(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-prompt pairwise tables: ``wins[p, a, b]`` points of a against b, ``games[p, a, b]``."""
        return pairwise(self.outcome, self.ia, self.ib, len(self.models))

    def frame(self, split: str = "") -> pl.DataFrame:
        """The battles as a long table (one row per prompt and pair that has an outcome)."""
        p, k = np.nonzero(~np.isnan(self.outcome))
        o = self.outcome[p, k]
        names = np.array(self.models, dtype=object)
        winner = np.where(o > 0, names[self.ia[k]], np.where(o < 0, names[self.ib[k]], "tie"))
        cols: dict[str, Any] = {
            "split": [split] * len(p),
            "sample_id": np.array(self.samples, dtype=object)[p].tolist(),
            "model_a": names[self.ia[k]].tolist(),
            "model_b": names[self.ib[k]].tolist(),
            "outcome": o,
            "winner": winner.tolist(),
            "decided_by": np.array(["none", "vote", "missing_output"], dtype=object)[self.decided_by[p, k]].tolist(),
            "votes_a": self.votes[0, p, k],
            "votes_tie": self.votes[1, p, k],
            "votes_b": self.votes[2, p, k],
        }
        for j, name in enumerate(self.judges):
            cols[f"judge_{name}"] = self.judge_outcomes[j, p, k]
        return pl.DataFrame(cols)


def pairs(n_models: int) -> tuple[np.ndarray, np.ndarray]:
    ia, ib = np.triu_indices(n_models, k=1)
    return ia.astype(np.intp), ib.astype(np.intp)


def judge_outcomes(scores: np.ndarray, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """(J, P, K) each judge's outcome: sign(score A - score B), NaN when either score is missing."""
    d = scores[:, :, ia] - scores[:, :, ib]
    return np.sign(d)  # NaN stays NaN


def vote(outcomes: np.ndarray, weights: Sequence[float] | np.ndarray, rule: str = "plurality") -> tuple[np.ndarray, np.ndarray]:
    """Weighted vote over the judge axis of ``outcomes`` (J, ...) -> (outcome, votes[3, ...]).

    See the module doc for the rules; NaN (abstain) carries no weight, and a battle
    with no vote at all has outcome NaN.
    """
    if rule not in VOTE_RULES:
        raise ValueError(f"vote rule must be one of {VOTE_RULES}, not {rule!r}")
    w = np.asarray(weights, dtype=float)
    if w.ndim != 1 or w.shape[0] != outcomes.shape[0]:
        raise ValueError("one weight per judge")
    if np.any(~np.isfinite(w)) or np.any(w <= 0):
        raise ValueError("judge weights must be positive numbers")
    wb = w.reshape((-1,) + (1,) * (outcomes.ndim - 1))
    va = np.sum(np.where(outcomes > 0, wb, 0.0), axis=0)
    vt = np.sum(np.where(outcomes == 0, wb, 0.0), axis=0)
    vb = np.sum(np.where(outcomes < 0, wb, 0.0), axis=0)
    any_vote = np.any(~np.isnan(outcomes), axis=0)
    eps = 1e-9 * float(w.sum())
    if rule == "plurality":
        a_wins = (va > vb + eps) & (va > vt + eps)
        b_wins = (vb > va + eps) & (vb > vt + eps)
    else:
        a_wins = va > vb + eps
        b_wins = vb > va + eps
    out = np.where(a_wins, A_WINS, np.where(b_wins, B_WINS, TIE))
    out = np.where(any_vote, out, np.nan)
    return out, np.stack([va, vt, vb])


def apply_missing(
    voted: np.ndarray, has_output: np.ndarray, ia: np.ndarray, ib: np.ndarray, rule: str
) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes (P, K) after the missing-output rule, and who decided each battle."""
    if rule not in MISSING_RULES:
        raise ValueError(f"missing_output must be one of {MISSING_RULES}, not {rule!r}")
    oa, ob = has_output[:, ia], has_output[:, ib]
    both = oa & ob
    decided = np.where(both & ~np.isnan(voted), 1, 0).astype(np.int8)
    out = np.where(both, voted, np.nan)
    if rule == "loss":
        rule_out = np.where(oa & ~ob, A_WINS, np.where(ob & ~oa, B_WINS, TIE))
        out = np.where(both, out, rule_out)
        decided = np.where(both, decided, 2).astype(np.int8)
    return out, decided


def battles(
    table: ScoreTable,
    weights: Mapping[str, float] | Sequence[float],
    *,
    missing_output: str = "loss",
    vote_rule: str = "plurality",
) -> Battles:
    """All battles of ``table`` decided by the weighted vote of its judges."""
    if isinstance(weights, Mapping):
        w = np.array([float(weights[j]) for j in table.judges])
    else:
        w = np.asarray(weights, dtype=float)
    ia, ib = pairs(len(table.models))
    jo = judge_outcomes(table.scores, ia, ib)
    if len(table.judges):
        voted, votes = vote(jo, w, vote_rule)
    else:
        voted = np.full(jo.shape[1:], np.nan)
        votes = np.zeros((3, *jo.shape[1:]))
    outcome, decided = apply_missing(voted, table.has_output, ia, ib, missing_output)
    return Battles(
        table.samples, table.models, table.judges, ia, ib, outcome, decided, votes, jo, missing_output, vote_rule, table.has_output
    )


def single_judge(table: ScoreTable, judge: str, *, missing_output: str = "loss") -> Battles:
    """The battles as one judge alone decides them (same missing-output rule)."""
    j = table.judges.index(judge)
    sub = ScoreTable(table.samples, table.models, [judge], table.scores[j : j + 1], table.has_output)
    return battles(sub, [1.0], missing_output=missing_output, vote_rule="plurality")


def per_model(outcome: np.ndarray, ia: np.ndarray, ib: np.ndarray, n_models: int) -> tuple[np.ndarray, np.ndarray]:
    """(points, games), each (P, M): per prompt, a model's points (1/0.5/0) and battle count."""
    valid = ~np.isnan(outcome)
    pa = np.where(valid, (np.nan_to_num(outcome) + 1.0) / 2.0, 0.0)  # points of A
    pb = np.where(valid, 1.0 - pa, 0.0)
    K = len(ia)
    inc_a = np.zeros((K, n_models))
    inc_b = np.zeros((K, n_models))
    inc_a[np.arange(K), ia] = 1.0
    inc_b[np.arange(K), ib] = 1.0
    v = valid.astype(float)
    points = pa @ inc_a + pb @ inc_b
    games = v @ inc_a + v @ inc_b
    return points, games


def pairwise(outcome: np.ndarray, ia: np.ndarray, ib: np.ndarray, n_models: int) -> tuple[np.ndarray, np.ndarray]:
    """(wins, games), each (P, M, M): points of row model against column model per prompt."""
    P = outcome.shape[0]
    valid = ~np.isnan(outcome)
    pa = np.where(valid, (np.nan_to_num(outcome) + 1.0) / 2.0, 0.0)
    wins = np.zeros((P, n_models, n_models))
    games = np.zeros((P, n_models, n_models))
    wins[:, ia, ib] = pa
    wins[:, ib, ia] = np.where(valid, 1.0 - pa, 0.0)
    games[:, ia, ib] = valid
    games[:, ib, ia] = valid
    return wins, games


def win_rates(b: Battles) -> pl.DataFrame:
    """Per model: win rate and the counts behind it (wins, ties, losses, battles)."""
    M = len(b.models)
    valid = ~np.isnan(b.outcome)
    o = b.outcome
    stats = np.zeros((M, 3))  # wins, ties, losses
    for side, idx, sgn in ((0, b.ia, 1.0), (1, b.ib, -1.0)):
        for col, val in ((0, 1.0), (1, 0.0), (2, -1.0)):
            hit = (valid & (o * sgn == val)).sum(axis=0).astype(float)  # (K,)
            np.add.at(stats[:, col], idx, hit)
    points, games = b.points.sum(axis=0), b.games.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(games > 0, points / np.where(games > 0, games, 1), np.nan)
    return pl.DataFrame(
        {
            "model": b.models,
            "win_rate": rate,
            "battles": games.astype(np.int64),
            "wins": stats[:, 0].astype(np.int64),
            "ties": stats[:, 1].astype(np.int64),
            "losses": stats[:, 2].astype(np.int64),
            "points": points,
        }
    )


def battle_counts(b: Battles) -> dict[str, int]:
    """How many battles were decided by the vote or by the missing-output rule, and how many dropped and why."""
    P, K = b.outcome.shape
    valid = ~np.isnan(b.outcome)
    both = b.has_output[:, b.ia] & b.has_output[:, b.ib]
    return {
        "possible": int(P * K),
        "decided_by_vote": int((b.decided_by == 1).sum()),
        "decided_by_missing_output": int((b.decided_by == 2).sum()),
        "ties": int((valid & (b.outcome == 0)).sum()),
        "dropped_all_judges_abstained": int((both & ~valid).sum()),
        "dropped_missing_output_skip": int((~both & ~valid).sum()),
    }
