"""Cache keys and entries, the offline backend, cfg checks and the usage metrics file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from llm_helpers import PRICES, judge_request, relevance_request, write_png

from echo_bench import prompts
from echo_bench.llm import LLMRequest, make_client, reply_schema, write_usage
from echo_bench.llm.cache import ImageHasher, ResponseCache

CFG = {"backend": "openai", "model": "stub-model", "api_key_env": None}


def key_of(req: LLMRequest, tmp_path: Path, **cfg) -> str:
    client = make_client({**CFG, **cfg}, cache_dir=tmp_path / "keys")
    k = client.cache_key(req)
    assert k is not None
    return k


def test_cache_key_changes_with_what_changes_the_reply(tmp_path: Path) -> None:
    img = write_png(tmp_path / "img.png", (1, 2, 3))
    req = judge_request("draw a fox", (str(img),), 0)
    base = key_of(req, tmp_path)
    assert base == key_of(req, tmp_path)  # deterministic, across clients
    assert key_of(LLMRequest(req.template, req.variables, req.images, key="other-id"), tmp_path) == base

    assert key_of(req, tmp_path, model="other-model") != base
    assert key_of(req, tmp_path, backend="anthropic") != base
    assert key_of(req, tmp_path, temperature=0.7) != base
    assert key_of(req, tmp_path, max_tokens=99) != base
    assert key_of(judge_request("draw a cat", (str(img),), 0), tmp_path) != base
    assert key_of(judge_request("draw a fox", (str(img),), 0, json_schema={"type": "object"}), tmp_path) != base
    repeat = LLMRequest(req.template, {**req.variables, "_repeat": 1}, req.images)
    assert key_of(repeat, tmp_path) != base  # repeated judge runs are distinct entries

    # same path, new bytes -> new key
    write_png(img, (9, 9, 9))
    assert key_of(req, tmp_path) != base


def test_cache_key_changes_with_the_template_version(tmp_path: Path) -> None:
    v1 = prompts.load("judge_single@v1")
    text = (prompts.resources.files("echo_bench.prompts") / "judge_single.v1.md").read_text()
    v2 = prompts.template_from_text("judge_single.v2.md", text.replace("version: v1", "version: v2"))
    assert (v2.system, v2.user) == (v1.system, v1.user)  # same wording, only the version differs
    req = judge_request("draw a fox", (), 0)
    before = key_of(req, tmp_path)
    prompts.register(v2)
    try:
        assert prompts.load("judge_single").ident == "judge_single@v2"
        assert key_of(req, tmp_path) != before
        pinned = LLMRequest("judge_single@v1", req.variables)
        assert key_of(pinned, tmp_path) == before
    finally:
        prompts.unregister("judge_single")


def test_media_store_names_are_trusted_as_hashes(tmp_path: Path) -> None:
    data = write_png(tmp_path / "x.png", (5, 5, 5)).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    named = tmp_path / "media" / f"{digest}.png"
    named.parent.mkdir()
    named.write_bytes(data)
    assert ImageHasher()(named) == digest == ImageHasher(trust_names=False)(tmp_path / "x.png")
    with pytest.raises(FileNotFoundError):
        ImageHasher()(tmp_path / "media" / f"{'0' * 64}.png")


def test_corrupt_entries_are_misses_and_entries_are_deterministic(stub, client_for, tmp_path: Path) -> None:
    reqs = [relevance_request(i) for i in range(3)]
    a = client_for("openai", cache_dir=tmp_path / "a").run(reqs)
    client_for("openai", cache_dir=tmp_path / "b").run(reqs)
    for r in a:  # two runs, same bytes (no times, no ids of the run)
        assert (tmp_path / "a" / r.cache_key[:2] / f"{r.cache_key}.json").read_bytes() == (
            tmp_path / "b" / r.cache_key[:2] / f"{r.cache_key}.json"
        ).read_bytes()
    path = ResponseCache(tmp_path / "a").path(a[0].cache_key)
    path.write_text("{truncated")
    hits = stub.model_hits
    again = client_for("openai", cache_dir=tmp_path / "a").run(reqs)
    assert [r.cached for r in again] == [False, True, True] and stub.model_hits == hits + 1
    assert json.loads(path.read_text())["key"] == a[0].cache_key  # rewritten
    assert not list((tmp_path / "a").rglob("*.tmp"))  # atomic writes leave no temp files


def test_offline_backend_is_deterministic_and_needs_no_server(tmp_path: Path) -> None:
    seen = []

    def heuristic(req: LLMRequest):
        seen.append(req.key)
        text = req.variables["post_text"]
        return {"score": 5 if "4o" in text else 1, "reason": "offline keyword rule"}

    cache_dir = tmp_path / "never-created"
    client = make_client({"backend": "offline"}, cache_dir=cache_dir, offline=heuristic)
    other = LLMRequest(
        "relevance", {"model_of_interest": "m", "post_text": "flight 4"}, json_schema=reply_schema("relevance"), key="x"
    )
    reqs = [relevance_request(1), other]
    r1 = client.run(reqs)
    r2 = client.run(reqs)
    assert [r.data["score"] for r in r1] == [5, 1]
    assert [(r.text, r.data) for r in r1] == [(r.text, r.data) for r in r2]
    assert r1[0].text == json.dumps({"reason": "offline keyword rule", "score": 5}, sort_keys=True)
    assert all(r.backend == "offline" and r.model == "offline-heuristic" and r.ok and r.cost_usd == 0 for r in r1)
    assert r1[0].template == "relevance@v1" and seen == ["post-1", "x", "post-1", "x"]
    assert not cache_dir.exists()
    assert client.usage()["offline-heuristic"]["calls"] == 4

    named = make_client({"backend": "offline", "model": "keyword-rules-v2"}, cache_dir=cache_dir, offline=heuristic)
    assert named.run(reqs[:1])[0].model == "keyword-rules-v2"


def test_offline_failures_are_recorded_not_raised(tmp_path: Path) -> None:
    def heuristic(req: LLMRequest):
        if req.key == "boom":
            raise RuntimeError("no rule for this")
        if req.key == "bad":
            return {"score": 9, "reason": "out of range"}
        return "Expectation: ...\nRating: [[5]]"

    client = make_client({"backend": "offline"}, cache_dir=tmp_path, offline=heuristic)
    boom, bad, text = client.run(
        [
            LLMRequest("relevance", relevance_request(0).variables, json_schema=reply_schema("relevance"), key=k)
            for k in ("boom", "bad")
        ]
        + [judge_request("x", (), 0, key="ok")]
    )
    assert boom.error_code == "offline_error" and "no rule" in boom.error
    assert bad.error_code == "invalid_json" and "score" in bad.error
    assert text.ok and text.data is None and text.text.endswith("[[5]]")
    with pytest.raises(ValueError, match="heuristic"):
        make_client({"backend": "offline"}, cache_dir=tmp_path)


def test_cfg_is_checked() -> None:
    with pytest.raises(ValueError, match="unknown llm cfg keys"):
        make_client({"backend": "openai", "model": "m", "max_tokenz": 5}, cache_dir="x")
    with pytest.raises(ValueError, match="needs a model"):
        make_client({"backend": "anthropic"}, cache_dir="x")
    with pytest.raises(ValueError, match="backend"):
        make_client({"backend": "gemini", "model": "m"}, cache_dir="x")
    official = make_client({"backend": "openai", "model": "m"}, cache_dir="x")
    compatible = make_client({"backend": "openai", "model": "m", "base_url": "http://127.0.0.1:1/v1"}, cache_dir="x")
    assert official.settings.max_tokens_field == "max_completion_tokens"
    assert compatible.settings.max_tokens_field == "max_tokens"


def test_write_usage_sums_stages(stub, client_for, tmp_path: Path) -> None:
    a = client_for("openai", cache_dir=tmp_path / "a")
    a.run([relevance_request(i) for i in range(3)])
    a.run([relevance_request(0)])
    b = client_for("anthropic", cache_dir=tmp_path / "b", prices={})
    b.run([relevance_request(0)])
    doc = write_usage(tmp_path / "results" / "llm_usage.json", {"relevance": a.usage(), "judge": b.usage()})
    on_disk = json.loads((tmp_path / "results" / "llm_usage.json").read_text())
    assert on_disk == doc
    rel = on_disk["stages"]["relevance"]["stub-model"]
    assert rel["requests"] == 4 and rel["calls"] == 3 and rel["cached"] == 1 and rel["cost_usd"] > 0
    assert on_disk["stages"]["judge"]["stub-model"]["unpriced_calls"] == 1
    assert on_disk["total"]["calls"] == 4 and on_disk["total"]["cost_usd"] == pytest.approx(rel["cost_usd"])
    assert PRICES  # prices come from params (llm.prices); the fixture passes the test table


def test_an_unwritable_cache_does_not_turn_good_replies_into_failures(stub, client_for, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    replies = client_for("openai", cache_dir=blocker).run([relevance_request(0), relevance_request(1)])
    assert all(r.ok and not r.cached for r in replies)
