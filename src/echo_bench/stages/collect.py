"""Stage 1b, collect: the broad keyword query (rules in :mod:`echo_bench.collect`).

inputs:  posts (POSTS Parquet)
outputs: queried (QUERIED Parquet), quarantine (QUARANTINE Parquet), summary
params:  collect.keywords, collect.match_all, collect.since, collect.until,
         collect.include_replies, collect.drop_retweets
"""

from __future__ import annotations

import logging
from typing import Any

from echo_bench.collect import collect
from echo_bench.io import read_parquet, write_parquet
from echo_bench.params import StageParams
from echo_bench.schemas import POSTS, QUARANTINE, QUERIED


def run(inputs: dict[str, str], outputs: dict[str, str], params: StageParams, log: logging.Logger) -> dict[str, Any]:
    posts = read_parquet(inputs["posts"], POSTS)
    log.info("collect: read %d posts from %s", posts.height, inputs["posts"])
    result = collect(
        posts,
        keywords=list(params["collect.keywords"]),
        since=params["collect.since"],
        until=params["collect.until"],
        include_replies=bool(params["collect.include_replies"]),
        drop_retweets=bool(params["collect.drop_retweets"]),
        match_all=bool(params["collect.match_all"]),
    )
    s = result.summary
    log.info(
        "collect: quarantined %d %s, dropped %d retweets, %d outside the window [%s, %s]",
        s["quarantined"],
        s["quarantined_by_reason"],
        s["retweets_dropped"],
        s["outside_window"],
        s["window"]["since"],
        s["window"]["until"],
    )
    if s["match_all"]:
        log.info("collect: match_all: every post of the window is a hit (%d, %d roots)", s["matched"], s["matched_roots"])
    else:
        log.info(
            "collect: %d posts match (%d roots), per keyword %s", s["matched"], s["matched_roots"], s["matched_per_keyword"]
        )
    log.info(
        "collect: kept %d posts = %d matches + %d conversation context, in %d conversations",
        s["kept"],
        s["matched"],
        s["context_kept"],
        s["conversations_matched"],
    )
    write_parquet(result.queried, outputs["queried"], QUERIED)
    write_parquet(result.quarantine, outputs["quarantine"], QUARANTINE)
    return s
