"""twscrape JSONL: one ``Tweet.json()`` per line.

twscrape serializes its dataclasses with ``json.dumps(default=str)``, so ``date``
reads ``2025-04-08 01:27:21+00:00``; ids come as ints with ``*_str`` twins;
``media`` is ``{"photos": [{"url"}], "videos": [{"thumbnailUrl", ...}],
"animated": [{"thumbnailUrl", "videoUrl"}]}``.
"""

from __future__ import annotations

from typing import Any

from echo_bench.ingest import scraped
from echo_bench.ingest.normalize import PostCollector, RecordError

FORMAT = "twscrape"

TWEET_FIELDS = frozenset(
    {
        "id",
        "id_str",
        "url",
        "date",
        "user",
        "lang",
        "rawContent",
        "replyCount",
        "retweetCount",
        "likeCount",
        "quoteCount",
        "bookmarkedCount",
        "conversationId",
        "conversationIdStr",
        "hashtags",
        "cashtags",
        "mentionedUsers",
        "links",
        "media",
        "viewCount",
        "retweetedTweet",
        "quotedTweet",
        "place",
        "coordinates",
        "inReplyToTweetId",
        "inReplyToTweetIdStr",
        "inReplyToUser",
        "inReplyToScreenName",
        "source",
        "sourceUrl",
        "sourceLabel",
        "card",
        "possibly_sensitive",
        "isQuoteStatus",
        "isTranslatable",
        "displayTextRange",
        "editControl",
        "voiceInfo",
        "_type",
    }
)

_TEXT_FIELDS = ("rawContent",)


def looks_like(rec: Any) -> bool:
    """twscrape adds string twins of the ids and nests media in an object."""
    return type(rec) is dict and (
        "id_str" in rec or "conversationIdStr" in rec or type(rec.get("media")) is dict
    )


def _list(value: Any) -> list | tuple:
    return value if type(value) is list else ()


def media_items(media: Any) -> list[tuple[str, str | None]]:
    """(type, url) of each media item: photos, then videos, then GIFs (twscrape keeps no common order)."""
    if not media:
        return []
    if type(media) is not dict:
        raise RecordError("bad_field", f"media is a {type(media).__name__}, not an object")
    out: list[tuple[str, str | None]] = []
    for p in _list(media.get("photos")):
        out.append(("photo", _url(p, "url")))
    for v in _list(media.get("videos")):
        out.append(("video", _url(v, "thumbnailUrl")))
    for a in _list(media.get("animated")):
        out.append(("animated_gif", _url(a, "thumbnailUrl")))
    return out


def _url(item: Any, key: str) -> str | None:
    """``item[key]`` when it is a non-empty string (anything else: no url)."""
    url = item.get(key) if type(item) is dict else None
    return url if type(url) is str and url else None


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
