"""Stage 7b, winrates: judgments -> battles, the vote, win rates with honest intervals.

inputs:  judgments (JUDGMENTS Parquet of one split)
outputs: table (CSV, one row per model), json (everything: win rates, Bradley-Terry,
         mean scores per judge, agreement, rating distributions, repeat spread),
         metrics (DVC metrics JSON of headline numbers), plot (CSV for `dvc plots`:
         model, win_rate, ci_low, ci_high), figure_pdf, figure_png, summary;
         agreement (CSV of pairwise judge agreement), optional
params:  judge.judges (names and weights), judge.missing_output, judge.vote_rule,
         judge.bootstrap.n, judge.bootstrap.seed, judge.bootstrap.level,
         judge.bradley_terry.prior

Domain logic: :mod:`echo_bench.judge.report` (and the modules it uses).
"""

from __future__ import annotations

import logging
from typing import Any

import polars as pl

from echo_bench.io import atomic_path, read_parquet, write_json
from echo_bench.judge.report import analyze, headline
from echo_bench.params import StageParams
from echo_bench.schemas import JUDGMENTS


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
    return {
        "split": results["split"],
        "rows_of_other_splits": other,
        "counts": c,
        "top_model": head["top_model"],
        "win_rate": head["win_rate"],
        "parse_failure_rate": head["parse_failure_rate"],
    }
