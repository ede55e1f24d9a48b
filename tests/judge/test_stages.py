"""The judge and winrates stages end to end: offline, and through the real SDKs against the loopback stub."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import polars as pl
import pytest

from echo_bench.io import read_json, read_parquet, write_parquet
from echo_bench.schemas import GENERATIONS, JUDGMENTS, METRIC_VALUES, SAMPLES
from echo_bench.stages import judge as judge_stage

LOG = logging.getLogger("test.judge")
SPLIT = "image_to_image"

# the stage helpers (a small split, params, the stub's responder) are the `kit` fixture of conftest.py

def test_offline_judge_stage_and_winrates(tmp_path, monkeypatch, kit):
    monkeypatch.chdir(tmp_path)
    s, g = kit.build_split(tmp_path)
    # a metrics table entry for one item: text accuracy 0 pulls keep/s0 down but keep still beats cast there
    mv = pl.DataFrame(
        [{"split": SPLIT, "model": "keep", "sample_id": "s0", "metric": "text_accuracy", "value": 0.0, "status": "ok", "detail": "{}"},
         {"split": SPLIT, "model": "cast", "sample_id": "s0", "metric": "text_accuracy", "value": None, "status": "failed", "detail": "{}"}],
        schema=METRIC_VALUES,
    )
    write_parquet(mv, tmp_path / "metrics.parquet", METRIC_VALUES)
    params = kit.judge_params([{"name": "offline", "backend": "offline", "model": "offline-heuristic-judge", "weight": 1.0}], repeats=2)
    outs = {"judgments": "judgments.parquet", "cache": "cache/judge"}
    summary = judge_stage.run({"samples": s, "generations": g, "metrics": "metrics.parquet"}, outs, params, LOG)
    assert summary["items"] == 9 and summary["items_with_output"] == 6
    assert summary["judges"]["offline"]["status"] == {"no_output": 6, "ok": 12}
    j = read_parquet(tmp_path / "judgments.parquet", JUDGMENTS)
    assert set(j["backend"]) == {"offline"} and j.filter(pl.col("status") == "ok")["raw"].str.starts_with("Offline heuristic judge").all()
    keep = j.filter((pl.col("model") == "keep") & (pl.col("repeat") == 0)).sort("sample_id")["score"].to_list()
    cast = j.filter((pl.col("model") == "cast") & (pl.col("repeat") == 0)).sort("sample_id")["score"].to_list()
    assert keep[1:] == [10.0, 10.0] and keep[0] < 10.0 and all(k > c for k, c in zip(keep, cast))
    assert "text_accuracy = 0.0000 [metrics table]" in j.filter((pl.col("model") == "keep") & (pl.col("sample_id") == "s0"))["raw"][0]

    res = kit.run_winrates(tmp_path, params)
    # keep beats cast and none everywhere: 6/6; cast beats none: 3/6; none: 0/6
    table = pl.read_csv(res["table"])
    assert table["model"].to_list() == ["keep", "cast", "none"]
    assert table["win_rate"].to_list() == pytest.approx([1.0, 0.5, 0.0])
    head = read_json(res["metrics"])
    assert head["top_model"] == "keep" and head["offline_only"] is True and head["prompts"] == 3
    full = read_json(res["json"])
    assert full["repeat_spread"][0]["share_items_repeats_differ"] == 0.0  # the offline judge is deterministic
    assert full["counts"]["battles"]["decided_by_missing_output"] == 6
    plot = pl.read_csv(res["plot"])
    assert plot.columns == ["model", "win_rate", "ci_low", "ci_high", "battles"]
    assert res["figure_pdf"].read_bytes().startswith(b"%PDF")
    # deterministic outputs: a second run gives the same bytes
    before = {k: Path(v).read_bytes() for k, v in res.items() if k not in ("summary", "figure_png")}
    before["judgments"] = (tmp_path / "judgments.parquet").read_bytes()
    judge_stage.run({"samples": s, "generations": g, "metrics": "metrics.parquet"}, outs, params, LOG)
    again = kit.run_winrates(tmp_path, params)
    assert (tmp_path / "judgments.parquet").read_bytes() == before.pop("judgments")
    for k, v in before.items():
        assert Path(again[k]).read_bytes() == v, k


# --- real SDKs against the loopback stub -------------------------------------------------------


def test_two_judges_openai_and_anthropic_sdks_against_the_stub(tmp_path, monkeypatch, kit):
    stub_mod = pytest.importorskip("echo_bench.testing.api_stub", reason="the loopback API stub is not in the tree")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ECHO_TEST_KEY", "sk-test-dummy")
    s, g = kit.build_split(tmp_path)
    with stub_mod.APIStub(kit.responder_factory()) as stub:
        judges = [
            {"name": "gpt", "backend": "openai", "model": "gpt-4o-stub", "base_url": stub.openai_base_url,
             "api_key_env": "ECHO_TEST_KEY", "weight": 1.0, "backoff_base_s": 0.01, "backoff_max_s": 0.02},
            {"name": "claude", "backend": "anthropic", "model": "claude-stub", "base_url": stub.anthropic_base_url,
             "api_key_env": "ECHO_TEST_KEY", "weight": 1.0, "backoff_base_s": 0.01, "backoff_max_s": 0.02},
        ]
        params = kit.judge_params(judges, repeats=2, max_failed_share=0.5)  # claude's 4 of 12 are tolerated
        stub.inject(stub_mod.Fault.server_error(503))  # one transient failure, retried by the client
        outs = {"judgments": "judgments.parquet", "cache": "cache/judge"}
        summary = judge_stage.run({"samples": s, "generations": g}, outs, params, LOG)
        # 2 models with output x 3 samples x 2 repeats = 12 calls per judge (+1 retried 503),
        # and claude's 4 replies without a verdict are re-asked twice each (max_retries 2)
        assert stub.hits["POST /v1/chat/completions"] + stub.hits["POST /v1/messages"] == 25 + 4 * 2
        calls = [c for c in stub.calls]
        assert all(len(c.images) == 2 for c in calls)  # the input image, then the output
        assert {c.provider for c in calls} == {"openai", "anthropic"}
        assert all("Rating: [[10]]" in c.text and "sample s" in c.text for c in calls)  # the instruction is sent verbatim
        first = dict(summary["judges"])
        assert first["gpt"]["status"] == {"no_output": 6, "ok": 12}
        assert first["claude"]["status"] == {"no_output": 6, "ok": 8, "parse_failed": 4}
        assert first["gpt"]["usage"]["gpt-4o-stub"]["calls"] == 12

        j = read_parquet(tmp_path / "judgments.parquet", JUDGMENTS)
        gpt = j.filter((pl.col("judge") == "gpt") & (pl.col("status") == "ok"))
        assert set(gpt["backend"]) == {"openai"} and set(gpt["score"]) == {3.0, 8.0, 9.0}  # never the instruction's 10
        claude = j.filter(pl.col("judge") == "claude")
        assert set(claude["backend"]) == {"anthropic"} and set(claude["score"].drop_nulls()) == {2.0, 9.0}
        pf = claude.filter(pl.col("status") == "parse_failed")
        assert pf["raw"].str.ends_with("I would rate it highly.").all() and (pf["sample_id"] == "s1").all()
        # every rejected reply kept verbatim with its attempt number
        for rejected in pf["rejected"].to_list():
            got = json.loads(rejected)
            assert [r["attempt"] for r in got] == [1, 2, 3]
            assert all(r["text"].endswith("I would rate it highly.") and r["error"].startswith("unparsed_reply") for r in got)
        assert set(claude.filter(pl.col("status") == "ok")["rating_form"]) == {"rating_brackets+markdown"}
        assert set(gpt["rating_form"]) == {"rating_brackets"}

        # a re-run is served from the response cache, except the parse failures, which were never cached
        hits = sum(stub.hits.values())
        judge_stage.run({"samples": s, "generations": g}, outs, params, LOG)
        assert sum(stub.hits.values()) == hits + 4 * 3
        assert read_parquet(tmp_path / "judgments.parquet", JUDGMENTS).equals(j)

    res = kit.run_winrates(tmp_path, params)
    # battles (keep vs cast per sample, votes gpt / claude):
    #   s0: keep / keep -> keep;  s1: keep / abstain -> keep;  s2: cast / keep -> split vote -> tie
    #   plus keep and cast beat none (no output) on each sample
    #   keep: 1 + 1 + 0.5 + 3 = 5.5 / 6;  cast: 0 + 0 + 0.5 + 3 = 3.5 / 6;  none: 0 / 6
    table = pl.read_csv(res["table"])
    assert dict(zip(table["model"], table["win_rate"])) == pytest.approx({"keep": 5.5 / 6, "cast": 3.5 / 6, "none": 0.0})
    full = json.loads(res["json"].read_text())
    pair = full["agreement"]["pairs"][0]
    # both judged keep-cast on s0 and s2 (claude abstains on s1): agree on s0 only
    assert (pair["battles"], pair["agreement"]) == (2, 0.5)
    dist = {d["judge"]: d for d in full["rating_distribution"]}
    assert dist["claude"]["parse_failure_rate"] == pytest.approx(4 / 12, abs=1e-6)
    assert read_json(res["metrics"])["parse_failure_rate"] == pytest.approx(4 / 24, abs=1e-6)


def test_missing_api_key_stops_the_stage_before_any_call_and_writes_nothing(tmp_path, monkeypatch, kit):
    from echo_bench.llm import LLMStageError

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ECHO_ABSENT_KEY", raising=False)
    s, g = kit.build_split(tmp_path, n=1)
    params = kit.judge_params([{"name": "gpt", "backend": "openai", "model": "gpt-4o", "base_url": "http://127.0.0.1:9/v1",
                            "api_key_env": "ECHO_ABSENT_KEY", "weight": 1.0}])
    with pytest.raises(LLMStageError) as info:
        judge_stage.run({"samples": s, "generations": g}, {"judgments": "j.parquet", "cache": "c"}, params, LOG)
    msg = str(info.value)
    assert "judge:image_to_image" in msg and "openai" in msg and "http://127.0.0.1:9/v1" in msg
    assert "ECHO_ABSENT_KEY is not set" in msg
    assert not (tmp_path / "j.parquet").exists()


def test_winrates_on_empty_or_single_model_judgments(tmp_path, monkeypatch, kit):
    monkeypatch.chdir(tmp_path)
    params = kit.judge_params([{"name": "j", "backend": "offline", "weight": 1.0}], n_boot=20)
    write_parquet(pl.DataFrame(schema=JUDGMENTS), tmp_path / "judgments.parquet", JUDGMENTS)
    res = kit.run_winrates(tmp_path, params)
    assert res["summary"]["top_model"] is None
    row = [("image_to_image", "s1", "m", "j", "offline", "t", 0, "x\nRating: [[5]]", 5.0, "ok", None, "rating_brackets", None, "m0", "m0", None, None)]
    write_parquet(pl.DataFrame(row, schema=JUDGMENTS, orient="row"), tmp_path / "judgments.parquet", JUDGMENTS)
    res = kit.run_winrates(tmp_path, params)
    assert res["summary"]["win_rate"] == {"m": None}


def test_judge_items_counts_what_it_cannot_judge(tmp_path, monkeypatch, kit):
    from echo_bench.judge.grading import judge_items

    monkeypatch.chdir(tmp_path)
    s, g = kit.build_split(tmp_path, n=2)
    gens = read_parquet(g, GENERATIONS)
    extra = pl.concat([
        gens.filter((pl.col("model") == "keep") & (pl.col("sample_id") == "s0")).with_columns(pl.lit("x").alias("sample_id")),
        gens.filter((pl.col("model") == "cast") & (pl.col("sample_id") == "s1")).with_columns(
            pl.lit("failed").alias("status")),  # a duplicate failed row must not hide the ok one
        gens.filter((pl.col("model") == "keep") & (pl.col("sample_id") == "s1")).with_columns(
            pl.lit("data/gen/keep/gone.png").alias("output_image")).with_columns(pl.lit("ghost").alias("model")),
    ])
    items, counts = judge_items(read_parquet(s, SAMPLES), pl.concat([gens, extra]))
    assert counts["generation_rows_of_unknown_samples"] == 1 and counts["duplicate_generation_rows"] == 1
    by = {(i.sample_id, i.model): i for i in items}
    assert by[("s1", "cast")].has_output
    assert by[("s1", "ghost")].reason.startswith("output file not found")
    assert by[("s0", "ghost")].reason == "no generation row"
    assert counts["items_without_output"] == {"generation failed": 2, "no generation row": 1, "output file not found": 1}
