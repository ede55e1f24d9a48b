"""Stage 9c, report: one self-contained interactive HTML page of the results.

inputs (each optional; a missing one leaves its chart saying so):
         winrates (JSON per split, results/judge/winrates_<split>.json), metrics_table
         (results/metrics/table.csv), volume (results/analyses/volume.csv), spikes
         (results/analyses/spikes.json), wordcloud (results/analyses/wordcloud.json),
         examples (results/analyses/feedback_examples.json), embedding
         (results/analyses/embedding.csv), compare_json (results/analyses/compare.json),
         taxonomy (results/analyses/taxonomy.csv), text_to_image and image_to_image
         (SAMPLES), generations (GENERATIONS); image folders (data/media, crops,
         generated outputs) may be listed as inputs for the DAG: image paths in the
         tables are repo-relative and read from the working directory
outputs: html (results/report/index.html), summary
params:  report.title, report.splits, report.metrics, report.models (null: all),
         report.gallery_per_split, report.thumb_px, report.jpeg_quality,
         report.embedding_max_points, report.examples_per_keyword, report.seed

Domain logic: :mod:`echo_bench.report`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import polars as pl

from echo_bench.io import paths, read_json, read_parquet, write_text
from echo_bench.params import StageParams
from echo_bench.report.build import ImageStore, ReportSettings, build_data, gallery, render_html
from echo_bench.schemas import GENERATIONS, SAMPLES


def settings_from_params(params: StageParams) -> ReportSettings:
    models = params["report.models"]
    return ReportSettings(
        title=str(params["report.title"]),
        splits=tuple(params["report.splits"]),
        metrics=tuple(params["report.metrics"]),
        models=tuple(models) if models else None,
        gallery_per_split=int(params["report.gallery_per_split"]),
        thumb_px=int(params["report.thumb_px"]),
        jpeg_quality=int(params["report.jpeg_quality"]),
        embedding_max_points=int(params["report.embedding_max_points"]),
        examples_per_keyword=int(params["report.examples_per_keyword"]),
        seed=int(params["report.seed"]),
    )


def run(inputs: dict[str, Any], outputs: dict[str, str], params: StageParams, log: logging.Logger) -> dict[str, Any]:
    settings = settings_from_params(params)
    missing: list[str] = []

    def path(name: str) -> str | None:
        p = inputs.get(name)
        if isinstance(p, str) and Path(p).exists():
            return p
        missing.append(name)
        return None

    def jdoc(name: str) -> Any:
        p = path(name)
        return read_json(p) if p else None

    def rows(name: str) -> list[dict[str, Any]]:
        p = path(name)
        return pl.read_csv(p, infer_schema_length=None).to_dicts() if p else []

    winrates: dict[str, Any] = {}
    for p in paths(inputs.get("winrates")):
        if Path(p).exists():
            doc = read_json(p)
            winrates[str(doc.get("split") or Path(p).stem.removeprefix("winrates_"))] = doc
        else:
            missing.append(p)
    frames = []
    for split in settings.splits:
        p = path(split)
        if p:
            frames.append(read_parquet(p, SAMPLES))
    samples = pl.concat(frames) if frames else pl.DataFrame(schema=SAMPLES)
    gp = path("generations")
    generations = read_parquet(gp, GENERATIONS) if gp else None
    store = ImageStore(Path("."), settings.thumb_px, settings.jpeg_quality)
    gal = gallery(samples, generations, settings, store)
    data = build_data(
        settings=settings,
        winrates=winrates,
        metric_rows=rows("metrics_table"),
        volume_rows=rows("volume"),
        spikes=jdoc("spikes"),
        cloud=jdoc("wordcloud"),
        examples=jdoc("examples"),
        embedding_rows=rows("embedding"),
        compare=jdoc("compare_json"),
        taxonomy_rows=rows("taxonomy"),
        gallery_data=gal,
        images=store.images,
        controls_rows=jdoc("controls") or [],
    )
    html = render_html(data)
    write_text(outputs["html"], html)
    size = len(html.encode("utf-8"))
    log.info("report: %s, %.2f MB; gallery %d samples x %d models, %d thumbnails (%d images unreadable); missing inputs %s",
             outputs["html"], size / 1e6, len(gal["items"]), len(gal["models"]), len(store.images), store.missing, missing)
    return {
        "bytes": size,
        "gallery_items": len(gal["items"]),
        "models": gal["models"],
        "thumbnails": len(store.images),
        "images_unreadable": store.missing,
        "embedding_points": len(data["embedding"]["points"]),
        "splits_with_winrates": sorted(data["winrates"]),
        "inputs_missing": missing,
    }
