"""The controls report: known answers of the control models, checked per metric and for the judge panel."""

from __future__ import annotations

import polars as pl

from echo_bench.controls import CONTROLS_REPORT, controls_report, summary_metrics
from echo_bench.metrics.runner import TABLE

CONTROLS = ["color_cast", "face_swap", "identity", "scramble", "typo"]
SETTINGS = {"zero_tol": 1e-9, "split_of": {"color_shift": "image_to_image", "face_identity": "image_to_image"},
            "doses": {"cast_strength": {"metric": "color_shift", "split": "image_to_image",
                                        "models": ["cast_10", "color_cast", "cast_30"]}}}


def _table(values: dict[tuple[str, str], tuple[float, float, float]]) -> pl.DataFrame:
    rows = [{"split": "image_to_image", "model": m, "metric": metric, "value": v, "ci_low": lo, "ci_high": hi}
            for (metric, m), (v, lo, hi) in values.items()]
    return pl.DataFrame(rows).with_columns(
        [pl.lit(None, dtype=t).alias(c) for c, t in TABLE.items() if c not in rows[0]]).select(list(TABLE))


def _winrates(rates: dict[str, float]) -> dict[str, pl.DataFrame]:
    return {"image_to_image": pl.DataFrame([{"model": m, "win_rate": w, "win_rate_ci_low": w - 0.01,
                                             "win_rate_ci_high": w + 0.01} for m, w in rates.items()])}


GOOD = {
    ("color_shift", "identity"): (0.0, 0.0, 0.0), ("color_shift", "color_cast"): (20.0, 15.0, 25.0),
    ("color_shift", "scramble"): (0.0, 0.0, 0.0), ("color_shift", "cast_10"): (10.0, 8.0, 12.0),
    ("color_shift", "cast_30"): (30.0, 25.0, 35.0),
    ("face_identity", "identity"): (1.0, 1.0, 1.0), ("face_identity", "face_swap"): (0.4, 0.3, 0.5),
    ("face_identity", "scramble"): (0.0, 0.0, 0.0),
}


def test_every_check_passes_on_the_known_answers():
    rep = controls_report(_table(GOOD), _winrates({"identity": 0.9, "color_cast": 0.5, "scramble": 0.1}), SETTINGS,
                          CONTROLS)
    assert rep.schema == CONTROLS_REPORT
    assert set(rep["status"]) == {"pass"}, rep.filter(pl.col("status") != "pass")
    assert {"zero", "largest", "separated", "highest", "lowest", "monotone"} <= set(rep["check"])
    m = summary_metrics(rep)
    assert m["all_passed"] and m["fail"] == 0 and m["values"]["color_shift@image_to_image"]["zero:identity"] == 0.0


def test_the_old_colour_and_face_bugs_fail_the_report():
    bad = dict(GOOD)
    bad[("color_shift", "identity")] = (8.62, 2.60, 32.3)  # the committed table before issue 15
    bad[("color_shift", "cast_30")] = (15.0, 12.0, 18.0)  # not monotone
    del bad[("face_identity", "scramble")]  # lost faces gave no value at all
    rep = controls_report(_table(bad), _winrates({"identity": 0.5, "color_cast": 0.9, "scramble": 0.1}), SETTINGS,
                          CONTROLS)
    status = {(r["subject"], r["check"]): r["status"] for r in rep.iter_rows(named=True)}
    assert status[("color_shift", "zero")] == "fail" and status[("color_shift", "separated")] == "fail"
    assert status[("color_shift", "monotone")] == "fail"
    assert status[("face_identity", "known_answers")] == "skipped"
    assert status[("judge_panel", "highest")] == "fail"
    assert not summary_metrics(rep)["all_passed"]
