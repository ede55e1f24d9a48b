"""Hostile dumps (issue 16): every bound is a quarantine reason, never a crash or a read outside the roots."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import polars as pl
import pytest

from echo_bench.analyses.volume import daily_counts
from echo_bench.ingest import IngestSettings, ingest_dumps
from echo_bench.ingest.normalize import RecordLimits
from echo_bench.schemas import QUARANTINE, conform


def tweet(i: int, **over) -> dict:
    t = {
        "id": str(1000 + i),
        "text": f"post {i}",
        "author_id": "7",
        "created_at": f"2025-02-{i + 1:02d}T08:00:00.000Z",
        "conversation_id": str(1000 + i),
    }
    t.update(over)
    return {k: v for k, v in t.items() if v is not None}


def page(*tweets: dict, media: list[dict] | None = None) -> dict:
    p: dict = {"data": list(tweets), "includes": {"users": [{"id": "7", "username": "seven"}]}}
    if media:
        p["includes"]["media"] = media
    return p


def scraped(i: int, **over) -> dict:
    r = {"id": i, "id_str": str(i), "rawContent": f"post {i}", "date": "2025-03-01 10:00:00+00:00",
         "user": {"id": 5, "id_str": "5", "username": "five"}}
    r.update(over)
    return r


def run(dump: Path, settings: IngestSettings | None = None, store: Path | None = None):
    res = ingest_dumps([(dump, "auto")], store, settings or IngestSettings(workers=1))
    conform(res.quarantine, QUARANTINE)
    return res


def reasons(res) -> list[tuple[str, str]]:
    return res.quarantine.select("reason", "source_record").rows()


DEEP = "[" * 1000 + "]" * 1000


# --- 1. deep nesting -----------------------------------------------------------------


def test_deep_record_in_v2_page_is_quarantined_not_fatal(tmp_path: Path) -> None:
    dump = tmp_path / "d"
    dump.mkdir()
    # the repro: a rejected (bad timestamp) record nested 1,000 deep
    (dump / "a.json").write_text(
        '{"data":[{"id":"1","text":"x","author_id":"1","created_at":"nope","geo":' + DEEP + "}]}"
    )
    # a kept-looking post nested deep beside a good one: only the deep one goes
    good = json.dumps(tweet(1))
    (dump / "b.json").write_text('{"data":[' + good + ',{"id":"1002","text":"y","author_id":"7",'
                                 '"created_at":"2025-02-02T08:00:00Z","geo":' + DEEP + "}]}")
    res = run(dump)
    assert res.posts["post_id"].to_list() == ["1001"]
    assert reasons(res) == [("too_deep", "data[0]"), ("too_deep", "data[1]")]
    assert res.quarantine["source_file"].to_list() == ["a.json", "b.json"]


def test_deep_record_in_jsonl_and_list_is_quarantined(tmp_path: Path) -> None:
    dump = tmp_path / "d"
    dump.mkdir()
    line = json.dumps(scraped(1))[:-1] + ', "place": ' + DEEP + "}"
    (dump / "s.jsonl").write_text(json.dumps(scraped(2)) + "\n" + line + "\n" + json.dumps(scraped(3)) + "\n")
    bad_ts = json.dumps(scraped(4, date="nope"))[:-1] + ', "place": ' + DEEP + "}"
    (dump / "l.json").write_text("[" + json.dumps(scraped(5)) + "," + bad_ts + "]")
    res = run(dump)
    assert sorted(res.posts["post_id"].to_list()) == ["2", "3", "5"]
    assert sorted(reasons(res)) == [("too_deep", "item:1"), ("too_deep", "line:2")]


# --- 2. symlinks and the roots ---------------------------------------------------------


def _media_page(dump: Path, urls: list[str]) -> None:
    tweets, media = [], []
    for i, url in enumerate(urls):
        key = f"3_{i}"
        tweets.append(tweet(i, attachments={"media_keys": [key]}))
        media.append({"media_key": key, "type": "photo", "url": url})
    dump.mkdir(parents=True, exist_ok=True)
    (dump / "p.json").write_text(json.dumps(page(*tweets, media=media)))


def test_symlinks_found_by_name_url_or_key_are_not_read(tmp_path: Path, images) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(images.png(color=(9, 9, 9)))
    (outside / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    dump = tmp_path / "d"
    (dump / "media").mkdir(parents=True)
    os.symlink(outside / "passwd", dump / "media" / "x.png")
    os.symlink(outside / "secret.png", dump / "media" / "Abc.jpg")
    os.symlink(outside / "secret.png", dump / "media" / "3_2.png")
    (dump / "media" / "fine.png").write_bytes(images.png())
    urls = [
        "x.png",  # by file name (the path itself does not exist)
        "https://pbs.twimg.com/media/Abc.jpg",  # by URL basename
        "gone/nothing.png",  # falls back to the media key 3_2
        "media/fine.png",
    ]
    _media_page(dump, urls)
    store = tmp_path / "store"
    res = run(dump, store=store)
    assert res.media.select("status", "reason").rows() == [
        ("rejected", "path_traversal"),
        ("rejected", "path_traversal"),
        ("rejected", "path_traversal"),
        ("ok", None),
    ]
    assert [p.name.split(".")[0] for p in store.iterdir()] == [res.media["sha256"][3]]


def test_symlinked_dump_file_outside_the_dump_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "other.json").write_text(json.dumps(page(tweet(5))))
    dump = tmp_path / "d"
    dump.mkdir()
    (dump / "a.json").write_text(json.dumps(page(tweet(1))))
    os.symlink(outside / "other.json", dump / "b.json")
    res = run(dump)
    assert res.posts["post_id"].to_list() == ["1001"]
    assert res.quarantine.select("reason", "source_file").rows() == [("path_traversal", "b.json")]


def test_file_dump_does_not_search_the_folder_above(tmp_path: Path, images) -> None:
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "3_0.png").write_bytes(images.png())
    dump = tmp_path / "dumps" / "one.json"
    dump.parent.mkdir()
    (dump.parent / "media").mkdir()
    (dump.parent / "media" / "3_1.png").write_bytes(images.png(color=(1, 1, 1)))
    tweets = [tweet(0, attachments={"media_keys": ["3_0"]}), tweet(1, attachments={"media_keys": ["3_1"]})]
    dump.write_text(json.dumps(page(*tweets, media=[{"media_key": "3_0", "type": "photo"},
                                                     {"media_key": "3_1", "type": "photo"}])))
    res = run(dump)
    assert res.media.select("media_key", "status").rows() == [("3_0", "missing"), ("3_1", "ok")]


def test_fifo_in_a_dump_does_not_hang(tmp_path: Path) -> None:
    dump = tmp_path / "d"
    dump.mkdir()
    os.mkfifo(dump / "pipe.json")
    (dump / "a.json").write_text(json.dumps(page(tweet(1))))
    res = run(dump)
    assert res.posts.height == 1
    assert res.quarantine.select("reason", "source_file").rows() == [("path_traversal", "pipe.json")]


# --- 3. compressed dumps ------------------------------------------------------------


def _gz_bomb(path: Path, mib: int, jsonl: bool) -> None:
    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = (b'{"id": 1, "id_str": "1", "rawContent": "' if jsonl else b'{"data":[{"id":"1","text":"')
    parts = [co.compress(head)]
    chunk = b"a" * (1 << 20)
    parts += [co.compress(chunk) for _ in range(mib)]
    parts.append(co.compress(b'"}' + (b"\n" if jsonl else b"]}")))
    parts.append(co.flush())
    path.write_bytes(b"".join(parts))


@pytest.mark.parametrize("name", ["bomb.json.gz", "bomb.jsonl.gz"])
def test_gzip_bomb_stops_early(tmp_path: Path, name: str) -> None:
    dump = tmp_path / "d"
    dump.mkdir()
    _gz_bomb(dump / name, 64, jsonl="jsonl" in name)
    (dump / "ok.jsonl.gz").write_bytes(gzip.compress((json.dumps(scraped(9)) + "\n").encode()))
    res = run(dump, IngestSettings(workers=1, limits=RecordLimits(max_gzip_ratio=50)))
    assert res.posts["post_id"].to_list() == ["9"]
    q = res.quarantine
    assert q["reason"].to_list() == ["decompression_bomb"]
    assert "ratio" in q["detail"][0]


def test_gzip_bomb_peak_memory_is_bounded(tmp_path: Path) -> None:
    """A 64 MiB expansion in a child process: its peak RSS stays far below what the old whole-file read took."""
    dump = tmp_path / "d"
    dump.mkdir()
    _gz_bomb(dump / "bomb.json.gz", 256, jsonl=False)
    code = (
        "import resource, sys; from pathlib import Path\n"
        "from echo_bench.ingest import IngestSettings, ingest_dumps\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "r = ingest_dumps([(Path(sys.argv[1]), 'auto')], None, IngestSettings(workers=1))\n"
        "print(r.summary['quarantine_reasons'], (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(dump)], capture_output=True, text=True, timeout=120,
                         check=True).stdout.split()
    assert out[0:2] == ["{'decompression_bomb':", "1}"]
    assert int(out[2]) < 64  # MiB above the imports; the whole-file read needed > 256


def test_absolute_caps_on_lines_and_documents(tmp_path: Path) -> None:
    dump = tmp_path / "d"
    dump.mkdir()
    big = json.dumps(scraped(2, rawContent="x" * 5000))
    (dump / "s.jsonl").write_text(json.dumps(scraped(1)) + "\n" + big + "\n" + json.dumps(scraped(3)) + "\n")
    (dump / "z.json").write_text(json.dumps(page(*[tweet(i) for i in range(1, 30)])))
    res = run(dump, IngestSettings(workers=1, limits=RecordLimits(max_record_bytes=4000, max_document_bytes=2000)))
    assert sorted(res.posts["post_id"].to_list()) == ["1", "3"]
    assert res.quarantine.select("reason", "source_file", "source_record").rows() == [
        ("record_too_large", "s.jsonl", "line:2"),
        ("file_too_large", "z.json", "file"),
    ]


# --- 4. timestamps ------------------------------------------------------------------


def test_timestamps_outside_the_window_are_quarantined(tmp_path: Path) -> None:
    dump = tmp_path / "d"
    dump.mkdir()
    tweets = [
        tweet(1, created_at="9999-12-31T23:00:00-05:00"),  # becomes year 10000 in UTC
        tweet(2, created_at="0001-01-01T00:00:00+14:00"),  # becomes year 0 in UTC
        tweet(3, created_at="1999-01-01T00:00:00Z"),
        tweet(4, created_at="2006-03-21T00:00:00Z"),  # the first instant of the window: kept
        tweet(5, created_at="2099-12-31T23:59:59Z"),
    ]
    (dump / "p.json").write_text(json.dumps(page(*tweets)))
    res = run(dump)
    assert res.posts["post_id"].to_list() == ["1004", "1005"]
    assert [r[0] for r in reasons(res)] == ["timestamp_out_of_range"] * 3
    # what ingest lets through, downstream stages take: the volume series spans the window's edges
    queried = res.posts.with_columns(pl.lit(["x"]).alias("matched_keywords"))
    vol = daily_counts(queried, None, None, threshold=3)
    assert vol["date"][0] == dt.date(2006, 3, 21) and vol["date"][-1] == dt.date(2099, 12, 31)
    assert vol["queried"].sum() == 2


def test_volume_tolerates_any_datetime_polars_holds() -> None:
    far = pl.Series("created_at", [-62_135_596_800_000_000 - 50_400_000_000, 253_402_318_800_000_000],
                    dtype=pl.Int64).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    queried = pl.DataFrame({"post_id": ["1", "2"], "created_at": far, "matched_keywords": [["x"], ["x"]]})
    vol = daily_counts(queried, None, None, threshold=3)
    assert vol.height == 0  # both outside the calendar Python can hold: not counted, no crash


def test_time_window_misconfiguration_names_the_key() -> None:
    from echo_bench.params import load
    from echo_bench.stages.ingest import settings_from_params

    cfg = load(Path(__file__).parents[2] / "params.yaml")["ingest"]
    assert settings_from_params({"ingest": cfg}).limits == RecordLimits()  # params.yaml = the documented defaults
    bad = {**cfg, "limits": {**cfg["limits"], "min_created_at": "2006-03-21"}}  # no UTC offset
    with pytest.raises(ValueError, match="ingest.limits.min_created_at"):
        settings_from_params({"ingest": bad})


# --- 5. unbounded fields -----------------------------------------------------------------


@pytest.mark.parametrize("bad_id", ["../../etc/x", "-1", "12\u202e34", "12\x0034", "1" * 21, "١٢٣"])
def test_ids_must_be_twitter_ids(tmp_path: Path, bad_id: str) -> None:
    dump = tmp_path / "d"
    dump.mkdir()
    (dump / "p.json").write_text(json.dumps(page(tweet(1), tweet(2, id=bad_id), tweet(3, author_id=bad_id),
                                                 tweet(4, conversation_id=bad_id))))
    (dump / "s.jsonl").write_text(json.dumps(scraped(7, id_str=bad_id)) + "\n"
                                  + json.dumps(scraped(8, inReplyToTweetIdStr=bad_id)) + "\n")
    res = run(dump)
    assert res.posts["post_id"].to_list() == ["1001"]
    assert [r[0] for r in reasons(res)] == ["bad_id"] * 5


def test_negative_int_id_and_bad_media_key(tmp_path: Path) -> None:
    dump = tmp_path / "d"
    dump.mkdir()
    t = tweet(2, attachments={"media_keys": ["../x"]})
    (dump / "p.json").write_text(json.dumps(page(tweet(1), t, media=[{"media_key": "../x", "type": "photo"}])))
    (dump / "s.jsonl").write_text(json.dumps({**scraped(3), "id": -1, "id_str": None}) + "\n")
    res = run(dump)
    assert res.posts["post_id"].to_list() == ["1001"]
    assert [r[0] for r in reasons(res)] == ["bad_id", "bad_id"]


def test_long_text_is_quarantined(tmp_path: Path) -> None:
    dump = tmp_path / "d"
    dump.mkdir()
    (dump / "p.json").write_text(json.dumps(page(tweet(1), tweet(2, text="x" * 200_001))))
    res = run(dump)
    assert res.posts["post_id"].to_list() == ["1001"]
    assert reasons(res) == [("text_too_long", "data[1]")]


def test_skipped_media_are_counted_in_quarantine_and_summary(tmp_path: Path) -> None:
    dump = tmp_path / "d"
    _media_page(dump, ["https://pbs.twimg.com/media/Abc123.jpg", "https://pbs.twimg.com/media/Def.jpg"])
    res = run(dump)
    assert res.posts.height == 2
    assert reasons(res) == [("fetch_disabled", "data[0]/media[0]"), ("fetch_disabled", "data[1]/media[0]")]
    m = res.summary["media"]
    assert m["by_reason"] == {"fetch_disabled": 2}
    assert m["quarantined"] == 2 and m["posts_with_unusable_media"] == 2
    assert res.summary["quarantine_reasons"] == {"fetch_disabled": 2}


# --- issue 12, point 7: duplicates that differ only in media -----------------------------


def _tw(i: int, photos: list[str]) -> dict:
    return scraped(i, media={"photos": [{"url": u} for u in photos]})


def test_duplicate_with_more_media_is_merged_and_counted(tmp_path: Path, images) -> None:
    dump = tmp_path / "d"
    (dump / "media").mkdir(parents=True)
    (dump / "media" / "3_11.png").write_bytes(images.png(color=(1, 2, 3)))
    (dump / "media" / "3_12.png").write_bytes(images.png(color=(4, 5, 6)))
    one = _tw(5, ["media/3_11.png"])
    two = _tw(5, ["media/3_11.png", "media/3_12.png"])
    (dump / "a.jsonl").write_text(json.dumps(one) + "\n")
    (dump / "b.jsonl").write_text(json.dumps(two) + "\n" + json.dumps(one) + "\n")
    res = run(dump)
    assert res.posts["media_keys"].to_list() == [["3_11", "3_12"]]
    assert res.media.select("media_key", "status").rows() == [("3_11", "ok"), ("3_12", "ok")]
    assert res.summary["duplicate_media_merged"] == 2  # b.jsonl line 1 added a photo; line 2 had nothing new
    assert res.summary["duplicate_id"] == 0
    assert res.quarantine.height == 0


def test_duplicate_whose_shared_media_key_differs_is_a_conflict(tmp_path: Path) -> None:
    dump = tmp_path / "d"
    dump.mkdir()
    first = page(tweet(1, attachments={"media_keys": ["3_1"]}), media=[{"media_key": "3_1", "type": "photo",
                                                                         "url": "https://x/a.jpg"}])
    again = page(tweet(1, attachments={"media_keys": ["3_1", "3_2"]}),
                 media=[{"media_key": "3_1", "type": "photo", "url": "https://x/OTHER.jpg"},
                        {"media_key": "3_2", "type": "photo", "url": "https://x/b.jpg"}])
    (dump / "a.json").write_text(json.dumps(first))
    (dump / "b.json").write_text(json.dumps(again))
    res = run(dump)
    assert res.posts["media_keys"].to_list() == [["3_1"]]
    assert res.summary["duplicate_conflict"] == 1
    q = res.quarantine.filter(pl.col("reason") == "duplicate_conflict")
    assert q.height == 1 and "media (3_1)" in q["detail"][0]
