"""The real openai and anthropic SDK clients against the loopback stub: faults, retries, costs, cache."""

from __future__ import annotations

import base64
import email.utils
import json
import re
import threading
import time
from pathlib import Path

import pytest
from llm_helpers import (
    PROVIDERS,
    RELEVANCE_OK,
    expected_cost,
    judge_request,
    relevance_request,
    write_png,
)

from echo_bench.llm import LLMRequest
from echo_bench.testing.api_stub import Fault, ModelReply

MODEL_ROUTE = {"openai": "POST /v1/chat/completions", "anthropic": "POST /v1/messages"}
FIXED = ModelReply(text=json.dumps(RELEVANCE_OK), input_tokens=1000, output_tokens=100)
ONE_CALL = expected_cost(1000, 100)  # (1000 * 2 + 100 * 8) / 1e6 = 0.0028


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> str:
    return request.param


def test_success_costs_once_and_rerun_is_served_from_cache(stub, client_for, provider, tmp_path: Path) -> None:
    stub.responder = lambda call: FIXED
    cache_dir = tmp_path / "cache"
    client = client_for(provider, cache_dir=cache_dir)
    reqs = [relevance_request(i) for i in range(6)]
    replies = client.run(reqs)
    assert [r.key for r in replies] == [r.key for r in reqs]
    assert all(r.ok and not r.cached and r.attempts == 1 for r in replies)
    assert all(r.data == RELEVANCE_OK and r.backend == provider and r.model == "stub-model" for r in replies)
    assert all(r.template == "relevance@v1" for r in replies)
    assert all(r.input_tokens == 1000 and r.output_tokens == 100 for r in replies)
    assert all(r.cost_usd == pytest.approx(ONE_CALL) for r in replies)
    assert stub.hits[MODEL_ROUTE[provider]] == 6
    usage = client.usage()["stub-model"]
    assert usage["calls"] == 6 and usage["cached"] == 0 and usage["failed"] == 0 and usage["attempts"] == 6
    assert usage["input_tokens"] == 6000 and usage["output_tokens"] == 600
    assert usage["cost_usd"] == pytest.approx(6 * ONE_CALL)

    # one file per entry, sharded by the first two hex digits, holding the verbatim text and usage
    entries = sorted(cache_dir.glob("??/*.json"))
    assert len(entries) == 6
    for r in replies:
        entry = json.loads((cache_dir / r.cache_key[:2] / f"{r.cache_key}.json").read_text())
        assert entry["text"] == json.dumps(RELEVANCE_OK)
        assert entry["input_tokens"] == 1000 and entry["output_tokens"] == 100
        assert entry["template"] == "relevance@v1" and entry["backend"] == provider
        assert "time" not in json.dumps(entry)

    # the same client again, and a fresh client (a new process) on the same cache: zero server hits
    again = client.run(reqs)
    fresh = client_for(provider, cache_dir=cache_dir).run(reqs)
    assert stub.hits[MODEL_ROUTE[provider]] == 6
    for r2 in again + fresh:
        assert r2.ok and r2.cached and r2.attempts == 0 and r2.cost_usd == 0 and r2.data == RELEVANCE_OK
    usage = client.usage()["stub-model"]
    assert usage["calls"] == 6 and usage["cached"] == 6 and usage["cost_usd"] == pytest.approx(6 * ONE_CALL)


FAULTS = {
    "429": lambda: Fault.rate_limit(0),
    "500": lambda: Fault.server_error(500),
    "503": lambda: Fault.server_error(503),
    "529-overloaded": lambda: Fault.server_error(529),
    "hang": lambda: Fault.hang(3.0),
    "malformed-json-body": Fault.malformed,
    "dropped-connection": Fault.drop,
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_transient_fault_is_retried(stub, client_for, provider, fault: str) -> None:
    stub.responder = lambda call: FIXED
    client = client_for(provider, timeout_s=0.5)
    stub.inject(FAULTS[fault]())
    t0 = time.monotonic()
    (reply,) = client.run([relevance_request(1)])
    assert reply.ok, reply.error
    assert reply.attempts == 2
    assert stub.hits[MODEL_ROUTE[provider]] == 2
    assert reply.cost_usd == pytest.approx(ONE_CALL)  # the failed attempt returned no usage: not billed
    if fault == "hang":
        assert 0.45 <= time.monotonic() - t0 < 2.5  # gave up at the client timeout, not at the server's 3 s
    assert not stub.faults


def test_retry_after_seconds_is_honoured(stub, client_for, provider) -> None:
    client = client_for(provider)
    stub.inject(Fault.rate_limit(1))
    (reply,) = client.run([relevance_request(2)])
    assert reply.ok and reply.attempts == 2
    t = stub.hit_times[MODEL_ROUTE[provider]]
    assert len(t) == 2 and t[1] - t[0] >= 1.0


def test_retry_after_http_date_is_honoured(stub, client_for, provider) -> None:
    client = client_for(provider)
    when = email.utils.formatdate(time.time() + 2, usegmt=True)  # whole seconds: waits 1-2 s
    stub.inject(Fault.server_error(503, retry_after=when))
    (reply,) = client.run([relevance_request(3)])
    assert reply.ok and reply.attempts == 2
    t = stub.hit_times[MODEL_ROUTE[provider]]
    assert t[1] - t[0] >= 0.9


def test_retry_after_beyond_the_limit_fails_fast(stub, client_for, provider) -> None:
    client = client_for(provider, max_retry_after_s=5)
    stub.inject(Fault.rate_limit(3600))
    t0 = time.monotonic()
    (reply,) = client.run([relevance_request(4)])
    assert not reply.ok and reply.error_code == "rate_limited" and "3600" in reply.error
    assert reply.attempts == 1 and time.monotonic() - t0 < 3


def test_exhausted_retries_become_a_recorded_failure_that_is_not_cached(stub, client_for, provider) -> None:
    stub.responder = lambda call: FIXED
    client = client_for(provider, max_retries=2)
    stub.inject(*(Fault.server_error(500) for _ in range(3)))
    (reply,) = client.run([relevance_request(5)])
    assert not reply.ok and reply.error_code == "http_500" and "after 3 attempts" in reply.error
    assert reply.attempts == 3 and stub.hits[MODEL_ROUTE[provider]] == 3 and reply.cost_usd == 0
    assert client.usage()["stub-model"]["failed"] == 1
    (again,) = client.run([relevance_request(5)])  # errors are never cached: the request is sent again
    assert again.ok and not again.cached and stub.hits[MODEL_ROUTE[provider]] == 4


def test_client_errors_are_not_retried(stub, client_for, provider) -> None:
    client = client_for(provider)
    stub.inject(Fault.status_code(400))
    (reply,) = client.run([relevance_request(6)])
    assert not reply.ok and reply.error_code == "http_400" and reply.attempts == 1


def test_provider_refusal_is_a_recorded_failure(stub, client_for, provider) -> None:
    client = client_for(provider)
    stub.inject(Fault.refusal("I can't help with that request."))
    (reply,) = client.run([relevance_request(7)])
    assert not reply.ok and reply.error_code == "refusal"
    assert "can't help" in reply.error
    assert reply.attempts == 1 and stub.hits[MODEL_ROUTE[provider]] == 1  # a refusal is not retried
    assert reply.input_tokens > 0 and reply.cost_usd > 0  # billed by the provider, so counted
    (again,) = client.run([relevance_request(7)])
    assert again.ok and not again.cached  # the refusal was not cached


def test_refusal_in_plain_text_is_recognised(stub, client_for, provider, tmp_path: Path) -> None:
    stub.responder = lambda call: "I'm sorry, but I can't help with evaluating this image."
    out = write_png(tmp_path / "out.png", (200, 10, 10))
    (reply,) = client_for(provider).run([judge_request("a red square", (str(out),), 0)])
    assert not reply.ok and reply.error_code == "refusal" and reply.attempts == 1
    assert reply.text.startswith("I'm sorry")


def test_persistent_invalid_json_fails_after_retries_with_the_reply_kept(stub, client_for, provider) -> None:
    stub.responder = lambda call: ModelReply(text="Score: five, clearly relevant.", input_tokens=100, output_tokens=10)
    client = client_for(provider, max_retries=2)
    (reply,) = client.run([relevance_request(8)])
    assert not reply.ok and reply.error_code == "invalid_json"
    assert reply.attempts == 3 and stub.hits[MODEL_ROUTE[provider]] == 3
    assert reply.text == "Score: five, clearly relevant."  # the verbatim reply is kept for the record
    # every attempt returned a billed reply: all three are counted (docs/llm.md, "Costs")
    assert reply.input_tokens == 300 and reply.cost_usd == pytest.approx(3 * expected_cost(100, 10))
    # retries carry the rejected reply and a correction note
    last = stub.calls[-1].body["messages"]
    assert last[-2]["role"] == "assistant" and "Score: five" in json.dumps(last[-2])
    assert "could not be used" in json.dumps(last[-1])
    assert not any(p.parent.name != "batches" for p in client.cache.root.rglob("*.json"))  # nothing cached


def test_schema_violation_then_valid_reply(stub, client_for, provider) -> None:
    replies = iter(['```json\n{"score": 9, "reason": "x"}\n```', '```json\n{"score": 4, "reason": "ok"}\n```'])
    stub.responder = lambda call: next(replies)
    (reply,) = client_for(provider).run([relevance_request(9)])
    assert reply.ok and reply.attempts == 2 and reply.data == {"score": 4, "reason": "ok"}


def test_images_are_sent_as_base64_blocks_in_order(stub, client_for, provider, tmp_path: Path) -> None:
    stub.responder = lambda call: "Expectation: ...\nRating: [[6]]"
    a = write_png(tmp_path / "in.png", (10, 200, 10))
    b = write_png(tmp_path / "out.png", (10, 10, 200))
    (reply,) = client_for(provider).run([judge_request("make it blue", (str(a), str(b)), 1)])
    assert reply.ok and reply.data is None and reply.text.endswith("Rating: [[6]]")
    (call,) = stub.calls
    assert call.images == [a.read_bytes(), b.read_bytes()]
    assert "make it blue" in call.text and "the first 1 image(s)" in call.text
    (user,) = [m for m in call.body["messages"] if m["role"] == "user"]
    content = user["content"]
    if provider == "openai":
        urls = [p["image_url"]["url"] for p in content if p["type"] == "image_url"]
        assert urls[0] == "data:image/png;base64," + base64.b64encode(a.read_bytes()).decode()
        assert call.body["messages"][0]["role"] == "system"
    else:
        sources = [p["source"] for p in content if p["type"] == "image"]
        assert sources[0] == {
            "type": "base64",
            "media_type": "image/png",
            "data": base64.b64encode(a.read_bytes()).decode(),
        }
        assert call.system and call.body["max_tokens"] == 256


def test_missing_api_key_makes_no_calls_but_cache_still_serves(stub, client_for, provider, monkeypatch) -> None:
    client = client_for(provider)
    assert client.run([relevance_request(10)])[0].ok
    monkeypatch.delenv("ECHO_TEST_LLM_KEY")
    cached, uncached = client.run([relevance_request(10), relevance_request(11)])
    assert cached.ok and cached.cached
    assert not uncached.ok and uncached.error_code == "missing_api_key" and "ECHO_TEST_LLM_KEY" in uncached.error
    assert stub.model_hits == 1


def test_missing_image_and_bad_variables_fail_without_calls(stub, client_for, provider, tmp_path: Path) -> None:
    client = client_for(provider)
    bad_image = judge_request("x", (str(tmp_path / "nope.png"),), 0)
    bad_vars = LLMRequest("relevance", {"post_text": "no model"}, key="bad")
    r1, r2, r3 = client.run([bad_image, bad_vars, relevance_request(12)])
    assert r1.error_code == "image_missing" and r2.error_code == "render_failed" and r3.ok
    assert stub.model_hits == 1


def test_concurrency_is_bounded_and_order_kept(stub, client_for) -> None:
    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    def slow(call):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return {"score": 3, "reason": re.search(r"post number \d+", call.text).group(0)}

    stub.responder = slow
    reqs = [relevance_request(i) for i in range(24)]
    replies = client_for("openai", max_concurrency=4).run(reqs)
    assert 2 <= state["max"] <= 4
    assert [r.key for r in replies] == [f"post-{i}" for i in range(24)]
    assert [r.data["reason"] for r in replies] == [f"post number {i}" for i in range(24)]
    assert len({r.cache_key for r in replies}) == 24


def test_identical_requests_in_one_run_are_sent_once(stub, client_for) -> None:
    replies = client_for("openai").run([relevance_request(1), relevance_request(1), relevance_request(2)])
    assert stub.model_hits == 2
    assert all(r.ok for r in replies) and [r.cached for r in replies] == [False, True, False]
    assert replies[1].cost_usd == 0


def test_sdk_retries_are_disabled(client_for) -> None:
    for provider in PROVIDERS:
        backend = client_for(provider).backend
        assert backend.client.max_retries == 0
