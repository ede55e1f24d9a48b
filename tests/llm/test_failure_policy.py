"""Failure is failure (issue 11), through the real openai SDK against a fault-injecting server of our own.

Each test names the numbered point of the issue it covers.  The dvc-level checks
(exit code, what dvc.lock records, re-runs, kill -9) are in tests/workflow/test_llm_failures.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import time
from pathlib import Path

import polars as pl
import pytest
from llm_helpers import relevance_request

from echo_bench.judge.grading import RATING_REPAIR_NOTE, parse_rating, rating_check
from echo_bench.ledger import LEDGER_NAME, read_ledger
from echo_bench.llm import LLMRequest, LLMStageError, make_client
from echo_bench.llm.usage import write_usage
from echo_bench.runner import run_stage
from echo_bench.testing.fault_server import Answer, FaultServer

KEY_ENV = "ECHO_FAULT_TEST_KEY"
SECRET = "sk-fault-" + "7f3a9c2e5b1d4680" * 2
PRICES = {"m": {"input_per_mtok": 2.0, "output_per_mtok": 8.0}}
OK = {"score": 4, "reason": "about image generation"}


def ok_plan(req):
    return Answer.json(OK)


def client(server_url: str, cache: Path, *, share: float | None = 0.0, stage: str = "relevance", **cfg):
    full = {
        "backend": "openai",
        "model": "m",
        "base_url": server_url,
        "api_key_env": KEY_ENV,
        "max_retries": 2,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.02,
        "timeout_s": 5.0,
        "max_concurrency": 4,
        **cfg,
    }
    return make_client(full, cache_dir=cache, prices=PRICES, stage=stage, max_failed_share=share,
                       log=logging.getLogger(f"echo_bench.{stage}"))


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    return SECRET


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- 1. a fully failed stage fails, at once ---------------------------------------------------


def test_missing_key_stops_before_any_request(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with FaultServer(ok_plan) as server:
        c = client(server.base_url, tmp_path)
        with pytest.raises(LLMStageError) as info:
            c.run([relevance_request(i) for i in range(5)])
        assert server.count() == 0
    msg = str(info.value)
    assert "stage relevance" in msg and "backend openai" in msg and server.base_url in msg
    assert f"{KEY_ENV} is not set" in msg


@pytest.mark.parametrize("status, code", [(401, "http_401"), (403, "http_403"), (404, "http_404")])
def test_rejected_key_or_unknown_model_stops_after_one_request(tmp_path, key, status, code):
    with FaultServer(lambda r: Answer.error(status, f"nope ({status})")) as server:
        c = client(server.base_url, tmp_path)
        with pytest.raises(LLMStageError) as info:
            c.run([relevance_request(i) for i in range(20)])
        assert server.count() == 1  # the preflight request only: not retried, the other 19 never sent
    msg = str(info.value)
    assert code in msg and "stage relevance" in msg and "openai" in msg and server.base_url in msg


def test_connection_refused_fails_fast_naming_url_and_cause(tmp_path, key):
    url = f"http://127.0.0.1:{free_port()}/v1"
    c = client(url, tmp_path, max_retries=4, backoff_base_s=1.0)
    t0 = time.monotonic()
    with pytest.raises(LLMStageError) as info:
        c.run([relevance_request(i) for i in range(50)])
    assert time.monotonic() - t0 < 10  # before: 5 attempts with backoff for every request
    msg = str(info.value)
    assert "connection_refused" in msg and "refused" in msg and url in msg and "stage relevance" in msg


def test_unresolvable_host_fails_fast(tmp_path, key):
    c = client("http://no-such-host.invalid/v1", tmp_path, max_retries=4, backoff_base_s=1.0)
    with pytest.raises(LLMStageError) as info:
        c.run([relevance_request(i) for i in range(5)])
    assert "dns_failed" in str(info.value) and "no-such-host.invalid" in str(info.value)


def test_non_retryable_status_is_never_retried(tmp_path, key):
    def plan(req):
        return Answer.error(400, "bad request") if "number 1:" in req.user_text else Answer.json(OK)

    with FaultServer(plan) as server:
        c = client(server.base_url, tmp_path, share=None, max_retries=4)
        replies = c.run([relevance_request(i) for i in range(3)])
        assert [r.ok for r in replies] == [True, False, True]
        assert replies[1].error_code == "http_400" and replies[1].attempts == 1
        assert server.count(lambda s: "number 1:" in s.request.user_text) == 1


# --- 2. partial failure: a threshold, and what is below it is counted and warned about -----------


def failing_plan(req):
    digest = hashlib.sha256(req.user_text.encode()).digest()
    return Answer.error(500, "always down for this one") if digest[0] % 5 == 0 else Answer.json(OK)


def test_failures_above_the_threshold_fail_the_run(tmp_path, key):
    reqs = [relevance_request(i) for i in range(60)]
    with FaultServer(failing_plan) as server:
        with pytest.raises(LLMStageError) as info:
            client(server.base_url, tmp_path, share=0.02).run(reqs)
        msg = str(info.value)
        assert "max_failed_share=0.02" in msg and "http_500" in msg
        failed = int(msg.split(": ", 1)[1].split(" of ")[0])
        assert 2 <= failed < 60  # a real partial failure
        # the successes were cached: a re-run (the server fixed) sends exactly the failed requests
        server.plan = ok_plan
        server.reset()
        replies = client(server.base_url, tmp_path, share=0.02).run(reqs)
        assert all(r.ok for r in replies)
        assert server.count() == failed


def test_failures_within_the_threshold_are_counted_and_warned(tmp_path, key, caplog):
    reqs = [relevance_request(i) for i in range(60)]
    with FaultServer(failing_plan) as server:
        c = client(server.base_url, tmp_path, share=0.5)
        with caplog.at_level(logging.WARNING):
            replies = c.run(reqs)
    failed = sum(not r.ok for r in replies)
    assert failed >= 2
    usage = c.usage()["m"]
    assert usage["failed"] == failed and usage["requests"] == 60
    warning = [r.getMessage() for r in caplog.records if "within max_failed_share" in r.getMessage()]
    assert warning and f"{failed} of 60" in warning[0] and "dvc repro -f -s relevance" in warning[0]


def test_sent_counts_only_what_was_sent(tmp_path, key, caplog):
    with FaultServer(ok_plan) as server:
        client(server.base_url, tmp_path).run([relevance_request(i) for i in range(3)])
        with caplog.at_level(logging.INFO):
            client(server.base_url, tmp_path).run([relevance_request(i) for i in range(3)])
        assert server.count() == 3
    summary = [r.getMessage() for r in caplog.records if "request(s):" in r.getMessage()]
    assert "3 from cache, 0 sent" in summary[-1]


# --- 3./4. rejected replies: kept verbatim with attempt numbers, never cached; judge re-ask ----------


def test_invalid_json_replies_are_kept_with_attempt_numbers_and_not_cached(tmp_path, key):
    def plan(req):
        return Answer.reply(f"not json, turn {req.turns}")

    with FaultServer(plan) as server:
        reply = client(server.base_url, tmp_path, share=None).run([relevance_request(0)])[0]
        assert not reply.ok and reply.error_code == "invalid_json" and reply.attempts == 3
        assert [r["attempt"] for r in reply.rejected] == [1, 2, 3]
        # verbatim: the first reply answers the plain request, the re-asks carry the repair turns
        assert [r["text"] for r in reply.rejected] == ["not json, turn 2", "not json, turn 4", "not json, turn 4"]
        assert not list(tmp_path.glob("??/*.json"))  # nothing cached
        client(server.base_url, tmp_path, share=None).run([relevance_request(0)])
        assert server.count() == 6  # asked again on the re-run


def judge_req(i: int = 0) -> LLMRequest:
    return LLMRequest("relevance", {"model_of_interest": "x", "post_text": f"judge me {i}"},
                      key=f"j{i}", check=rating_check, repair_note=RATING_REPAIR_NOTE)


def test_judge_reply_without_rating_is_reasked_and_not_cached(tmp_path, key):
    def plan(req):
        # no verdict the first time; the re-ask (more turns) gets one of the common spellings
        return Answer.reply("Looks fine to me.") if req.turns <= 2 else Answer.reply("Critique...\nRating: 8/10")

    with FaultServer(plan) as server:
        reply = client(server.base_url, tmp_path, stage="judge:t2i").run([judge_req()])[0]
        assert reply.ok and reply.attempts == 2 and reply.text.endswith("Rating: 8/10")
        assert reply.rejected == ({"attempt": 1, "error": reply.rejected[0]["error"], "text": "Looks fine to me."},)
        assert reply.rejected[0]["error"].startswith("unparsed_reply")
        assert "Rating: [[N]]" in server.requests[1].request.user_text  # the repair note was sent
        assert parse_rating(reply.text).form == "rating_out_of_10"


def test_judge_reply_that_never_parses_fails_and_is_retried_next_run(tmp_path, key):
    with FaultServer(lambda r: Answer.reply("I would rate it highly.")) as server:
        with pytest.raises(LLMStageError):
            client(server.base_url, tmp_path, stage="judge:t2i").run([judge_req()])
        assert server.count() == 3
        reply = client(server.base_url, tmp_path, share=None).run([judge_req()])[0]
        assert server.count() == 6  # before: a forced re-run sent 0 requests (the reply was cached as a success)
        assert not reply.ok and reply.error_code == "unparsed_reply" and len(reply.rejected) == 3


@pytest.mark.parametrize(
    "line, score, form",
    [
        ("Rating: [[8]]", 8.0, "rating_brackets"),
        ("[[8]]", 8.0, "brackets"),
        ("Rating: 8/10", 8.0, "rating_out_of_10"),
        ("**Rating:** 8", 8.0, "rating_plain+markdown"),
        ("Rating: 8", 8.0, "rating_plain"),
        ("**Rating: [[7]]**", 7.0, "rating_brackets+markdown"),
    ],
)
def test_common_rating_spellings_and_the_form_recorded(line, score, form):
    p = parse_rating(f"The image follows the prompt.\n{line}")
    assert (p.score, p.status, p.form) == (score, "ok", form)


@pytest.mark.parametrize("line", ["Rating: 11/10", "Rating: 7.5", "I'd say 8", "[[8/10]]"])
def test_other_spellings_still_fail(line):
    assert parse_rating(f"Critique.\n{line}").status == "parse_failed"


# --- 5. the key is redacted from every error, log line and table -------------------------------


def test_a_key_echoed_by_the_server_is_written_nowhere(tmp_path, key, monkeypatch):
    """Relevance through the runner, against a server that echoes the key in errors and in replies."""
    from echo_bench.io import write_parquet
    from echo_bench.schemas import QUERIED, THREADS

    def plan(req):
        if "post 1 " in req.user_text:
            return Answer.error(400, f"Incorrect API key provided: {req.api_key}")  # a proxy's 400 echoing the key
        if "post 2 " in req.user_text:
            return Answer.reply(f"your key is {req.api_key}, no JSON for you")
        return Answer.json({"score": 5, "reason": f"fine for {req.api_key}"})  # an accepted reply echoing it

    monkeypatch.chdir(tmp_path)
    posts = [
        {"post_id": str(i), "conversation_id": str(i), "in_reply_to_id": None, "text": f"post {i} made with 4o image gen",
         "matched_keywords": ["4o"]}
        for i in range(4)
    ]
    queried = pl.DataFrame([{c: p.get(c) for c in QUERIED.names()} for p in posts], schema=QUERIED)
    threads = pl.DataFrame(
        [{c: ({"thread_id": p["post_id"], "root_post_id": p["post_id"], "post_ids": [p["post_id"]],
               "n_posts": 1, "document": p["text"]}.get(c)) for c in THREADS.names()} for p in posts],
        schema=THREADS,
    )
    write_parquet(queried, tmp_path / "queried.parquet", QUERIED)
    write_parquet(threads, tmp_path / "threads.parquet", THREADS)
    with FaultServer(plan) as server:
        params = {
            "model_of_interest": "GPT-4o image generation",
            "model_aliases": [],
            "other_models": [],
            "relevance": {
                "llm": {"backend": "openai", "model": "m", "base_url": server.base_url, "api_key_env": KEY_ENV,
                        "max_retries": 1, "backoff_base_s": 0.01, "backoff_max_s": 0.02},
                "max_failed_share": 0.9,
                "threshold": 3,
                "keep_if": "any",
                "context_chars": 100,
            },
        }
        flat = {"model_of_interest": params["model_of_interest"], "model_aliases": [], "other_models": [],
                **{f"relevance.{k}": v for k, v in params["relevance"].items()}}
        outputs = {"scores": "out/scores.parquet", "kept_threads": "out/kept.parquet",
                   "quarantine": "out/quarantine.parquet", "summary": "out/summary.json", "cache": "cache"}
        summary = run_stage("relevance", {"queried": "queried.parquet", "threads": "threads.parquet"}, outputs, flat,
                            "logs/relevance.log")
        assert server.count(lambda s: s.request.api_key == SECRET) == server.count() > 0
    assert summary["posts_failed"] == 2
    quarantine = pl.read_parquet(tmp_path / "out/quarantine.parquet")
    assert set(quarantine["reason"]) == {"llm_http_400", "llm_invalid_json"}
    raw = json.loads(quarantine.filter(pl.col("reason") == "llm_invalid_json")["raw"][0])
    assert [r["attempt"] for r in raw["rejected_replies"]] == [1, 2]  # 4. the replies, not only the post text
    assert "[redacted:ECHO_FAULT_TEST_KEY]" in raw["rejected_replies"][0]["text"]
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in written) and any(p.name == LEDGER_NAME for p in written)
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path
        if path.suffix == ".parquet":  # compressed pages could hide it from a byte scan: read every cell
            df = pl.read_parquet(path)
            cells = json.dumps(df.to_dicts(), default=str)
            assert SECRET not in cells, path
            assert SECRET[:12] not in cells, path


# --- 7. the cost ledger ------------------------------------------------------------------------------


def test_ledger_keeps_the_cumulative_spend_across_a_faulty_a_paid_and_a_cached_run(tmp_path, key):
    reqs = [relevance_request(i) for i in range(10)]
    ledger = tmp_path / LEDGER_NAME
    with FaultServer(failing_plan) as server:
        first = client(server.base_url, tmp_path, share=1.0)
        first.run(reqs)
        server.plan = ok_plan
        second = client(server.base_url, tmp_path, share=1.0)
        second.run(reqs)
        third = client(server.base_url, tmp_path, share=1.0)
        third.run(reqs)
        sent = server.count()
        replied = server.count(lambda s: s.answered and s.answer.kind == "reply")  # errors bill no tokens
    spent = [c.usage()["m"]["cost_usd"] for c in (first, second, third)]
    assert spent[0] > 0 and spent[1] > 0 and spent[2] == 0  # the third run is fully cached
    cumulative = read_ledger([ledger])
    row = cumulative["stages"]["relevance"]["m"]
    assert row["cost_usd"] == pytest.approx(spent[0] + spent[1], abs=1e-6)
    assert row["attempts"] == sent  # every attempt that reached the server
    assert row["input_tokens"] == 100 * replied
    doc = write_usage(tmp_path / "llm_usage.json", {"relevance": third.usage()}, cumulative=cumulative)
    assert doc["total"]["cost_usd"] == 0 and doc["cumulative"]["total"]["cost_usd"] == pytest.approx(sum(spent))
    # append-only: earlier lines are never rewritten
    lines = ledger.read_text().splitlines()
    client("http://127.0.0.1:9/v1", tmp_path, share=1.0).run(reqs)  # all cached: nothing sent, nothing appended
    assert ledger.read_text().splitlines() == lines


def test_provenance_warns_about_tolerated_failures_and_sums_the_ledgers():
    from echo_bench.stages.provenance import failure_warnings, llm_cumulative_by_step

    summaries = [
        {"stage": "relevance", "llm_usage": {"relevance": {"m": {"requests": 301, "failed": 3}}},
         "llm_cumulative": {"relevance": {"m": {"requests_sent": 400, "cost_usd": 0.25}}}},
        {"stage": "judge", "llm_usage": {"judge:t2i": {"j": {"requests": 10, "failed": 0}}},
         "llm_cumulative": {"judge:t2i": {"j": {"requests_sent": 10, "cost_usd": 0.5}}}},
    ]
    lines = failure_warnings({k: v for s in summaries for k, v in s["llm_usage"].items()})
    assert len(lines) == 1 and lines[0].startswith("relevance: 3 of 301") and "dvc repro -f -s relevance" in lines[0]
    cumulative = llm_cumulative_by_step(summaries)
    assert cumulative["total"] == {"requests_sent": 410, "cost_usd": 0.75}


# --- 1 and 2 for the metric steps: applicability no longer falls back silently -----------------


def _applicability_samples(n: int) -> pl.DataFrame:
    return pl.DataFrame({
        "sample_id": [f"s{i}" for i in range(n)],
        "prompt": [f"make the photo {i} look like a watercolour" for i in range(n)],
        "task_type": ["edit"] * n,
        "input_images": [[] for _ in range(n)],
    }, schema={"sample_id": pl.Utf8, "prompt": pl.Utf8, "task_type": pl.Utf8, "input_images": pl.List(pl.Utf8)})


def test_applicability_llm_that_fails_fails_the_metrics_step(tmp_path, key):
    from echo_bench.metrics.applicability import decide

    cfg = {"backend": "openai", "model": "m", "api_key_env": KEY_ENV, "max_retries": 1,
           "backoff_base_s": 0.01, "backoff_max_s": 0.02, "timeout_s": 5.0}
    samples = _applicability_samples(6)
    with FaultServer(lambda req: Answer.error(500, "down")) as server:
        cfg["base_url"] = server.base_url
        with pytest.raises(LLMStageError) as info:  # before: every sample fell back to the offline rules, exit 0
            decide(samples, llm_cfg=cfg, cache_dir=str(tmp_path / "a"), max_failed_share=0.0)
        assert "metrics.applicability" in str(info.value) and server.base_url in str(info.value)
        # library use without a policy keeps the labelled fallback
        out = decide(samples, llm_cfg=cfg, cache_dir=str(tmp_path / "b"))
        assert out.height > 0 and all("fallback" in b for b in out["backend"].to_list())
