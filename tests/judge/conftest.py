"""Helpers of the judge tests: JUDGMENTS frames from small score tables."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl
import pytest

from echo_bench.schemas import JUDGMENTS

# score value meaning "this judge's reply did not parse" / "this model has no output"
PF = "parse_failed"
MISSING = "no_output"


def judgments_from(scores: Mapping[str, Mapping[str, Mapping[str, object]]], split: str = "image_to_image") -> pl.DataFrame:
    """``scores[judge][sample][model]`` -> JUDGMENTS frame (one repeat).

    A number is an ok rating; ``PF`` a parse failure; ``MISSING`` a missing output.
    """
    rows = []
    for judge, per_sample in scores.items():
        for sample, per_model in per_sample.items():
            for model, v in per_model.items():
                if v == MISSING:
                    st, sc, raw = "no_output", None, None
                elif v == PF:
                    st, sc, raw = "parse_failed", None, "I think it is fine."
                else:
                    st, sc, raw = "ok", float(v), f"Fine.\nRating: [[{int(v)}]]"
                rows.append(
                    {
                        "split": split,
                        "sample_id": sample,
                        "model": model,
                        "judge": judge,
                        "backend": "offline",
                        "template": "judge_single@v1",
                        "repeat": 0,
                        "raw": raw,
                        "score": sc,
                        "status": st,
                        "error": None,
                    }
                )
    return pl.DataFrame(rows, schema=JUDGMENTS, orient="row")


@pytest.fixture
def make_judgments():
    """The function :func:`judgments_from` (fixtures are how test modules share helpers here)."""
    return judgments_from


@pytest.fixture
def hand_table() -> pl.DataFrame:
    """The score table written out in test_battles.py (4 models, 3 prompts, 3 judges)."""
    M = MISSING
    return judgments_from(
        {
            "j1": {
                "p1": {"A": 8, "B": 6, "C": 6, "D": 3},
                "p2": {"A": 5, "B": 5, "C": 9, "D": M},
                "p3": {"A": 3, "B": 4, "C": M, "D": M},
            },
            "j2": {
                "p1": {"A": 7, "B": 7, "C": 5, "D": 4},
                "p2": {"A": 6, "B": 4, "C": PF, "D": M},
                "p3": {"A": 3, "B": 4, "C": M, "D": M},
            },
            "j3": {
                "p1": {"A": 5, "B": 9, "C": 6, "D": 2},
                "p2": {"A": 6, "B": 6, "C": 7, "D": M},
                "p3": {"A": 9, "B": 2, "C": M, "D": M},
            },
        }
    )
