"""Provider batch APIs through the real SDKs: OpenAI Batch (files + batches) and Anthropic Message Batches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llm_helpers import PROVIDERS, RELEVANCE_OK, expected_cost, relevance_request

from echo_bench.testing.api_stub import ModelReply, StubError

SUBMIT = {"openai": "POST /v1/batches", "anthropic": "POST /v1/messages/batches"}
POLL = {"openai": "GET /v1/batches/{batch_id}", "anthropic": "GET /v1/messages/batches/{batch_id}"}
RESULTS = {"openai": "GET /v1/files/{file_id}/content", "anthropic": "GET /v1/messages/batches/{batch_id}/results"}
SYNC = {"openai": "POST /v1/chat/completions", "anthropic": "POST /v1/messages"}


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> str:
    return request.param


def states(cache_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((cache_dir / "batches").glob("*.json"))]


def test_batch_round_trip_caches_results_and_rerun_makes_no_calls(stub, client_for, provider, tmp_path: Path) -> None:
    stub.responder = lambda call: ModelReply(text=json.dumps(RELEVANCE_OK), input_tokens=1000, output_tokens=100)
    cache_dir = tmp_path / "cache"
    client = client_for(provider, cache_dir=cache_dir, batch=True)
    reqs = [relevance_request(i) for i in range(5)]
    replies = client.run(reqs)
    assert all(r.ok and r.data == RELEVANCE_OK and r.attempts == 1 for r in replies), [r.error for r in replies]
    assert [r.key for r in replies] == [r.key for r in reqs]
    assert stub.hits[SUBMIT[provider]] == 1 and stub.hits[SYNC[provider]] == 0
    assert stub.hits[POLL[provider]] >= 1 and stub.hits[RESULTS[provider]] >= 1
    if provider == "openai":
        assert stub.hits["POST /v1/files"] == 1
        (batch,) = stub.batches.values()
        assert batch["endpoint"] == "/v1/chat/completions"
    # batch prices apply
    assert all(r.cost_usd == pytest.approx(expected_cost(1000, 100, batch=True)) for r in replies)
    assert client.usage()["stub-model"]["cost_usd"] == pytest.approx(5 * expected_cost(1000, 100, batch=True))
    # results went into the same cache, marked as coming from a batch; the state file is closed
    for r in replies:
        entry = json.loads(client.cache.path(r.cache_key).read_text())
        assert entry["via"] == "batch" and entry["text"] == json.dumps(RELEVANCE_OK)
    (state,) = states(cache_dir)
    assert state["status"] == "done" and state["result_counts"] == {"ok": 5, "failed": 0, "missing": 0}

    before = sum(stub.hits.values())
    again = client_for(provider, cache_dir=cache_dir, batch=True).run(reqs)
    assert all(r.ok and r.cached for r in again)
    assert sum(stub.hits.values()) == before  # nothing at all was sent


def test_interrupted_batch_is_resumed_not_resubmitted(stub, client_for, provider, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    reqs = [relevance_request(i) for i in range(4)]
    stub.batch_hold = True  # the provider is still working on it when we stop waiting
    first = client_for(provider, cache_dir=cache_dir, batch=True, batch_timeout_s=0.2).run(reqs)
    assert all(not r.ok and r.error_code == "batch_pending" for r in first)
    assert "re-run to resume" in first[0].error
    (state,) = states(cache_dir)
    assert state["status"] == "submitted" and state["batch_id"] and len(state["keys"]) == 4
    assert stub.hits[SUBMIT[provider]] == 1

    stub.batch_hold = False  # a later run (a new process) finds the batch finished
    second = client_for(provider, cache_dir=cache_dir, batch=True).run(reqs)
    assert all(r.ok and r.data == RELEVANCE_OK for r in second), [r.error for r in second]
    assert stub.hits[SUBMIT[provider]] == 1  # resumed polling, did not submit again
    assert stub.hits[SYNC[provider]] == 0
    (state,) = states(cache_dir)
    assert state["status"] == "done"

    before = sum(stub.hits.values())
    third = client_for(provider, cache_dir=cache_dir, batch=True).run(reqs)
    assert all(r.cached for r in third) and sum(stub.hits.values()) == before


def test_a_resumed_run_submits_only_what_no_open_batch_covers(stub, client_for, provider, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    stub.batch_hold = True
    client_for(provider, cache_dir=cache_dir, batch=True, batch_timeout_s=0.1).run(
        [relevance_request(i) for i in range(2)]
    )
    stub.batch_hold = False
    replies = client_for(provider, cache_dir=cache_dir, batch=True).run([relevance_request(i) for i in range(3)])
    assert all(r.ok for r in replies)
    assert stub.hits[SUBMIT[provider]] == 2  # the open batch (2 requests) + a new one for the third
    assert sorted(len(s["keys"]) for s in states(cache_dir)) == [1, 2]


def test_failed_batch_items_fall_back_to_synchronous_retries(stub, client_for, provider) -> None:
    def responder(call):
        in_batch = call.custom_id is not None
        if in_batch and "post number 1:" in call.text:
            raise StubError(500, "item failed inside the batch")
        if in_batch and "post number 2:" in call.text:
            return "not json"
        return RELEVANCE_OK

    stub.responder = responder
    client = client_for(provider, batch=True)
    replies = client.run([relevance_request(i) for i in range(3)])
    assert all(r.ok for r in replies), [r.error for r in replies]
    assert [r.attempts for r in replies] == [1, 2, 2]
    assert stub.hits[SYNC[provider]] == 2
    # the retry of the invalid reply carried it with a correction note
    repaired = [c for c in stub.calls if c.custom_id is None and "post number 2:" in c.text]
    assert repaired and any(m["role"] == "assistant" for m in repaired[0].body["messages"])


def test_batch_failures_without_fallback_are_recorded(stub, client_for, provider) -> None:
    stub.responder = lambda call: "not json"
    replies = client_for(provider, batch=True, batch_fallback_sync=False).run([relevance_request(0)])
    assert not replies[0].ok and replies[0].error_code == "invalid_json" and replies[0].text == "not json"
    assert stub.hits[SYNC[provider]] == 0


def test_large_runs_are_split_into_several_batches(stub, client_for, provider) -> None:
    client = client_for(provider, batch=True, batch_max_requests=2)
    replies = client.run([relevance_request(i) for i in range(5)])
    assert all(r.ok for r in replies)
    assert stub.hits[SUBMIT[provider]] == 3
