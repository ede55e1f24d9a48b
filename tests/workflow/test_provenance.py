"""The provenance record and the LLM usage metrics collected from stage summaries."""

from __future__ import annotations

import json

from echo_bench.io import write_json
from echo_bench.runner import run_stage


def usage(calls: int, cached: int, tokens_in: int, cost: float) -> dict:
    return {"requests": calls + cached, "calls": calls, "cached": cached, "failed": 0, "attempts": calls,
            "input_tokens": tokens_in, "output_tokens": 10 * calls, "cost_usd": cost, "unpriced_calls": 0}


def test_usage_of_every_llm_step_is_collected_once(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("a: 1\n")
    summaries = {
        "relevance": {"stage": "relevance", "backends": {"llm": "offline"},
                      "llm_usage": {"relevance": {"offline-heuristics": usage(0, 5, 0, 0.0)}}},
        "threads": {"stage": "threads", "threads": 3},  # no LLM: contributes nothing
    }
    judge_split = {"stage": "judge", "llm_usage": {"judge:text_to_image": {"gpt-4o": usage(4, 1, 400, 0.02)}}}
    paths = []
    for name, doc in summaries.items():
        write_json(tmp_path / f"{name}.json", doc)
        paths.append(str(tmp_path / f"{name}.json"))
    write_json(tmp_path / "judge_t2i.json", judge_split)
    out = {"record": str(tmp_path / "provenance.json"), "metrics": str(tmp_path / "llm_usage.json")}
    run_stage("provenance", {"summaries": paths, "judge_summaries": [str(tmp_path / "judge_t2i.json")],
                             "params": str(params)}, out, {})

    got = json.loads((tmp_path / "llm_usage.json").read_text())
    assert set(got["stages"]) == {"relevance", "judge:text_to_image"}
    assert got["total"]["calls"] == 4 and got["total"]["cached"] == 6
    assert got["total"]["input_tokens"] == 400
    assert abs(got["total"]["cost_usd"] - 0.02) < 1e-12
    record = json.loads((tmp_path / "provenance.json").read_text())
    assert record["backends"] == {"relevance": {"llm": "offline"}}
    assert len(record["params_sha256"]) == 64
