"""Reply parsing (JSON fences, refusals) and the retry arithmetic (backoff, Retry-After)."""

from __future__ import annotations

import email.utils

import pytest

from echo_bench.llm import InvalidReply, looks_like_refusal, parse_json_text
from echo_bench.llm.retry import RetryPolicy, parse_retry_after


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',
        '```json\n{"a": 1}\n```',
        'Here you go:\n```\n{"a": 1}\n```\nHope that helps.',
        'Sure! {"a": 1} is my answer.',
        '  \n{"a": 1}\n',
    ],
)
def test_json_is_found_bare_fenced_or_embedded(text: str) -> None:
    assert parse_json_text(text) == {"a": 1}


@pytest.mark.parametrize("text", ["", "no json here", '{"a": 1', "```json\n{oops}\n```"])
def test_text_without_json_is_invalid(text: str) -> None:
    with pytest.raises(InvalidReply):
        parse_json_text(text)


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, but I can't help with that.",
        "I cannot assist with this request.",
        "Sorry, I won't be able to help with identifying people in images.",
        "I’m unable to evaluate this image.",
    ],
)
def test_refusals_are_recognised(text: str) -> None:
    assert looks_like_refusal(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"score": 1, "reason": "I cannot tell"}',
        "Expectation: a fox. The output cannot be called perfect.\nRating: [[6]]",
        "Sorry for the long answer. " + "The image is good. " * 40,
        "The model can't render text well here.\nRating: [[3]]",
    ],
)
def test_ordinary_replies_are_not_refusals(text: str) -> None:
    assert not looks_like_refusal(text)


def test_retry_after_seconds_ms_and_http_date() -> None:
    assert parse_retry_after({"Retry-After": "2"}) == 2.0
    assert parse_retry_after({"retry-after": "0.5"}) == 0.5
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after({"Retry-After": email.utils.formatdate(now - 30, usegmt=True)}, now=now) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None


def test_backoff_is_exponential_bounded_and_deterministic() -> None:
    p = RetryPolicy(backoff_base_s=1.0, backoff_max_s=8.0, seed=7)
    waits = [p.backoff(a, "k") for a in range(1, 7)]
    for a, w in enumerate(waits, 1):
        cap = min(8.0, 2 ** (a - 1))
        assert cap / 2 <= w <= cap
    assert waits == [p.backoff(a, "k") for a in range(1, 7)]  # seeded jitter
    assert waits != [p.backoff(a, "other") for a in range(1, 7)]  # spread across requests
    assert p.delay(1, "k", retry_after=5.0) == 5.0  # the server's wait wins when longer
