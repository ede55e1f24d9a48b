"""Stage 1b, collect: the broad keyword query over the ingested posts.

The query is deliberately broad (the paper's "chatgpt", "create image", "4o",
...): it gives volume, and the LLM relevance scoring after it gives precision.
Everything here is vectorized polars; there is no per-post Python loop.

Rules (documented in ``docs/schemas.md``, section "Queried posts"):

* **Keywords** match case-insensitively as whole words or whole phrases.  A
  keyword is escaped (no regex syntax), a run of spaces in it matches any run of
  whitespace, and a word boundary is required at each end whose character is a
  word character of a script that separates its words with spaces (Latin,
  Cyrillic, Greek, ...).  Scripts written without spaces (Han, kana, Hangul,
  Thai, Lao, Khmer, Myanmar) need no boundary: a CJK keyword (``生图``)
  matches inside a CJK run, and a Latin keyword next to CJK text matches
  (``nano banana`` in "调用Nano Banana Pro", ``gpt-4o`` in "用GPT-4o生成").  ``4o`` therefore matches "GPT-4o",
  "4o's" and "#4o" (a hyphen, an apostrophe and ``#`` are boundaries) but not
  "gpt4o" or "4oImage"; list ``gpt4o`` separately.  A trailing ``*`` is a
  prefix wildcard: ``image gen*`` matches "image gen", "image generation" and
  "image generator" (``*`` anywhere stands for any run of word characters).
* **Match-all** (``match_all: true``): every post in the window is a hit, the
  keywords are not used (they may be empty); the recipe for a dump that is
  already on topic (a collection of prompt posts).  A keyword that is only
  ``*`` is a misconfiguration (it names no word): the run stops and points at
  ``match_all``.
* **Window** ``since``/``until``: inclusive, in UTC.  A date means the whole
  day (``until: 2025-04-30`` keeps posts up to 2025-04-30 23:59:59.999999 UTC);
  a datetime is an instant (naive = UTC).  ``null`` leaves that side open.
* **Hits** are the posts, not retweets, inside the window whose text matches
  at least one keyword.
* **Context** (``include_replies``): every other post of a hit's conversation
  is kept too, whatever its text and time, so the threads stage sees the whole
  tree ("prompt below" roots carry the prompt in a reply).  The conversation of
  a post is its ``conversation_id``; a post without one (or a reply whose
  ``conversation_id`` is its own id, which ingest writes when the source has
  none) inherits its parent's, following in-reply-to links through the dump;
  failing that it is its own.
* **Retweets** (``retweet_of_id`` set) are duplicates of their original and are
  dropped when ``drop_retweets`` is on (counted); the original is kept only if
  the dump itself holds it.
* **Quarantine**: posts the query cannot judge: no ``post_id`` (``null_post_id``),
  a repeated ``post_id`` (``duplicate_post_id``, the first in input order is
  kept), no text (``null_text``), and, when a window is
  set, no ``created_at`` (``null_created_at``).  They take no further part.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from echo_bench.curate.heuristics import SPACELESS_CLASS, is_spaced_word_char
from echo_bench.schemas import POSTS, QUARANTINE, QUERIED, UTC_TIME

STAGE = "collect"
#: Rounds of in-reply-to propagation for posts without a conversation_id.
MAX_CONVERSATION_HOPS = 256
RAW_LIMIT = 2000


@dataclass
class CollectResult:
    queried: pl.DataFrame  # QUERIED, sorted by (created_at, post_id)
    quarantine: pl.DataFrame  # QUARANTINE
    summary: dict[str, Any] = field(default_factory=dict)


# --- keywords -----------------------------------------------------------------


def normalize_keywords(keywords: Iterable[str]) -> list[str]:
    """Strip, collapse inner whitespace, drop empties and case-insensitive repeats (first spelling wins)."""
    out: list[str] = []
    seen: set[str] = set()
    for kw in keywords:
        if not isinstance(kw, str):
            raise TypeError(f"collect.keywords: {kw!r} is not a string")
        norm = " ".join(kw.split())
        if not norm:
            continue
        if norm.strip("*") == "":
            raise ValueError(
                f"collect.keywords: {kw!r} names no word; to take every post of the window "
                "(a dump already on topic) set collect.match_all: true"
            )
        if norm.casefold() not in seen:
            seen.add(norm.casefold())
            out.append(norm)
    return out


#: Not a word character of a spaced script: what must sit next to a keyword's word-character end.
_BOUNDARY_CHAR = f"[\\W{SPACELESS_CLASS}]"


def keyword_regex(keyword: str) -> str:
    """The case-insensitive whole-word / phrase regex of one keyword (Rust ``regex`` syntax).

    Rust's regex has no look-around, so a boundary is the start/end of the text
    or one character that is not a word character of a spaced script (it is
    consumed, which a ``contains`` test does not mind).
    """
    kw = " ".join(keyword.split())
    if not kw:
        raise ValueError("empty keyword")
    parts: list[str] = []
    for piece in re.split(r"(\*+| )", kw):
        if not piece:
            continue
        if piece == " ":
            parts.append(r"\s+")
        elif piece.startswith("*"):
            parts.append(r"\w*")
        else:
            parts.append(re.escape(piece))
    body = "".join(parts)
    core = kw.strip("*")
    start = f"(?:^|{_BOUNDARY_CHAR})" if is_spaced_word_char(core[0]) else ""
    end = f"(?:$|{_BOUNDARY_CHAR})" if is_spaced_word_char(core[-1]) else ""
    return f"(?i){start}{body}{end}"


def match_keywords(df: pl.DataFrame, keywords: Sequence[str], *, text_col: str = "text") -> pl.DataFrame:
    """``df`` with ``matched_keywords``: the keywords (in query order) that ``text_col`` contains.

    A null text gives an empty list.
    """
    if not keywords:
        return df.with_columns(pl.lit([], dtype=pl.List(pl.Utf8)).alias("matched_keywords"))
    flags = [
        pl.when(pl.col(text_col).str.contains(keyword_regex(kw)).fill_null(False)).then(pl.lit(kw)).otherwise(None)
        for kw in keywords
    ]
    return df.with_columns(pl.concat_list(flags).list.drop_nulls().alias("matched_keywords"))


# --- time window ----------------------------------------------------------------


def _parse_bound(value: Any) -> tuple[dt.datetime, bool] | None:
    """A window bound as (aware UTC datetime, was_a_date); None for an open side."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        s = value.strip()
        if s.endswith(("Z", "z")):
            s = s[:-1] + "+00:00"
        try:
            value = dt.date.fromisoformat(s) if len(s) == 10 else dt.datetime.fromisoformat(s)
        except ValueError as e:
            raise ValueError(f"collect window bound {value!r} is not an ISO date or datetime") from e
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC), False
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC), True
    raise TypeError(f"collect window bound {value!r} is not an ISO date or datetime")


def window_bounds(since: Any, until: Any) -> tuple[dt.datetime | None, dt.datetime | None, bool]:
    """(start, stop, stop_inclusive) in UTC; start is inclusive.

    A date ``until`` covers its whole day: stop is the next midnight, exclusive.
    A datetime ``until`` is inclusive.  YAML dates (``2025-04-01`` unquoted) and
    ISO strings are both accepted.
    """
    s = _parse_bound(since)
    u = _parse_bound(until)
    start = s[0] if s else None
    stop, stop_inclusive = None, True
    if u:
        stop, was_date = u
        if was_date:
            stop, stop_inclusive = stop + dt.timedelta(days=1), False
    if start is not None and stop is not None and (stop < start or (stop == start and not stop_inclusive)):
        raise ValueError(f"collect window is empty: since {since!r} is after until {until!r}")
    return start, stop, stop_inclusive


def in_window_expr(start: dt.datetime | None, stop: dt.datetime | None, end_inclusive: bool) -> pl.Expr:
    cond = pl.lit(True)
    col = pl.col("created_at")
    if start is not None:
        cond = cond & (col >= pl.lit(start, dtype=UTC_TIME))
    if stop is not None:
        cond = cond & ((col <= pl.lit(stop, dtype=UTC_TIME)) if end_inclusive else (col < pl.lit(stop, dtype=UTC_TIME)))
    return cond.fill_null(False)


# --- conversations ---------------------------------------------------------------


def conversation_keys(df: pl.DataFrame, *, max_hops: int = MAX_CONVERSATION_HOPS) -> pl.Series:
    """The conversation of each row of ``df`` (unique ``post_id``).

    The ``conversation_id``, unless it is unknown: null, empty, or the post's own
    id on a reply (a reply never starts its conversation; ingest writes the own id
    when a source has none).  An unknown one is the parent's conversation,
    following in-reply-to links through ``df`` (at most ``max_hops`` links), else
    the post's own id.
    """
    known = (
        pl.col("conversation_id").is_not_null()
        & (pl.col("conversation_id") != "")
        & ~((pl.col("conversation_id") == pl.col("post_id")) & pl.col("parent_id").is_not_null())
    )
    frame = df.select("post_id", "parent_id", pl.when(known).then(pl.col("conversation_id")).alias("key"))
    if frame["key"].null_count() == 0:
        return frame["key"]
    frame = frame.with_row_index("_row")
    for _ in range(max_hops):
        unresolved = frame.filter(pl.col("key").is_null() & pl.col("parent_id").is_not_null())
        if unresolved.height == 0:
            break
        parents = frame.filter(pl.col("key").is_not_null()).select(
            pl.col("post_id").alias("parent_id"), pl.col("key").alias("parent_key")
        )
        found = unresolved.join(parents, on="parent_id", how="inner").select("_row", "parent_key")
        if found.height == 0:
            break
        frame = (
            frame.join(found, on="_row", how="left")
            .with_columns(pl.coalesce("key", "parent_key").alias("key"))
            .drop("parent_key")
            .sort("_row")
        )
    return frame.select(pl.coalesce("key", "post_id").alias("key"))["key"]


# --- the query -------------------------------------------------------------------


def _raw_json() -> pl.Expr:
    cols = [c for c in POSTS if c not in ("media_keys",)]
    return (
        pl.struct([pl.col(c).cast(pl.Utf8) for c in cols] + [pl.col("media_keys")])
        .struct.json_encode()
        .str.slice(0, RAW_LIMIT)
    )


def _quarantine_rows(df: pl.DataFrame, reason: str, detail: str | pl.Expr) -> pl.DataFrame:
    detail_expr = detail if isinstance(detail, pl.Expr) else pl.lit(detail)
    return df.select(
        pl.lit(STAGE).alias("stage"),
        pl.col("source_file").fill_null(""),
        pl.col("source_record").fill_null(""),
        pl.lit(reason).alias("reason"),
        detail_expr.alias("detail"),
        _raw_json().alias("raw"),
    )


def collect(
    posts: pl.DataFrame,
    *,
    keywords: Sequence[str],
    since: Any = None,
    until: Any = None,
    include_replies: bool = True,
    drop_retweets: bool = True,
    match_all: bool = False,
) -> CollectResult:
    """Run the keyword query over a POSTS frame; see the module docstring for the rules."""
    kws = [] if match_all else normalize_keywords(keywords)
    if not kws and not match_all:
        raise ValueError(
            "collect.keywords is empty: the query would match nothing "
            "(set collect.match_all: true to take every post of the window)"
        )
    start, stop, end_inclusive = window_bounds(since, until)
    windowed = start is not None or stop is not None

    df = posts.select(list(POSTS))  # also checks that the POSTS columns are there
    n_read = df.height
    quarantined: list[pl.DataFrame] = []

    def take(mask: pl.Expr, reason: str, detail: str) -> None:
        nonlocal df
        bad = df.filter(mask)
        if bad.height:
            quarantined.append(_quarantine_rows(bad, reason, detail))
            df = df.filter(~mask)

    take(pl.col("post_id").is_null() | (pl.col("post_id") == ""), "null_post_id", "post has no id")
    # Duplicate ids: keep the first occurrence in input (dump) order, quarantine the rest.
    dup = df.select(pl.col("post_id").is_first_distinct().not_())["post_id"]
    if dup.any():
        bad = df.filter(dup)
        quarantined.append(
            _quarantine_rows(bad, "duplicate_post_id", pl.format("post {} appears more than once", "post_id"))
        )
        df = df.filter(~dup)
    take(pl.col("text").is_null(), "null_text", "post has no text: the keyword query cannot judge it")
    if windowed:
        take(pl.col("created_at").is_null(), "null_created_at", "post has no time: the date window cannot judge it")

    n_retweets = 0
    retweets_missing_original = 0
    if drop_retweets:
        is_rt = pl.col("retweet_of_id").is_not_null()
        rts = df.filter(is_rt)
        n_retweets = rts.height
        if n_retweets:
            retweets_missing_original = rts.filter(~pl.col("retweet_of_id").is_in(df["post_id"].implode())).height
            df = df.filter(~is_rt)

    df = match_keywords(df, kws)
    in_window = in_window_expr(start, stop, end_inclusive)
    matched = pl.lit(True) if match_all else pl.col("matched_keywords").list.len() > 0
    df = df.with_columns(in_window.alias("_in_window"), (in_window & matched).alias("_hit"))
    n_outside = int((~df["_in_window"]).sum())
    df = df.with_columns(conversation_keys(df).alias("_conv"))
    hits = df.filter(pl.col("_hit"))
    if include_replies and hits.height:
        hit_convs = hits["_conv"].unique().implode()
        kept = df.filter(pl.col("_conv").is_in(hit_convs))
    else:
        kept = hits

    per_keyword = {kw: 0 for kw in kws}
    if hits.height:
        counts = hits.select(pl.col("matched_keywords").explode().value_counts(sort=False)).unnest("matched_keywords")
        for kw, n in zip(counts["matched_keywords"].to_list(), counts["count"].to_list(), strict=True):
            per_keyword[kw] = int(n)

    queried = kept.sort(["created_at", "post_id"], nulls_last=True).select(list(QUERIED))
    quarantine = (
        pl.concat(quarantined).sort(["reason", "source_file", "source_record"], maintain_order=True)
        if quarantined
        else pl.DataFrame(schema=QUARANTINE)
    )
    n_hits = hits.height
    n_hit_roots = hits.filter(pl.col("parent_id").is_null()).height
    summary: dict[str, Any] = {
        "read": n_read,
        "quarantined": quarantine.height,
        "quarantined_by_reason": dict(sorted(quarantine["reason"].value_counts().iter_rows()))
        if quarantine.height
        else {},
        "retweets_dropped": n_retweets,
        "retweets_without_original": retweets_missing_original,
        "outside_window": n_outside,
        "judged_in_window": df.height - n_outside,
        "matched": n_hits,
        "matched_roots": n_hit_roots,
        "matched_per_keyword": per_keyword,
        "conversations_matched": hits["_conv"].n_unique(),
        "context_kept": queried.height - n_hits,
        "kept": queried.height,
        "keywords": kws,
        "match_all": bool(match_all),
        "window": {
            "since": start.isoformat() if start else None,
            "until": stop.isoformat() if stop else None,
            "until_inclusive": end_inclusive if stop else None,
        },
        "include_replies": bool(include_replies),
        "drop_retweets": bool(drop_retweets),
    }
    return CollectResult(queried=queried, quarantine=quarantine, summary=summary)
