"""snscrape JSONL (``snscrape --jsonl twitter-search ...``): one Tweet per line.

``date`` is ISO 8601 with an offset; ids are ints; the text is ``rawContent``
(snscrape >= 0.5) or ``content`` (older dumps); ``media`` is a list of objects
whose ``_type`` ends in ``Photo`` (``fullUrl``/``previewUrl``), ``Video`` or
``Gif`` (``thumbnailUrl``).  ``quotedTweet``/``retweetedTweet`` are nested posts
or ``TweetRef`` objects with only an id.
"""

from __future__ import annotations

from typing import Any

from echo_bench.ingest import scraped
from echo_bench.ingest.normalize import PostCollector, RecordError

FORMAT = "snscrape"

TWEET_FIELDS = frozenset(
    {
        "_type",
        "url",
        "date",
        "rawContent",
        "content",
        "renderedContent",
        "id",
        "user",
        "replyCount",
        "retweetCount",
        "likeCount",
        "quoteCount",
        "conversationId",
        "lang",
        "source",
        "sourceUrl",
        "sourceLabel",
        "links",
        "outlinks",
        "tcooutlinks",
        "media",
        "retweetedTweet",
        "quotedTweet",
        "inReplyToTweetId",
        "inReplyToUser",
        "mentionedUsers",
        "coordinates",
        "place",
        "hashtags",
        "cashtags",
        "card",
        "viewCount",
        "vibe",
        "bookmarkCount",
        "pinned",
        "editState",
    }
)

_TEXT_FIELDS = ("rawContent", "content", "renderedContent")


def looks_like(rec: Any) -> bool:
    return type(rec) is dict and ("rawContent" in rec or "content" in rec or "renderedContent" in rec or (
        "date" in rec and "user" in rec
    ))


def _kind(item: dict) -> str | None:
    t = item.get("_type")
    if type(t) is not str:
        if "fullUrl" in item or "previewUrl" in item:
            return "photo"
        return None
    if t.endswith("Photo"):
        return "photo"
    if t.endswith("Video"):
        return "video"
    if t.endswith("Gif"):
        return "animated_gif"
    return None


def media_items(media: Any) -> list[tuple[str | None, str | None]]:
    """(type, url) of each media item in the order of the post."""
    if not media:
        return []
    if type(media) is not list:
        raise RecordError("bad_field", f"media is a {type(media).__name__}, not a list")
    out: list[tuple[str | None, str | None]] = []
    for m in media:
        if type(m) is not dict:
            out.append((None, None))
            continue
        kind = _kind(m)
        if kind == "photo":
            url = m.get("fullUrl") or m.get("previewUrl")
        else:
            url = m.get("thumbnailUrl") or m.get("previewUrl")
        out.append((kind, url if type(url) is str else None))
    return out


def parse_record(rec: dict, sink: PostCollector, *, dump_index: int, source_file: str, loc: str) -> None:
    scraped.parse_record(
        rec,
        sink,
        fmt=FORMAT,
        known_fields=TWEET_FIELDS,
        text_fields=_TEXT_FIELDS,
        media_items=media_items,
        dump_index=dump_index,
        source_file=source_file,
        loc=loc,
    )
