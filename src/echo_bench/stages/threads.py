"""Stage 2, reconstruct: reply trees and their context documents (rules in :mod:`echo_bench.threads`).

inputs:  queried (QUERIED Parquet) -- or posts (POSTS Parquet) when run on a whole dump
outputs: thread_posts (THREAD_POSTS Parquet), threads (THREADS Parquet), summary;
         optional quarantine (QUARANTINE Parquet: rows without an id, repeated ids)
params:  threads.max_depth, threads.max_posts (null = no cap)
"""

from __future__ import annotations

import logging
from typing import Any

from echo_bench.io import read_parquet, write_parquet
from echo_bench.params import StageParams
from echo_bench.schemas import QUARANTINE, THREAD_POSTS, THREADS
from echo_bench.threads import build_threads


def _cap(value: Any) -> int | None:
    return None if value is None else int(value)


def run(inputs: dict[str, str], outputs: dict[str, str], params: StageParams, log: logging.Logger) -> dict[str, Any]:
    name = "queried" if "queried" in inputs else "posts"
    posts = read_parquet(inputs[name])
    log.info("threads: read %d posts from %s", posts.height, inputs[name])
    result = build_threads(
        posts, max_depth=_cap(params["threads.max_depth"]), max_posts=_cap(params["threads.max_posts"])
    )
    s = result.summary
    if s["quarantined"]:
        log.warning("threads: %d rows unusable %s", s["quarantined"], s["quarantined_by_reason"])
    log.info(
        "threads: %d posts -> %d threads (%d with replies, %d orphan roots, %d attached by conversation id)",
        s["posts"],
        s["threads"],
        s["threads_with_replies"],
        s["orphan_threads"],
        s["attached_by_conversation"],
    )
    if s["cycles_broken"]:
        log.warning("threads: broke %d reply cycles (%d posts in cycles)", s["cycles_broken"], s["posts_in_cycles"])
    log.info(
        "threads: placed %d posts; cut %d by depth > %s and %d by size > %s (%d threads truncated)",
        s["posts_placed"],
        s["cut_by_depth"],
        s["max_depth"],
        s["cut_by_size"],
        s["max_posts"],
        s["threads_truncated"],
    )
    write_parquet(result.thread_posts, outputs["thread_posts"], THREAD_POSTS)
    write_parquet(result.threads, outputs["threads"], THREADS)
    if "quarantine" in outputs:
        write_parquet(result.quarantine, outputs["quarantine"], QUARANTINE)
    return s
