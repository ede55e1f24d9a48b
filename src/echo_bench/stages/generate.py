"""Stage 6, generate: one model's output for every benchmark sample of one split.

One job per (split, model) pair; the rule's wildcards arrive as params ``split``
and ``model``.

inputs:  samples (SAMPLES Parquet of the split); optional import_dir (the folder
         of an ``import`` model, declared so that DVC/Snakemake track it:
         :func:`echo_bench.generate.run.rule_inputs`)
outputs: manifest (GENERATIONS Parquet of the pair), images (folder
         ``data/generated/<split>/<model>/`` of ``<sample_id>.png``), summary;
         optional cache (folder of the response cache of real backends, kept
         between runs)
params:  split, model (wildcards), generate.models.<model> (or generate.models /
         generate), generate.seed, generate.image, generate.call, generate.controls

Merge mode (a rule with ``params: stage="generate"``): inputs ``manifests`` (the
per-pair manifests), outputs ``generations`` (one GENERATIONS Parquet) and
summary.

Domain logic: :mod:`echo_bench.generate` (backends, controls, hygiene, run).
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl

from echo_bench.generate.backends import make_backend
from echo_bench.generate.hygiene import SizePolicy
from echo_bench.generate.run import ImageCache, generate_split, merge_manifests
from echo_bench.io import paths, read_parquet, write_parquet
from echo_bench.params import StageParams
from echo_bench.schemas import GENERATIONS, SAMPLES


def run(inputs: dict[str, Any], outputs: dict[str, str], params: StageParams, log: logging.Logger) -> dict[str, Any]:
    if "manifests" in inputs:
        return run_merge(inputs, outputs, log)
    split = str(params["split"])
    model = str(params["model"])
    entry = dict(params[f"generate.models.{model}"])
    seed = int(params["generate.seed"])
    policy = SizePolicy.from_params(dict(params["generate.image"]))
    call = dict(params["generate.call"] or {})
    control_defaults = dict(params["generate.controls"] or {})
    root = Path.cwd()

    samples = read_parquet(inputs["samples"], SAMPLES)
    other = samples.filter(pl.col("split") != split).height
    if other:
        log.warning("generate: %d samples of other splits than %s in %s are ignored", other, split, inputs["samples"])
    samples = samples.filter(pl.col("split") == split)
    log.info("generate %s/%s: %d samples (%d text-to-image, %d with input images), backend %s",
             split, model, samples.height, samples.filter(pl.col("input_images").list.len() == 0).height,
             samples.filter(pl.col("input_images").list.len() > 0).height, entry.get("backend"))

    backend = make_backend(model, entry, split=split, root=root, call=call, control_defaults=control_defaults)
    if "import_dir" in inputs and hasattr(backend, "folder"):
        declared = Path(str(inputs["import_dir"])).resolve()
        if declared != (root / backend.folder).resolve():
            raise ValueError(f"generate: input import_dir {inputs['import_dir']} is not the model's folder {backend.folder}")
    cache = ImageCache(outputs["cache"]) if outputs.get("cache") else None

    df, summary = generate_split(samples, backend, split=split, model=model, images_dir=outputs["images"], seed=seed,
                                 policy=policy, root=root, cache=cache, log=log)
    write_parquet(df, outputs["manifest"], GENERATIONS)
    summary["other_split_samples_ignored"] = other
    return summary


def run_merge(inputs: dict[str, Any], outputs: dict[str, str], log: logging.Logger) -> dict[str, Any]:
    manifests = paths(inputs["manifests"])
    df = merge_manifests(sorted(manifests))
    write_parquet(df, outputs["generations"], GENERATIONS)
    by = Counter((r["split"], r["model"], r["status"]) for r in df.select("split", "model", "status").iter_rows(named=True))
    log.info("generate merge: %d manifests, %d rows", len(manifests), df.height)
    return {
        "mode": "merge",
        "manifests": len(manifests),
        "rows": df.height,
        "status": {f"{s}/{m}/{st}": n for (s, m, st), n in sorted(by.items())},
    }
