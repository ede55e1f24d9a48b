"""Stage 7b, winrates: judgments -> battles, the vote, win rates with honest intervals.

inputs:  judgments (JUDGMENTS Parquet of one split); optional samples (SAMPLES of the split) and
         metrics (METRIC_VALUES), for the per-category / per-applicability win rates
outputs: table (CSV, one row per model), json (everything: win rates, Bradley-Terry,
         mean scores per judge, agreement, rating distributions, repeat spread),
         metrics (DVC metrics JSON of headline numbers), plot (CSV for `dvc plots`:
         model, win_rate, ci_low, ci_high), figure_pdf, figure_png, summary;
         agreement (CSV of pairwise judge agreement), optional; optional (issue 14):
         categories (CSV, GROUP_WINRATES), categories_json, categories_metrics (DVC metrics),
         reliability (JSON, the reliability section), reliability_metrics (DVC metrics)
params:  judge.judges (names and weights), judge.missing_output, judge.vote_rule,
         judge.bootstrap.n, judge.bootstrap.seed, judge.bootstrap.level,
         judge.bradley_terry.prior, judge.categories.min_prompts

Domain logic: :mod:`echo_bench.judge.report` (and the modules it uses).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import polars as pl

from echo_bench.io import atomic_path, read_parquet, write_json
from echo_bench.judge.categories import group_summary, group_win_rates, sample_groups
from echo_bench.judge.categories import headline as group_headline
from echo_bench.judge.identity import alias_warning, judge_identity
from echo_bench.judge.reliability import reliability
from echo_bench.judge.report import _clean, analyze, headline
from echo_bench.params import StageParams
from echo_bench.schemas import JUDGMENTS, METRIC_VALUES, SAMPLES


def _write_csv(df: pl.DataFrame, path: str) -> None:
    with atomic_path(path) as tmp:
        df.write_csv(tmp, float_precision=6)


def plot_frame(per_model: pl.DataFrame) -> pl.DataFrame:
    return per_model.select(
        "model",
        pl.col("win_rate"),
        pl.col("win_rate_ci_low").alias("ci_low"),
        pl.col("win_rate_ci_high").alias("ci_high"),
        "battles",
    )


def figure(per_model: pl.DataFrame, results: dict[str, Any], pdf: str | None, png: str | None) -> None:
    """Horizontal bars of win rates with 95% bootstrap intervals, best model on top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    df = per_model.filter(pl.col("win_rate").is_not_null()).reverse()
    n = df.height
    fig, ax = plt.subplots(figsize=(6.0, 0.45 * max(n, 2) + 1.4))
    y = np.arange(n)
    wr = df["win_rate"].to_numpy()
    lo = df["win_rate_ci_low"].fill_null(float("nan")).to_numpy()
    hi = df["win_rate_ci_high"].fill_null(float("nan")).to_numpy()
    err = np.vstack([np.nan_to_num(wr - lo), np.nan_to_num(hi - wr)])
    ax.barh(y, wr, color="#4C72B0", height=0.6)
    ax.errorbar(wr, y, xerr=err, fmt="none", ecolor="black", capsize=3, linewidth=1)
    for yi, v, h in zip(y, wr, hi):
        right = h if np.isfinite(h) else v
        ax.text(min(right + 0.015, 0.93), yi, f"{v:.2f}", va="center", fontsize=8)
    ax.set_yticks(y, df["model"].to_list())
    ax.set_xlim(0, 1)
    ax.axvline(0.5, color="grey", linestyle=":", linewidth=0.8)
    s = results["settings"]
    level = int(round(100 * s["bootstrap"]["level"]))
    ax.set_xlabel(f"win rate (win 1, tie 0.5, loss 0); {level}% bootstrap over prompts")
    judges = ", ".join(s["judges"]) or "none"
    title = f"{results['split']}: {results['counts']['prompts']} prompts, judges: {judges}"
    if results["offline_only"]:
        title += "\n(offline heuristic judge: measurable signals, no VLM)"
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    if pdf:
        with atomic_path(pdf) as tmp:
            fig.savefig(tmp, format="pdf", metadata={"CreationDate": None, "ModDate": None})
    if png:
        with atomic_path(png) as tmp:
            fig.savefig(tmp, format="png", dpi=150, metadata={"Software": None})
    plt.close(fig)


def categories_and_reliability(inputs, outputs, params, judgments, weights, results, log) -> dict[str, Any]:
    """Per-category win rates and the reliability section, each only when its outputs are asked for (issue 14)."""
    kw = {
        "missing_output": str(params["judge.missing_output"]),
        "vote_rule": str(params["judge.vote_rule"]),
        "n_boot": int(params["judge.bootstrap.n"]),
        "seed": int(params["judge.bootstrap.seed"]),
        "level": float(params["judge.bootstrap.level"]),
    }
    out: dict[str, Any] = {}
    if outputs.get("reliability"):
        models = results["models"]
        bt_ci = (np.array([_nan(m["bt_elo_ci_low"]) for m in models]), np.array([_nan(m["bt_elo_ci_high"]) for m in models]))
        doc = reliability(judgments, weights=weights, bt_intervals=bt_ci, **kw)
        doc["split"] = results["split"]
        doc["judge_identity"] = judge_identity(judgments) if judgments.height else []
        doc["warnings"] = alias_warning(doc["judge_identity"])
        write_json(outputs["reliability"], _clean(doc))
        if outputs.get("reliability_metrics"):
            write_json(outputs["reliability_metrics"], _clean(reliability_headline(doc)))
        out["reliability_warnings"] = doc["warnings"]
        log.info("winrates: reliability: alpha %s, effective judges %s", doc["krippendorff_alpha"], doc["effective_judges"])
    if outputs.get("categories") and inputs.get("samples"):
        samples = read_parquet(inputs["samples"], SAMPLES)
        metric_values = read_parquet(inputs["metrics"], METRIC_VALUES) if inputs.get("metrics") else None
        if metric_values is not None and results["split"] is not None:
            metric_values = metric_values.filter(pl.col("split") == results["split"])
        groups = sample_groups(samples.filter(pl.col("sample_id").is_in(judgments["sample_id"].unique().to_list())),
                               metric_values)
        table = group_win_rates(judgments, groups, weights=weights,
                                min_prompts=int(params.get("judge.categories.min_prompts", 1)),
                                bt_prior=float(params["judge.bradley_terry.prior"]), **kw)
        _write_csv(table, outputs["categories"])
        summary = {**group_summary(table, groups), "split": results["split"], "offline_only": results["offline_only"]}
        if outputs.get("categories_json"):
            write_json(outputs["categories_json"], _clean(summary))
        if outputs.get("categories_metrics"):
            write_json(outputs["categories_metrics"], _clean(group_headline(summary)))
        out["category_groups"] = summary["samples_per_group"]
    return out


def _nan(x: Any) -> float:
    return float("nan") if x is None else float(x)


def reliability_headline(doc: dict[str, Any]) -> dict[str, Any]:
    """The DVC metrics of the reliability section."""
    ae = doc["alone_vs_ensemble"]
    return {
        "krippendorff_alpha_interval": doc["krippendorff_alpha"]["interval"],
        "krippendorff_alpha_ordinal": doc["krippendorff_alpha"]["ordinal"],
        "separability": ae["ensemble"]["separability"]["share"],
        "separability_alone": {j["judge"]: j["separability"]["share"] for j in ae["judges"]},
        "effective_judges": doc["effective_judges"]["design_effect"],
        "parse_failure_rate": {r["judge"]: r["parse_failure_rate"] for r in doc["parse_failures"]},
        "alias_warnings": len(doc["warnings"]),
    }


def run(inputs: dict[str, str], outputs: dict[str, str], params: StageParams, log: logging.Logger) -> dict[str, Any]:
    judges = params["judge.judges"]
    weights = {str(j["name"]): float(j["weight"]) for j in judges}
    judgments = read_parquet(inputs["judgments"], JUDGMENTS)
    split = params.get("split")
    if split is not None:
        other = judgments.filter(pl.col("split") != split).height
        judgments = judgments.filter(pl.col("split") == split)
    else:
        other = 0
    log.info("winrates: %d judgment rows (%d of other splits ignored)", judgments.height, other)
    per_model, results = analyze(
        judgments,
        weights=weights,
        missing_output=str(params["judge.missing_output"]),
        vote_rule=str(params["judge.vote_rule"]),
        n_boot=int(params["judge.bootstrap.n"]),
        seed=int(params["judge.bootstrap.seed"]),
        level=float(params["judge.bootstrap.level"]),
        bt_prior=float(params["judge.bradley_terry.prior"]),
    )
    if results["split"] is None and split is not None:
        results["split"] = split
    c = results["counts"]
    log.info("winrates: %d prompts, %d models, %d judges; battles %s", c["prompts"], c["models"], c["judges"], c["battles"])
    if c["ignored_rows"]:
        log.warning("winrates: %d rows of judges not in judge.judges ignored: %s", c["ignored_rows"], c["ignored_judges"])
    for m in results["models"]:
        log.info("winrates: %-24s %.3f [%s, %s]", m["model"], m["win_rate"] or float("nan"), m["win_rate_ci_low"], m["win_rate_ci_high"])

    _write_csv(per_model, outputs["table"])
    write_json(outputs["json"], results)
    head = headline(results)
    write_json(outputs["metrics"], head)
    _write_csv(plot_frame(per_model), outputs["plot"])
    if outputs.get("agreement"):
        pairs = results["agreement"]["pairs"]
        _write_csv(pl.DataFrame(pairs) if pairs else pl.DataFrame({"judge_a": [], "judge_b": []}), outputs["agreement"])
    figure(per_model, results, outputs.get("figure_pdf"), outputs.get("figure_png"))
    extra = categories_and_reliability(inputs, outputs, params, judgments, weights, results, log)
    return {
        **extra,
        "split": results["split"],
        "rows_of_other_splits": other,
        "counts": c,
        "top_model": head["top_model"],
        "win_rate": head["win_rate"],
        "parse_failure_rate": head["parse_failure_rate"],
    }
