"""Stage 4, multimodal: image roles, duplicates, blanks, chat screenshots and composites.

inputs:  candidates (CANDIDATES Parquet), media (MEDIA Parquet: image sizes), media_store (folder of the images)
outputs: processed (PROCESSED Parquet, see echo_bench.curate.tables), crops (folder of content-addressed PNG
         crops, ``<sha256>.png``; files of earlier runs that this run did not produce are removed),
         quarantine (QUARANTINE Parquet), cache (folder: the LLM response cache), summary
params:  model_of_interest, multimodal.llm (client cfg), multimodal.caption_chars,
         multimodal.duplicate_max_distance, multimodal.duplicate_max_color_delta, multimodal.junk_min_side, multimodal.junk_min_std,
         multimodal.junk_max_aspect, multimodal.composite_min_aspect, multimodal.composite_min_similarity;
         llm.prices when declared
Rules: :mod:`echo_bench.curate.multimodal` and :mod:`echo_bench.curate.pixels`; offline rules M1-M7 in
docs/curation.md.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import polars as pl

from echo_bench.curate import multimodal as mm
from echo_bench.curate.common import make_stage_client
from echo_bench.curate.pixels import PixelSettings
from echo_bench.curate.tables import CANDIDATES, PROCESSED
from echo_bench.io import read_parquet, write_parquet
from echo_bench.params import StageParams
from echo_bench.quarantine import Quarantine
from echo_bench.schemas import MEDIA, QUARANTINE

_CROP_NAME = re.compile(r"^[0-9a-f]{64}\.png$")


def settings_from_params(params: StageParams) -> mm.MultimodalSettings:
    return mm.MultimodalSettings(
        model_of_interest=str(params["model_of_interest"]),
        caption_chars=int(params["multimodal.caption_chars"]),
        pixels=PixelSettings(
            duplicate_max_distance=int(params["multimodal.duplicate_max_distance"]),
            duplicate_max_color_delta=float(params["multimodal.duplicate_max_color_delta"]),
            junk_min_side=int(params["multimodal.junk_min_side"]),
            junk_min_std=float(params["multimodal.junk_min_std"]),
            junk_max_aspect=float(params["multimodal.junk_max_aspect"]),
            composite_min_aspect=float(params["multimodal.composite_min_aspect"]),
            composite_min_similarity=float(params["multimodal.composite_min_similarity"]),
        ),
    )


def run(inputs: dict[str, str], outputs: dict[str, str], params: StageParams, log: logging.Logger) -> dict[str, Any]:
    candidates = read_parquet(inputs["candidates"], CANDIDATES)
    media = read_parquet(inputs["media"], MEDIA)
    log.info("multimodal: read %d candidates, %d media rows", candidates.height, media.height)
    settings = settings_from_params(params)
    sizes = {
        p: (int(w or 0), int(h or 0))
        for p, w, h in media.filter(pl.col("path").is_not_null()).select("path", "width", "height").iter_rows()
    }
    crops = Path(outputs["crops"])
    crops.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in crops.iterdir() if _CROP_NAME.match(p.name)}
    q = Quarantine(mm.STEP)
    result = mm.process_candidates(
        candidates,
        lambda offline: make_stage_client(params, "multimodal", outputs["cache"], offline, log),
        settings,
        crops_dir=outputs["crops"],
        resolve=mm.resolver(inputs.get("media_store")),
        sizes=sizes,
        q=q,
        log=log,
    )
    made = {Path(p).name for col in ("input_images", "reference_outputs") for lst in result.processed[col].to_list()
            for p in lst if Path(p).parent == Path(outputs["crops"])}
    stale = sorted(before - made)
    for name in stale:
        (crops / name).unlink()
    if stale:
        log.info("multimodal: removed %d crops of earlier runs", len(stale))
    write_parquet(result.processed, outputs["processed"], PROCESSED, name="processed")
    write_parquet(result.quarantine, outputs["quarantine"], QUARANTINE, name="quarantine")
    return {**result.summary, "stale_crops_removed": len(stale), "quarantined": len(q), "quarantine_reasons": q.counts()}
