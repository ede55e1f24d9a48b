"""Each class of bad input is quarantined with its reason, and the run goes on."""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
import pytest

from echo_bench.ingest import IngestSettings, ingest_dumps
from echo_bench.schemas import QUARANTINE, conform


def tweet(i: int, **over) -> dict:
    t = {
        "id": str(1000 + i),
        "text": f"post {i}",
        "author_id": "7",
        "created_at": f"2025-02-{i + 1:02d}T08:00:00.000Z",
        "conversation_id": str(1000 + i),
        "lang": "en",
    }
    t.update(over)
    return {k: v for k, v in t.items() if v is not None}


def page(*tweets: dict, media: list[dict] | None = None, **extra) -> dict:
    p = {"data": list(tweets), "includes": {"users": [{"id": "7", "username": "seven"}]}, "meta": {"result_count": len(tweets)}}
    if media:
        p["includes"]["media"] = media
    p.update(extra)
    return p


def write_page(path: Path, p: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(p, indent=1))
    return path


def run(dump: Path, settings: IngestSettings, store: Path | None = None, fmt: str = "auto"):
    res = ingest_dumps([(dump, fmt)], store, settings)
    conform(res.quarantine, QUARANTINE)
    return res


def reasons(res) -> list[tuple[str, str, str]]:
    return res.quarantine.select("reason", "source_file", "source_record").rows()


def test_malformed_jsonl_line(tmp_path: Path, settings) -> None:
    dump = tmp_path / "d"
    dump.mkdir()
    good = {"id": 1, "rawContent": "ok", "date": "2025-01-01T00:00:00+00:00", "user": {"id": 2, "username": "u"}}
    lines = [json.dumps(good), '{"id": 2, "rawContent": "cut off', "", json.dumps({**good, "id": 3})]
    (dump / "s.jsonl").write_text("\n".join(lines) + "\n")
    res = run(dump, settings)
    assert res.posts["post_id"].to_list() == ["1", "3"]
    assert reasons(res) == [("bad_json", "s.jsonl", "line:2")]
    assert "cut off" in res.quarantine["raw"][0]


def test_truncated_page_does_not_lose_other_files(tmp_path: Path, settings) -> None:
    dump = tmp_path / "d"
    write_page(dump / "page-1.json", page(tweet(1)))
    text = json.dumps(page(tweet(2), tweet(3)), indent=1)
    (dump / "page-2.json").write_text(text[: len(text) // 2])  # truncated download
    write_page(dump / "sub" / "page-3.json", page(tweet(4)))
    res = run(dump, settings)
    assert res.posts["post_id"].to_list() == ["1001", "1004"]
    assert reasons(res) == [("bad_json", "page-2.json", "file")]
    assert res.summary["files_by_format"] == {"bad_json": 1, "twitter_v2": 2}
    assert res.posts.filter(pl.col("post_id") == "1004")["source_file"][0] == "sub/page-3.json"


def test_unknown_fields_are_counted_not_fatal(tmp_path: Path, settings) -> None:
    dump = tmp_path / "d"
    write_page(dump / "p.json", page(tweet(1, shiny_new_field=1), tweet(2, shiny_new_field=2, other={}), extra_top=1))
    sns = {"id": 5, "rawContent": "x", "date": "2025-01-01T00:00:00+00:00", "user": {"id": 2}, "futureField": True}
    (dump / "s.jsonl").write_text(json.dumps(sns) + "\n")
    res = run(dump, settings)
    assert res.posts.height == 3
    assert res.quarantine.height == 0
    assert res.summary["unknown_fields"] == {
        "snscrape.futureField": 1,
        "twitter_v2.other": 1,
        "twitter_v2.page.extra_top": 1,
        "twitter_v2.shiny_new_field": 2,
    }


@pytest.mark.parametrize(
    ("created_at", "detail"),
    [
        (None, "missing"),
        ("2025-02-01T08:00:00", "without a UTC offset"),
        ("last tuesday", "unparsable"),
        (1738396800, "not a string"),
    ],
)
def test_missing_or_bad_timestamp(tmp_path: Path, settings, created_at, detail: str) -> None:
    dump = tmp_path / "d"
    bad = tweet(2)
    bad["created_at"] = created_at
    if created_at is None:
        del bad["created_at"]
    write_page(dump / "p.json", page(tweet(1), bad, tweet(3)))
    res = run(dump, settings)
    assert res.posts["post_id"].to_list() == ["1001", "1003"]
    assert reasons(res) == [("bad_timestamp", "p.json", "data[1]")]
    assert detail in res.quarantine["detail"][0]
    assert json.loads(res.quarantine["raw"][0])["id"] == "1002"


def test_missing_required_fields(tmp_path: Path, settings) -> None:
    dump = tmp_path / "d"
    write_page(dump / "p.json", page(tweet(1, id=None), tweet(2, author_id=None), tweet(3, text=None), tweet(4), "oops"))
    res = run(dump, settings)
    assert res.posts["post_id"].to_list() == ["1004"]
    assert [r[0] for r in reasons(res)] == ["missing_field", "missing_field", "missing_field", "bad_record"]


def test_duplicate_ids(tmp_path: Path, settings) -> None:
    dump = tmp_path / "d"
    write_page(dump / "a.json", page(tweet(1), tweet(2)))
    # b.json: post 1 again, identical (likes changed: not content) -> merged and counted;
    # post 2 again with other text -> conflict, the first one (from a.json) is kept
    again = tweet(1)
    again["public_metrics"] = {"like_count": 99}
    write_page(dump / "b.json", page(again, tweet(2, text="edited text"), tweet(3)))
    res = run(dump, settings)
    assert res.posts["post_id"].to_list() == ["1001", "1002", "1003"]
    assert res.posts.filter(pl.col("post_id") == "1002")["text"][0] == "post 2"
    assert res.posts.filter(pl.col("post_id") == "1001")["source_file"][0] == "a.json"
    assert res.summary["duplicate_id"] == 1
    assert res.summary["duplicate_conflict"] == 1
    assert reasons(res) == [("duplicate_conflict", "b.json", "data[1]")]
    assert "text" in res.quarantine["detail"][0]


def test_unknown_format_file_is_quarantined_once(tmp_path: Path, settings) -> None:
    dump = tmp_path / "d"
    write_page(dump / "p.json", page(tweet(1)))
    (dump / "notes.jsonl").write_text("\n".join(json.dumps({"case": i}) for i in range(50)) + "\n")
    res = run(dump, settings)
    assert res.posts.height == 1
    assert reasons(res) == [("unknown_format", "notes.jsonl", "line:1")]


def _media_page(dump: Path, urls: list[str]) -> None:
    tweets, media = [], []
    for i, url in enumerate(urls):
        key = f"3_{i}"
        tweets.append(tweet(i, attachments={"media_keys": [key]}))
        media.append({"media_key": key, "type": "photo", "url": url})
    write_page(dump / "p.json", page(*tweets, media=media))


def test_missing_and_bad_media(tmp_path: Path, settings, images) -> None:
    dump = tmp_path / "d"
    (dump / "media").mkdir(parents=True)
    (dump / "media" / "good.png").write_bytes(images.png())
    jpg = images.jpeg(size=(300, 200))
    (dump / "media" / "truncated.jpg").write_bytes(jpg[: len(jpg) // 2])
    (dump / "media" / "noise.png").write_bytes(os.urandom(2000))
    (dump / "media" / "bomb.png").write_bytes(images.bomb())
    (dump / "media" / "big.png").write_bytes(images.png(size=(120, 120)))
    (dump / "media" / "image.bmp").write_bytes(b"BM" + b"\x00" * 100)
    urls = [
        "media/good.png",
        "media/nope.png",
        "media/truncated.jpg",
        "media/noise.png",
        "media/bomb.png",
        "media/image.bmp",
        "https://pbs.twimg.com/media/Abc123.jpg",
    ]
    _media_page(dump, urls)
    store = tmp_path / "store"
    res = run(dump, settings, store)
    assert res.posts.height == len(urls)  # every post kept, whatever its media
    got = res.media.select("source_url", "status", "reason").rows()
    assert got == [
        ("media/good.png", "ok", None),
        ("media/nope.png", "missing", "missing_media"),
        ("media/truncated.jpg", "corrupt", "corrupt"),
        ("media/noise.png", "corrupt", "corrupt"),
        ("media/bomb.png", "rejected", "decompression_bomb"),
        ("media/image.bmp", "rejected", "unsupported_format"),
        ("https://pbs.twimg.com/media/Abc123.jpg", "skipped", "fetch_disabled"),
    ]
    q = res.quarantine.select("reason", "source_record").rows()
    assert q == [
        ("missing_media", "data[1]/media[0]"),
        ("corrupt", "data[2]/media[0]"),
        ("corrupt", "data[3]/media[0]"),
        ("decompression_bomb", "data[4]/media[0]"),
        ("unsupported_format", "data[5]/media[0]"),
        ("fetch_disabled", "data[6]/media[0]"),  # skipped media are accounted for too
    ]
    assert len(list(store.iterdir())) == 1
    assert res.summary["media"]["by_status"] == {"corrupt": 2, "missing": 1, "ok": 1, "rejected": 2, "skipped": 1}


def test_pixel_and_byte_caps(tmp_path: Path, images) -> None:
    dump = tmp_path / "d"
    (dump / "media").mkdir(parents=True)
    (dump / "media" / "wide.png").write_bytes(images.png(size=(100, 100)))  # 10,000 px
    (dump / "media" / "heavy.png").write_bytes(os.urandom(10) + b"x" * 5000)
    _media_page(dump, ["media/wide.png", "media/heavy.png"])
    # 10,000 px is between max_pixels and 2x max_pixels: Pillow only warns there, we still reject
    res = run(dump, IngestSettings(max_pixels=6_000, max_bytes=4_000, workers=1))
    assert res.media.select("status", "reason").rows() == [
        ("rejected", "decompression_bomb"),
        ("rejected", "too_large"),
    ]


def test_path_traversal(tmp_path: Path, settings, images) -> None:
    dump = tmp_path / "d"
    (dump / "media").mkdir(parents=True)
    secret = tmp_path / "secret.png"
    secret.write_bytes(images.png())
    os.symlink(secret, dump / "media" / "link.png")
    urls = [
        "../secret.png",
        "media/../../secret.png",
        str(secret),  # absolute, outside the dump
        "media/link.png",  # a symlink inside the dump that points outside
        "/etc/passwd",
        "..\\secret.png",
        "file:///etc/passwd",
    ]
    _media_page(dump, urls)
    res = run(dump, settings, tmp_path / "store")
    assert res.posts.height == len(urls)
    assert res.media["reason"].to_list() == ["path_traversal"] * 6 + ["bad_scheme"]
    assert set(res.media["status"]) == {"rejected"}
    assert res.quarantine["reason"].to_list() == ["path_traversal"] * 6 + ["bad_scheme"]
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").iterdir())


def test_media_found_next_to_the_dump_and_in_media_dir(tmp_path: Path, images) -> None:
    corpus = tmp_path / "corpus"
    dump = corpus / "tweets"
    (corpus / "media").mkdir(parents=True)
    (corpus / "media" / "3_0.png").write_bytes(images.png(color=(1, 2, 3)))
    extra = tmp_path / "elsewhere"
    extra.mkdir()
    (extra / "Xyz.jpg").write_bytes(images.jpeg())
    # "../media/..." is allowed: it stays inside a media folder of the dump
    (corpus / "media" / "3_2.png").write_bytes(images.png(color=(4, 5, 6)))
    _media_page(dump, ["media/3_0.png", "https://pbs.twimg.com/media/Xyz?format=jpg&name=large", "../media/3_2.png"])
    res = run(dump, IngestSettings(media_dir=extra, workers=2))
    assert res.media["status"].to_list() == ["ok", "ok", "ok"]
    assert res.media["width"].to_list() == [64, 64, 64]


def test_media_key_missing_from_includes_and_videos(tmp_path: Path, settings) -> None:
    dump = tmp_path / "d"
    t1 = tweet(1, attachments={"media_keys": ["3_404"]})
    t2 = tweet(2, attachments={"media_keys": ["7_1"]})
    write_page(dump / "p.json", page(t1, t2, media=[{"media_key": "7_1", "type": "video", "preview_image_url": "x.jpg"}]))
    res = run(dump, settings)
    assert res.media.select("media_key", "status", "reason").rows() == [
        ("3_404", "missing", "media_not_in_includes"),
        ("7_1", "skipped", "not_a_photo"),
    ]
    assert res.quarantine["reason"].to_list() == ["media_not_in_includes", "not_a_photo"]
    assert res.posts["media_keys"].to_list() == [["3_404"], ["7_1"]]


def test_records_of_odd_shapes_never_crash(tmp_path: Path, settings) -> None:
    dump = tmp_path / "d"
    odd_tweets = [
        tweet(1, referenced_tweets=5),
        tweet(2, referenced_tweets=[{"type": "replied_to", "id": ["x"]}]),
        tweet(3, attachments={"media_keys": "3_1"}),
        tweet(4, public_metrics=[1, 2]),
        tweet(5, id=True),
        tweet(6, conversation_id={"a": 1}),
        tweet(7, text=["list"]),
        tweet(8, note_tweet="str"),
        tweet(9, lang=5),
    ]
    write_page(dump / "a.json", page(*odd_tweets, media=[1, "x", None]))
    write_page(dump / "b.json", {"data": "nope", "includes": 3, "errors": 7})
    write_page(dump / "c.json", {"data": [], "includes": {"users": {"id": "x"}, "media": 5, "tweets": 9}})
    scraped = [
        {"id": 1, "rawContent": "x", "date": "2025-01-01T00:00:00Z", "user": {"id": 2}, "media": {"photos": 5}, "id_str": "1"},
        {"id": 2, "rawContent": "x", "date": "2025-01-01T00:00:00Z", "user": "bob", "id_str": "2"},
        {"id": 3, "rawContent": "x", "date": "2025-01-01T00:00:00Z", "user": {"id": 2}, "id_str": "3",
         "quotedTweet": [1], "retweetedTweet": {"id": 9}},
        [1, 2, 3],
        "just a string",
        {"data": [1]},
    ]
    (dump / "s.jsonl").write_text("\n".join(json.dumps(r) for r in scraped) + "\n")
    res = run(dump, settings)
    # odd optional fields are read as null; odd required ones quarantine the record
    assert set(res.posts["post_id"]) == {"1001", "1003", "1004", "1008", "1009", "1"}
    assert res.posts.filter(pl.col("post_id") == "1009")["lang"][0] is None
    assert res.quarantine.select("reason", "source_file", "source_record").rows() == [
        ("bad_field", "a.json", "data[1]"),
        ("bad_field", "a.json", "data[4]"),
        ("bad_field", "a.json", "data[5]"),
        ("missing_field", "a.json", "data[6]"),
        ("bad_record", "b.json", "data"),
        ("missing_field", "s.jsonl", "line:2"),
        ("bad_field", "s.jsonl", "line:3"),
        ("format_mismatch", "s.jsonl", "line:4"),
        ("format_mismatch", "s.jsonl", "line:5"),
        ("format_mismatch", "s.jsonl", "line:6"),
    ]
