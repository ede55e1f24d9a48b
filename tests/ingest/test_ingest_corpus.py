"""Ingest of the real awesome-gpt4o-images dump (Twitter API v2 pages + pre-fetched media)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from echo_bench.ingest import IngestSettings, ingest_dumps
from echo_bench.schemas import MEDIA, POSTS, QUARANTINE, conform

TWITTER_EPOCH_MS = 1288834974657


def snowflake_time(post_id: str) -> datetime:
    ms = (int(post_id) >> 22) + TWITTER_EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, timezone.utc)


@pytest.fixture(scope="module")
def corpus_result(gpt4o_corpus: Path, tmp_path_factory: pytest.TempPathFactory):
    store = tmp_path_factory.mktemp("store") / "media"
    # the pages live in tweets/, their media urls ("media/...") in a media/ folder next to it
    result = ingest_dumps([(gpt4o_corpus / "tweets", "auto")], store, IngestSettings(workers=2))
    truth = [json.loads(line) for line in (gpt4o_corpus / "truth.jsonl").read_text().splitlines() if line.strip()]
    return result, truth, store


def test_all_root_posts_ingested_with_snowflake_times(corpus_result) -> None:
    result, truth, _ = corpus_result
    posts = result.posts
    conform(posts, POSTS)
    assert len(truth) == 94
    by_id = {r["post_id"]: r for r in posts.iter_rows(named=True)}
    for case in truth:
        row = by_id.get(case["post_id"])
        assert row is not None, f"root post {case['post_id']} missing"
        assert row["created_at"].tzinfo is not None and row["created_at"].utcoffset().total_seconds() == 0
        decoded = snowflake_time(case["post_id"])
        # v2 created_at has whole seconds; the snowflake keeps the milliseconds
        assert row["created_at"] == decoded.replace(microsecond=0), case["post_id"]
        assert row["parent_id"] is None
        assert row["conversation_id"] == case["post_id"]
        assert row["author_handle"] == case["author"]
        assert row["source_format"] == "twitter_v2"
    assert result.quarantine.height == 0
    assert result.summary["unknown_fields"] == {}


def test_usage_note_replies_point_at_their_root(corpus_result) -> None:
    result, truth, _ = corpus_result
    roots = {c["post_id"]: c for c in truth}
    posts = result.posts
    replies = posts.filter(pl.col("parent_id").is_not_null())
    assert replies.height == posts.height - len(roots) == 51
    for row in replies.iter_rows(named=True):
        assert row["parent_id"] in roots, row["post_id"]
        assert row["conversation_id"] == row["parent_id"]
        assert row["author_handle"] == roots[row["parent_id"]]["author"]  # the author's own note
        assert row["created_at"] >= posts.filter(pl.col("post_id") == row["parent_id"])["created_at"][0]


def test_all_media_found_and_stored_by_content(corpus_result) -> None:
    result, truth, store = corpus_result
    media = result.media
    conform(media, MEDIA)
    conform(result.quarantine, QUARANTINE)
    with_image = {c["post_id"] for c in truth if c["has_output_image"]}
    assert media.height == 94
    assert set(media["post_id"]) >= with_image
    assert media["status"].to_list() == ["ok"] * media.height
    for row in media.iter_rows(named=True):
        name = f"{row['sha256']}.jpg"
        assert row["path"] == f"{store.as_posix()}/{name}"
        assert (store / name).stat().st_size == row["bytes"]
        assert max(row["width"], row["height"]) == 640
    # posts are sorted by (created_at, post_id); media follow the posts' order
    assert result.posts.select(["created_at", "post_id"]).equals(
        result.posts.select(["created_at", "post_id"]).sort(["created_at", "post_id"])
    )


def test_corpus_root_as_dump_quarantines_only_the_truth_file(gpt4o_corpus: Path) -> None:
    result = ingest_dumps([(gpt4o_corpus, "auto")], None, IngestSettings(workers=2))
    assert result.posts.height == 145
    assert result.quarantine.select("reason", "source_file").rows() == [("unknown_format", "truth.jsonl")]
    assert result.summary["files_by_format"] == {"twitter_v2": 4, "unknown_format": 1}
    assert result.media["path"].null_count() == result.media.height  # no store given, nothing written
    assert (result.media["status"] == "ok").all()
