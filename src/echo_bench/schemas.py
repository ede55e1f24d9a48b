"""Explicit polars schemas of the tables that pass between stages.

Every stage reads and writes Parquet through :mod:`echo_bench.io`, which checks
frames against these schemas, so a stage can rely on the columns and types of
its inputs.  The column meanings are documented in ``docs/schemas.md``.
"""

from __future__ import annotations

import polars as pl

UTC_TIME = pl.Datetime("us", "UTC")

# --- ingest -----------------------------------------------------------------

#: One row per post of a raw dump, whatever its source format.
POSTS = pl.Schema(
    {
        "post_id": pl.Utf8,
        "conversation_id": pl.Utf8,  # root of the reply tree (== post_id for roots)
        "parent_id": pl.Utf8,  # the post this one replies to, null for roots
        "quoted_id": pl.Utf8,  # the post this one quotes, if any
        "retweet_of_id": pl.Utf8,  # the post this one retweets, if any
        "author_id": pl.Utf8,
        "author_handle": pl.Utf8,
        "created_at": UTC_TIME,
        "text": pl.Utf8,
        "lang": pl.Utf8,
        "media_keys": pl.List(pl.Utf8),
        "like_count": pl.Int64,
        "retweet_count": pl.Int64,
        "reply_count": pl.Int64,
        "quote_count": pl.Int64,
        "source_format": pl.Utf8,  # twitter_v2 | twscrape | snscrape
        "source_file": pl.Utf8,  # path of the dump file, relative to the dump root
        "source_record": pl.Utf8,  # locator inside the file (line or data index)
    }
)

#: One row per media reference of a post, with the local file it resolved to.
MEDIA = pl.Schema(
    {
        "media_key": pl.Utf8,
        "post_id": pl.Utf8,
        "position": pl.Int32,  # order of the image in its post
        "type": pl.Utf8,  # photo | video | animated_gif
        "source_url": pl.Utf8,  # url or relative path as written in the dump
        "status": pl.Utf8,  # ok | missing | corrupt | rejected | skipped
        "reason": pl.Utf8,  # why status is not ok, else null
        "sha256": pl.Utf8,  # content hash of the normalized file
        "path": pl.Utf8,  # content-addressed file under the media store
        "width": pl.Int32,
        "height": pl.Int32,
        "bytes": pl.Int64,
        "duplicate_of": pl.Utf8,  # first media_key with the same sha256, if any
    }
)

#: Anything a stage could not use, with the reason.  Nothing is dropped silently.
QUARANTINE = pl.Schema(
    {
        "stage": pl.Utf8,
        "source_file": pl.Utf8,
        "source_record": pl.Utf8,
        "reason": pl.Utf8,  # a short machine-readable code, e.g. bad_json
        "detail": pl.Utf8,  # human-readable explanation
        "raw": pl.Utf8,  # the offending record, truncated
    }
)

# --- collect ----------------------------------------------------------------

#: Posts that match the broad keyword query, with the words that matched.
QUERIED = pl.Schema({**POSTS, "matched_keywords": pl.List(pl.Utf8)})

# --- threads ----------------------------------------------------------------

#: One row per post placed in a reply tree.
THREAD_POSTS = pl.Schema(
    {
        "thread_id": pl.Utf8,  # post_id of the tree's root
        "post_id": pl.Utf8,
        "parent_id": pl.Utf8,  # parent inside the tree, null for the root
        "depth": pl.Int32,  # 0 for the root
        "position": pl.Int32,  # pre-order position inside the tree
    }
)

#: One row per reply tree: the context document the LLM stages read.
THREADS = pl.Schema(
    {
        "thread_id": pl.Utf8,
        "conversation_id": pl.Utf8,
        "root_author": pl.Utf8,
        "created_at": UTC_TIME,
        "n_posts": pl.Int32,
        "n_media": pl.Int32,
        "max_depth": pl.Int32,
        "is_orphan": pl.Boolean,  # root's parent is missing from the dump
        "truncated": pl.Boolean,  # depth or size cap cut the tree
        "post_ids": pl.List(pl.Utf8),  # pre-order
        "media_keys": pl.List(pl.Utf8),  # pre-order, images of all posts
        "document": pl.Utf8,  # the tree rendered as text for the LLM stages
    }
)


# --- curation: the benchmark splits -----------------------------------------
# Image references are repo-relative paths of content-addressed files: the file
# stem is the sha256 of the file's bytes (e.g. data/media/3f2a....jpg).

FEEDBACK_ITEM = pl.Struct({"post_id": pl.Utf8, "text": pl.Utf8})

#: One row per sample of a split (analysis, text_to_image, image_to_image).
SAMPLES = pl.Schema(
    {
        "sample_id": pl.Utf8,  # stable: hash of thread id and sample index
        "split": pl.Utf8,  # analysis | text_to_image | image_to_image
        "thread_id": pl.Utf8,
        "created_at": UTC_TIME,  # time of the thread's root post
        "lang": pl.Utf8,
        "prompt": pl.Utf8,
        "prompt_modified": pl.Boolean,  # stitched, filled or rewritten, not verbatim
        "task_type": pl.Utf8,  # text_to_image | edit | multi_image
        "input_images": pl.List(pl.Utf8),  # what the model is given
        "reference_outputs": pl.List(pl.Utf8),  # what the community's model produced
        "quality": pl.Utf8,  # Benchmark | Analysis | Trash (extraction)
        "label": pl.Utf8,  # Benchmark | Manual Review | Discard (finalize)
        "feedback": pl.List(FEEDBACK_ITEM),  # community replies judging the result
        "producer": pl.Utf8,  # backend/model that made the sample, e.g. offline-heuristic
    }
)

# --- generation ---------------------------------------------------------------

#: One row per (split, model, sample): what the model produced, or why not.
GENERATIONS = pl.Schema(
    {
        "split": pl.Utf8,
        "model": pl.Utf8,
        "sample_id": pl.Utf8,
        "status": pl.Utf8,  # ok | refused | failed | timeout | missing
        "reason": pl.Utf8,
        "output_image": pl.Utf8,  # repo-relative path, null unless ok
        "sha256": pl.Utf8,
        "backend": pl.Utf8,  # control | openai | openai_compatible | diffusers | import
        "seed": pl.Int64,
        "latency_s": pl.Float64,
        "cost_usd": pl.Float64,
        "settings": pl.Utf8,  # JSON of the generation settings used
    }
)

# --- judging --------------------------------------------------------------------

#: One row per (split, sample, model, judge, repeat): verbatim judgment and its score.
JUDGMENTS = pl.Schema(
    {
        "split": pl.Utf8,
        "sample_id": pl.Utf8,
        "model": pl.Utf8,
        "judge": pl.Utf8,  # the judge's name in params
        "backend": pl.Utf8,  # openai | anthropic | offline
        "template": pl.Utf8,  # template name and version
        "repeat": pl.Int32,
        "raw": pl.Utf8,  # the judge's reply, verbatim
        "score": pl.Float64,  # parsed 1-10 rating, null if it could not be parsed
        "status": pl.Utf8,  # ok | parse_failed | call_failed | no_output
        "error": pl.Utf8,
        "rating_form": pl.Utf8,  # which verdict spelling was parsed (judge/grading.py FORMS), null if none
        "rejected": pl.Utf8,  # JSON list of the replies the parser rejected: [{attempt, error, text}], null if none
        # judge identity (echo_bench.judge.identity)
        "judge_model": pl.Utf8,  # the model string sent
        "judge_model_reported": pl.Utf8,  # the model the provider reported (the heuristic's name offline)
        "prompt_sha256": pl.Utf8,  # SHA-256 of the rendered prompt, system + "\0" + user
        "cache_key": pl.Utf8,  # content address of the verbatim reply in the response cache
    }
)

# --- metrics ----------------------------------------------------------------------

#: One row per (split, model, sample, metric).
METRIC_VALUES = pl.Schema(
    {
        "split": pl.Utf8,
        "model": pl.Utf8,
        "sample_id": pl.Utf8,
        "metric": pl.Utf8,  # color_shift | face_identity | structure_distance | text_accuracy | ...
        "value": pl.Float64,  # null when status is not ok
        "status": pl.Utf8,  # ok | not_applicable | no_face | no_output | failed
        "detail": pl.Utf8,  # JSON with the extra numbers of the metric
    }
)


def empty(schema: pl.Schema) -> pl.DataFrame:
    """An empty frame with ``schema``."""
    return pl.DataFrame(schema=schema)


def conform(df: pl.DataFrame, schema: pl.Schema, *, name: str = "table") -> pl.DataFrame:
    """Return ``df`` with exactly the columns of ``schema`` in order and type.

    Missing columns are an error (a stage must fill every column, with nulls if
    it has nothing); extra columns are an error too, so schemas stay explicit.
    """
    missing = [c for c in schema if c not in df.columns]
    extra = [c for c in df.columns if c not in schema]
    if missing or extra:
        raise ValueError(f"{name}: columns do not match its schema (missing {missing}, extra {extra})")
    return df.select([pl.col(c).cast(t, strict=True) for c, t in schema.items()])
