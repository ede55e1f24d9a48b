"""Twitter API v2 search/lookup response pages (``data`` / ``includes`` / ``meta``).

One page holds up to 100 posts in ``data`` (a list; a single-post lookup has an
object), the authors in ``includes.users`` and the media in ``includes.media``
(joined through ``attachments.media_keys``).  The reply parent, the quoted and
the retweeted post come from ``referenced_tweets``.  Long posts carry their full
text in ``note_tweet.text``.  Posts of ``includes.tweets`` (referenced posts that
did not match the query) are not ingested, only counted.
"""

from __future__ import annotations

from typing import Any

from echo_bench.ingest.normalize import (
    MediaRef,
    PostCollector,
    RecordError,
    as_id,
    to_utc_micros,
    too_deep,
)

FORMAT = "twitter_v2"

#: Top-level keys of a response page (``__twarc`` is twarc2's collection metadata).
PAGE_FIELDS = frozenset({"data", "includes", "meta", "errors", "__twarc"})

#: Documented fields of a v2 Tweet object; anything else is counted as unknown.
TWEET_FIELDS = frozenset(
    {
        "id",
        "text",
        "edit_history_tweet_ids",
        "attachments",
        "author_id",
        "community_id",
        "context_annotations",
        "conversation_id",
        "created_at",
        "display_text_range",
        "edit_controls",
        "entities",
        "geo",
        "in_reply_to_user_id",
        "lang",
        "non_public_metrics",
        "note_tweet",
        "organic_metrics",
        "possibly_sensitive",
        "promoted_metrics",
        "public_metrics",
        "referenced_tweets",
        "reply_settings",
        "scopes",
        "source",
        "withheld",
        "article",
        "card_uri",
        "media_metadata",
    }
)

_EMPTY: dict = {}
_NO_MEDIA: list = []


def _list(value: Any) -> list | tuple:
    return value if type(value) is list else ()


def looks_like_page(obj: Any) -> bool:
    return type(obj) is dict and ("data" in obj or "includes" in obj or "meta" in obj)


def parse_page(
    page: dict,
    sink: PostCollector,
    *,
    dump_index: int,
    source_file: str,
    prefix: str = "",
    max_post_depth: int | None = None,
) -> int:
    """Add every post of ``page`` to ``sink``; returns the number of post records read.

    With ``max_post_depth``, a post nested deeper is quarantined as ``too_deep``
    (the caller sets it when the page as a whole is too deep).
    """
    extra = page.keys() - PAGE_FIELDS
    if extra:
        sink.count_unknown(f"{FORMAT}.page", extra)
    data = page.get("data")
    if data is None:  # an empty result page
        data = []
    elif type(data) is dict:
        data = [data]
    elif type(data) is not list:
        sink.reject("bad_record", f"'data' is a {type(data).__name__}, not a list", source_file, prefix + "data", page)
        return 0

    includes = page.get("includes")
    if type(includes) is not dict:
        includes = _EMPTY
    users: dict[str, str] = {}
    for u in _list(includes.get("users")):
        if type(u) is dict:
            uid, name = u.get("id"), u.get("username")
            if uid is not None and type(name) is str:
                users[str(uid)] = name
    if users:
        sink.users.update(users)
    media: dict[str, dict] = {}
    for m in _list(includes.get("media")):
        if type(m) is dict and type(m.get("media_key")) is str:
            media[m["media_key"]] = m
    n_ref = len(_list(includes.get("tweets")))
    if n_ref:
        sink.counters["referenced_tweets_not_ingested"] += n_ref
    errors = page.get("errors")
    if errors:
        sink.counters["api_errors"] += len(errors) if type(errors) is list else 1

    add = sink.add
    n = 0
    for i, t in enumerate(data):
        n += 1
        loc = f"{prefix}data[{i}]"
        if type(t) is not dict:
            sink.reject("bad_record", f"post is a {type(t).__name__}, not an object", source_file, loc, t)
            continue
        if max_post_depth is not None and too_deep(t, max_post_depth):
            sink.reject("too_deep", f"post nests more than {max_post_depth} levels", source_file, loc, t)
            continue
        if not t.keys() <= TWEET_FIELDS:
            sink.count_unknown(FORMAT, t.keys() - TWEET_FIELDS)
        try:
            row, refs = _row(t, users, media, source_file, loc)
        except RecordError as e:
            sink.reject(e.reason, e.detail, source_file, loc, t)
            continue
        except Exception as e:  # noqa: BLE001 - a record of an unexpected shape must not stop the run
            sink.reject("bad_record", f"{type(e).__name__}: {e}"[:300], source_file, loc, t)
            continue
        add(row, refs, dump_index, t)
    sink.records_by_format[FORMAT] += n
    return n


def _row(t: dict, users: dict[str, str], media: dict[str, dict], source_file: str, loc: str) -> tuple[tuple, list]:
    pid = t.get("id")
    if type(pid) is not str or not pid:
        pid = as_id(pid, "id", required=True)
    created = to_utc_micros(t.get("created_at"))
    text = t.get("text")
    note = t.get("note_tweet")
    if note and type(note) is dict and type(note.get("text")) is str:
        text = note["text"]
    if type(text) is not str:
        raise RecordError("missing_field", "missing text")
    author = t.get("author_id")
    if type(author) is not str or not author:
        author = as_id(author, "author_id", required=True)
    conv = t.get("conversation_id")
    if type(conv) is not str or not conv:
        conv = as_id(conv, "conversation_id") or pid

    parent = quoted = retweet = None
    refs_in = t.get("referenced_tweets")
    if refs_in:
        for r in _list(refs_in):
            if type(r) is not dict:
                continue
            kind = r.get("type")
            rid = as_id(r.get("id"), f"referenced_tweets[{kind}].id")
            if kind == "replied_to":
                parent = parent or rid
            elif kind == "quoted":
                quoted = quoted or rid
            elif kind == "retweeted":
                retweet = retweet or rid

    pm = t.get("public_metrics")
    if type(pm) is not dict:
        pm = _EMPTY
    like, rtc, rpc, qc = pm.get("like_count"), pm.get("retweet_count"), pm.get("reply_count"), pm.get("quote_count")

    keys = _NO_MEDIA
    refs = None
    att = t.get("attachments")
    if att and type(att) is dict:
        mk = att.get("media_keys")
        if mk and type(mk) is list:
            keys = [k for k in mk if type(k) is str]
            refs = []
            for k in keys:
                m = media.get(k)
                if m is None:
                    refs.append(MediaRef(k, None, None, "media_not_in_includes"))
                    continue
                mtype = m.get("type") if type(m.get("type")) is str else None
                url = m.get("url")
                if type(url) is not str or not url:
                    url = m.get("preview_image_url") if mtype != "photo" else None
                    if type(url) is not str or not url:
                        url = None
                refs.append(MediaRef(k, mtype, url))

    lang = t.get("lang")
    row = (
        pid,
        conv,
        parent,
        quoted,
        retweet,
        author,
        users.get(author),
        created,
        text,
        lang if type(lang) is str else None,
        keys,
        like if type(like) is int else None,
        rtc if type(rtc) is int else None,
        rpc if type(rpc) is int else None,
        qc if type(qc) is int else None,
        FORMAT,
        source_file,
        loc,
    )
    return row, refs
