"""Extraction: offline rules on small threads, reply checks, failures, the stage files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from curate_helpers import FakeClient, failure, frames, media_rows, post

from echo_bench.curate import extract as ex
from echo_bench.curate.tables import CANDIDATES
from echo_bench.io import read_parquet, write_parquet
from echo_bench.llm import make_client
from echo_bench.quarantine import Quarantine
from echo_bench.runner import run_stage
from echo_bench.schemas import MEDIA, QUERIED, THREAD_POSTS, THREADS


def _corpus() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    rows = [
        # prompt below: the author's reply holds the prompt; another author's reply judges the result
        post("10", "4o image gen keeps surprising me. Prompt in the reply 👇", media=["k10"]),
        post("11", "Prompt:\nA lighthouse on a rocky cliff at sunset, watercolor, golden hour", parent="10", minutes=1),
        post("12", "the colors are way too warm, looks like a sepia filter", parent="10", author="bob", minutes=2),
        post("13", "what app is this?", parent="10", author="carl", minutes=3),
        post("14", "thanks! took two tries", parent="12", minutes=4),
        post("15", "One more with the same prompt 👇", parent="10", minutes=5, media=["k15"]),
        # a prompt split in two numbered parts
        post("20", "ChatGPT 4o made this. Prompt below 👇", minutes=10, media=["k20"]),
        post("21", "Prompt (1/2): Scene: a tropical beach with one palm tree. Style:", parent="20", minutes=11),
        post("22", "(2/2) in Studio Ghibli style. Lighting: golden hour.", parent="21", minutes=12),
        # another model: Trash
        post("30", "Made with Midjourney v7, not ChatGPT 4o. Prompt: a castle above the clouds, oil painting",
             minutes=20, media=["k30"]),
        # commentary: Analysis
        post("40", "Is it just me or does every 4o image have a yellow tint?", minutes=30),
        # an edit pair with the instruction quoted
        post("50", 'Gave 4o my photo with the prompt "Turn me into a Studio Ghibli character" 😳', minutes=40,
             media=["k50a", "k50b", "k50c"]),
    ]
    queried, threads, thread_posts = frames(rows)
    media = media_rows([
        ("k10", "10", 0, "data/media/a10.png"), ("k15", "15", 0, "data/media/a15.png"), ("k20", "20", 0, "data/media/a20.png"),
        ("k30", "30", 0, "data/media/a30.png"), ("k50a", "50", 0, "data/media/a50.png"), ("k50b", "50", 1, "data/media/b50.png"),
        ("k50c", "50", 2, None),
    ])
    return queried, threads, thread_posts, media


def _threads() -> dict[str, ex.Thread]:
    queried, threads, thread_posts, media = _corpus()
    q = Quarantine("extract")
    built = ex.build_threads(threads, thread_posts, queried, media, q)
    assert len(q) == 0
    return {t.thread_id: t for t in built}


def _sample(thread: ex.Thread) -> dict[str, Any]:
    (s,) = ex.offline_extract(thread)["samples"]
    return s


def test_prompt_below_feedback_and_more_outputs() -> None:
    s = _sample(_threads()["10"])
    assert s["prompt"] == "A lighthouse on a rocky cliff at sunset, watercolor, golden hour"
    assert s["prompt_modified"] is False
    assert s["quality"] == "Benchmark"
    assert s["image_post_ids"] == ["10", "15"]  # the root, then the author's reply with another output
    assert [f["post_id"] for f in s["feedback"]] == ["12"]  # not the question "what app", not the author's answer
    assert "reply-label" in s["notes"]


def test_numbered_parts_are_stitched() -> None:
    s = _sample(_threads()["20"])
    assert s["prompt"] == "Scene: a tropical beach with one palm tree. Style: in Studio Ghibli style. Lighting: golden hour."
    assert s["prompt_modified"] is True
    assert "stitched" in s["notes"]


def test_other_model_is_trash_and_commentary_is_analysis() -> None:
    t = _threads()
    assert _sample(t["30"])["quality"] == "Trash"
    s = _sample(t["40"])
    assert s["quality"] == "Analysis"
    assert s["prompt"] == "Is it just me or does every 4o image have a yellow tint?"


def _client(threads: dict[str, ex.Thread], tmp_path: Path) -> Any:
    return make_client({"backend": "offline"}, cache_dir=tmp_path, offline=ex.make_offline(threads, ex.DEFAULT_NAMES))


def test_extract_samples_offline(tmp_path: Path) -> None:
    threads = _threads()
    q = Quarantine("extract")
    res = ex.extract_samples(list(threads.values()), _client(threads, tmp_path), ex.ExtractSettings(), q)
    c = res.candidates
    assert c.schema == CANDIDATES
    assert c.height == 5
    row = c.filter(pl.col("thread_id") == "50").row(0, named=True)
    assert row["prompt"] == "Turn me into a Studio Ghibli character"
    assert row["images"] == ["data/media/a50.png", "data/media/b50.png"]  # post order, then position
    assert row["image_post_of"] == ["50", "50"]
    assert row["n_missing_images"] == 1  # the third attachment did not resolve
    assert row["producer"] == "offline-heuristic/extract-v1"
    assert res.summary["candidates_by_quality"] == {"Benchmark": 3, "Analysis": 1, "Trash": 1}
    fb = c.filter(pl.col("thread_id") == "10")["feedback"].to_list()[0]
    assert fb == [{"post_id": "12", "text": "the colors are way too warm, looks like a sepia filter"}]


def test_reply_checks_quarantine_unknown_ids_and_keep_verbatim_text() -> None:
    thread = _threads()["10"]
    q = Quarantine("extract")
    data = {
        "samples": [
            {"prompt": " A lighthouse ", "prompt_modified": False, "image_post_ids": ["15", "999", "10", "15"],
             "quality": "Benchmark", "feedback": [{"post_id": "12", "text": "paraphrased"}, {"post_id": "77", "text": "x"}]},
            {"prompt": "second task", "prompt_modified": True, "image_post_ids": [], "quality": "Analysis", "feedback": []},
        ]
    }
    rows = ex.candidates_from_reply(thread, data, "openai:gpt-4o", q)
    assert [r["sample_index"] for r in rows] == [0, 1]
    assert rows[0]["sample_id"] != rows[1]["sample_id"]
    assert rows[0]["prompt"] == "A lighthouse"
    assert rows[0]["image_posts"] == ["15", "10"]  # most important first, as the reply said; repeats dropped
    assert rows[0]["images"] == ["data/media/a15.png", "data/media/a10.png"]
    assert rows[0]["feedback"] == [{"post_id": "12", "text": "the colors are way too warm, looks like a sepia filter"}]
    assert sorted(r["reason"] for r in q.rows) == ["unknown_post_id", "unknown_post_id"]


def test_failed_reply_is_quarantined(tmp_path: Path) -> None:
    threads = _threads()
    client = FakeClient(lambda r: failure("invalid_json: no JSON value found") if r.key == "10" else ex.offline_extract(threads[r.key]))
    q = Quarantine("extract")
    res = ex.extract_samples(list(threads.values()), client, ex.ExtractSettings(), q)
    assert "10" not in set(res.candidates["thread_id"])
    assert res.summary["threads_failed"] == 1
    assert [r["reason"] for r in q.rows] == ["llm_invalid_json"]
    assert q.rows[0]["source_record"] == "10"
    assert client.requests[0].template == "extract_samples"
    assert "[post 10]" in client.requests[0].variables["thread_document"]


def test_stage_runs_and_is_deterministic(tmp_path: Path, params: dict[str, Any]) -> None:
    queried, threads, thread_posts, media = _corpus()
    ins = {}
    for name, df, schema in (("kept_threads", threads, THREADS), ("thread_posts", thread_posts, THREAD_POSTS),
                             ("queried", queried, QUERIED), ("media", media, MEDIA)):
        ins[name] = str(tmp_path / f"{name}.parquet")
        write_parquet(df, ins[name], schema)
    outs = {"candidates": str(tmp_path / "o/c.parquet"), "quarantine": str(tmp_path / "o/q.parquet"),
            "cache": str(tmp_path / "cache"), "summary": str(tmp_path / "o/s.json")}
    keys = ["model_of_interest", "model_aliases", "other_models", "extract"]
    s = run_stage("extract", ins, outs, {k: params[k] for k in keys})
    first = Path(outs["candidates"]).read_bytes()
    run_stage("extract", ins, outs, {k: params[k] for k in keys})
    assert Path(outs["candidates"]).read_bytes() == first
    assert read_parquet(outs["candidates"], CANDIDATES).height == 5
    assert s["backends"]["extract"]["backend"] == "offline"


def test_missing_root_is_quarantined() -> None:
    queried, threads, thread_posts, media = _corpus()
    q = Quarantine("extract")
    built = ex.build_threads(threads, thread_posts, queried.filter(pl.col("post_id") != "40"), media, q)
    assert "40" not in {t.thread_id for t in built}
    assert {r["reason"] for r in q.rows} >= {"post_not_found", "root_missing"}


@pytest.mark.parametrize("text", ["(1/3) first part", "1/2 first part", "Prompt (1/2): x"])
def test_part_markers(text: str) -> None:
    assert ex.part_of(text) is not None and ex.part_of(text)[0] == 1
