"""The three dump formats normalize to the same rows; timestamps; format detection."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from echo_bench.ingest import IngestSettings, ingest_dumps
from echo_bench.ingest.normalize import RecordError, to_utc_micros
from echo_bench.ingest.pipeline import detect_format
from echo_bench.schemas import MEDIA, POSTS, conform

# the four posts of tests/ingest/data: a root with an image, the author's reply with
# the prompt, a quote with two images (one identical to the root's) and a retweet
ROOT, REPLY, QUOTE, RETWEET = (f"191000000000000000{i}" for i in range(1, 5))

SOURCE_COLUMNS = ["source_format", "source_file", "source_record"]
FILES = {"twitter_v2": "v2_page.json", "twscrape": "twscrape.jsonl", "snscrape": "snscrape.jsonl"}


def _ingest(dump: Path, fmt: str, settings: IngestSettings, store: Path | None = None):
    return ingest_dumps([(dump, fmt)], store, settings)


@pytest.fixture
def by_format(fixture_dump, settings):
    return {fmt: _ingest(fixture_dump(name), "auto", settings) for fmt, name in FILES.items()}


def test_v2_fixture_rows(by_format) -> None:
    res = by_format["twitter_v2"]
    posts = conform(res.posts, POSTS)
    assert posts["post_id"].to_list() == [ROOT, REPLY, QUOTE, RETWEET]
    rows = {r["post_id"]: r for r in posts.iter_rows(named=True)}
    assert rows[ROOT]["created_at"] == datetime(2025, 4, 10, 10, 0, tzinfo=timezone.utc)
    assert rows[ROOT]["media_keys"] == ["3_1910000000000000101"]
    assert rows[ROOT]["author_handle"] == "alice_draws"
    assert (rows[ROOT]["like_count"], rows[ROOT]["retweet_count"], rows[ROOT]["reply_count"]) == (10, 2, 1)
    assert rows[REPLY]["parent_id"] == ROOT and rows[REPLY]["conversation_id"] == ROOT
    assert rows[QUOTE]["quoted_id"] == ROOT and rows[QUOTE]["parent_id"] is None
    assert rows[QUOTE]["conversation_id"] == QUOTE
    assert rows[RETWEET]["retweet_of_id"] == ROOT
    assert rows[RETWEET]["media_keys"] == []
    assert res.summary["records_by_format"] == {"twitter_v2": 4}
    assert res.quarantine.height == 0


@pytest.mark.parametrize("fmt", ["twscrape", "snscrape"])
def test_scraper_formats_normalize_like_v2(by_format, fmt: str) -> None:
    v2, other = by_format["twitter_v2"], by_format[fmt]
    assert other.summary["files_by_format"] == {fmt: 1}
    assert other.quarantine.height == 0
    assert other.summary["unknown_fields"] == {}
    assert set(other.posts["source_format"]) == {fmt}
    assert other.posts.drop(SOURCE_COLUMNS).equals(v2.posts.drop(SOURCE_COLUMNS))
    # same images, same keys, same hashes (source urls are the same relative paths)
    assert other.media.drop("source_url").equals(v2.media.drop("source_url"))
    # the nested quoted/retweeted posts give only their ids
    assert other.summary["referenced_tweets_not_ingested"] == 2


def test_forced_format_equals_auto(fixture_dump, settings) -> None:
    dump = fixture_dump("twscrape.jsonl")
    auto = _ingest(dump, "auto", settings)
    forced = _ingest(dump, "twscrape", settings)
    assert auto.posts.equals(forced.posts)
    wrong = _ingest(dump, "twitter_v2", settings)
    assert wrong.posts.height == 0
    assert set(wrong.quarantine["reason"]) == {"format_mismatch"}
    assert wrong.quarantine.height == 4


def test_media_manifest_and_duplicates(fixture_dump, settings, tmp_path: Path) -> None:
    store = tmp_path / "store"
    res = _ingest(fixture_dump("v2_page.json"), "auto", settings, store)
    media = conform(res.media, MEDIA)
    assert media.select("post_id", "position", "media_key").rows() == [
        (ROOT, 0, "3_1910000000000000101"),
        (QUOTE, 0, "3_1910000000000000103"),
        (QUOTE, 1, "3_1910000000000000104"),
    ]
    assert media["status"].to_list() == ["ok", "ok", "ok"]
    assert media["duplicate_of"].to_list() == [None, None, "3_1910000000000000101"]
    assert media["sha256"][0] == media["sha256"][2] != media["sha256"][1]
    stored = sorted(p.name for p in store.iterdir())
    assert stored == sorted({f"{h}.png" for h in media["sha256"]})
    assert len(stored) == 2
    assert res.summary["media"]["distinct_images"] == 2 and res.summary["media"]["duplicate_refs"] == 1


def test_timestamp_forms() -> None:
    want = to_utc_micros("2025-04-10T10:00:00.000Z")
    for form in (
        "2025-04-10T10:00:00Z",
        "2025-04-10 10:00:00+00:00",
        "2025-04-10T12:00:00+02:00",
        "2025-04-10T05:00:00-05:00",
        "2025-04-10T15:30:00+05:30",
        "Thu Apr 10 10:00:00 +0000 2025",
    ):
        assert to_utc_micros(form) == want, form
    assert want == int(datetime(2025, 4, 10, 10, tzinfo=timezone.utc).timestamp()) * 1_000_000
    assert to_utc_micros("2025-04-10T10:00:00.123456Z") == want + 123456
    for bad in (None, "", "2025-04-10T10:00:00", "2025-04-10", "yesterday", 1744279200, "2025-13-40T10:00:00Z"):
        with pytest.raises(RecordError) as e:
            to_utc_micros(bad)
        assert e.value.reason == "bad_timestamp"


def test_detect_format() -> None:
    assert detect_format({"data": [], "meta": {}}) == "twitter_v2"
    assert detect_format({"meta": {"result_count": 0}}) == "twitter_v2"
    assert detect_format({"id": 1, "id_str": "1", "rawContent": "x"}) == "twscrape"
    assert detect_format({"id": 1, "rawContent": "x", "media": {"photos": []}}) == "twscrape"
    assert detect_format({"id": 1, "content": "x", "date": "2020-01-01T00:00:00+00:00"}) == "snscrape"
    assert detect_format({"post_id": "1", "prompt": "x"}) is None
    assert detect_format([1, 2]) is None


def test_note_tweet_full_text_and_single_object_page(tmp_path: Path, settings) -> None:
    page = {
        "data": {
            "id": "5",
            "text": "truncated…",
            "note_tweet": {"text": "the whole long text"},
            "author_id": "9",
            "created_at": "2025-01-01T00:00:00.000Z",
        },
        "includes": {"users": [{"id": "9", "username": "nine"}]},
    }
    (tmp_path / "lookup.json").write_text(json.dumps(page))
    res = ingest_dumps([(tmp_path, "auto")], None, settings)
    row = res.posts.row(0, named=True)
    assert row["text"] == "the whole long text"
    assert row["conversation_id"] == "5"  # falls back to the post id
    assert row["author_handle"] == "nine"
    assert row["like_count"] is None  # no public_metrics: null, not 0


def test_jsonl_of_pages_gzip_and_list_documents(tmp_path: Path, settings) -> None:
    def page(i: int) -> dict:
        return {
            "data": [{"id": str(i), "text": f"post {i}", "author_id": "1", "created_at": f"2025-01-0{i}T00:00:00Z"}],
            "includes": {"users": [{"id": "1", "username": "one"}]},
            "__twarc": {"url": "https://api.twitter.com/2/tweets/search/all"},
        }

    # twarc2 writes one page per line
    with gzip.open(tmp_path / "pages.jsonl.gz", "wt") as f:
        f.write(json.dumps(page(1)) + "\n" + json.dumps(page(2)) + "\n")
    (tmp_path / "list.json").write_text(json.dumps([page(3), page(4)]))
    (tmp_path / "README.md").write_text("not a dump")
    res = ingest_dumps([(tmp_path, "auto")], None, settings)
    assert res.posts["post_id"].to_list() == ["1", "2", "3", "4"]
    loc = dict(res.posts.select("post_id", "source_record").rows())
    assert loc == {"1": "line:1/data[0]", "2": "line:2/data[0]", "3": "item:0/data[0]", "4": "item:1/data[0]"}
    assert res.summary["files_ignored"] == 1
    assert res.summary["unknown_fields"] == {}


def test_output_is_sorted_and_deterministic(fixture_dump, settings, tmp_path: Path) -> None:
    dump = fixture_dump("snscrape.jsonl")
    lines = (dump / "snscrape.jsonl").read_text().splitlines()
    (dump / "snscrape.jsonl").write_text("\n".join(reversed(lines)) + "\n")
    a = _ingest(dump, "auto", settings, tmp_path / "s1")
    b = _ingest(dump, "auto", settings, tmp_path / "s1")
    assert a.posts["post_id"].to_list() == [ROOT, REPLY, QUOTE, RETWEET]
    assert a.posts.equals(b.posts) and a.media.equals(b.media)
    assert a.posts["created_at"].is_sorted()
    assert a.posts.schema["created_at"] == pl.Datetime("us", "UTC")
