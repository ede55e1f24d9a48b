"""Feedback annotation through a real backend: the OpenAI SDK against the loopback API stub, cached."""

from __future__ import annotations

import json

import polars as pl
from analyses_helpers import ANALYSES_OUTPUTS, project_params, run_analyses

from echo_bench.testing.api_stub import APIStub


def responder(call):
    text = call.text.lower()
    if "yellow" in text.split("reply to annotate", 1)[-1]:
        return {"polarity": "failure", "keywords": [{"keyword": "Yellow Tint", "category": "color balance", "polarity": "failure"}]}
    return {"polarity": "neutral", "keywords": []}


def test_feedback_stage_with_an_llm_backend_names_the_producer_and_reuses_its_cache(workspace, monkeypatch):
    root, paths = workspace
    monkeypatch.setenv("ECHO_TEST_KEY", "test")
    with APIStub(responder=responder) as stub:
        llm = {"backend": "openai", "model": "gpt-stub", "base_url": stub.openai_base_url, "api_key_env": "ECHO_TEST_KEY",
               "backoff_base_s": 0.01, "backoff_max_s": 0.02}
        every = project_params(**{"analyses.feedback.llm": llm})
        first = run_analyses(every, paths, parts=("feedback",))["feedback"]["feedback"]
        calls = stub.hits["POST /v1/chat/completions"]
        ann = pl.read_parquet(root / ANALYSES_OUTPUTS["feedback"]["annotations"])
        assert set(ann["producer"]) == {"openai:gpt-stub"} and first["producers"] == ["openai:gpt-stub"]
        # one request per distinct (prompt, reply); keywords canonicalized (lower case, known category)
        assert 0 < calls <= ann.height
        yellow = ann.filter(pl.col("text").str.contains("yellow"))
        assert yellow.height > 0 and set(yellow["polarity"]) == {"failure"}
        assert yellow["failure_keywords"].to_list()[0] == ["yellow tint"]
        assert yellow["failure_categories"].to_list()[0] == ["color_balance"]
        cloud = json.loads((root / ANALYSES_OUTPUTS["feedback"]["wordcloud"]).read_text())
        assert [w["text"] for w in cloud["words"]] == ["yellow tint"]
        # a second run answers from the response cache: no new calls, same annotations
        run_analyses(every, paths, parts=("feedback",))
        assert stub.hits["POST /v1/chat/completions"] == calls
        assert pl.read_parquet(root / ANALYSES_OUTPUTS["feedback"]["annotations"]).equals(ann)
