"""Stage 1c, relevance: 1-5 relevance of the queried posts; the threads worth extracting.

inputs:  queried (QUERIED Parquet), threads (THREADS Parquet)
outputs: scores (RELEVANCE_SCORES Parquet: post_id, thread_id, score, reason, producer, status),
         kept_threads (THREADS Parquet: the kept threads), quarantine (QUARANTINE Parquet),
         cache (folder: the LLM response cache), summary (written by the runner)
params:  model_of_interest, model_aliases, other_models, relevance.llm (client cfg),
         relevance.threshold, relevance.keep_if (any | root), relevance.context_chars;
         llm.prices when the rule declares it
Rules: :mod:`echo_bench.curate.relevance`; offline rules R1-R8 in docs/curation.md.
"""

from __future__ import annotations

import logging
from typing import Any

from echo_bench.curate import relevance as rel
from echo_bench.curate.common import make_stage_client
from echo_bench.curate.tables import RELEVANCE_SCORES
from echo_bench.io import read_parquet, write_parquet
from echo_bench.params import StageParams
from echo_bench.schemas import QUARANTINE, QUERIED, THREADS


def run(inputs: dict[str, str], outputs: dict[str, str], params: StageParams, log: logging.Logger) -> dict[str, Any]:
    queried = read_parquet(inputs["queried"], QUERIED)
    threads = read_parquet(inputs["threads"], THREADS)
    log.info("relevance: read %d queried posts and %d threads", queried.height, threads.height)
    names = rel.names_from_params(params)
    settings = rel.settings_from_params(params, names)
    client = make_stage_client(params, "relevance", outputs["cache"], rel.make_offline(names), log)
    result = rel.score_threads(queried, threads, client, settings, log=log)
    write_parquet(result.scores, outputs["scores"], RELEVANCE_SCORES, name="scores")
    write_parquet(result.kept_threads, outputs["kept_threads"], THREADS, name="kept_threads")
    write_parquet(result.quarantine, outputs["quarantine"], QUARANTINE, name="quarantine")
    return result.summary
