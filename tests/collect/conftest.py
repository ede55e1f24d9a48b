"""Small hand-made POSTS frames for the collect tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from echo_bench.schemas import POSTS

T0 = dt.datetime(2025, 4, 1, 12, 0, tzinfo=dt.UTC)


def make_post(
    post_id: str,
    text: str | None = "",
    *,
    parent: str | None = None,
    conv: str | None = None,
    minutes: float = 0,
    retweet_of: str | None = None,
    created_at: dt.datetime | str | None = "auto",
    media: list[str] | None = None,
    author: str = "alice",
) -> dict[str, Any]:
    """One POSTS row; conversation defaults to the post itself for roots, to the parent's for replies."""
    return {
        "post_id": post_id,
        "conversation_id": conv if conv is not None else (parent or post_id),
        "parent_id": parent,
        "quoted_id": None,
        "retweet_of_id": retweet_of,
        "author_id": f"id-{author}",
        "author_handle": author,
        "created_at": T0 + dt.timedelta(minutes=minutes) if created_at == "auto" else created_at,
        "text": text,
        "lang": "en",
        "media_keys": media or [],
        "like_count": 0,
        "retweet_count": 0,
        "reply_count": 0,
        "quote_count": 0,
        "source_format": "twitter_v2",
        "source_file": "page-0001.json",
        "source_record": f"data[{post_id}]",
    }


def make_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=POSTS, orient="row")


@pytest.fixture
def post():
    """``post(id, text, parent=..., conv=..., minutes=..., retweet_of=..., created_at=..., media=..., author=...)``."""
    return make_post


@pytest.fixture
def frame():
    """``frame(rows)``: a POSTS frame."""
    return make_frame


# --- the real corpus ---------------------------------------------------------------


def read_v2_pages(pages_dir) -> pl.DataFrame:
    """A tiny test-local reader of Twitter API v2 pages (for when echo_bench.ingest is not usable)."""
    import json

    rows = []
    for page in sorted(pages_dir.glob("*.json")):
        doc = json.loads(page.read_text(encoding="utf-8"))
        handles = {u["id"]: u["username"] for u in doc.get("includes", {}).get("users", [])}
        for i, t in enumerate(doc.get("data", [])):
            refs = {r["type"]: r["id"] for r in t.get("referenced_tweets", [])}
            m = t.get("public_metrics", {})
            rows.append(
                {
                    "post_id": t["id"],
                    "conversation_id": t.get("conversation_id"),
                    "parent_id": refs.get("replied_to"),
                    "quoted_id": refs.get("quoted"),
                    "retweet_of_id": refs.get("retweeted"),
                    "author_id": t.get("author_id"),
                    "author_handle": handles.get(t.get("author_id")),
                    "created_at": dt.datetime.fromisoformat(t["created_at"].replace("Z", "+00:00")),
                    "text": t.get("text"),
                    "lang": t.get("lang"),
                    "media_keys": t.get("attachments", {}).get("media_keys", []),
                    "like_count": m.get("like_count"),
                    "retweet_count": m.get("retweet_count"),
                    "reply_count": m.get("reply_count"),
                    "quote_count": m.get("quote_count"),
                    "source_format": "twitter_v2",
                    "source_file": page.name,
                    "source_record": f"data[{i}]",
                }
            )
    return pl.DataFrame(rows, schema=POSTS, orient="row").sort(["created_at", "post_id"])


def corpus_posts_frame(corpus) -> tuple[pl.DataFrame, str]:
    """The corpus as POSTS, through echo_bench.ingest when it is there and works, else the local reader."""
    try:
        from echo_bench.ingest import IngestSettings, ingest_dumps
    except Exception:
        return read_v2_pages(corpus / "tweets"), "local reader"
    result = ingest_dumps([(corpus / "tweets", "twitter_v2")], None, IngestSettings())
    return result.posts, "echo_bench.ingest"


@pytest.fixture(scope="session")
def corpus_posts(gpt4o_corpus) -> pl.DataFrame:
    posts, _how = corpus_posts_frame(gpt4o_corpus)
    return posts


@pytest.fixture(scope="session")
def corpus_local_posts(gpt4o_corpus) -> pl.DataFrame:
    return read_v2_pages(gpt4o_corpus / "tweets")
