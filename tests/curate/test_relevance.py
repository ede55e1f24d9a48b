"""Relevance: the offline rules, the keep rule, failed replies, the stage files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from curate_helpers import FakeClient, failure, frames, post

from echo_bench.curate import relevance as rel
from echo_bench.curate.tables import RELEVANCE_SCORES
from echo_bench.io import read_parquet, write_parquet
from echo_bench.llm import make_client
from echo_bench.runner import run_stage
from echo_bench.schemas import QUERIED, THREADS


@pytest.mark.parametrize(
    ("text", "n_images", "low", "high"),
    [
        ("GPT-4o image gen is unreal. Prompt: a cat in a hat, Ghibli style", 1, 5, 5),
        ("Why does chatgpt keep cropping my images to a square??", 0, 4, 4),
        ("Asked chatgpt to fix my SQL query and it invented a column lol", 0, 2, 2),
        ("Test drove the new Kestrel 4o hatchback today. Smooth ride", 0, 1, 1),
        ("It's going to be 4o°C in Seville this weekend, stay hydrated", 0, 1, 1),
        ("Is it just me or does every 4o image have a yellow tint?", 0, 4, 4),
        ("Made with Midjourney v7, not ChatGPT 4o 🙃 prompt: a castle in the clouds", 1, 1, 3),
        ("Create an image of a lighthouse at dawn in soft watercolor style", 1, 3, 3),
        ("Need to create image backups of every VM before Friday's migration", 0, 1, 1),
    ],
)
def test_offline_score(text: str, n_images: int, low: int, high: int) -> None:
    score, reason = rel.offline_score(text, n_images)
    assert low <= score <= high, reason
    assert reason.startswith("offline rules R")


def test_other_model_lowers_the_score() -> None:
    base, _ = rel.offline_score("GPT-4o image gen, prompt: a red fox in the snow", 1)
    other, reason = rel.offline_score("GPT-4o vs Midjourney image gen, prompt: a red fox in the snow", 1)
    assert other < base
    assert "other model (midjourney)" in reason


def _threads() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    return frames([
        post("1", "GPT-4o image gen is unreal. Prompt below 👇", media=["m1"]),
        post("2", "Prompt: a cat in a tiny crown, Ghibli style", parent="1", minutes=1),
        post("3", "Route 4o bus was late again, third time this week", author="bob", minutes=2),
        post("4", "lovely morning", author="carl", minutes=3),
        post("5", "same, the 4o image gen made my dog a knight", parent="4", author="dana", minutes=4, media=["m5"]),
    ])


def _offline_client(tmp_path: Path) -> Any:
    return make_client({"backend": "offline"}, cache_dir=tmp_path / "cache", offline=rel.make_offline(rel.DEFAULT_NAMES))


def test_score_threads_offline_keeps_relevant_threads(tmp_path: Path) -> None:
    queried, threads, _ = _threads()
    res = rel.score_threads(queried, threads, _offline_client(tmp_path), rel.RelevanceSettings(threshold=3))
    assert res.scores.schema == RELEVANCE_SCORES
    # roots and keyword hits are scored; the context reply "2" is not (it has no keyword)
    assert set(res.scores["post_id"]) == {"1", "3", "4", "5"}
    assert set(res.kept_threads["thread_id"]) == {"1", "4"}  # "4" is kept through its relevant reply
    assert set(res.scores["producer"]) == {"offline-heuristic/relevance-v1"}
    assert res.summary["backends"]["relevance"]["backend"] == "offline"
    assert res.summary["llm_usage"]["relevance"]["offline-heuristic"]["requests"] == 4
    root_only = rel.score_threads(
        queried, threads, _offline_client(tmp_path), rel.RelevanceSettings(threshold=3, keep_if="root")
    )
    assert set(root_only.kept_threads["thread_id"]) == {"1"}


def test_reply_context_names_the_root() -> None:
    queried, threads, _ = _threads()
    client = FakeClient(lambda r: {"score": 3, "reason": "ok"})
    rel.score_threads(queried, threads, client, rel.RelevanceSettings())
    by_key = {r.key: r for r in client.requests}
    assert "lovely morning" in by_key["5"].variables["context"]
    assert by_key["1"].variables["_n_images"] == 1
    assert by_key["1"].template == "relevance"


def test_failed_replies_are_quarantined_not_dropped() -> None:
    queried, threads, _ = _threads()
    client = FakeClient(lambda r: failure() if r.key in ("1", "5") else {"score": 5, "reason": "clear"})
    res = rel.score_threads(queried, threads, client, rel.RelevanceSettings(threshold=3))
    failed = res.scores.filter(pl.col("status") == "failed")
    assert sorted(failed["post_id"]) == ["1", "5"]
    assert failed["score"].null_count() == 2
    assert sorted(res.quarantine["source_record"]) == ["1", "5"]
    assert set(res.quarantine["reason"]) == {"llm_refusal"}
    # thread 1 has no usable score: not kept, counted; thread 4 kept by its own score
    assert set(res.kept_threads["thread_id"]) == {"3", "4"}
    assert res.summary["threads_unscored"] == 1
    assert res.summary["posts_failed"] == 2


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        rel.RelevanceSettings(keep_if="all")
    with pytest.raises(ValueError):
        rel.RelevanceSettings(threshold=6)


def test_stage_writes_its_files_deterministically(tmp_path: Path, params: dict[str, Any]) -> None:
    queried, threads, _ = _threads()
    write_parquet(queried, tmp_path / "queried.parquet", QUERIED)
    write_parquet(threads, tmp_path / "threads.parquet", THREADS)
    keys = ["model_of_interest", "model_aliases", "other_models", "relevance"]
    outs = {
        "scores": str(tmp_path / "out/scores.parquet"),
        "kept_threads": str(tmp_path / "out/kept.parquet"),
        "quarantine": str(tmp_path / "out/q.parquet"),
        "cache": str(tmp_path / "cache/relevance"),
        "summary": str(tmp_path / "out/relevance.json"),
    }
    ins = {"queried": str(tmp_path / "queried.parquet"), "threads": str(tmp_path / "threads.parquet")}
    summary = run_stage("relevance", ins, outs, {k: params[k] for k in keys})
    first = {k: Path(v).read_bytes() for k, v in outs.items() if k != "cache"}
    run_stage("relevance", ins, outs, {k: params[k] for k in keys})
    assert first == {k: Path(v).read_bytes() for k, v in outs.items() if k != "cache"}
    assert summary["threads_kept"] == 2
    assert summary["backends"]["relevance"]["producer"] == "offline-heuristic/relevance-v1"
    assert "llm_usage" in summary
    assert read_parquet(outs["kept_threads"], THREADS).height == 2
    assert Path(outs["cache"]).is_dir()
    with pytest.raises(KeyError, match="not declared"):
        run_stage("relevance", ins, outs, {k: params[k] for k in keys if k != "other_models"})


# --- issue 12: no rule penalises a script, nor a bare prompt with an image ---------------

BARE_PROMPTS = {
    "en": "A red vintage bicycle leaning against a yellow wall in Lisbon, afternoon sun, film photo",
    "zh": "一辆红色复古自行车靠在里斯本的黄色墙边，午后阳光，胶片摄影",
    "ja": "リスボンの黄色い壁に立てかけられた赤いヴィンテージ自転車、午後の日差し、フィルム写真",
    "ko": "리스본의 노란 벽에 기대어 있는 빨간 빈티지 자전거, 오후의 햇살, 필름 사진",
    "ru": "Красный винтажный велосипед у жёлтой стены в Лиссабоне, послеполуденное солнце, плёночное фото, "
          "мягкие тени, тёплые тона, старый город, брусчатка, зелёные ставни, голуби на подоконнике",
}


@pytest.mark.parametrize("lang", sorted(BARE_PROMPTS))
def test_a_bare_prompt_with_an_image_is_kept_in_any_script(lang: str) -> None:
    score, reason = rel.offline_score(BARE_PROMPTS[lang], 1)
    assert score >= 3, reason
    assert score == rel.offline_score(BARE_PROMPTS["en"], 1)[0]


def test_cjk_caption_naming_the_model_scores_like_english() -> None:
    en, _ = rel.offline_score("Made with GPT-4o, prompt: a cat astronaut poster", 1)
    zh, why = rel.offline_score("调用GPT-4o生成：一张猫咪宇航员海报", 1)
    assert zh == en >= 4, why
