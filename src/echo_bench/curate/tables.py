"""Schemas of the curation tables that are not in :mod:`echo_bench.schemas`.

The splits themselves use ``schemas.SAMPLES`` exactly; these are the tables
between the curation stages and the two curator queues.  Image references are
repo-relative paths of content-addressed files, as everywhere.
"""

from __future__ import annotations

import polars as pl

from echo_bench.schemas import FEEDBACK_ITEM, SAMPLES, UTC_TIME

STR_LIST = pl.List(pl.Utf8)

#: relevance: one row per scored post.
RELEVANCE_SCORES = pl.Schema(
    {
        "post_id": pl.Utf8,
        "thread_id": pl.Utf8,
        "score": pl.Int32,  # 1-5, null when the reply failed
        "reason": pl.Utf8,  # the model's one-sentence reason, or the error of a failed reply
        "producer": pl.Utf8,  # offline-heuristic/relevance-v1 | <backend>:<model>
        "status": pl.Utf8,  # ok | failed
    }
)

#: extract: one row per extracted sample.
CANDIDATES = pl.Schema(
    {
        "sample_id": pl.Utf8,  # sha256(thread_id:index)[:16]
        "thread_id": pl.Utf8,
        "sample_index": pl.Int32,  # order of the sample in its thread's reply
        "created_at": UTC_TIME,  # the thread root's time
        "lang": pl.Utf8,  # the thread root's language
        "prompt": pl.Utf8,
        "prompt_modified": pl.Boolean,
        "image_posts": STR_LIST,  # post ids, most important first
        "image_post_texts": STR_LIST,  # the text of each of those posts (captions for the image step)
        "images": STR_LIST,  # MEDIA.path of the usable photos of those posts, post order then position
        "image_post_of": STR_LIST,  # the post of each image (aligned with images)
        "n_missing_images": pl.Int32,  # media of those posts that are not usable photos (missing, video, ...)
        "quality": pl.Utf8,  # Benchmark | Analysis | Trash
        "feedback": pl.List(FEEDBACK_ITEM),
        "notes": pl.Utf8,  # which rule fired (offline) or the model's note
        "producer": pl.Utf8,
    }
)

#: multimodal: candidates with image roles, filled prompts and screenshot crops.
PROCESSED = pl.Schema(
    {
        **{k: v for k, v in CANDIDATES.items() if k != "producer"},
        "extracted_prompt": pl.Utf8,  # the prompt as extraction gave it
        "prompt_source": pl.Utf8,  # thread | filled | screenshot | none
        "input_images": STR_LIST,
        "reference_outputs": STR_LIST,
        "task_type": pl.Utf8,  # text_to_image | edit | multi_image
        "n_junk": pl.Int32,
        "n_duplicates": pl.Int32,
        "n_unclassified": pl.Int32,  # images the reply did not classify (left out)
        "screenshot": pl.Boolean,  # a chat screenshot was parsed
        "composite": pl.Boolean,  # a side-by-side composite was split
        "n_crops": pl.Int32,
        "blanks": STR_LIST,  # placeholders of a fill-in-the-blank prompt (before filling)
        "blanks_resolved": pl.Boolean,
        "mm_confidence": pl.Utf8,  # high | low (screenshot/composite parsing, blanks) | none (no images)
        "mm_status": pl.Utf8,  # ok | no_images | failed
        "mm_notes": pl.Utf8,
        "producer": pl.Utf8,  # extraction producer
        "mm_producer": pl.Utf8,
    }
)

#: finalize: the curator's queue (Manual Review) -- a SAMPLES row plus why.
REVIEW = pl.Schema({**SAMPLES, "reason": pl.Utf8})

#: finalize: samples in no split, with why (Trash, near-duplicate, failed replies, no prompt).
DISCARDED = pl.Schema({**SAMPLES, "reason": pl.Utf8, "duplicate_of": pl.Utf8})
