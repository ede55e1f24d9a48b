"""Win rates per task category and per metric-applicability class."""

from __future__ import annotations

import polars as pl
import pytest

from echo_bench.analyses.taxonomy import classify
from echo_bench.judge.categories import group_summary, group_win_rates, sample_groups
from echo_bench.schemas import METRIC_VALUES


def _samples():
    rows = [("p1", "a poster with the text 'OPEN DAY' in bold letters", "text_to_image"),
            ("p2", "remove the background of this photo", "edit"),
            ("p3", "make the sign say 'SALE' on the banner", "text_to_image")]
    return pl.DataFrame(rows, schema={"sample_id": pl.Utf8, "prompt": pl.Utf8, "task_type": pl.Utf8}, orient="row")


def test_groups_from_taxonomy_and_applicability():
    mv = pl.DataFrame(
        [("s", "A", "p1", "text_accuracy", 0.9, "ok", "{}"), ("s", "A", "p2", "text_accuracy", None, "not_applicable", "{}"),
         ("s", "A", "p2", "color_shift", 3.0, "ok", "{}"), ("s", "A", "p3", "text_accuracy", None, "failed", "{}")],
        schema=METRIC_VALUES, orient="row",
    )
    g = sample_groups(_samples(), mv)
    cat = dict(g.filter(pl.col("grouping") == "category").select("sample_id", "group").iter_rows())
    assert cat == {s: classify(p, t)[1] for s, p, t in _samples().iter_rows()}
    assert cat["p1"] == "text_rendering"
    app = g.filter(pl.col("grouping") == "applicability")
    assert sorted(app.filter(pl.col("group") == "applicable:text_accuracy")["sample_id"]) == ["p1", "p3"]  # failed still applies
    assert app.filter(pl.col("group") == "applicable:color_shift")["sample_id"].to_list() == ["p2"]
    assert app.filter(pl.col("group") == "applicable:none").is_empty()
    assert sample_groups(_samples())["grouping"].unique().to_list() == ["category"]


def test_group_win_rates_match_the_split_analysis_on_each_subset(make_judgments):
    j = make_judgments({"j": {"p1": {"A": 9, "B": 2}, "p2": {"A": 1, "B": 8}, "p3": {"A": 7, "B": 3}}})
    g = sample_groups(_samples())
    t = group_win_rates(j, g, weights={"j": 1.0}, missing_output="loss", vote_rule="plurality", n_boot=50, seed=3,
                        min_prompts=1)
    wr = {(r["group"], r["model"]): r["win_rate"] for r in t.iter_rows(named=True)}
    cat = dict(g.select("sample_id", "group").iter_rows())
    assert cat["p1"] == cat["p3"] != cat["p2"]
    assert wr[(cat["p1"], "A")] == pytest.approx(1.0) and wr[(cat["p2"], "A")] == pytest.approx(0.0)
    assert t.filter(pl.col("group") == cat["p1"])["prompts"].unique().to_list() == [2]
    # too few prompts: reported with counts, no win rate
    t2 = group_win_rates(j, g, weights={"j": 1.0}, missing_output="loss", vote_rule="plurality", n_boot=10, seed=3,
                         min_prompts=2)
    small = t2.filter(pl.col("group") == cat["p2"])
    assert small["status"].unique().to_list() == ["too_few_prompts"] and small["win_rate"].null_count() == 2
    doc = group_summary(t, g)
    assert doc["groupings"]["category"][cat["p1"]]["top_model"] == "A"


def test_paper_table_per_category(make_judgments):
    from echo_bench.analyses.latex import category_winrates_table

    j = make_judgments({"j": {"p1": {"A": 9, "B": 2}, "p2": {"A": 1, "B": 8}, "p3": {"A": 7, "B": 3}}})
    g = sample_groups(_samples())
    t = group_win_rates(j, g, weights={"j": 1.0}, missing_output="loss", vote_rule="plurality", n_boot=50, seed=3)
    tex = category_winrates_table({"image_to_image": {**group_summary(t, g), "offline_only": True}})
    assert "text rendering & 2 & 1.00 [" in tex and "local edit & 1 & 0.00 [" in tex and "Offline heuristic judge" in tex
