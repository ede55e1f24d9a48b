"""Stage 8, metrics: the community-driven metrics of every model's outputs on one split.

inputs:  samples (SAMPLES Parquet of one split; image refs are repo-relative paths),
         generations (GENERATIONS Parquet: the models' outputs)
outputs: values (METRIC_VALUES Parquet: one row per split, model, sample, metric),
         table (per-model aggregates: CSV, or JSON when the path ends in .json),
         summary; optional: table_json (the table as JSON as well),
         applicability (APPLICABILITY Parquet: the verdict per sample and metric family),
         cache (folder of the LLM response cache, for an LLM applicability or text reader)
params:  metrics (the section: enabled, device, batch_size, seed, bootstrap, applicability,
         color, face, structure, text), llm.prices (optional);
         wildcards (optional): split, model, metric restrict the run to one of each
         (per-model / per-metric rules)

Applicability mode (the rule before per-model / per-metric shards): outputs
applicability (and summary) only, no values: decides once (an LLM is asked once
per sample; the face probe runs once), and the shards take it as the optional
input ``applicability`` instead of deciding again.

Merge mode (the rule after per-model / per-metric shards): inputs ``values`` (a
list of METRIC_VALUES Parquet shards) instead of samples/generations; outputs
values (the shards concatenated, sorted), table (and table_json), summary;
params metrics.color.input_pool, metrics.bootstrap, metrics.seed.

Domain logic: :mod:`echo_bench.metrics` (applicability, color, face, structure,
text; :mod:`echo_bench.metrics.runner` computes the rows and the table).
Paths in the inputs are resolved against the working directory (the repo root).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import polars as pl

from echo_bench.io import paths, read_parquet, write_json, write_parquet, write_text
from echo_bench.llm import DEFAULT_MAX_FAILED_SHARE
from echo_bench.metrics.applicability import APPLICABILITY, FAMILY_OF, decide
from echo_bench.metrics.device import resolve_device
from echo_bench.metrics.runner import (
    MetricsSettings,
    aggregate,
    compute_values,
    make_face_cache,
    make_ocr_reader,
    vlm_text_reader,
)
from echo_bench.params import StageParams
from echo_bench.schemas import GENERATIONS, METRIC_VALUES, SAMPLES

DEFAULT_CACHE = "data/cache/llm/metrics"


def settings_from_params(params: StageParams) -> MetricsSettings:
    return MetricsSettings(
        enabled=list(params["metrics.enabled"]),
        device=str(params["metrics.device"]),
        batch_size=params["metrics.batch_size"],
        seed=int(params["metrics.seed"]),
        bootstrap=int(params["metrics.bootstrap"]),
        cpu_threads=int(params["metrics.cpu_threads"]),
        color=dict(params["metrics.color"]),
        face=dict(params["metrics.face"]),
        structure=dict(params["metrics.structure"]),
        text=dict(params["metrics.text"]),
    )


def _write_table(table: pl.DataFrame, path: str) -> None:
    if path.endswith(".json"):
        write_json(path, table.to_dicts())
    else:
        write_text(path, table.write_csv())


def merge(inputs: dict[str, Any], outputs: dict[str, str], params: StageParams, log: logging.Logger) -> dict[str, Any]:
    """Concatenate METRIC_VALUES shards and build the per-model table from them."""
    frames = [read_parquet(p, METRIC_VALUES) for p in paths(inputs["values"])]
    values = pl.concat(frames) if frames else pl.DataFrame(schema=METRIC_VALUES)
    keys = ["split", "model", "sample_id", "metric"]
    dup = values.height - values.unique(keys).height
    if dup:
        raise ValueError(f"metrics merge: {dup} (split, model, sample, metric) rows appear in more than one shard")
    values = values.sort(keys)
    table = aggregate(values, input_pool=str(params["metrics.color.input_pool"]),
                      bootstrap=int(params["metrics.bootstrap"]), seed=int(params["metrics.seed"]))
    log.info("metrics merge: %d shards, %d rows, %d table rows", len(frames), values.height, table.height)
    write_parquet(values, outputs["values"], METRIC_VALUES)
    _write_table(table, outputs["table"])
    if "table_json" in outputs:
        _write_table(table, outputs["table_json"])
    counts = values.group_by("metric", "status").len().sort("metric", "status")
    return {"mode": "merge", "shards": len(frames), "rows": values.height, "table_rows": table.height,
            "status_by_metric": {m: {st: n for mm, st, n in counts.iter_rows() if mm == m}
                                 for m in sorted(set(counts["metric"].to_list()))}}


def run(inputs: dict[str, Any], outputs: dict[str, str], params: StageParams, log: logging.Logger) -> dict[str, Any]:
    if "values" in inputs and "samples" not in inputs:
        return merge(inputs, outputs, params, log)
    settings = settings_from_params(params)
    only_metric = params.get("metric")
    only_model = params.get("model")
    only_split = params.get("split")
    if only_metric:
        if only_metric not in settings.enabled:
            raise ValueError(f"metric {only_metric!r} is not in metrics.enabled {list(settings.enabled)}")
        settings.enabled = [only_metric]
    prices = params.get("llm.prices")
    cache_dir = outputs.get("cache") or DEFAULT_CACHE

    samples = read_parquet(inputs["samples"], SAMPLES)
    gens = read_parquet(inputs["generations"], GENERATIONS)
    log.info("metrics: read %d samples (%s) and %d generation rows", samples.height,
             sorted(set(samples["split"].to_list())), gens.height)
    if only_split:
        samples = samples.filter(pl.col("split") == only_split)
    splits = sorted(set(samples["split"].to_list()))
    n_gens = gens.height
    gens = gens.filter(pl.col("split").is_in(splits) & pl.col("sample_id").is_in(samples["sample_id"].to_list()))
    if only_model:
        gens = gens.filter(pl.col("model") == only_model)
    dup = gens.height - gens.unique(["model", "sample_id"]).height
    if dup:
        log.warning("metrics: %d repeated (model, sample) generation rows; the first is used", dup)
        gens = gens.unique(["model", "sample_id"], keep="first", maintain_order=True)
    log.info("metrics: %d generation rows of these samples (%d others ignored), models %s",
             gens.height, n_gens - gens.height, sorted(set(gens["model"].to_list())))

    # applicability, with a face probe of the input images when face identity is on
    device = resolve_device(settings.device)
    face_cache = None
    families = {FAMILY_OF[m] for m in settings.enabled}
    app_cfg = dict(params["metrics.applicability"])
    if "face" in families:
        face_cache = make_face_cache(settings, device)
    if inputs.get("applicability"):  # decided once by an earlier rule
        applicability = read_parquet(inputs["applicability"], APPLICABILITY)
        missing = set(samples["sample_id"].to_list()) - set(applicability["sample_id"].to_list())
        if missing:
            raise ValueError(f"applicability input has no verdicts for {len(missing)} samples, e.g. {sorted(missing)[:3]}")
        log.info("metrics: applicability read from %s", inputs["applicability"])
    else:
        probe = face_cache.any_face if (face_cache is not None and app_cfg.get("probe_faces", True)) else None
        applicability = decide(samples, llm_cfg=app_cfg.get("llm"), face_probe=probe, cache_dir=cache_dir,
                               prices=prices, log=log,
                               max_failed_share=app_cfg.get("max_failed_share", DEFAULT_MAX_FAILED_SHARE))
    if "values" not in outputs:  # applicability mode: decide once, for the per-model / per-metric rules
        write_parquet(applicability, outputs["applicability"], APPLICABILITY)
        counts = applicability.group_by("family").agg(pl.col("applicable").sum()).sort("family").rows()
        return {"mode": "applicability", "samples": samples.height, "applicable": dict(counts),
                "applicability_backend": sorted(set(applicability["backend"].to_list()))}
    app_counts = (
        applicability.group_by("family").agg(pl.col("applicable").sum().alias("n")).sort("family").to_dicts()
    )
    log.info("metrics: applicable samples per family %s (backend %s)", {r["family"]: r["n"] for r in app_counts},
             sorted(set(applicability["backend"].to_list())))

    text_llm = None
    if "text" in families and str(settings.text.get("reader", "ocr")) == "vlm":
        text_llm = vlm_text_reader(dict(settings.text.get("llm") or {"backend": "offline"}), cache_dir=cache_dir,
                                   prices=prices, ocr_factory=lambda: make_ocr_reader(settings, device), log=log,
                                   max_failed_share=settings.text.get("max_failed_share", DEFAULT_MAX_FAILED_SHARE))

    values, summary = compute_values(samples, gens, applicability, settings, log=log, face_embedder=face_cache,
                                     text_llm=text_llm)
    table = aggregate(values, input_pool=str(settings.color["input_pool"]), bootstrap=settings.bootstrap,
                      seed=settings.seed)
    for r in table.iter_rows(named=True):
        log.info("metrics: %s %s %s = %s (n_ok %d of %d applicable)", r["split"], r["model"], r["metric"],
                 None if r["value"] is None else round(r["value"], 4), r["n_ok"], r["n_applicable"])

    write_parquet(values, outputs["values"], METRIC_VALUES)
    _write_table(table, outputs["table"])
    if "table_json" in outputs:
        _write_table(table, outputs["table_json"])
    if "applicability" in outputs:
        write_parquet(applicability, outputs["applicability"], APPLICABILITY)
    summary.update(
        splits=splits,
        generation_rows=gens.height,
        generation_rows_ignored=n_gens - gens.height,
        applicable={r["family"]: int(r["n"]) for r in app_counts},
        applicability_backend=sorted(set(applicability["backend"].to_list())),
        table_rows=table.height,
        outputs=sorted(Path(p).name for k, p in outputs.items() if k != "cache"),
    )
    return summary
