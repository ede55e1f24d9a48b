"""Stage 7a, judge: every judge grades every (sample, model) output of a split.

inputs:  samples (SAMPLES Parquet of one split), generations (GENERATIONS Parquet,
         all models of the split), metrics (METRIC_VALUES Parquet, optional: the
         offline judge's measured signals)
outputs: judgments (JUDGMENTS Parquet), cache (folder of the LLM response cache),
         summary
params:  judge.judges, judge.template, judge.repeats, judge.call, judge.offline,
         judge.max_failed_share (failure policy, docs/llm.md), llm.prices (optional)

Domain logic: :mod:`echo_bench.judge.grading` (requests, parsing) and
:mod:`echo_bench.judge.offline` (the offline judge).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import polars as pl

from echo_bench.io import read_parquet, write_parquet
from echo_bench.judge.grading import grade, judge_items, judgments_frame
from echo_bench.judge.identity import alias_warning, judge_identity
from echo_bench.judge.offline import OfflineJudge, table_signals
from echo_bench.llm import DEFAULT_MAX_FAILED_SHARE, make_client
from echo_bench.llm.usage import UsageMeter
from echo_bench.params import StageParams
from echo_bench.schemas import GENERATIONS, JUDGMENTS, METRIC_VALUES, SAMPLES

#: Keys of a judge entry that are not LLM client settings.
JUDGE_ONLY_KEYS = ("name", "weight")


def judge_cfg(judge: dict[str, Any], call: dict[str, Any]) -> dict[str, Any]:
    """The LLM client cfg of one judge: the shared ``judge.call`` settings, overridden by the entry's."""
    return {**call, **{k: v for k, v in judge.items() if k not in JUDGE_ONLY_KEYS}}


def validate_judges(judges: list[dict[str, Any]]) -> None:
    names = [j.get("name") for j in judges]
    if not judges:
        raise ValueError("judge.judges is empty")
    if any(not n for n in names) or len(set(names)) != len(names):
        raise ValueError(f"judge.judges: every judge needs a unique name, got {names}")
    for j in judges:
        if not float(j.get("weight", 0)) > 0:
            raise ValueError(f"judge {j['name']}: weight must be > 0")


def run(inputs: dict[str, str], outputs: dict[str, str], params: StageParams, log: logging.Logger) -> dict[str, Any]:
    judges = [dict(j) for j in params["judge.judges"]]
    validate_judges(judges)
    template = str(params["judge.template"])
    repeats = int(params["judge.repeats"])
    call = dict(params["judge.call"])
    offline_cfg = dict(params["judge.offline"])
    prices = params.get("llm.prices")
    max_failed_share = params.get("judge.max_failed_share", DEFAULT_MAX_FAILED_SHARE)

    samples = read_parquet(inputs["samples"], SAMPLES)
    generations = read_parquet(inputs["generations"], GENERATIONS)
    splits = sorted(set(samples["split"].to_list()))
    if len(splits) > 1:
        raise ValueError(f"judge: samples of one split expected, got {splits}")
    split = splits[0] if splits else str(params.get("split", ""))
    other = generations.filter(pl.col("split") != split).height
    generations = generations.filter(pl.col("split") == split)
    log.info("judge: split %s, %d samples, %d generation rows (%d of other splits ignored)",
             split, samples.height, generations.height, other)

    signals: dict[tuple[str, str], dict[str, float]] = {}
    metric_rows = 0
    if inputs.get("metrics"):
        metrics = read_parquet(inputs["metrics"], METRIC_VALUES)
        metric_rows = metrics.height
        signals = table_signals(metrics, split)
        log.info("judge: %d metric rows, signals for %d (sample, model) items", metrics.height, len(signals))

    items, counts = judge_items(samples, generations, signals=signals)
    log.info("judge: %d items (%d with output, without: %s), models %s",
             counts["items"], counts["items_with_output"], counts["items_without_output"], counts["models"])
    if counts["generation_rows_of_unknown_samples"]:
        log.warning("judge: %d generation rows name samples not in the split; not judged",
                    counts["generation_rows_of_unknown_samples"])

    rows: list[dict[str, Any]] = []
    per_judge: dict[str, Any] = {}
    for j in judges:
        cfg = judge_cfg(j, call)
        offline = OfflineJudge(offline_cfg) if cfg.get("backend") == "offline" else None
        client = make_client(
            cfg,
            cache_dir=outputs["cache"],
            offline=offline,
            prices=prices,
            log=log,
            stage=f"judge:{split}",
            max_failed_share=max_failed_share,
        )
        got = grade(items, judge=j["name"], backend=cfg["backend"], client=client, template=template, repeats=repeats)
        rows += got
        status = dict(sorted(Counter(r["status"] for r in got).items()))
        errors = Counter((r["error"] or "").split(":")[0] for r in got if r["status"] in ("call_failed", "parse_failed"))
        per_judge[j["name"]] = {
            "backend": cfg["backend"],
            "model": client.model,
            "weight": float(j["weight"]),
            "status": status,
            "errors": dict(sorted(errors.items())),
            "usage": client.usage(),
        }
        log.info("judge %s (%s %s): %s; errors %s", j["name"], cfg["backend"], client.model, status, dict(errors))

    df = judgments_frame(rows)
    write_parquet(df, outputs["judgments"], JUDGMENTS)
    log.info("judge: wrote %d judgments to %s", df.height, outputs["judgments"])
    who = identity_summary(df, log)
    return {
        "judge_identity": who,
        "warnings": alias_warning(who),
        "split": split,
        "template": template,
        "repeats": repeats,
        "samples": counts["samples"],
        "models": counts["models"],
        "items": counts["items"],
        "items_with_output": counts["items_with_output"],
        "items_without_output": counts["items_without_output"],
        "generation_rows_of_other_splits": other,
        "generation_rows_of_unknown_samples": counts["generation_rows_of_unknown_samples"],
        "duplicate_generation_rows": counts["duplicate_generation_rows"],
        "metric_rows": metric_rows,
        "judgments": df.height,
        "judges": per_judge,
        "llm_usage": {f"judge:{split}": merge_usage(j["usage"] for j in per_judge.values())},
    }


def identity_summary(judgments: pl.DataFrame, log: logging.Logger) -> list[dict[str, Any]]:
    """Who judged (models sent and reported, templates), with a warning per rolling alias (judge.identity)."""
    who = judge_identity(judgments) if judgments.height else []
    for w in alias_warning(who):
        log.warning("judge: %s", w)
    return who


def merge_usage(usages) -> dict[str, dict[str, Any]]:
    """One {model: counts} from several clients' usage (two judges may share a model)."""
    meter = UsageMeter()
    for usage in usages:
        for model, counts in usage.items():
            meter.add(model, **counts)
    return meter.snapshot()
