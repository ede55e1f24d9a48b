"""What twscrape and snscrape JSONL records have in common.

Both tools write one post per line with snscrape's field names (``rawContent``,
``date``, ``user``, ``conversationId``, ``inReplyToTweetId``, ``quotedTweet``,
``retweetedTweet``, ``likeCount`` ...); they differ in the id strings twscrape
adds (``id_str``, ``conversationIdStr``, ``inReplyToTweetIdStr``), the date form
and the shape of ``media``.  The nested quoted/retweeted posts contribute only
their ids (as in the v2 reader, where they sit in ``includes.tweets``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from echo_bench.ingest.normalize import (
    MediaRef,
    PostCollector,
    RecordError,
    as_id,
    to_utc_micros,
)

# A file named like a Twitter media key ("3_1909417750587486469.jpg") keeps
# that key, so a scraped post and its v2 twin share media keys.
_MEDIA_KEY_NAME = re.compile(r"^\d+_\d+$")
_NO_MEDIA: list = []

MediaFn = Callable[[Any], list[tuple[str, str | None]]]


def media_key_for(url: str | None, post_id: str, position: int) -> str:
    """The media key of a scraped media item: the file stem if it is a media key, else ``<post_id>_<position>``."""
    if url:
        name = url.split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        stem = name.rsplit(".", 1)[0]
        if _MEDIA_KEY_NAME.match(stem):
            return stem
    return f"{post_id}_{position}"


def _ref_id(value: Any, field: str) -> str | None:
    """Id of a nested post (full object, snscrape TweetRef, or a bare id)."""
    if value is None:
        return None
    if type(value) is dict:
        v = value.get("id_str")
        if type(v) is str and v:
            return v
        return as_id(value.get("id"), f"{field}.id")
    return as_id(value, field)


def parse_record(
    rec: dict,
    sink: PostCollector,
    *,
    fmt: str,
    known_fields: frozenset[str],
    text_fields: tuple[str, ...],
    media_items: MediaFn,
    dump_index: int,
    source_file: str,
    loc: str,
) -> None:
    """Normalize one scraped post and add it to ``sink`` (or quarantine it)."""
    sink.records_by_format[fmt] += 1
    if not rec.keys() <= known_fields:
        sink.count_unknown(fmt, rec.keys() - known_fields)
    try:
        pid = rec.get("id_str")
        if type(pid) is not str or not pid:
            pid = as_id(rec.get("id"), "id", required=True)
        created = to_utc_micros(rec.get("date"))
        text = None
        for f in text_fields:
            text = rec.get(f)
            if type(text) is str:
                break
        else:
            raise RecordError("missing_field", f"missing text ({' or '.join(text_fields)})")
        user = rec.get("user")
        if type(user) is not dict:
            raise RecordError("missing_field", "missing user")
        author = user.get("id_str")
        if type(author) is not str or not author:
            author = as_id(user.get("id"), "user.id", required=True)
        handle = user.get("username")
        conv = rec.get("conversationIdStr")
        if type(conv) is not str or not conv:
            conv = as_id(rec.get("conversationId"), "conversationId") or pid
        parent = rec.get("inReplyToTweetIdStr")
        if type(parent) is not str or not parent:
            parent = as_id(rec.get("inReplyToTweetId"), "inReplyToTweetId")
        quoted = _ref_id(rec.get("quotedTweet"), "quotedTweet")
        retweet = _ref_id(rec.get("retweetedTweet"), "retweetedTweet")
        items = media_items(rec.get("media"))
    except RecordError as e:
        sink.reject(e.reason, e.detail, source_file, loc, rec)
        return
    except Exception as e:  # noqa: BLE001 - a record of an unexpected shape must not stop the run
        sink.reject("bad_record", f"{type(e).__name__}: {e}"[:300], source_file, loc, rec)
        return

    keys = _NO_MEDIA
    refs = None
    if items:
        keys, refs = [], []
        for pos, (mtype, url) in enumerate(items):
            key = media_key_for(url, pid, pos)
            keys.append(key)
            refs.append(MediaRef(key, mtype, url))
    if quoted is not None or retweet is not None:
        sink.counters["referenced_tweets_not_ingested"] += (quoted is not None) + (retweet is not None)

    lang = rec.get("lang")
    like, rtc, rpc, qc = rec.get("likeCount"), rec.get("retweetCount"), rec.get("replyCount"), rec.get("quoteCount")
    row = (
        pid,
        conv,
        parent,
        quoted,
        retweet,
        author,
        handle if type(handle) is str else None,
        created,
        text,
        lang if type(lang) is str else None,
        keys,
        like if type(like) is int else None,
        rtc if type(rtc) is int else None,
        rpc if type(rpc) is int else None,
        qc if type(qc) is int else None,
        fmt,
        source_file,
        loc,
    )
    sink.add(row, refs, dump_index, rec)
