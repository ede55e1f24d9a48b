"""Stage 5, finalize: Benchmark / Manual Review / Discard, near-duplicates, the three splits.

inputs:  processed (PROCESSED Parquet); optional media_store (folder, to find images by file name)
outputs: analysis, text_to_image, image_to_image (SAMPLES Parquet), manual_review (REVIEW Parquet),
         discarded (DISCARDED Parquet) -- each named output, or else ``<splits>/<name>.parquet`` under a
         ``splits`` folder --, quarantine (QUARANTINE Parquet), cache (folder: the LLM response cache), summary
params:  model_of_interest, finalize.llm (client cfg), finalize.near_duplicate_threshold, finalize.send_images,
         finalize.min_prompt_words; llm.prices when declared
Rules: :mod:`echo_bench.curate.finalize`; offline rules F1-F10, G and N in docs/curation.md.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from echo_bench.curate import finalize as fz
from echo_bench.curate.common import make_stage_client
from echo_bench.curate.multimodal import resolver
from echo_bench.curate.tables import DISCARDED, PROCESSED, REVIEW
from echo_bench.io import read_parquet, write_parquet
from echo_bench.params import StageParams
from echo_bench.schemas import QUARANTINE, SAMPLES


def run(inputs: dict[str, str], outputs: dict[str, str], params: StageParams, log: logging.Logger) -> dict[str, Any]:
    processed = read_parquet(inputs["processed"], PROCESSED)
    log.info("finalize: read %d processed samples", processed.height)
    settings = fz.FinalizeSettings(
        model_of_interest=str(params["model_of_interest"]),
        near_duplicate_threshold=float(params["finalize.near_duplicate_threshold"]),
        send_images=bool(params["finalize.send_images"]),
        min_prompt_words=int(params["finalize.min_prompt_words"]),
    )
    result = fz.finalize_samples(
        processed,
        lambda offline: make_stage_client(params, "finalize", outputs["cache"], offline, log),
        settings,
        resolve=resolver(inputs.get("media_store")),
        log=log,
    )
    def path(name: str) -> str | Path:
        """The output named ``name``, else ``<splits>/<name>.parquet``."""
        if name in outputs:
            return outputs[name]
        if "splits" not in outputs:
            raise KeyError(f"stage finalize needs an output named {name!r} or a 'splits' folder")
        return Path(outputs["splits"]) / f"{name}.parquet"

    for name, frame in result.splits.items():
        write_parquet(frame, path(name), SAMPLES, name=name)
    write_parquet(result.manual_review, path("manual_review"), REVIEW, name="manual_review")
    write_parquet(result.discarded, path("discarded"), DISCARDED, name="discarded")
    write_parquet(result.quarantine, outputs["quarantine"], QUARANTINE, name="quarantine")
    return {**result.summary, "quarantined": result.quarantine.height}
