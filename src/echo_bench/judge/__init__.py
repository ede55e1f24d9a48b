"""Stage 7, judging: a panel of VLM judges grades each output, scores become battles.

* :mod:`~echo_bench.judge.grading` -- requests, the strict ``Rating: [[N]]`` parser,
  JUDGMENTS rows with the verbatim reply, :func:`reparse` without new calls;
* :mod:`~echo_bench.judge.offline` -- the offline judge (measurable signals only);
* :mod:`~echo_bench.judge.battles` -- pseudo-pairwise battles, the weighted vote,
  the missing-output rule, win rates;
* :mod:`~echo_bench.judge.uncertainty` -- bootstrap over prompts, Bradley-Terry;
* :mod:`~echo_bench.judge.agreement` -- agreement between and within judges;
* :mod:`~echo_bench.judge.report` -- what the win-rate stage writes.

The rules (tie, vote, missing outputs, parse failures) are in docs/judging.md.
"""

from echo_bench.judge.battles import Battles, ScoreTable, battles, score_table, single_judge, vote, win_rates
from echo_bench.judge.grading import (
    Item,
    ParsedRating,
    build_request,
    grade,
    judge_items,
    judgments_frame,
    parse_rating,
    reparse,
)
from echo_bench.judge.offline import OfflineJudge
from echo_bench.judge.report import analyze, headline
from echo_bench.judge.uncertainty import bootstrap_counts, bradley_terry, win_rate_bootstrap

__all__ = [
    "Battles",
    "Item",
    "OfflineJudge",
    "ParsedRating",
    "ScoreTable",
    "analyze",
    "battles",
    "bootstrap_counts",
    "bradley_terry",
    "build_request",
    "grade",
    "headline",
    "judge_items",
    "judgments_frame",
    "parse_rating",
    "reparse",
    "score_table",
    "single_judge",
    "vote",
    "win_rate_bootstrap",
    "win_rates",
]
