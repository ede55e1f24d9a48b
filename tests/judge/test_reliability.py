"""Judge reliability: Krippendorff's alpha against a hand computation, separability, effective judges."""

from __future__ import annotations

import numpy as np
import pytest

from echo_bench.judge.reliability import effective_judges, krippendorff_alpha, reliability, separability

NAN = float("nan")


def test_krippendorff_alpha_hand_computed():
    # two coders, four units: (1,1) (2,2) (1,2) (1,3).  Coincidences o11=2, o22=2, o12=o21=1, o13=o31=1;
    # n1=4, n2=3, n3=1, n=8.
    # interval: Do = (2*1 + 2*4)/8 = 1.25; De = 2*(12*1 + 4*4 + 3*1)/56 = 62/56; alpha = 1 - 70/62 = -4/31
    # ordinal:  d12 = 3.5, d13 = 8 - 2.5 = 5.5, d23 = 2; Do = (2*12.25 + 2*30.25)/8 = 10.625;
    #           De = 2*(12*12.25 + 4*30.25 + 3*4)/56 = 10; alpha = -1/16
    x = np.array([[1, 2, 1, 1], [1, 2, 2, 3]], dtype=float)
    assert krippendorff_alpha(x, "interval") == pytest.approx(-4 / 31)
    assert krippendorff_alpha(x, "ordinal") == pytest.approx(-1 / 16)
    # a unit with a single value is not pairable and changes nothing
    y = np.hstack([x, [[5.0], [NAN]]])
    assert krippendorff_alpha(y, "interval") == pytest.approx(-4 / 31)
    # perfect agreement
    assert krippendorff_alpha(np.array([[1, 2, 3], [1, 2, 3]], dtype=float)) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        krippendorff_alpha(x, "ratio")


def test_separability_counts_non_overlapping_pairs():
    lo, hi = np.array([0.1, 0.5, 0.55, NAN]), np.array([0.3, 0.7, 0.9, NAN])
    s = separability(lo, hi)
    assert (s["pairs"], s["separated"], s["share"]) == (3, 2, pytest.approx(2 / 3))


def test_effective_judges_between_one_and_j():
    rng = np.random.default_rng(0)
    base = rng.normal(size=200)
    same = effective_judges(np.vstack([base, base, base]))
    indep = effective_judges(rng.normal(size=(3, 200)))
    assert same["design_effect"] == pytest.approx(1.0) and same["participation_ratio"] == pytest.approx(1.0)
    assert indep["design_effect"] == pytest.approx(3.0, abs=0.3) and indep["participation_ratio"] == pytest.approx(3.0, abs=0.3)


def test_reliability_section_on_the_hand_table(hand_table):
    doc = reliability(hand_table, weights={"j1": 1.0, "j2": 1.0, "j3": 1.0}, missing_output="loss",
                      vote_rule="plurality", n_boot=50, seed=1)
    assert doc["judges"] == ["j1", "j2", "j3"]
    pf = {r["judge"]: r for r in doc["parse_failures"]}
    assert pf["j2"]["parse_failed"] == 1 and pf["j1"]["parse_failed"] == 0
    assert doc["krippendorff_alpha"]["interval"] is not None
    alone = {j["judge"]: j for j in doc["alone_vs_ensemble"]["judges"]}
    # j1 alone on p1: A 8 > B 6 = C 6 > D 3 (as written in the hand table)
    assert set(alone) == {"j1", "j2", "j3"} and alone["j1"]["agreement_with_other_judges_vote"]["battles"] > 0


def test_winrates_stage_writes_categories_and_reliability(tmp_path, monkeypatch, kit):
    import json
    import logging

    import polars as pl

    from echo_bench.stages import judge as judge_stage
    from echo_bench.stages import winrates as winrates_stage

    monkeypatch.chdir(tmp_path)
    s, g = kit.build_split(tmp_path)
    params = kit.judge_params([{"name": "a", "backend": "offline", "model": "offline-heuristic-judge", "weight": 1.0},
                               {"name": "b", "backend": "offline", "model": "offline-heuristic-judge", "weight": 1.0}],
                              n_boot=50)
    log = logging.getLogger("test.judge.reliability")
    judge_stage.run({"samples": s, "generations": g}, {"judgments": "judgments.parquet", "cache": "c"}, params, log)
    outs = {"table": "t.csv", "json": "t.json", "metrics": "h.json", "plot": "p.csv",
            "categories": "cat.csv", "categories_json": "cat.json", "categories_metrics": "cat_h.json",
            "reliability": "rel.json", "reliability_metrics": "rel_h.json"}
    before = winrates_stage.run({"judgments": "judgments.parquet"}, {k: outs[k] for k in ("table", "json", "metrics", "plot")},
                                params, log)
    plain = {k: (tmp_path / outs[k]).read_bytes() for k in ("table", "json", "metrics", "plot")}
    summary = winrates_stage.run({"judgments": "judgments.parquet", "samples": s}, outs, params, log)
    # the existing win-rate files are the same with or without the new outputs
    assert {k: (tmp_path / outs[k]).read_bytes() for k in plain} == plain and summary["win_rate"] == before["win_rate"]
    cat = pl.read_csv(tmp_path / "cat.csv")
    assert set(cat["grouping"]) == {"category"} and cat["prompts"].max() == 3  # all three prompts share one category
    rel = json.loads((tmp_path / "rel.json").read_text())
    # two copies of the same deterministic judge agree perfectly
    assert rel["krippendorff_alpha"]["interval"] == 1.0 and rel["effective_judges"]["design_effect"] == 1.0
    assert rel["offline_only"] is True and rel["warnings"] == []
    assert json.loads((tmp_path / "rel_h.json").read_text())["krippendorff_alpha_ordinal"] == 1.0
