"""The four curation stages end to end: offline on a generated sample dump, through the real SDKs
against the loopback stub, and the agreement report on the shared corpus."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from curate_helpers import frames, media_rows, photo, post, save

from echo_bench.curate.agreement import agreement_report
from echo_bench.io import write_parquet
from echo_bench.runner import run_stage
from echo_bench.schemas import MEDIA, QUERIED, SAMPLES, THREAD_POSTS, THREADS
from echo_bench.testing.api_stub import APIStub, ModelCall, ModelReply

STAGE_KEYS = {
    "relevance": ["model_of_interest", "model_aliases", "other_models", "relevance"],
    "extract": ["model_of_interest", "model_aliases", "other_models", "extract"],
    "multimodal": ["model_of_interest", "multimodal"],
    "finalize": ["model_of_interest", "finalize"],
}


def run_curation(d: Path, params: dict[str, Any], media_store: Path) -> dict[str, dict]:
    """relevance -> extract -> multimodal -> finalize on d/{queried,threads,thread_posts,media}.parquet."""
    p = {s: {k: params[k] for k in keys} for s, keys in STAGE_KEYS.items()}
    out = {}
    out["relevance"] = run_stage(
        "relevance", {"queried": f"{d}/queried.parquet", "threads": f"{d}/threads.parquet"},
        {"scores": f"{d}/c/scores.parquet", "kept_threads": f"{d}/c/kept.parquet", "quarantine": f"{d}/q/relevance.parquet",
         "cache": f"{d}/cache/relevance", "summary": f"{d}/s/relevance.json"}, p["relevance"])
    out["extract"] = run_stage(
        "extract", {"kept_threads": f"{d}/c/kept.parquet", "thread_posts": f"{d}/thread_posts.parquet",
                    "queried": f"{d}/queried.parquet", "media": f"{d}/media.parquet"},
        {"candidates": f"{d}/c/candidates.parquet", "quarantine": f"{d}/q/extract.parquet", "cache": f"{d}/cache/extract",
         "summary": f"{d}/s/extract.json"}, p["extract"])
    out["multimodal"] = run_stage(
        "multimodal", {"candidates": f"{d}/c/candidates.parquet", "media": f"{d}/media.parquet", "media_store": str(media_store)},
        {"processed": f"{d}/c/processed.parquet", "crops": f"{d}/c/crops", "quarantine": f"{d}/q/multimodal.parquet",
         "cache": f"{d}/cache/multimodal", "summary": f"{d}/s/multimodal.json"}, p["multimodal"])
    out["finalize"] = run_stage(
        "finalize", {"processed": f"{d}/c/processed.parquet"},
        {"splits": f"{d}/splits", "quarantine": f"{d}/q/finalize.parquet", "cache": f"{d}/cache/finalize",
         "summary": f"{d}/s/finalize.json"}, p["finalize"])
    return out


def _outputs(d: Path) -> dict[str, bytes]:
    return {str(f.relative_to(d)): f.read_bytes() for sub in ("c", "splits", "q") for f in sorted((d / sub).rglob("*")) if f.is_file()}


def test_sample_dump_offline_end_to_end(tmp_path: Path, params: dict[str, Any]) -> None:
    from echo_bench.collect import collect
    from echo_bench.ingest import IngestSettings, ingest_dumps
    from echo_bench.sample import SampleConfig, write_dump
    from echo_bench.threads import build_threads

    write_dump(SampleConfig(n_threads=90), tmp_path / "raw")
    ing = ingest_dumps([(tmp_path / "raw", "auto")], tmp_path / "media", IngestSettings())
    queried = collect(ing.posts, keywords=["chatgpt", "create image", "image gen", "4o", "gpt-4o", "gpt4o"]).queried
    tr = build_threads(queried)
    d = tmp_path / "run"
    for name, df, schema in (("queried", queried, QUERIED), ("threads", tr.threads, THREADS),
                             ("thread_posts", tr.thread_posts, THREAD_POSTS), ("media", ing.media, MEDIA)):
        write_parquet(df, d / f"{name}.parquet", schema)
    s = run_curation(d, params, tmp_path / "media")
    first = _outputs(d)
    splits = {n: pl.read_parquet(d / "splits" / f"{n}.parquet") for n in ("analysis", "text_to_image", "image_to_image")}
    assert all(df.schema == SAMPLES for df in splits.values())
    assert splits["text_to_image"].height > 0 and splits["image_to_image"].height > 0 and splits["analysis"].height > 0
    assert set(splits["image_to_image"]["task_type"]) <= {"edit", "multi_image"}
    assert set(splits["text_to_image"]["task_type"]) == {"text_to_image"}
    assert (splits["image_to_image"]["input_images"].list.len() > 0).all()
    assert (splits["text_to_image"]["reference_outputs"].list.len() > 0).all()
    # every candidate ends somewhere: a split or the discarded table
    cands = pl.read_parquet(d / "c" / "candidates.parquet")["sample_id"]
    placed = pl.concat([df.select("sample_id") for df in splits.values()]
                       + [pl.read_parquet(d / "splits" / "discarded.parquet").select("sample_id")]).unique()
    assert set(cands) == set(placed["sample_id"])
    for stage, summary in s.items():
        assert summary["backends"][stage]["backend"] == "offline", stage
        assert stage in summary["llm_usage"], stage
    assert s["multimodal"]["crops"] > 0
    # determinism: a re-run leaves every output byte-identical
    run_curation(d, params, tmp_path / "media")
    assert _outputs(d) == first


# --- the real backends, through their SDKs, against the loopback stub ------------------------------


def responder(call: ModelCall) -> dict | ModelReply:
    text = call.text
    if "=== THREAD ===" in text:
        ids = re.findall(r"\[post (\w+)\]", text)
        return {"samples": [{"prompt": "A lighthouse on a cliff at sunset, watercolor", "prompt_modified": False,
                             "image_post_ids": [ids[0], "not-a-post"], "quality": "Benchmark",
                             "feedback": [{"post_id": i, "text": "?"} for i in ids[1:2]], "notes": "stub"}]}
    if "The attached images, numbered" in text:
        n = len(call.images)
        return {"images": [{"index": i + 1, "role": "output", "duplicate_of": None} for i in range(n)],
                "resolved_prompt": None, "resolution_confident": False, "screenshots": []}
    if "Candidate sample" in text:
        return {"label": "Benchmark", "reason": "clear task"}
    if "cover letter" in text:  # a refusal: quarantined, never cached, asked again on a re-run
        return ModelReply(text="I'm sorry, but I can't help with that.", refusal="I can't help with that.")
    return {"score": 5 if "lighthouse" in text else 2, "reason": "stub"}


def _small(d: Path) -> Path:
    store = d / "media_store"
    img = save(photo(3), store / "a.png")
    queried, threads, thread_posts = frames([
        post("1", "GPT-4o image gen. Prompt: A lighthouse on a cliff at sunset, watercolor", media=["m1"]),
        post("2", "stunning, the lighting is perfect", parent="1", author="bob", minutes=1),
        post("3", "chatgpt wrote my cover letter", author="carl", minutes=2),
    ])
    for name, df, schema in (("queried", queried, QUERIED), ("threads", threads, THREADS),
                             ("thread_posts", thread_posts, THREAD_POSTS), ("media", media_rows([("m1", "1", 0, img)]), MEDIA)):
        write_parquet(df, d / f"{name}.parquet", schema)
    return store


def test_llm_backend_through_the_openai_sdk(tmp_path: Path, params: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECHO_TEST_CURATE_KEY", "sk-test")
    d = tmp_path / "run"
    store = _small(d)
    with APIStub(responder) as stub:
        cfg = {"backend": "openai", "model": "stub-model", "base_url": stub.openai_base_url,
               "api_key_env": "ECHO_TEST_CURATE_KEY", "max_retries": 0, "max_concurrency": 2, "timeout_s": 5.0}
        for stage in STAGE_KEYS:
            params[stage]["llm"] = dict(cfg)
        params["relevance"]["max_failed_share"] = 0.5  # the one refusal of two requests is tolerated, and recorded
        s = run_curation(d, params, store)
        calls = stub.model_hits
        assert calls >= 5
        t2i = pl.read_parquet(d / "splits" / "text_to_image.parquet")
        assert s["relevance"]["posts_failed"] == 1
        q = pl.read_parquet(d / "q" / "relevance.parquet")
        assert q["reason"].to_list() == ["llm_refusal"]
        assert s["extract"]["backends"]["extract"] == {"backend": "openai", "model": "stub-model", "producer": "openai:stub-model"}
        qe = pl.read_parquet(d / "q" / "extract.parquet")
        assert "unknown_post_id" in qe["reason"].to_list()
        assert t2i.height == 1
        assert t2i["producer"][0].startswith("extract=openai:stub-model")
        assert t2i["feedback"].to_list()[0] == [{"post_id": "2", "text": "stunning, the lighting is perfect"}]
        # a re-run answers from the response cache: no new calls, same outputs
        first = _outputs(d)
        s2 = run_curation(d, params, store)
        assert stub.model_hits == calls + 1  # only the refused request (errors are never cached) is asked again
        usage = s2["extract"]["llm_usage"]["extract"]["stub-model"]
        assert usage["cached"] == usage["requests"]
        assert {k: v for k, v in _outputs(d).items() if not k.startswith("q/relevance")} == {
            k: v for k, v in first.items() if not k.startswith("q/relevance")}


def test_agreement_report_on_the_corpus(tmp_path: Path, gpt4o_corpus: Path) -> None:
    figures = agreement_report(gpt4o_corpus, tmp_path / "agreement")
    assert figures["cases"] == 94
    o = figures["overall"]
    assert o["extracted"] == 94
    # regression guards of the baseline (docs/curation.md has the figures), not targets
    assert o["prompt"]["share_ratio_ge_90"] >= 0.8
    assert o["fill_in_blank"]["recall"] >= 0.8
    assert o["needs_input"]["accuracy"] >= 0.75
    md = (tmp_path / "agreement" / "agreement.md").read_text(encoding="utf-8")
    assert "| group | cases | extracted | prompt mean ratio |" in md
    cases = pl.read_parquet(tmp_path / "agreement" / "cases.parquet")
    assert cases.height == 94 and cases["prompt_ratio"].max() <= 100
    assert json.loads((tmp_path / "agreement" / "agreement.json").read_text())["producer"].startswith("offline")
