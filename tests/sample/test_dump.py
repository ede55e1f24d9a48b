"""The sample dump: deterministic, in the configured mix, valid where it should be, bad where it should be."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import re
import statistics
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from echo_bench.sample import KINDS, SampleConfig, allocate, snowflake, snowflake_ms, write_dump
from echo_bench.sample.bad import BAD_KINDS, BAD_TIMESTAMP, CONFLICT_TEXT

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "awesome-gpt4o-images"


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def parse_time(text: str) -> int:
    return int(dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.000Z").replace(tzinfo=dt.UTC).timestamp())


# --- determinism --------------------------------------------------------------------------------


def test_same_config_gives_byte_identical_dumps(small_dump, small_config, tmp_path):
    again = tmp_path / "again"
    write_dump(small_config, again)
    first, second = tree_bytes(small_dump.root), tree_bytes(again)
    assert sorted(first) == sorted(second)
    differing = [name for name in first if first[name] != second[name]]
    assert differing == []
    assert len(first) > 100


def test_another_seed_gives_another_dump(small_dump, small_config, tmp_path):
    other = tmp_path / "other"
    write_dump(dataclasses.replace(small_config, seed=8, n_threads=20, n_bad=0), other)
    assert (other / "truth.jsonl").read_bytes() != (small_dump.root / "truth.jsonl").read_bytes()


def test_no_temporary_folders_are_left_and_a_rerun_replaces_the_dump(small_config, tmp_path):
    cfg = dataclasses.replace(small_config, n_threads=12, n_bad=1, image_size=48)
    write_dump(cfg, tmp_path / "dump")
    (tmp_path / "dump" / "stale.txt").write_text("from an older run")
    write_dump(cfg, tmp_path / "dump")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dump"]
    assert not (tmp_path / "dump" / "stale.txt").exists()


# --- the mix of thread kinds ----------------------------------------------------------------------


def test_thread_kinds_appear_as_configured(small_dump, small_config):
    expected = {k: v for k, v in allocate(small_config.kind_shares, small_config.n_threads).items() if v}
    assert Counter(t["kind"] for t in small_dump.truth) == expected
    assert small_dump.summary["kinds"] == expected
    assert set(expected) == set(KINDS)


def test_a_custom_mix_is_followed(small_config, tmp_path):
    cfg = dataclasses.replace(
        small_config,
        n_threads=10,
        n_bad=0,
        image_size=48,
        kind_shares={"prompt_share": 3, "coincidental": 1, "retweet": 1},
    )
    summary = write_dump(cfg, tmp_path / "dump")
    assert summary["kinds"] == {"prompt_share": 6, "coincidental": 2, "retweet": 2}


def test_allocate_sums_to_n_and_follows_shares():
    counts = allocate({"prompt_share": 0.5, "edit_pair": 0.3, "retweet": 0.2}, 7)
    assert sum(counts.values()) == 7
    assert counts["prompt_share"] >= counts["edit_pair"] >= counts["retweet"] >= 1


def test_unknown_kinds_are_refused():
    with pytest.raises(ValueError, match="unknown kinds"):
        SampleConfig(kind_shares={"selfies": 1.0})


# --- ids and times --------------------------------------------------------------------------------


def test_snowflake_round_trip():
    ms = parse_time("2025-03-25T18:00:07.000Z") * 1000 + 431
    post_id = snowflake(ms, machine=513, sequence=7)
    assert len(post_id) == 19
    assert snowflake_ms(post_id) == ms


@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus awesome-gpt4o-images is not present")
def test_snowflake_decoder_agrees_with_real_posts():
    items = [
        item for f in sorted((CORPUS / "tweets").glob("page-*.json")) for item in json.loads(f.read_text())["data"]
    ]
    assert items
    assert all(snowflake_ms(i["id"]) // 1000 == parse_time(i["created_at"]) for i in items)


def test_ids_decode_to_created_at(small_dump):
    records = [r for r in small_dump.records() if "id" in r and r["created_at"] != BAD_TIMESTAMP]
    assert len(records) > 300
    for r in records:
        assert re.fullmatch(r"\d{19}", r["id"])
        assert snowflake_ms(r["id"]) // 1000 == parse_time(r["created_at"]), r["id"]
        for key in r.get("attachments", {}).get("media_keys", []):
            assert snowflake_ms(key.removeprefix("3_")) < snowflake_ms(r["id"])  # uploaded before posting


def test_replies_come_after_what_they_reply_to(small_dump):
    by_id = {r["id"]: r for r in small_dump.records() if "id" in r}
    for r in by_id.values():
        for ref in r.get("referenced_tweets", []):
            if ref["id"] in by_id:
                assert int(r["id"]) > int(ref["id"])


def test_spike_days_show_in_daily_counts(small_dump):
    per_day = Counter(r["created_at"][:10] for r in small_dump.records() if r["created_at"] != BAD_TIMESTAMP)
    spike = per_day["2025-03-25"]
    assert spike == max(per_day.values())
    assert spike > 3 * statistics.median(per_day.values())


# --- pages and media --------------------------------------------------------------------------------


def test_pages_are_valid_json_except_the_cut_one(small_dump):
    pages = small_dump.pages()
    assert list(pages) == [f"tweets/page-{i:04d}.json" for i in range(1, len(pages) + 1)]
    broken = []
    for name, text in pages.items():
        try:
            page = json.loads(text)
        except json.JSONDecodeError:
            broken.append(name)
            continue
        assert set(page) == {"data", "includes", "meta"}
        assert page["meta"]["result_count"] == len(page["data"])
        ids = [int(i["id"]) for i in page["data"] if "id" in i]
        assert page["meta"]["newest_id"] == str(max(ids)) and page["meta"]["oldest_id"] == str(min(ids))
        assert ("next_token" in page["meta"]) == (name != list(pages)[-1])
    assert broken == [small_dump.cut_page()]


def test_every_referenced_media_key_is_in_the_pages_includes(small_dump):
    for name, page in small_dump.readable_pages().items():
        media = {m["media_key"] for m in page["includes"]["media"]}
        users = {u["id"] for u in page["includes"]["users"]}
        for item in page["data"]:
            assert set(item.get("attachments", {}).get("media_keys", [])) <= media, name
            assert item["author_id"] in users
            if "in_reply_to_user_id" in item:
                assert item["in_reply_to_user_id"] in users


def test_media_files_exist_and_open_except_the_bad_ones(small_dump):
    missing = {k for b in small_dump.bad for k in b["missing_media"]}
    corrupt = {k for b in small_dump.bad for k in b["corrupt_media"]}
    assert missing and corrupt
    seen = 0
    for page in small_dump.readable_pages().values():
        for m in page["includes"]["media"]:
            path = small_dump.root / m["url"]
            assert m["url"].startswith("media/") and m["type"] == "photo"
            if m["media_key"] in missing:
                assert not path.exists()
                continue
            if m["media_key"] in corrupt:
                with pytest.raises(OSError):
                    Image.open(io.BytesIO(path.read_bytes())).load()
                continue
            with Image.open(path) as img:
                assert img.size == (m["width"], m["height"])
            seen += 1
    assert seen > 100


def test_exact_duplicates_are_identical_records(small_dump):
    by_id: dict[str, list[dict]] = {}
    for r in small_dump.records():
        if "id" in r:
            by_id.setdefault(r["id"], []).append(r)
    repeated = {k: v for k, v in by_id.items() if len(v) > 1}
    identical = [k for k, v in repeated.items() if all(x == v[0] for x in v)]
    conflicting = [k for k, v in repeated.items() if k not in identical]
    assert (
        len(identical) == sum(t["exact_copies"] for t in small_dump.truth) == small_dump.summary["exact_duplicates"] > 0
    )
    conflict = next(b for b in small_dump.bad if b["kind"] == "duplicate_id_conflict")
    assert conflicting == conflict["post_ids"]
    assert [r["text"] for r in by_id[conflicting[0]]][-1] == CONFLICT_TEXT


# --- bad records -------------------------------------------------------------------------------------


def test_bad_records_cover_every_kind_and_point_at_their_record(small_dump):
    assert sorted(b["kind"] for b in small_dump.bad) == sorted(BAD_KINDS)
    pages = small_dump.readable_pages()
    for b in small_dump.bad:
        if b["kind"] == "truncated_page":
            text = small_dump.pages()[b["file"]]
            assert all(pid not in {r.get("id") for r in small_dump.records()} for pid in b["post_ids"])
            assert max(b["post_ids"], key=int) in text  # the page starts with its newest post
            continue
        item = pages[b["file"]]["data"][b["data_index"]]
        if b["kind"] == "missing_id":
            assert "id" not in item
        else:
            assert item["id"] == b["post_ids"][0]
        if b["kind"] == "bad_timestamp":
            assert item["created_at"] == BAD_TIMESTAMP
        if b["kind"] == "duplicate_id_conflict":
            assert item["text"] == CONFLICT_TEXT


def test_no_bad_records_when_n_bad_is_zero(small_config, read_dump, tmp_path):
    summary = write_dump(dataclasses.replace(small_config, n_threads=15, n_bad=0, image_size=48), tmp_path / "dump")
    dump = read_dump(tmp_path / "dump", summary)
    assert dump.bad == [] and summary["bad_records"] == {}
    assert all(json.loads(text) for text in dump.pages().values())


# --- the truth agrees with the dump --------------------------------------------------------------------


def test_truth_posts_and_images_are_in_the_dump(small_dump):
    by_id = {r["id"]: r for r in small_dump.records() if "id" in r}
    media_keys = {m["media_key"] for p in small_dump.readable_pages().values() for m in p["includes"]["media"]}
    roots = {t["root_post_id"] for t in small_dump.truth}
    for t in small_dump.truth:
        assert t["post_ids"][0] == t["root_post_id"]
        for pid in t["post_ids"]:
            assert by_id[pid]["conversation_id"] == t["root_post_id"]
        assert set(t["input_image_keys"] + t["output_image_keys"]) <= media_keys
        assert t["duplicate_of"] is None or t["duplicate_of"] in roots
        for fb in t["feedback"]:
            text = by_id[fb["post_id"]]["text"].lower()
            assert all(k.lower() in text for k in fb["keywords"]), (fb, text)


def test_complaints_name_real_defects(small_dump):
    category = {
        "yellow_cast": "color",
        "identity_lost": "identity",
        "text_error": "text",
        "aspect_ratio": "proportions",
        "incoherent": "coherency",
    }
    complaints = 0
    for t in small_dump.truth:
        for fb in t["feedback"]:
            if fb["polarity"] == "failure":
                complaints += 1
                assert fb["category"] in {category[d] for d in t["defects"]}
    assert complaints > 5


def test_prompts_sit_where_the_truth_says(small_dump):
    by_id = {r["id"]: r for r in small_dump.records() if "id" in r}
    checked = Counter()
    for t in small_dump.truth:
        if t["prompt_source"] in ("root_text", "self_reply"):
            text = " ".join(by_id[p]["text"] for p in t["prompt_post_ids"])
            if t["prompt_stitched"]:
                words = [w for w in text.split() if w not in ("Prompt", "(1/2):", "(2/2)")]
                assert " ".join(words) == " ".join(t["prompt"].split())
            else:
                assert t["prompt"] in text
            checked[t["prompt_source"]] += 1
        if t["kind"] == "prompt_below":
            assert t["prompt"] not in by_id[t["root_post_id"]]["text"]
        if t["fill_in_blank"]:
            ((token, value),) = t["blank_values"].items()
            assert token in t["prompt"] and t["filled_prompt"] == t["prompt"].replace(token, value)
        if t["requested_text"]:
            assert f'"{t["requested_text"]}"' in t["prompt"]
            assert (t["rendered_text"] != t["requested_text"]) == ("text_error" in t["defects"])
    assert checked["root_text"] > 20 and checked["self_reply"] > 3


def test_relevance_by_kind(small_dump):
    for t in small_dump.truth:
        if t["kind"] in ("coincidental", "other_model"):
            assert not t["is_relevant"] and t["quality"] == "Trash"
        if t["kind"] == "other_model":
            assert t["other_model"]
        if t["kind"] == "coincidental":
            assert t["coincidence_keyword"].lower() in " ".join(
                r["text"].lower() for r in small_dump.records() if r.get("id") == t["root_post_id"]
            )
        if t["kind"] == "non_english":
            assert t["lang"] != "en" and t["is_relevant"]


def test_retweets_and_copies_repeat_their_original(small_dump):
    by_id = {r["id"]: r for r in small_dump.records() if "id" in r}
    for t in small_dump.truth:
        root = by_id[t["root_post_id"]]
        if t["kind"] == "retweet":
            original = by_id[t["duplicate_of"]]
            assert root["text"].startswith("RT @")
            assert root["referenced_tweets"] == [{"type": "retweeted", "id": original["id"]}]
            assert root.get("attachments") == original.get("attachments")
        if t["kind"] == "repost_copy":
            original_truth = next(o for o in small_dump.truth if o["root_post_id"] == t["duplicate_of"])
            assert t["prompt"] == original_truth["prompt"]
            for new, old in zip(t["output_image_keys"], original_truth["output_image_keys"], strict=True):
                new_file = next((small_dump.root / "media").glob(f"{new}.*"))
                old_file = next((small_dump.root / "media").glob(f"{old}.*"))
                assert new_file.read_bytes() == old_file.read_bytes()


def test_crops_lie_inside_their_image(small_dump):
    sizes = {
        m["media_key"]: (m["width"], m["height"])
        for p in small_dump.readable_pages().values()
        for m in p["includes"]["media"]
    }
    layouts = Counter()
    for t in small_dump.truth:
        if t["image_layout"] in ("screenshot", "side_by_side"):
            layouts[t["image_layout"]] += 1
            assert "output" in t["crops"]
            for crop in t["crops"].values():
                w, h = sizes[crop["media_key"]]
                x0, y0, x1, y1 = crop["box"]
                assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
            if t["task_type"] == "edit":
                assert "input" in t["crops"]
    assert layouts["screenshot"] and layouts["side_by_side"]


def test_identity_truth_is_consistent(small_dump):
    portraits = [t for t in small_dump.truth if t["faces"]]
    assert portraits
    for t in portraits:
        same = t["faces"]["input"] == t["faces"]["output"]
        assert t["identity_preserved"] == same
        assert ("identity_lost" in t["defects"]) == (not same)


# --- the format matches a real dump ------------------------------------------------------------------------


@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus awesome-gpt4o-images is not present")
def test_fields_match_the_real_corpus(small_dump):
    real = [json.loads(f.read_text()) for f in sorted((CORPUS / "tweets").glob("page-*.json"))]
    real_item_keys = {k for p in real for i in p["data"] for k in i}
    real_media_keys = {k for p in real for m in p["includes"]["media"] for k in m}
    real_user_keys = {k for p in real for u in p["includes"]["users"] for k in u}
    ours = small_dump.readable_pages().values()
    assert {k for p in ours for i in p["data"] for k in i} <= real_item_keys | {
        "attachments",
        "referenced_tweets",
        "in_reply_to_user_id",
    }
    assert {k for p in ours for m in p["includes"]["media"] for k in m} == real_media_keys
    assert {k for p in ours for u in p["includes"]["users"] for k in u} == real_user_keys
    assert {k for p in ours for k in p["meta"]} >= {k for p in real for k in p["meta"]}
