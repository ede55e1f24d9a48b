"""Stage ingest: raw dumps -> posts, media manifest + media store, quarantine.

Inputs: ``dumps`` (or ``dump``): one dump path or a list of them (directories or
files).  The format of each comes from ``ingest.dumps`` in params.yaml (matched
by path; ``auto`` when a path is not listed there).
Outputs: ``posts`` (POSTS), ``media`` (MEDIA), ``quarantine`` (QUARANTINE),
``media_store`` (directory of ``<sha256>.<ext>`` files), ``summary`` (written by
the runner from the returned dict).
Params: ``ingest.dumps``, ``ingest.media_dir``, ``ingest.max_bytes``,
``ingest.max_pixels``, ``ingest.workers``, ``ingest.fetch.{enabled,
allow_private, timeout_s, max_bytes, max_redirects}``, ``ingest.limits.{max_depth,
max_record_bytes, max_document_bytes, max_text_chars, max_gzip_ratio,
max_decompressed_bytes, min_created_at, max_created_at}`` (the rule may declare
``ingest`` as a whole).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from echo_bench.ingest import IngestSettings, ingest_dumps
from echo_bench.io import paths, write_parquet
from echo_bench.params import lookup
from echo_bench.schemas import MEDIA, POSTS, QUARANTINE


def _param(params: Mapping[str, Any], key: str) -> Any:
    """``key`` from the declared params, also when the rule declared a parent key (``ingest``)."""
    if key in params:
        return params[key]
    parts = key.split(".")
    for i in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in params:
            return lookup(params[prefix], ".".join(parts[i:]))
    return params[key]  # StageParams: raises, naming the undeclared key


LIMIT_KEYS = (
    "max_depth",
    "max_record_bytes",
    "max_document_bytes",
    "max_text_chars",
    "max_gzip_ratio",
    "max_decompressed_bytes",
    "min_created_at",
    "max_created_at",
)


def settings_from_params(params: Mapping[str, Any]) -> IngestSettings:
    keys = ("media_dir", "max_bytes", "max_pixels", "workers")
    fetch_keys = ("enabled", "allow_private", "timeout_s", "max_bytes", "max_redirects")
    cfg: dict[str, Any] = {k: _param(params, f"ingest.{k}") for k in keys}
    cfg["fetch"] = {k: _param(params, f"ingest.fetch.{k}") for k in fetch_keys}
    cfg["limits"] = {k: _param(params, f"ingest.limits.{k}") for k in LIMIT_KEYS}
    return IngestSettings.from_mapping(cfg)


def dump_list(inputs: Mapping[str, Any], declared: Any) -> list[tuple[Path, str]]:
    """(path, format) of every input dump; formats from ``ingest.dumps`` (path or {path, format} items)."""
    given = inputs.get("dumps", inputs.get("dump"))
    if given is None:
        raise KeyError("stage ingest needs an input named 'dumps' (or 'dump')")
    dumps = paths(given)
    formats: dict[str, str] = {}
    for item in declared or ():
        if isinstance(item, Mapping):
            formats[os.path.normpath(str(item["path"]))] = str(item.get("format") or "auto")
        else:
            formats[os.path.normpath(str(item))] = "auto"
    return [(Path(p), formats.get(os.path.normpath(str(p)), "auto")) for p in dumps]


def run(inputs: dict[str, Any], outputs: dict[str, str], params: Mapping[str, Any], log: logging.Logger) -> dict:
    dumps = dump_list(inputs, _param(params, "ingest.dumps"))
    settings = settings_from_params(params)
    store = Path(outputs["media_store"])
    result = ingest_dumps(dumps, store, settings, log=log)
    write_parquet(result.posts, outputs["posts"], POSTS, name="posts")
    write_parquet(result.media, outputs["media"], MEDIA, name="media")
    write_parquet(result.quarantine, outputs["quarantine"], QUARANTINE, name="quarantine")
    log.info(
        "wrote %d posts, %d media rows (%d images in %s), %d quarantined",
        result.posts.height,
        result.media.height,
        result.summary["media"]["distinct_images"],
        store,
        result.quarantine.height,
    )
    return result.summary
