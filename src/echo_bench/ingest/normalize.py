"""Normalization shared by the format readers: ids, timestamps, and the post collector.

Every reader turns one raw record into one *row*: a plain tuple in the column
order of :data:`ROW_COLUMNS` (the POSTS schema), plus the media it references.
:class:`PostCollector` gathers the rows, resolves duplicate ids, counts unknown
fields and quarantines records it cannot use; :meth:`PostCollector.posts_frame`
turns the rows into one polars frame at the end (no per-row frame operations).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
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
    try:
        return json.dumps(obj, ensure_ascii=False, default=str)[:RAW_LIMIT]
    except (TypeError, ValueError):
        return repr(obj)[:RAW_LIMIT]


@dataclass(frozen=True)
class MediaRef:
    """One media item of a post as written in the dump (before resolution)."""

    media_key: str
    type: str | None  # photo | video | animated_gif | None when unknown
    url: str | None  # url or relative path as written in the dump
    problem: str | None = None  # reason code when the dump itself is inconsistent


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

    def __init__(self) -> None:
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

    # -- what the readers call ------------------------------------------------

    def add(self, row: tuple, refs: list[MediaRef] | None, dump_index: int) -> None:
        """Keep ``row`` unless its id was seen before (then: duplicate handling)."""
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
