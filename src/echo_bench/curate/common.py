"""What the curation steps share: producer names, clients from params, failed replies."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from echo_bench.curate.heuristics import RULES_VERSION
from echo_bench.quarantine import RAW_LIMIT, Quarantine

#: A stage's failure policy when its params block names none: any failed request fails the stage.
DEFAULT_MAX_FAILED_SHARE = 0.0


def producer_of(reply: Any, step: str) -> str:
    """``offline-heuristic/<step>-v1`` for the offline backend, ``<backend>:<model>`` otherwise."""
    if reply.backend == "offline":
        return f"offline-heuristic/{step}-{RULES_VERSION}"
    return f"{reply.backend}:{reply.model}"


def client_producer(client: Any, step: str) -> str:
    if getattr(client, "backend_name", "") == "offline":
        return f"offline-heuristic/{step}-{RULES_VERSION}"
    return f"{getattr(client, 'backend_name', '?')}:{getattr(client, 'model', '?')}"


def backend_info(client: Any, step: str) -> dict[str, str]:
    return {
        "backend": str(getattr(client, "backend_name", "?")),
        "model": str(getattr(client, "model", "?")),
        "producer": client_producer(client, step),
    }


def quarantine_failed(q: Quarantine, reply: Any, *, what: str, key: str, raw: Any = "") -> None:
    """A failed reply (``ok=False``) as a quarantine row: reason ``llm_<code>``, the error as detail.

    ``raw`` is the input; when the model replied but every reply was rejected,
    ``raw`` is JSON ``{"input": ..., "rejected_replies": [{"attempt", "error", "text"}, ...]}``
    with each reply verbatim (not truncated), so what was paid for is kept.
    """
    code = (reply.error or "unknown: no error given").split(":", 1)[0].strip() or "unknown"
    text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False, default=str, sort_keys=True)
    rejected = list(getattr(reply, "rejected", ()) or ())
    limit: int | None = RAW_LIMIT
    if rejected:
        text = json.dumps({"input": text, "rejected_replies": rejected}, ensure_ascii=False, sort_keys=True)
        limit = None  # the replies verbatim
    q.add(
        f"llm_{code}",
        f"{what} {key}: {reply.error} (backend {reply.backend}, model {reply.model}, template {reply.template}, "
        f"attempts {reply.attempts}, rejected replies {len(rejected)})",
        source_record=key,
        raw=text,
        raw_limit=limit,
    )


def make_stage_client(
    params: Mapping[str, Any],
    section: str,
    cache_dir: str,
    offline: Callable[[Any], Any],
    log: logging.Logger,
) -> Any:
    """The LLM client of a stage from ``<section>.llm`` (and ``llm.prices`` when the rule declares it).

    Its failure policy is ``<section>.max_failed_share`` (default
    :data:`DEFAULT_MAX_FAILED_SHARE`): a run with a larger share of failed
    requests, or a failed preflight, stops the stage (docs/llm.md).
    """
    from echo_bench.llm import make_client  # the LLM layer; imported late so the heuristics load without it

    cfg = dict(params[f"{section}.llm"])
    getter = params.get if hasattr(params, "get") else (lambda _k, d=None: d)
    prices = getter("llm.prices")
    share = getter(f"{section}.max_failed_share", DEFAULT_MAX_FAILED_SHARE)
    return make_client(
        cfg, cache_dir=cache_dir, offline=offline, prices=prices, log=log, stage=section, max_failed_share=share
    )


def sample_id(thread_id: str, index: int) -> str:
    """Stable id of the ``index``-th sample of a thread."""
    return hashlib.sha256(f"{thread_id}:{index}".encode()).hexdigest()[:16]


def truncate(text: str | None, n: int) -> str:
    s = text or ""
    return s if len(s) <= n else s[: n - 1] + "…"
