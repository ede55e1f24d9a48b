"""Relevance: a 1-5 score per queried post, and the threads worth extracting.

Which posts are scored: every thread's root, and every post of the thread that
matched a query keyword (``matched_keywords`` not empty).  Context posts pulled
in only because they sit in a hit's conversation are not scored: they are read
later, as part of their thread.

A thread is kept when ``keep_if`` is ``any`` and any of its scored posts, or
when it is ``root`` and its root, scores at least ``threshold``.  A failed reply
leaves its post unscored (``status = failed``, quarantined with the reason); a
thread whose scored posts all failed is not kept and is counted as
``threads_unscored``.

The offline backend is :func:`offline_score` (rules R1-R8 in docs/curation.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from echo_bench.curate.common import backend_info, producer_of, quarantine_failed, truncate
from echo_bench.curate.heuristics import (
    COINCIDENCE_WORDS,
    DEFAULT_NAMES,
    GENERATION_WORDS,
    IMAGE_WORDS,
    ModelNames,
    find_terms,
    long_plain_text,
    looks_like_prompt,
)
from echo_bench.curate.tables import RELEVANCE_SCORES
from echo_bench.quarantine import Quarantine
from echo_bench.schemas import THREADS

STEP = "relevance"
TEMPLATE = "relevance"

#: The reply every backend must give (same fields as the template's reply_schema).
REPLY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["score", "reason"],
    "properties": {
        "score": {"type": "integer", "minimum": 1, "maximum": 5},
        "reason": {"type": "string"},
    },
}
KEEP_RULES = ("any", "root")


@dataclass(frozen=True)
class RelevanceSettings:
    """``relevance.*`` of params.yaml (keyword defaults for tests only)."""

    model_of_interest: str = "GPT-4o image generation"
    threshold: int = 4
    keep_if: str = "any"
    context_chars: int = 400
    names: ModelNames = DEFAULT_NAMES

    def __post_init__(self) -> None:
        if self.keep_if not in KEEP_RULES:
            raise ValueError(f"relevance.keep_if must be one of {KEEP_RULES}, not {self.keep_if!r}")
        if not 1 <= int(self.threshold) <= 5:
            raise ValueError("relevance.threshold must be in 1..5")


@dataclass
class RelevanceResult:
    scores: pl.DataFrame  # RELEVANCE_SCORES, sorted by (thread_id, post_id)
    kept_threads: pl.DataFrame  # THREADS rows kept, in input order
    quarantine: pl.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)


# --- offline rules ------------------------------------------------------------------


def offline_score(text: str, n_images: int, names: ModelNames = DEFAULT_NAMES) -> tuple[int, str]:
    """The offline relevance of one post: (score 1-5, reason naming the cues). Rules R1-R8."""
    text = text or ""
    strong = sorted(set(find_terms(text, names.strong)))
    weak = sorted(set(find_terms(text, names.weak)) - set(strong))
    others = sorted(set(find_terms(text, names.others)))
    image_words = sorted(set(find_terms(text, IMAGE_WORDS)))
    gen_words = sorted(set(find_terms(text, GENERATION_WORDS)))
    coincidence = sorted(set(find_terms(text, COINCIDENCE_WORDS)))
    # a bare prompt with an image: prompt-shaped by the word lists, or (any script) a long plain statement
    worded = looks_like_prompt(text, names.all)
    descriptive = not worded and n_images > 0 and long_plain_text(text, names.all)
    promptish = worded or descriptive
    imagery = bool(image_words) or n_images > 0
    generation = bool(gen_words) or promptish

    cues = []
    if strong:
        cues.append("names the model (" + ", ".join(strong) + ")")
    if weak:
        cues.append("short alias (" + ", ".join(weak) + ")")
    if image_words:
        cues.append("image words (" + ", ".join(image_words[:4]) + ")")
    if n_images:
        cues.append(f"{n_images} attached image(s)")
    if gen_words:
        cues.append("generation words (" + ", ".join(gen_words[:4]) + ")")
    if worded:
        cues.append("reads like a prompt")
    if descriptive:
        cues.append("descriptive text with an image (script-neutral)")
    if coincidence:
        cues.append("coincidence context (" + ", ".join(coincidence[:3]) + ")")
    if others:
        cues.append("other model (" + ", ".join(others) + ")")

    if strong:
        if imagery and generation:
            score, rule = 5, "R1"
        elif imagery or generation:
            score, rule = 4, "R2"
        else:
            score, rule = 2, "R3"
    elif weak:
        if coincidence and not image_words:
            score, rule = 1, "R4"
        elif imagery and generation:
            score, rule = 5 if image_words and gen_words else 4, "R5"
        elif imagery:
            score, rule = 4, "R5"
        elif generation:
            score, rule = 3, "R5"
        else:
            score, rule = 1 if coincidence else 2, "R4"
    else:
        if coincidence and not (promptish and n_images):
            score, rule = 1, "R6"
        elif promptish and imagery:
            score, rule = 3, "R7"
        elif imagery and generation:
            score, rule = 2, "R7"
        else:
            score, rule = 1, "R6"
    if others:
        score, rule = max(1, min(score - 2, 2 if imagery else 1)), rule + "+R8"
    reason = f"offline rules {rule}: " + ("; ".join(cues) if cues else "no cue")
    return score, reason


def make_offline(names: ModelNames) -> Callable[[Any], dict]:
    """The offline backend: reads ``post_text`` and ``_n_images`` of a relevance request."""

    def offline(request: Any) -> dict:
        text = str(request.variables.get("post_text") or "")
        n_images = int(request.variables.get("_n_images") or 0)
        score, reason = offline_score(text, n_images, names)
        return {"score": score, "reason": reason}

    return offline


# --- requests -----------------------------------------------------------------------


@dataclass(frozen=True)
class Scored:
    post_id: str
    thread_id: str
    is_root: bool
    text: str
    n_images: int
    context: str


def posts_to_score(queried: pl.DataFrame, threads: pl.DataFrame, settings: RelevanceSettings, q: Quarantine) -> list[Scored]:
    """The posts to score (roots and keyword hits), each with its context line."""
    cols = ["post_id", "text", "media_keys", "matched_keywords"]
    posts = queried.select([c for c in cols if c in queried.columns])
    if "matched_keywords" not in posts.columns:
        posts = posts.with_columns(pl.lit([], dtype=pl.List(pl.Utf8)).alias("matched_keywords"))
    info = {
        r[0]: (r[1] or "", len(r[2] or ()), bool(r[3]))
        for r in posts.select("post_id", "text", "media_keys", "matched_keywords").iter_rows()
    }
    out: list[Scored] = []
    for thread_id, post_ids, n_posts in threads.select("thread_id", "post_ids", "n_posts").iter_rows():
        post_ids = list(post_ids or [])
        if not post_ids:
            q.add("empty_thread", f"thread {thread_id} lists no posts", source_record=thread_id)
            continue
        root = post_ids[0]
        root_text = info.get(root, ("", 0, False))[0]
        for i, pid in enumerate(post_ids):
            got = info.get(pid)
            if got is None:
                if i == 0:
                    q.add("post_not_found", f"root {pid} of thread {thread_id} is not in queried", source_record=pid)
                continue
            text, n_images, hit = got
            if i > 0 and not hit:
                continue
            imgs = f"The post has {n_images} attached image{'s' if n_images != 1 else ''}."
            if i == 0:
                context = f"{imgs} It starts a thread of {int(n_posts or 1)} post{'s' if (n_posts or 1) != 1 else ''}."
            else:
                context = (
                    f"{imgs} It is a reply in a thread whose first post says:\n"
                    f"\"\"\"\n{truncate(root_text, settings.context_chars)}\n\"\"\""
                )
            out.append(Scored(pid, thread_id, i == 0, text, n_images, context))
    return out


def request_for(s: Scored, settings: RelevanceSettings) -> Any:
    from echo_bench.llm import LLMRequest

    return LLMRequest(
        TEMPLATE,
        {
            "model_of_interest": settings.model_of_interest,
            "post_text": s.text,
            "context": s.context,
            "_n_images": s.n_images,
        },
        json_schema=REPLY_SCHEMA,
        key=s.post_id,
    )


def score_threads(
    queried: pl.DataFrame,
    threads: pl.DataFrame,
    client: Any,
    settings: RelevanceSettings,
    *,
    log: logging.Logger | None = None,
) -> RelevanceResult:
    """Score the roots and keyword hits of ``threads`` and keep the relevant threads."""
    log = log or logging.getLogger("echo_bench.relevance")
    q = Quarantine(STEP)
    todo = posts_to_score(queried, threads, settings, q)
    replies = client.run([request_for(s, settings) for s in todo]) if todo else []
    rows: list[tuple] = []
    best: dict[str, int] = {}
    root_score: dict[str, int] = {}
    failed = 0
    for s, reply in zip(todo, replies, strict=True):
        if reply.ok and isinstance(reply.data, dict):
            score = int(reply.data["score"])
            rows.append((s.post_id, s.thread_id, score, str(reply.data.get("reason", "")), producer_of(reply, STEP), "ok"))
            best[s.thread_id] = max(best.get(s.thread_id, 0), score)
            if s.is_root:
                root_score[s.thread_id] = score
        else:
            failed += 1
            quarantine_failed(q, reply, what="relevance of post", key=s.post_id, raw=s.text)
            rows.append((s.post_id, s.thread_id, None, reply.error or "failed", producer_of(reply, STEP), "failed"))
    scores = pl.DataFrame(rows, schema=RELEVANCE_SCORES, orient="row").sort(["thread_id", "post_id"])
    decide = best if settings.keep_if == "any" else root_score
    keep_ids = [t for t, v in decide.items() if v >= settings.threshold]
    kept = threads.filter(pl.col("thread_id").is_in(keep_ids))
    thread_ids = threads["thread_id"].to_list()
    unscored = [t for t in thread_ids if t not in decide]
    hist = {str(k): 0 for k in range(1, 6)}
    for r in rows:
        if r[2] is not None:
            hist[str(r[2])] += 1
    thread_hist = {str(k): 0 for k in range(1, 6)}
    for v in decide.values():
        thread_hist[str(v)] += 1
    summary = {
        "threads_read": threads.height,
        "posts_scored": len(todo),
        "posts_failed": failed,
        "score_histogram": hist,
        "thread_score_histogram": thread_hist,
        "threshold": settings.threshold,
        "keep_if": settings.keep_if,
        "threads_kept": kept.height,
        "threads_dropped_low_score": len(decide) - len(keep_ids),
        "threads_unscored": len(unscored),
        "quarantined": len(q),
        "quarantine_reasons": q.counts(),
        "backends": {STEP: backend_info(client, STEP)},
        "llm_usage": {STEP: client.usage()},
    }
    log.info(
        "relevance: %d threads, %d posts scored (%d failed); kept %d threads with score >= %d (%s), dropped %d, %d unscored",
        threads.height, len(todo), failed, kept.height, settings.threshold, settings.keep_if,
        summary["threads_dropped_low_score"], len(unscored),
    )
    return RelevanceResult(scores=scores, kept_threads=kept.select(list(THREADS)), quarantine=q.frame(), summary=summary)


def settings_from_params(params: Any, names: ModelNames) -> RelevanceSettings:
    return RelevanceSettings(
        model_of_interest=str(params["model_of_interest"]),
        threshold=int(params["relevance.threshold"]),
        keep_if=str(params["relevance.keep_if"]),
        context_chars=int(params["relevance.context_chars"]),
        names=names,
    )


def names_from_params(params: Any) -> ModelNames:
    return ModelNames.from_params(params["model_aliases"], params["other_models"])


__all__ = [
    "REPLY_SCHEMA",
    "RelevanceResult",
    "RelevanceSettings",
    "make_offline",
    "names_from_params",
    "offline_score",
    "score_threads",
    "settings_from_params",
]
