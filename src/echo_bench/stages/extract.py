"""Stage 3, extract: the samples of each kept reply tree.

inputs:  kept_threads (THREADS Parquet), thread_posts (THREAD_POSTS Parquet), queried (QUERIED Parquet),
         media (MEDIA Parquet)
outputs: candidates (CANDIDATES Parquet, see echo_bench.curate.tables), quarantine (QUARANTINE Parquet),
         cache (folder: the LLM response cache), summary
params:  model_of_interest, model_aliases, other_models, extract.llm (client cfg); llm.prices when declared
Rules: :mod:`echo_bench.curate.extract`; offline rules E0-E8 in docs/curation.md.
"""

from __future__ import annotations

import logging
from typing import Any

from echo_bench.curate import extract as ex
from echo_bench.curate.common import make_stage_client
from echo_bench.curate.heuristics import ModelNames
from echo_bench.curate.tables import CANDIDATES
from echo_bench.io import read_parquet, write_parquet
from echo_bench.params import StageParams
from echo_bench.quarantine import Quarantine
from echo_bench.schemas import MEDIA, QUARANTINE, QUERIED, THREAD_POSTS, THREADS


def run(inputs: dict[str, str], outputs: dict[str, str], params: StageParams, log: logging.Logger) -> dict[str, Any]:
    kept = read_parquet(inputs["kept_threads"], THREADS)
    thread_posts = read_parquet(inputs["thread_posts"], THREAD_POSTS)
    queried = read_parquet(inputs["queried"], QUERIED)
    media = read_parquet(inputs["media"], MEDIA)
    log.info(
        "extract: read %d kept threads, %d thread posts, %d queried posts, %d media rows",
        kept.height, thread_posts.height, queried.height, media.height,
    )
    names = ModelNames.from_params(params["model_aliases"], params["other_models"])
    settings = ex.ExtractSettings(model_of_interest=str(params["model_of_interest"]), names=names)
    q = Quarantine(ex.STEP)
    threads = ex.build_threads(kept, thread_posts, queried, media, q)
    offline = ex.make_offline({t.thread_id: t for t in threads}, names)
    client = make_stage_client(params, "extract", outputs["cache"], offline, log)
    result = ex.extract_samples(threads, client, settings, q, log=log)
    write_parquet(result.candidates, outputs["candidates"], CANDIDATES, name="candidates")
    write_parquet(result.quarantine, outputs["quarantine"], QUARANTINE, name="quarantine")
    return {**result.summary, "quarantined": len(q), "quarantine_reasons": q.counts()}
