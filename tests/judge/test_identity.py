"""Judge identity in every JUDGMENTS row, and the warning for rolling aliases."""

from __future__ import annotations

import hashlib
import logging

import polars as pl
import pytest

from echo_bench.io import read_parquet
from echo_bench.judge.identity import alias_kind, prompt_sha256
from echo_bench.prompts import load as load_template
from echo_bench.schemas import JUDGMENTS
from echo_bench.stages import judge as judge_stage

LOG = logging.getLogger("test.judge.identity")


@pytest.mark.parametrize(
    ("model", "kind"),
    [
        ("chatgpt-4o-latest", "latest"),
        ("gemini-1.5-flash-latest", "latest"),
        ("gpt-4o", "undated"),
        ("claude-sonnet-4-5", "undated"),
        ("Qwen/Qwen2.5-VL-32B-Instruct", "undated"),
        ("gpt-4o-2024-08-06", None),
        ("claude-3-5-sonnet-20241022", None),
        ("gemini-1.5-pro-002", None),
        ("gpt-4-0613", None),
    ],
)
def test_alias_kind(model, kind):
    assert alias_kind(model) == kind


def test_prompt_hash_is_the_rendered_prompt():
    v = {"instruction": "draw a cat", "n_input_images": 0, "_repeat": 3}
    r = load_template("judge_single@v1").render(v)
    assert prompt_sha256("judge_single@v1", v) == hashlib.sha256((r.system + "\x00" + r.user).encode()).hexdigest()
    assert prompt_sha256("judge_single@v1", {**v, "_repeat": 0}) == prompt_sha256("judge_single@v1", v)  # not rendered
    assert prompt_sha256("judge_single@v1", {**v, "instruction": "draw a dog"}) != prompt_sha256("judge_single@v1", v)


def test_identity_columns_through_the_sdks_and_the_alias_warning(tmp_path, monkeypatch, kit):
    from echo_bench.testing import api_stub

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ECHO_TEST_KEY", "sk-test-dummy")
    s, g = kit.build_split(tmp_path, n=2)
    with api_stub.APIStub(kit.responder_factory()) as stub:
        route = "POST /v1/chat/completions"
        plain = stub.routes[route]

        def pinned_by_provider(req):  # the provider resolves the alias to a dated snapshot
            out = plain(req)
            if out.status == 200 and isinstance(out.body, dict):
                out.body["model"] = "gpt-4o-2024-11-20"
            return out

        stub.routes[route] = pinned_by_provider
        judges = [
            {"name": "gpt", "backend": "openai", "model": "chatgpt-4o-latest", "base_url": stub.openai_base_url,
             "api_key_env": "ECHO_TEST_KEY", "weight": 1.0},
            {"name": "claude", "backend": "anthropic", "model": "claude-3-5-sonnet-20241022",
             "base_url": stub.anthropic_base_url, "api_key_env": "ECHO_TEST_KEY", "weight": 1.0},
        ]
        params = kit.judge_params(judges, max_failed_share=0.5)  # the stub's replies without a verdict are tolerated here
        outs = {"judgments": "judgments.parquet", "cache": "cache/judge"}
        summary = judge_stage.run({"samples": s, "generations": g}, outs, params, LOG)
        j = read_parquet(tmp_path / "judgments.parquet", JUDGMENTS)
        # a second run from the cache keeps the reported model of the original reply
        judge_stage.run({"samples": s, "generations": g}, outs, params, LOG)
        again = read_parquet(tmp_path / "judgments.parquet", JUDGMENTS)

    judged = j.filter(pl.col("status") != "no_output")
    assert judged.height == 8
    gpt = judged.filter(pl.col("judge") == "gpt")
    assert set(gpt["judge_model"]) == {"chatgpt-4o-latest"} and set(gpt["judge_model_reported"]) == {"gpt-4o-2024-11-20"}
    claude = judged.filter(pl.col("judge") == "claude")
    # a reply without a verdict is never cached, so only the accepted ones carry the reported model
    assert set(claude.filter(pl.col("status") == "ok")["judge_model_reported"]) == {"claude-3-5-sonnet-20241022"}
    assert claude.filter(pl.col("status") == "parse_failed").height > 0
    assert judged["prompt_sha256"].null_count() == 0 and judged["cache_key"].null_count() == 0
    # same sample -> same rendered prompt for both judges and both models (the image differs, not the text)
    per_sample = judged.group_by("sample_id").agg(pl.col("prompt_sha256").n_unique().alias("n"))
    assert per_sample["n"].to_list() == [1, 1]
    assert again.equals(j)
    # the model sent is recorded for rows without output too
    assert set(j.filter(pl.col("status") == "no_output")["judge_model"]) == {"chatgpt-4o-latest", "claude-3-5-sonnet-20241022"}

    warnings = summary["warnings"]
    assert any("chatgpt-4o-latest" in w and "rolling alias" in w for w in warnings)
    assert any("gpt-4o-2024-11-20" in w for w in warnings)
    assert not any("claude" in w for w in warnings)
    who = {w["judge"]: w for w in summary["judge_identity"]}
    assert who["gpt"]["model_reported"] == ["gpt-4o-2024-11-20"] and who["gpt"]["templates"] == ["judge_single@v1"]


def test_offline_judge_gets_no_alias_warning(tmp_path, monkeypatch, kit):
    monkeypatch.chdir(tmp_path)
    s, g = kit.build_split(tmp_path, n=1)
    params = kit.judge_params([{"name": "offline", "backend": "offline", "model": "offline-heuristic-judge", "weight": 1.0}])
    summary = judge_stage.run({"samples": s, "generations": g}, {"judgments": "j.parquet", "cache": "c"}, params, LOG)
    j = read_parquet(tmp_path / "j.parquet", JUDGMENTS).filter(pl.col("status") == "ok")
    assert set(j["judge_model_reported"]) == {"offline-heuristic-judge"} and j["prompt_sha256"].null_count() == 0
    assert summary["warnings"] == []
