"""Normalization shared by the format readers: ids, timestamps, bounds, and the post collector.

Every reader turns one raw record into one *row*: a plain tuple in the column
order of :data:`ROW_COLUMNS` (the POSTS schema), plus the media it references.
:class:`PostCollector` checks each row against the :class:`RecordLimits` (id
syntax, text length, timestamp window), gathers the rows, resolves duplicate
ids, counts unknown fields and quarantines records it cannot use;
:meth:`PostCollector.posts_frame` turns the rows into one polars frame at the
end (no per-row frame operations).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

import polars as pl

from echo_bench.quarantine import RAW_LIMIT, Quarantine
from echo_bench.schemas import POSTS

STAGE = "ingest"

#: Column order of a row tuple; identical to the POSTS schema.
ROW_COLUMNS: tuple[str, ...] = tuple(POSTS.names())

# Indices into a row tuple.
I_POST_ID, I_AUTHOR, I_HANDLE, I_CREATED = (ROW_COLUMNS.index(c) for c in ("post_id", "author_id", "author_handle", "created_at"))
I_SOURCE_FILE, I_SOURCE_RECORD = ROW_COLUMNS.index("source_file"), ROW_COLUMNS.index("source_record")

#: Fields that make two records with the same id "the same post".  Engagement
#: counts, language and the author's handle legitimately change between two
#: crawls of one post, so they do not count as a conflict.
CONTENT_FIELDS: tuple[str, ...] = (
    "text",
    "author_id",
    "created_at",
    "parent_id",
    "quoted_id",
    "retweet_of_id",
)
_CONTENT_IDX = tuple(ROW_COLUMNS.index(c) for c in CONTENT_FIELDS)
I_MEDIA_KEYS, I_TEXT, I_FORMAT = (ROW_COLUMNS.index(c) for c in ("media_keys", "text", "source_format"))
#: The id columns of a row, checked against the id syntax of the row's format.
_ID_IDX = tuple(
    (c, ROW_COLUMNS.index(c))
    for c in ("post_id", "conversation_id", "parent_id", "quoted_id", "retweet_of_id", "author_id")
)

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_US = timedelta(microseconds=1)
#: Twitter API v1.1 / GraphQL form, e.g. "Wed Oct 10 20:19:24 +0000 2018".
_LEGACY_FORMAT = "%a %b %d %H:%M:%S %z %Y"


class RecordError(Exception):
    """A record that cannot become a post; carries the quarantine reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def to_utc_micros(value: Any) -> int:
    """Microseconds since the Unix epoch (UTC) of a post timestamp.

    Accepts ISO 8601 with ``Z`` or an offset (Twitter v2 ``2025-04-08T01:27:21.000Z``,
    snscrape ``2025-04-08T01:27:21+00:00``, twscrape ``2025-04-08 01:27:21+00:00``)
    and the legacy ``Wed Oct 10 20:19:24 +0000 2018`` form.  A missing, naive
    (no offset) or unparsable value raises :class:`RecordError` ``bad_timestamp``.
    """
    if type(value) is not str:
        if value is None:
            raise RecordError("bad_timestamp", "missing timestamp")
        raise RecordError("bad_timestamp", f"timestamp is a {type(value).__name__}, not a string: {value!r}"[:200])
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        try:
            dt = datetime.strptime(value, _LEGACY_FORMAT)
        except ValueError:
            raise RecordError("bad_timestamp", f"unparsable timestamp {value!r}"[:200]) from None
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise RecordError("bad_timestamp", f"timestamp without a UTC offset {value!r}"[:200])
    return (dt - _EPOCH) // _ONE_US


def micros_of(value: str, key: str) -> int:
    """Microseconds since the epoch of an ISO timestamp from params.yaml; ValueError names ``key``."""
    try:
        return to_utc_micros(str(value))
    except RecordError as e:
        raise ValueError(
            f"params.yaml ingest.{key}: {e.detail} (give an ISO time with an offset, e.g. 2006-03-21T00:00:00Z)"
        ) from None


@dataclass(frozen=True)
class RecordLimits:
    """Bounds on what one record may hold (``ingest.limits.*``); each violation is a quarantine reason.

    ``max_depth``: JSON nesting (a flat object is 1) -> ``too_deep``;
    ``max_record_bytes``: one JSON Lines line -> ``record_too_large``;
    ``max_document_bytes``: one whole-document ``.json`` file, decompressed -> ``file_too_large``;
    ``max_text_chars``: a post's text -> ``text_too_long``;
    ``max_gzip_ratio`` / ``max_decompressed_bytes``: what a ``.gz`` file may expand to
    (ratio to its compressed size, checked while streaming, and an absolute cap) -> ``decompression_bomb``;
    ``min_created_at`` / ``max_created_at`` (microseconds since the epoch, inclusive / exclusive):
    the window a post's time must fall in -> ``timestamp_out_of_range``.
    """

    max_depth: int = 64
    max_record_bytes: int = 10_000_000
    max_document_bytes: int = 200_000_000
    max_text_chars: int = 100_000
    max_gzip_ratio: float = 100.0
    max_decompressed_bytes: int = 2_000_000_000
    min_created_at: int = 1_142_899_200_000_000  # 2006-03-21T00:00:00Z, the first post on Twitter
    max_created_at: int = 4_102_444_800_000_000  # 2100-01-01T00:00:00Z

    def __post_init__(self) -> None:
        for name in ("max_depth", "max_record_bytes", "max_document_bytes", "max_text_chars", "max_decompressed_bytes"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"params.yaml ingest.limits.{name} must be >= 1, got {getattr(self, name)!r}")
        if not self.max_gzip_ratio >= 1:
            raise ValueError(f"params.yaml ingest.limits.max_gzip_ratio must be >= 1, got {self.max_gzip_ratio!r}")
        if self.min_created_at >= self.max_created_at:
            raise ValueError("params.yaml ingest.limits: min_created_at must be before max_created_at")


def valid_twitter_id(value: str) -> bool:
    """A Twitter snowflake id: 1 to 20 ASCII digits (no sign, no path characters, no control or bidi marks)."""
    return 0 < len(value) <= 20 and value.isascii() and value.isdigit()


#: Id syntax of each format (all three read Twitter posts: numeric snowflake ids).
ID_SYNTAX = {"twitter_v2": valid_twitter_id, "twscrape": valid_twitter_id, "snscrape": valid_twitter_id}

_MEDIA_KEY = re.compile(r"[0-9]{1,20}_[0-9]{1,20}")


def valid_media_key(value: str) -> bool:
    """``<type>_<id>`` as Twitter writes media keys (scraped media get ``<post_id>_<position>``)."""
    return len(value) <= 41 and _MEDIA_KEY.fullmatch(value) is not None


def too_deep(obj: Any, limit: int) -> bool:
    """Whether ``obj`` nests lists/objects more than ``limit`` levels (level by level: no recursion)."""
    level = [obj] if type(obj) is dict or type(obj) is list else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [
            v
            for node in level
            for v in (node.values() if type(node) is dict else node)
            if type(v) is dict or type(v) is list
        ]
    return False


_ONE_BRACKET_KIND = bytes.maketrans(b"{}", b"[]")  # the depth does not depend on the kind of bracket
_NOT_BRACKET_OR_QUOTE = bytes(range(256)).translate(None, b'"[]{}')


def text_too_deep(data: bytes, limit: int) -> bool:
    """:func:`too_deep` of the JSON text ``data`` (which must have parsed), from its bytes alone.

    Escaped backslashes, then escaped quotes, are removed; every byte but quotes
    and brackets is dropped (``{}`` read as ``[]``); what lies between quotes (the
    strings) goes; then each pass removes the innermost ``[]`` pairs, so the number
    of passes to empty the text is its nesting depth.  All steps run in C: ~10x faster than walking
    the parsed objects, which matters for a million posts.
    """
    if b"\\" in data:
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    # two adjacent quotes hold no bracket between them and removing them keeps the others' parity
    s = data.translate(_ONE_BRACKET_KIND, _NOT_BRACKET_OR_QUOTE).replace(b'""', b"")
    if b'"' in s:  # strings that hold brackets; quotes alternate open/close: drop every second piece
        s = b"".join(s.split(b'"')[::2])
    for _ in range(limit):
        if not s:
            return False
        s = s.replace(b"[]", b"")  # one pass removes exactly the containers holding no container
    return bool(s)


def _shallow(obj: Any, depth: int = 6, items: int = 50) -> Any:
    """A copy of ``obj`` cut at ``depth`` levels and ``items`` entries per container (for quarantine raw text)."""
    if type(obj) is dict:
        if depth <= 0:
            return "{...}"
        return {str(k): _shallow(v, depth - 1, items) for k, v in list(obj.items())[:items]}
    if type(obj) in (list, tuple):
        if depth <= 0:
            return "[...]"
        return [_shallow(v, depth - 1, items) for v in obj[:items]]
    if type(obj) is str:
        return obj[:RAW_LIMIT]
    return obj


def _show_micros(t: int) -> str:
    """A time in microseconds as ISO text, also outside the range Python's datetime can hold."""
    try:
        return (_EPOCH + timedelta(microseconds=t)).isoformat()
    except OverflowError:
        return f"{t} us since 1970 (out of datetime's range)"


def as_id(value: Any, field: str, *, required: bool = False) -> str | None:
    """A post/user id as a string (JSON ints and strings accepted)."""
    t = type(value)
    if t is str:
        if value:
            return value
    elif t is int:
        return str(value)
    elif value is None:
        pass
    else:
        raise RecordError("bad_field", f"{field} is a {t.__name__}: {value!r}"[:200])
    if required:
        raise RecordError("missing_field", f"missing {field}")
    return None


def raw_text(obj: Any) -> str:
    """The record as compact JSON, truncated for the quarantine table."""
    if isinstance(obj, (bytes, bytearray)):
        return bytes(obj[: RAW_LIMIT * 4]).decode("utf-8", "replace")[:RAW_LIMIT]
    if isinstance(obj, str):
        return obj[:RAW_LIMIT]
    try:  # a record too deep or too odd to serialize is shown cut down, never raises
        return json.dumps(_shallow(obj), ensure_ascii=False, default=str)[:RAW_LIMIT]
    except Exception:  # noqa: BLE001 - the raw text is a courtesy; no record may stop the run here
        return f"<{type(obj).__name__} that cannot be shown>"


@dataclass(frozen=True)
class MediaRef:
    """One media item of a post as written in the dump (before resolution)."""

    media_key: str
    type: str | None  # photo | video | animated_gif | None when unknown
    url: str | None  # url or relative path as written in the dump
    problem: str | None = None  # reason code when the dump itself is inconsistent
    dump_index: int | None = None  # set when merged from a duplicate read from another dump than its post


@dataclass(frozen=True)
class PostMedia:
    """The media of one kept post, with where the post came from."""

    post_id: str
    dump_index: int
    source_file: str
    source_record: str
    refs: tuple[MediaRef, ...]


class PostCollector:
    """Accumulates normalized rows from all files of all dumps."""

    def __init__(self, limits: RecordLimits | None = None) -> None:
        self.limits = limits or RecordLimits()
        self.rows: list[tuple] = []
        self.index: dict[str, int] = {}
        self.media: dict[int, PostMedia] = {}
        self.quarantine = Quarantine(STAGE)
        self.unknown_fields: Counter[str] = Counter()
        self.counters: Counter[str] = Counter()
        self.records_by_format: Counter[str] = Counter()
        self.users: dict[str, str] = {}  # author id -> handle, from every page seen
        self.duplicate_identical = 0
        self.duplicate_conflict = 0
        self.duplicate_media_merged = 0

    # -- what the readers call ------------------------------------------------

    def check(self, row: tuple, refs: list[MediaRef] | None) -> None:
        """Raise :class:`RecordError` when ``row`` breaks the limits (ids, text length, time window)."""
        lim = self.limits
        valid = ID_SYNTAX.get(row[I_FORMAT], valid_twitter_id)
        if valid is valid_twitter_id:  # fast path, run for every post: all its ids at once
            ids = [row[i] for _, i in _ID_IDX if row[i] is not None]
            joined = "".join(ids)
            ok = joined.isdigit() and joined.isascii() and max(map(len, ids)) <= 20 and all(ids)
        else:
            ok = False
        if not ok:
            for name, i in _ID_IDX:
                v = row[i]
                if v is not None and not valid(v):
                    raise RecordError("bad_id", f"{name} {v[:60]!r} is not a valid {row[I_FORMAT]} id")
        text = row[I_TEXT]
        if len(text) > lim.max_text_chars:
            raise RecordError("text_too_long", f"text of {len(text)} characters > max_text_chars {lim.max_text_chars}")
        t = row[I_CREATED]
        if not lim.min_created_at <= t < lim.max_created_at:
            raise RecordError(
                "timestamp_out_of_range",
                f"created_at {_show_micros(t)} is outside the window [{_show_micros(lim.min_created_at)}, "
                f"{_show_micros(lim.max_created_at)}) of ingest.limits",
            )
        for k in row[I_MEDIA_KEYS]:
            if not valid_media_key(k):
                raise RecordError("bad_id", f"media key {k[:60]!r} is not <digits>_<digits>")

    def add(self, row: tuple, refs: list[MediaRef] | None, dump_index: int, raw: Any = None) -> None:
        """Keep ``row`` unless it breaks the limits (quarantined) or its id was seen before (duplicate handling)."""
        try:
            self.check(row, refs)
        except RecordError as e:
            self.reject(e.reason, e.detail, row[I_SOURCE_FILE], row[I_SOURCE_RECORD], raw if raw is not None else "")
            return
        pid = row[I_POST_ID]
        j = self.index.get(pid)
        if j is None:
            n = len(self.rows)
            self.index[pid] = n
            self.rows.append(row)
            if refs:
                self.media[n] = PostMedia(pid, dump_index, row[I_SOURCE_FILE], row[I_SOURCE_RECORD], tuple(refs))
            return
        first = self.rows[j]
        differs = [CONTENT_FIELDS[k] for k, i in enumerate(_CONTENT_IDX) if first[i] != row[i]]
        if not differs and first[I_MEDIA_KEYS] != row[I_MEDIA_KEYS]:
            differs = self._merge_media(j, row, refs, dump_index)
            if not differs:
                return
        if not differs:
            self.duplicate_identical += 1
            return
        self.duplicate_conflict += 1
        self.quarantine.add(
            "duplicate_conflict",
            f"post {pid} already read from {first[I_SOURCE_FILE]} {first[I_SOURCE_RECORD]} "
            f"with different {', '.join(differs)}; the first one is kept",
            source_file=row[I_SOURCE_FILE],
            source_record=row[I_SOURCE_RECORD],
            raw=raw_text(dict(zip(ROW_COLUMNS, row))),
        )

    def _merge_media(self, j: int, row: tuple, refs: list[MediaRef] | None, dump_index: int) -> list[str]:
        """A duplicate that differs only in its media: the media it adds join the kept post.

        Returns the differing fields when the copies disagree about a media key
        they share (then nothing is merged: a conflict), else [] after merging
        and counting the merge (``duplicate_media_merged``).
        """
        first = self.rows[j]
        kept = self.media.get(j)
        kept_refs = {r.media_key: r for r in kept.refs} if kept else {}
        new_refs = {r.media_key: r for r in refs or ()}
        for k in set(kept_refs) & set(new_refs):
            a, b = kept_refs[k], new_refs[k]
            if (a.type, a.url) != (b.type, b.url):
                return [f"media ({k})"]
        added = [k for k in row[I_MEDIA_KEYS] if k not in first[I_MEDIA_KEYS]]
        if not added:  # the kept copy already has every media of this one (it has more, or another order)
            self.duplicate_media_merged += 1
            return []
        keys = list(first[I_MEDIA_KEYS]) + added
        self.rows[j] = first[:I_MEDIA_KEYS] + (keys,) + first[I_MEDIA_KEYS + 1 :]
        extra = tuple(replace(new_refs[k], dump_index=dump_index) for k in added if k in new_refs)
        if kept is None:
            self.media[j] = PostMedia(first[I_POST_ID], dump_index, first[I_SOURCE_FILE], first[I_SOURCE_RECORD], extra)
        else:
            self.media[j] = replace(kept, refs=kept.refs + extra)
        self.duplicate_media_merged += 1
        return []

    def reject(self, reason: str, detail: str, source_file: str, source_record: str, raw: Any) -> None:
        self.quarantine.add(reason, detail, source_file=source_file, source_record=source_record, raw=raw_text(raw))

    def count_unknown(self, prefix: str, keys: set[str]) -> None:
        for k in keys:
            self.unknown_fields[f"{prefix}.{k}"] += 1

    # -- the result -------------------------------------------------------------

    def posts_frame(self) -> pl.DataFrame:
        """All kept rows as a POSTS frame sorted by (created_at, post_id)."""
        if not self.rows:
            return pl.DataFrame(schema=POSTS)
        cols = list(zip(*self.rows))
        handles = cols[I_HANDLE]
        if None in handles:  # fill from users seen on other pages of the dump
            authors = cols[I_AUTHOR]
            users = self.users
            cols[I_HANDLE] = tuple(
                h if h is not None else users.get(a) for h, a in zip(handles, authors, strict=True)
            )
        series = []
        for name, values in zip(ROW_COLUMNS, cols, strict=True):
            if name == "created_at":
                s = pl.Series(name, values, dtype=pl.Int64).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
            elif name == "media_keys":
                s = _list_column(name, values)
            else:
                s = pl.Series(name, values, dtype=POSTS[name])
            series.append(s)
        return pl.DataFrame(series).sort(["created_at", "post_id"])


def _list_column(name: str, values: tuple[list[str], ...]) -> pl.Series:
    """A List(Utf8) column from many mostly-empty lists.

    Building it element by element costs polars a Series per row (seconds for a
    million posts); a flat (row, key) table aggregated per row is ~50x faster.
    """
    rows: list[int] = []
    flat: list[str] = []
    for i, keys in enumerate(values):
        if keys:
            rows.extend([i] * len(keys))
            flat.extend(keys)
    n = len(values)
    agg = (
        pl.DataFrame({"row": pl.Series(rows, dtype=pl.UInt32), name: pl.Series(flat, dtype=pl.Utf8)})
        .group_by("row", maintain_order=True)
        .agg(pl.col(name))
    )
    full = pl.DataFrame({"row": pl.int_range(0, n, dtype=pl.UInt32, eager=True)}).join(
        agg, on="row", how="left", maintain_order="left"
    )
    return full[name].fill_null(pl.lit([], dtype=pl.List(pl.Utf8))).alias(name)
