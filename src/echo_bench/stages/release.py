"""Release: the three splits, the released models' outputs, judgments and metrics as a versioned dataset.

inputs:  analysis, text_to_image, image_to_image (SAMPLES Parquet); generations (GENERATIONS);
         judgments (list of JUDGMENTS Parquet, one per benchmark split, named <split>.parquet);
         metric_values (METRIC_VALUES); applicability (list of APPLICABILITY Parquet, <split>.parquet);
         winrates (headline JSON); metrics_table (JSON); media_store, crops (folders the image paths
         point into: declared so the stage reruns when an image changes)
outputs: release (the folder, replaced as a whole), metrics (DVC metrics JSON: split sizes, image
         count, headline win rates), summary
params:  release (name, version, images, row_group_size, licenses), model_of_interest,
         <stage>.llm of the curation stages (backends named on the card), generate.image,
         generate.seed, generate.models, metrics, judge (recorded on the card; also what
         ``echo-bench evaluate`` reuses to score a new model like the released ones)

Domain logic: :mod:`echo_bench.release.export` and :mod:`echo_bench.release.card`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from echo_bench.io import paths, write_json
from echo_bench.params import StageParams
from echo_bench.release.export import BENCHMARK_SPLITS, SPLITS, ReleaseInputs, ReleaseSettings, export

CURATION_STAGES = ("relevance", "extract", "multimodal", "finalize")


def _by_split(value: Any) -> dict[str, str]:
    return {Path(p).stem: p for p in paths(value)}


def _backend(cfg: Any) -> str:
    cfg = dict(cfg or {})
    b = str(cfg.get("backend", "?"))
    return f"{b}/{cfg['model']}" if cfg.get("model") else b


def card_info(params: StageParams) -> dict[str, Any]:
    rel = dict(params["release"])
    metrics = dict(params["metrics"])
    return {
        "name": rel["name"],
        "version": str(rel["version"]),
        "model_of_interest": params["model_of_interest"],
        "licenses": dict(rel.get("licenses") or {}),
        "sources": [{"path": str(d["path"]), "format": str(d.get("format") or "auto")} for d in params["ingest.dumps"]],
        "curation_backends": {s: _backend(params[f"{s}.llm"]) for s in CURATION_STAGES},
        "metric_backends": {
            "face_identity": str(metrics["face"]["backend"]),
            "structure_distance": str(metrics["structure"]["backend"]),
            "text_accuracy": "reader=" + str(metrics["text"]["reader"]),
            "applicability": _backend(metrics["applicability"]["llm"]),
        },
        "settings": {
            "generate": {"seed": params["generate.seed"], "image": dict(params["generate.image"]),
                         "models": dict(params["generate.models"])},
            "metrics": metrics,
            "judge": dict(params["judge"]),
        },
    }


def run(inputs: dict[str, Any], outputs: dict[str, str], params: StageParams, log: logging.Logger) -> dict[str, Any]:
    rel = dict(params["release"])
    settings = ReleaseSettings(images=str(rel["images"]), row_group_size=int(rel["row_group_size"]))
    judgments = _by_split(inputs["judgments"])
    applicability = _by_split(inputs["applicability"])
    for name, got in (("judgments", judgments), ("applicability", applicability)):
        missing = [s for s in BENCHMARK_SPLITS if s not in got]
        if missing:
            raise ValueError(f"release: input {name} has no file for {missing} (got {sorted(got)})")
    ri = ReleaseInputs(
        splits={s: inputs[s] for s in SPLITS},
        generations=inputs["generations"],
        judgments=judgments,
        metric_values=inputs["metric_values"],
        applicability=applicability,
        winrates=inputs["winrates"],
        metrics_table=inputs["metrics_table"],
    )
    log.info("release: exporting %s to %s (images %s)", rel["name"], outputs["release"], settings.images)
    doc = export(ri, outputs["release"], settings=settings, info=card_info(params), root=Path.cwd())
    counts = doc["counts"]
    log.info("release: samples %s, %d images (%d bytes), %d files", counts["samples"], counts["images"],
             counts["image_bytes"], len(doc["files"]))
    for line in doc["offline"]:
        log.info("release: offline part: %s", line)
    head = {split: {"top_model": h["top_model"], "prompts": h["prompts"], "win_rate": h["win_rate"]}
            for split, h in doc["headline"].items()}
    write_json(outputs["metrics"], {"samples": counts["samples"], "images": counts["images"], "headline": head})
    return {
        "name": doc["name"],
        "version": doc["version"],
        "images_mode": doc["images"],
        "samples": counts["samples"],
        "images": counts["images"],
        "image_bytes": counts["image_bytes"],
        "files": len(doc["files"]),
        "offline_parts": len(doc["offline"]),
        "backends": doc["backends"],
    }
