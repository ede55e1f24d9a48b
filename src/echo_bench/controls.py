"""The controls report: does every metric, and the judge panel, give the known answers of the
control models?

The control models (docs/generation.md) have effects known in advance, so each
metric has an expected answer for each of them.  This module states those
expectations and checks them against the per-model metrics table and the win
rates: one row per check, with the expected answer, the measured value and its
95 % interval, and pass/fail.  Plain data in and out.

Expectations (``EXPECTATIONS``; ``controls.*`` in params.yaml says which split
each metric is checked on and the tolerance of a zero):

- a distance metric reads zero for ``identity`` (the value within ``zero_tol``
  and its interval containing 0) and its largest value for its target control
  (``color_cast`` for the colour metrics, ``scramble`` for structure);
- a similarity metric is highest for ``identity`` and lowest for its target
  control (``scramble`` for face identity, whose face is lost; the text
  metric's target is ``typo``, below ``identity``);
- the judge panel ranks ``identity`` first and ``scramble`` last (ties allowed);
- a dose-response series (``controls.doses``: a control's models at growing
  strength, weakest first) must move the metric monotonically.

A check whose models or metric are missing from the run says ``skipped`` with
the reason, never passes silently.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

#: One row per check: the controls report's table.
CONTROLS_REPORT = pl.Schema(
    {
        "subject": pl.Utf8,  # a metric of the table, or "judge_panel"
        "split": pl.Utf8,
        "check": pl.Utf8,  # zero | largest | smallest | highest | lowest | below | monotone
        "control": pl.Utf8,  # the model (or series) the check is about
        "expected": pl.Utf8,  # the answer in words
        "value": pl.Float64,
        "ci_low": pl.Float64,
        "ci_high": pl.Float64,
        "status": pl.Utf8,  # pass | fail | skipped
        "reason": pl.Utf8,
    }
)

#: metric -> (kind, target control).  kind: distance (lower is better, identity 0) or similarity.
EXPECTATIONS: dict[str, tuple[str, str]] = {
    "color_shift": ("distance", "color_cast"),
    "color_delta_e": ("distance", "color_cast"),
    "structure_distance": ("distance", "scramble"),
    "face_identity": ("similarity", "scramble"),
    "text_accuracy": ("similarity_text", "typo"),
}


def _row(subject, split, check, control, expected, value=None, ci=(None, None), status="pass", reason=""):
    ok = value is None or math.isfinite(value)
    return {"subject": subject, "split": split, "check": check, "control": control, "expected": expected,
            "value": value if ok else None, "ci_low": ci[0], "ci_high": ci[1], "status": status, "reason": reason}


def _values(table: pl.DataFrame, metric: str, split: str) -> dict[str, dict]:
    g = table.filter((pl.col("metric") == metric) & (pl.col("split") == split) & pl.col("value").is_not_null())
    return {r["model"]: r for r in g.iter_rows(named=True)}


def metric_checks(table: pl.DataFrame, metric: str, split: str, *, zero_tol: float,
                  controls: Sequence[str]) -> list[dict]:
    """The checks of one metric on one split against the controls present in ``table``."""
    kind, target = EXPECTATIONS[metric]
    vals = _values(table, metric, split)
    present = [c for c in controls if c in vals]
    out: list[dict] = []

    def v(m):
        return float(vals[m]["value"])

    def ci(m):
        return vals[m]["ci_low"], vals[m]["ci_high"]

    if "identity" not in vals or target not in vals:
        miss = [m for m in ("identity", target) if m not in vals]
        return [_row(metric, split, "known_answers", ",".join(miss), "identity and target control measured",
                     status="skipped", reason=f"no value for {', '.join(miss)} on {split}")]
    others = [c for c in present if c not in ("identity", target)]
    if kind == "distance":
        lo, hi = ci("identity")
        zero = abs(v("identity")) <= zero_tol and (lo is None or lo <= zero_tol) and (hi is None or hi >= -zero_tol)
        out.append(_row(metric, split, "zero", "identity", f"0 (within {zero_tol:g}), interval containing 0",
                        v("identity"), ci("identity"), "pass" if zero else "fail"))
        best = all(v(target) > v(c) for c in present if c != target)
        out.append(_row(metric, split, "largest", target, f"the largest of {', '.join(present)}",
                        v(target), ci(target), "pass" if best else "fail"))
        sep = hi is None or hi < v(target)
        out.append(_row(metric, split, "separated", target, "identity's interval below the target's value",
                        v(target), ci(target), "pass" if sep else "fail"))
    else:
        top = all(v("identity") >= v(c) for c in present)
        out.append(_row(metric, split, "highest", "identity", f"the highest of {', '.join(present)}",
                        v("identity"), ci("identity"), "pass" if top else "fail"))
        if kind == "similarity":
            low = all(v(target) < v(c) for c in present if c != target)
            out.append(_row(metric, split, "lowest", target, f"the lowest of {', '.join(present)}",
                            v(target), ci(target), "pass" if low else "fail"))
        else:  # text: the typo control is below identity, above nothing in particular
            below = v(target) < v("identity")
            out.append(_row(metric, split, "below", target, "below identity", v(target), ci(target),
                            "pass" if below else "fail"))
    for c in others:  # the measured value of every other control, for the record
        out.append(_row(metric, split, "measured", c, "recorded", v(c), ci(c), "pass", "no expectation"))
    return out


def dose_checks(table: pl.DataFrame, doses: Mapping[str, Mapping[str, Any]]) -> list[dict]:
    """Monotone across strengths: ``doses`` maps a series name to ``{metric, split, models}`` (weakest first)."""
    out = []
    for name, spec in sorted(doses.items()):
        metric, split, models = str(spec["metric"]), str(spec["split"]), list(spec["models"])
        vals = _values(table, metric, split)
        miss = [m for m in models if m not in vals]
        if len(models) < 3 or miss:
            out.append(_row(metric, split, "monotone", name, "monotone over >= 3 strengths", status="skipped",
                            reason=f"models without a value: {miss}" if miss else "fewer than 3 strengths"))
            continue
        xs = [float(vals[m]["value"]) for m in models]
        up = EXPECTATIONS[metric][0] == "distance"
        mono = all((b > a) if up else (b < a) for a, b in zip(xs, xs[1:], strict=False))
        out.append(_row(metric, split, "monotone", name,
                        f"{'increasing' if up else 'decreasing'} over {', '.join(models)}",
                        xs[-1], (min(xs), max(xs)), "pass" if mono else "fail", json.dumps(xs)))
    return out


def judge_checks(winrates: Mapping[str, pl.DataFrame], controls: Sequence[str]) -> list[dict]:
    """The judge panel ranks identity first and scramble last, per split."""
    out = []
    for split, wr in sorted(winrates.items()):
        rates = {r["model"]: r for r in wr.iter_rows(named=True) if r["model"] in controls}
        if "identity" not in rates or "scramble" not in rates:
            out.append(_row("judge_panel", split, "ranking", "identity,scramble", "both judged", status="skipped",
                            reason="identity or scramble has no win rate"))
            continue
        w = {m: float(r["win_rate"]) for m, r in rates.items()}
        # ties allowed: on text-to-image a colour cast of a correct text can be as good as identity
        for m, check, ok in (("identity", "highest", all(w["identity"] >= x for x in w.values())),
                             ("scramble", "lowest", all(w["scramble"] <= x for x in w.values()))):
            out.append(_row("judge_panel", split, check, m, f"the {check} win rate of {', '.join(sorted(w))}",
                            w[m], (rates[m]["win_rate_ci_low"], rates[m]["win_rate_ci_high"]),
                            "pass" if ok else "fail"))
    return out


def controls_report(table: pl.DataFrame, winrates: Mapping[str, pl.DataFrame], settings: Mapping[str, Any],
                    controls: Sequence[str]) -> pl.DataFrame:
    """Every check, as a CONTROLS_REPORT frame (settings: ``controls:`` of params.yaml)."""
    rows: list[dict] = []
    for metric, split in sorted(dict(settings["split_of"]).items()):
        if metric not in EXPECTATIONS:
            raise ValueError(f"controls.split_of names {metric!r}, which has no expectation; known: "
                             f"{sorted(EXPECTATIONS)}")
        rows += metric_checks(table, metric, str(split), zero_tol=float(settings["zero_tol"]), controls=controls)
    rows += dose_checks(table, dict(settings.get("doses") or {}))
    rows += judge_checks(winrates, controls)
    return pl.DataFrame(rows, schema=CONTROLS_REPORT)


def summary_metrics(report: pl.DataFrame) -> dict[str, Any]:
    """The DVC metrics of the report: counts, and every checked value by subject, check and control."""
    counts = {s: report.filter(pl.col("status") == s).height for s in ("pass", "fail", "skipped")}
    values: dict[str, dict[str, float | None]] = {}
    for r in report.filter(pl.col("status") != "skipped").iter_rows(named=True):
        values.setdefault(f"{r['subject']}@{r['split']}", {})[f"{r['check']}:{r['control']}"] = r["value"]
    return {"checks": report.height, **counts, "all_passed": counts["fail"] == 0, "values": values}
