"""Deliberately bad records, so the quarantine path runs on every main run.

Each is a standalone post (or a copy of an existing one) outside the truth of
the threads; ``bad_records.jsonl`` says what is wrong with it and where it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from echo_bench.sample import vocab
from echo_bench.sample.posts import Post, Thread, World, styled, subject_recipe, t2i_prompt

BAD_KINDS = (
    "truncated_page",  # a page file cut off mid-JSON; the posts in it are unreadable
    "bad_timestamp",  # created_at is not a valid time
    "duplicate_id_conflict",  # a second record with an existing id and different text
    "missing_media_file",  # includes.media points at a file that is not in media/
    "corrupt_image",  # the media file exists but is not an image
    "missing_id",  # a data item without an id
)
BAD_TIMESTAMP = "2025-04-31T25:61:00.000Z"
#: What a failed image download often leaves behind: an error page saved as .jpg.
CORRUPT_BYTES = b"<!DOCTYPE html>\n<html><head><title>403 Forbidden</title></head><body>Forbidden</body></html>\n"
CONFLICT_TEXT = "This post was edited after it was collected (conflicting copy)."
#: Share of the page text kept when a page is truncated.
TRUNCATE_AT = 0.6


@dataclass
class BadRecord:
    kind: str
    posts: list[Post] = field(default_factory=list)  # posts written only for this record
    conflict_of: Post | None = None  # duplicate_id_conflict: the good post whose id is reused
    records: list[dict[str, Any]] = field(default_factory=list)  # the data items as written
    missing_media: list[str] = field(default_factory=list)
    corrupt_media: list[str] = field(default_factory=list)
    file: str = ""  # set when laid out in pages
    data_index: int | None = None

    def truth(self, number: int) -> dict[str, Any]:
        post_ids = [p.id for p in self.posts] or ([self.conflict_of.id] if self.conflict_of else [])
        media = [m.key for p in self.posts for m in p.media]
        return {
            "bad_id": f"bad-{number:02d}",
            "kind": self.kind,
            "file": self.file,
            "data_index": self.data_index,
            "post_ids": post_ids,
            "media_keys": media,
            "missing_media": self.missing_media,
            "corrupt_media": self.corrupt_media,
            "detail": self.detail(),
        }

    def detail(self) -> str:
        if self.kind == "truncated_page":
            return f"page cut at {TRUNCATE_AT:.0%} of its bytes; {len(self.posts)} posts inside cannot be read"
        if self.kind == "bad_timestamp":
            return f"created_at is {BAD_TIMESTAMP!r}"
        if self.kind == "duplicate_id_conflict":
            return f"same id as an earlier record (the original comes first in page order) but text {CONFLICT_TEXT!r}"
        if self.kind == "missing_media_file":
            return "includes.media url points at a file that is not in media/"
        if self.kind == "corrupt_image":
            return "the media file holds an HTML error page, not image bytes"
        return "data item has no id"


def standalone_post(world: World, stream: int) -> Post:
    """A plausible prompt share with one image: the raw material of a bad record."""
    m = world.maker("bad", world.rng(7, stream))
    prompt, _, base, style_op = t2i_prompt(m)
    caption = m.pick(vocab.PROMPT_SHARE_CAPTIONS).format(prompt=prompt)
    return m.post(
        caption, m.author(), m.root_time(), images=[(styled(subject_recipe(m, base), style_op, m.seed()), "jpg")]
    )


def plan_bad_records(world: World, threads: list[Thread]) -> list[BadRecord]:
    """``n_bad`` bad records, cycling through ``BAD_KINDS``."""
    bad: list[BadRecord] = []
    targets = [t.root for t in threads if t.kind == "coincidental"] or [t.root for t in threads]
    for k in range(world.cfg.n_bad):
        kind = BAD_KINDS[k % len(BAD_KINDS)]
        if kind == "truncated_page":
            bad.append(BadRecord(kind, posts=[standalone_post(world, 2 * k), standalone_post(world, 2 * k + 1)]))
        elif kind == "duplicate_id_conflict":
            bad.append(BadRecord(kind, conflict_of=targets[k % len(targets)]))
        else:
            record = BadRecord(kind, posts=[standalone_post(world, 2 * k)])
            keys = [m.key for m in record.posts[0].media]
            if kind == "missing_media_file":
                record.missing_media = keys
            elif kind == "corrupt_image":
                record.corrupt_media = keys
            bad.append(record)
    return bad


def bad_data_items(record: BadRecord) -> list[dict[str, Any]]:
    """The data items of one bad record, as they will be written."""
    if record.kind == "duplicate_id_conflict":
        item = record.conflict_of.record()
        item["text"] = CONFLICT_TEXT
        item.pop("attachments", None)
        items = [item]
    else:
        items = [p.record() for p in record.posts]
    if record.kind == "bad_timestamp":
        items[0]["created_at"] = BAD_TIMESTAMP
    elif record.kind == "missing_id":
        del items[0]["id"]
    record.records = items
    return items
