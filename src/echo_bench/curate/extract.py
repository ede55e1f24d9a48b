"""Extraction: the samples of each kept reply tree.

An LLM (template ``extract_samples``) reads the thread document and lists the
samples in it; the offline backend (:func:`offline_extract`, rules E0-E8 in
docs/curation.md) finds at most one sample per thread from the thread's posts.
Replies of either backend go through the same checks (:func:`candidates_from_reply`):

* ``image_post_ids`` and feedback ``post_id`` values must be posts of the
  thread; others are left out and quarantined (``unknown_post_id``), never
  silently dropped;
* feedback text is the post's text from the dump (verbatim), not the reply's
  copy of it;
* ``images`` are the usable photos (``MEDIA.status = ok``, ``type = photo``) of
  the image posts, post order first, then position in the post; the others are
  counted in ``n_missing_images``.

A failed reply becomes a quarantine row (``llm_<code>``) and its thread yields
no candidate (counted as ``threads_failed``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from echo_bench.curate.common import backend_info, producer_of, quarantine_failed, sample_id, truncate
from echo_bench.curate.heuristics import (
    DEFAULT_NAMES,
    ModelNames,
    find_prompt,
    find_terms,
    has_term,
    is_feedback,
    n_words,
    says_prompt_below,
    strip_quotes,
    strip_trailing_tags,
)
from echo_bench.curate.tables import CANDIDATES
from echo_bench.quarantine import Quarantine

STEP = "extract"
TEMPLATE = "extract_samples"
QUALITIES = ("Benchmark", "Analysis", "Trash")

#: The reply every backend must give (same fields as the template's reply_schema).
REPLY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["samples"],
    "properties": {
        "samples": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["prompt", "prompt_modified", "image_post_ids", "quality", "feedback"],
                "properties": {
                    "prompt": {"type": "string"},
                    "prompt_modified": {"type": "boolean"},
                    "image_post_ids": {"type": "array", "items": {"type": "string"}},
                    "quality": {"enum": list(QUALITIES)},
                    "feedback": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["post_id", "text"],
                            "properties": {"post_id": {"type": "string"}, "text": {"type": "string"}},
                        },
                    },
                    "notes": {"type": "string"},
                },
            },
        }
    },
}


@dataclass(frozen=True)
class Post:
    post_id: str
    author: str  # author_id, else handle
    depth: int
    parent_id: str | None
    text: str
    n_media: int
    images: tuple[str, ...]  # usable photo paths, by position
    n_unusable: int  # media of the post that are not usable photos


@dataclass(frozen=True)
class Thread:
    thread_id: str
    created_at: Any
    lang: str | None
    document: str
    posts: tuple[Post, ...]  # pre-order; posts[0] is the root

    @property
    def root(self) -> Post:
        return self.posts[0]


@dataclass(frozen=True)
class ExtractSettings:
    model_of_interest: str = "GPT-4o image generation"
    names: ModelNames = DEFAULT_NAMES


@dataclass
class ExtractResult:
    candidates: pl.DataFrame  # CANDIDATES, sorted by (created_at, thread_id, sample_index)
    quarantine: pl.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)


# --- assembling threads -----------------------------------------------------------------


def build_threads(
    kept_threads: pl.DataFrame,
    thread_posts: pl.DataFrame,
    queried: pl.DataFrame,
    media: pl.DataFrame,
    q: Quarantine,
) -> list[Thread]:
    """Structured threads (posts in pre-order, their usable photos) for the kept thread ids."""
    ids = kept_threads["thread_id"].to_list()
    tp = thread_posts.filter(pl.col("thread_id").is_in(ids)).sort(["thread_id", "position"])
    need = set(tp["post_id"].to_list()) | {p for lst in kept_threads["post_ids"].to_list() for p in (lst or [])}
    qcols = ["post_id", "author_id", "author_handle", "text", "lang", "media_keys"]
    posts = {
        r[0]: r
        for r in queried.filter(pl.col("post_id").is_in(list(need))).select(qcols).unique("post_id", keep="first").iter_rows()
    }
    mcols = ["media_key", "post_id", "position", "type", "status", "path"]
    med = media.filter(pl.col("post_id").is_in(list(need))).select(mcols).sort(["post_id", "position", "media_key"])
    usable: dict[str, list[str]] = {}
    unusable: dict[str, int] = {}
    for _, pid, _, typ, status, path in med.iter_rows():
        if status == "ok" and typ == "photo" and path:
            usable.setdefault(pid, []).append(path)
        else:
            unusable[pid] = unusable.get(pid, 0) + 1
    placed: dict[str, list[tuple[str, int, str | None]]] = {}
    for tid, pid, parent, depth in tp.select("thread_id", "post_id", "parent_id", "depth").iter_rows():
        placed.setdefault(tid, []).append((pid, int(depth), parent))
    out: list[Thread] = []
    for tid, post_ids, created_at, document in kept_threads.select(
        "thread_id", "post_ids", "created_at", "document"
    ).iter_rows():
        layout = placed.get(tid)
        if not layout:  # no thread_posts rows: fall back to the thread's own list, all replies under the root
            post_ids = list(post_ids or [])
            if not post_ids:
                q.add("empty_thread", f"thread {tid} has no posts", source_record=tid)
                continue
            q.add("thread_posts_missing", f"thread {tid} has no thread_posts rows; replies taken as direct replies",
                  source_record=tid)
            layout = [(post_ids[0], 0, None)] + [(p, 1, post_ids[0]) for p in post_ids[1:]]
        views = []
        for pid, depth, parent in layout:
            row = posts.get(pid)
            if row is None:
                q.add("post_not_found", f"post {pid} of thread {tid} is not in queried", source_record=pid)
                if depth == 0:
                    break
                continue
            _, author_id, handle, text, _, keys = row
            n_media = len(keys or ())
            imgs = tuple(usable.get(pid, ()))
            n_bad = max(n_media - len(imgs), unusable.get(pid, 0))
            views.append(Post(pid, author_id or handle or "", depth, parent, text or "", n_media, imgs, n_bad))
        if not views or views[0].depth != 0:
            q.add("root_missing", f"thread {tid}: its root post is missing", source_record=tid)
            continue
        root_row = posts.get(views[0].post_id)
        out.append(Thread(tid, created_at, root_row[4] if root_row else None, document or "", tuple(views)))
    return out


# --- offline rules -------------------------------------------------------------------------


def _reply_prompt(post: Post, names: ModelNames) -> tuple[str, str] | None:
    """The prompt in a self-reply under a "prompt below" root (rule E6)."""
    found = find_prompt(post.text, names.all)
    if found:
        return found.text, f"reply-{found.rule}"
    text = strip_quotes(strip_trailing_tags(post.text))
    if n_words(text) >= 5 and not says_prompt_below(text) and not text.endswith("?"):
        return text, "reply-whole"
    return None


_PART_RE = re.compile(r"\(\s*(\d{1,2})\s*/\s*(\d{1,2})\s*\)|^\s*(\d{1,2})\s*/\s*(\d{1,2})(?!\d)")


def part_of(text: str) -> tuple[int, int] | None:
    """``(k, n)`` of a "(k/n)" or leading "k/n" part marker, or None."""
    m = _PART_RE.search(text or "")
    if not m:
        return None
    k, n = (int(g) for g in (m.groups()[:2] if m.group(1) else m.groups()[2:]))
    return (k, n) if 1 <= k <= n <= 20 and n > 1 else None


def strip_part(text: str) -> str:
    return _PART_RE.sub(" ", text, count=1).strip()


def stitch(first: str, start: Post, own: Sequence[Post]) -> tuple[str, list[Post]] | None:
    """Rule E6b: a prompt split over the author's posts marked (1/n), (2/n), ... -> the parts joined."""
    mark = part_of(start.text)
    if mark is None or mark[0] != 1:
        return None
    n = mark[1]
    parts, posts = [first.strip()], []
    for k in range(2, n + 1):
        nxt = next((p for p in own if p is not start and p not in posts and part_of(p.text) == (k, n)), None)
        if nxt is None:
            return None
        posts.append(nxt)
        parts.append(strip_quotes(strip_trailing_tags(strip_part(nxt.text))))
    return " ".join(x for x in parts if x), posts


def offline_extract(thread: Thread, names: ModelNames = DEFAULT_NAMES) -> dict:
    """The offline extraction of one thread: ``{"samples": [...]}`` with at most one sample (E0-E8)."""
    root = thread.root
    own = [p for p in thread.posts[1:] if p.author == root.author]
    prompt: str | None = None
    rule = ""
    prompt_post = None
    # E6: "prompt below" -> the author's first direct reply that holds a prompt
    if says_prompt_below(root.text):
        for p in own:
            if p.depth != 1:
                continue
            got = _reply_prompt(p, names)
            if got:
                prompt, rule = got
                prompt_post = p
                break
    if prompt is None:  # E1-E5 on the root's own text
        found = find_prompt(root.text, names.all)
        if found:
            prompt, rule = found.text, found.rule
            prompt_post = root
    modified = False
    if prompt is not None and prompt_post is not None:
        stitched = stitch(strip_part(prompt) if part_of(prompt) else prompt, prompt_post, own)
        if stitched is not None:
            prompt, _ = stitched
            rule, modified = rule + "+stitched", True
    # E8: image posts: the root, the prompt reply, then the author's other replies with images
    image_posts = [root] if root.n_media else []
    if prompt_post is not None and prompt_post is not root and prompt_post.n_media:
        image_posts.append(prompt_post)
    image_posts += [p for p in own if p.n_media and p not in image_posts]
    # E7: feedback = replies of other authors with a judging word
    feedback = [
        {"post_id": p.post_id, "text": p.text}
        for p in thread.posts[1:]
        if p.author != root.author and is_feedback(p.text)
    ]
    author_text = "\n".join([root.text] + [p.text for p in own])
    others = sorted(set(find_terms(author_text, names.others)))
    names_model = has_term("\n".join(p.text for p in thread.posts), names.all)
    if others:  # E0
        quality, why = "Trash", f"another model is named by the author ({', '.join(others)})"
    elif prompt is not None:
        quality, why = "Benchmark", f"prompt by rule {rule}"
    elif names_model or image_posts:
        quality, why = "Analysis", "no prompt found: commentary or a question about the model"
    else:
        quality, why = "Trash", "no prompt, no image and the model is not named"
    if prompt is None:
        prompt = strip_trailing_tags(root.text)
        rule = "none"
    return {
        "samples": [
            {
                "prompt": prompt,
                "prompt_modified": modified,
                "image_post_ids": [p.post_id for p in image_posts],
                "quality": quality,
                "feedback": feedback,
                "notes": f"offline rule {rule}; {why}",
            }
        ]
    }


def make_offline(threads: Mapping[str, Thread], names: ModelNames) -> Callable[[Any], dict]:
    """The offline backend: looks the request's thread up by its key (the thread id)."""

    def offline(request: Any) -> dict:
        return offline_extract(threads[request.key], names)

    return offline


# --- replies -> candidates -----------------------------------------------------------------


def candidates_from_reply(thread: Thread, data: Mapping[str, Any], producer: str, q: Quarantine) -> list[dict]:
    """Candidate rows of one thread from a valid reply (see the module docstring for the checks)."""
    by_id = {p.post_id: p for p in thread.posts}
    rows = []
    for index, s in enumerate(data.get("samples") or []):
        sid = sample_id(thread.thread_id, index)
        image_posts: list[Post] = []
        for pid in s.get("image_post_ids") or []:
            p = by_id.get(str(pid))
            if p is None:
                q.add("unknown_post_id", f"sample {sid} of thread {thread.thread_id}: image post {pid} is not in the thread",
                      source_record=sid, raw=str(pid))
            elif p not in image_posts:
                image_posts.append(p)
        feedback = []
        seen = set()
        for item in s.get("feedback") or []:
            pid = str(item.get("post_id"))
            p = by_id.get(pid)
            if p is None:
                q.add("unknown_post_id", f"sample {sid} of thread {thread.thread_id}: feedback post {pid} is not in the thread",
                      source_record=sid, raw=truncate(str(item.get("text", "")), 500))
            elif pid not in seen:
                seen.add(pid)
                feedback.append({"post_id": pid, "text": p.text})
        images, of = [], []
        for p in image_posts:
            images += list(p.images)
            of += [p.post_id] * len(p.images)
        rows.append(
            {
                "sample_id": sid,
                "thread_id": thread.thread_id,
                "sample_index": index,
                "created_at": thread.created_at,
                "lang": thread.lang,
                "prompt": str(s.get("prompt") or "").strip(),
                "prompt_modified": bool(s.get("prompt_modified")),
                "image_posts": [p.post_id for p in image_posts],
                "image_post_texts": [p.text for p in image_posts],
                "images": images,
                "image_post_of": of,
                "n_missing_images": sum(p.n_unusable for p in image_posts),
                "quality": str(s.get("quality")),
                "feedback": feedback,
                "notes": str(s.get("notes") or ""),
                "producer": producer,
            }
        )
    return rows


def request_for(thread: Thread, settings: ExtractSettings) -> Any:
    from echo_bench.llm import LLMRequest

    return LLMRequest(
        TEMPLATE,
        {"model_of_interest": settings.model_of_interest, "thread_document": thread.document},
        json_schema=REPLY_SCHEMA,
        key=thread.thread_id,
    )


def extract_samples(
    threads: list[Thread],
    client: Any,
    settings: ExtractSettings,
    q: Quarantine,
    *,
    log: logging.Logger | None = None,
) -> ExtractResult:
    """Candidates of ``threads`` through ``client`` (whose offline backend is :func:`make_offline`)."""
    log = log or logging.getLogger("echo_bench.extract")
    replies = client.run([request_for(t, settings) for t in threads]) if threads else []
    rows: list[dict] = []
    failed = empty = 0
    for t, reply in zip(threads, replies, strict=True):
        if not reply.ok or not isinstance(reply.data, Mapping):
            failed += 1
            quarantine_failed(q, reply, what="extraction of thread", key=t.thread_id, raw=reply.text or t.document[:2000])
            continue
        got = candidates_from_reply(t, reply.data, producer_of(reply, STEP), q)
        empty += not got
        rows += got
    cands = (pl.DataFrame(rows, schema=CANDIDATES) if rows else pl.DataFrame(schema=CANDIDATES)).sort(
        ["created_at", "thread_id", "sample_index"], nulls_last=True
    )
    by_quality = {k: 0 for k in QUALITIES}
    for r in rows:
        by_quality[r["quality"]] = by_quality.get(r["quality"], 0) + 1
    summary = {
        "threads_read": len(threads),
        "threads_failed": failed,
        "threads_without_samples": empty,
        "candidates": len(rows),
        "candidates_by_quality": by_quality,
        "candidates_with_images": sum(1 for r in rows if r["images"]),
        "candidates_with_feedback": sum(1 for r in rows if r["feedback"]),
        "feedback_items": sum(len(r["feedback"]) for r in rows),
        "missing_images": sum(r["n_missing_images"] for r in rows),
        "backends": {STEP: backend_info(client, STEP)},
        "llm_usage": {STEP: client.usage()},
    }
    log.info(
        "extract: %d threads -> %d candidates %s (%d threads failed, %d without samples)",
        len(threads), len(rows), by_quality, failed, empty,
    )
    return ExtractResult(cands, q.frame(), summary)


__all__ = [
    "REPLY_SCHEMA",
    "ExtractResult",
    "ExtractSettings",
    "Post",
    "Thread",
    "build_threads",
    "candidates_from_reply",
    "extract_samples",
    "make_offline",
    "offline_extract",
]
