"""Retries: which failures are retried, how long to wait, Retry-After."""

from __future__ import annotations

import email.utils
import hashlib
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

#: HTTP statuses worth another attempt: timeout, conflict, rate limit, server side (incl. 529 overloaded).
RETRY_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))


class CallError(Exception):
    """A failed attempt, classified.

    ``code`` is the error code written into :attr:`LLMReply.error` when this is
    the final attempt; ``retryable`` says whether another attempt may help;
    ``retry_after`` is the server's requested wait in seconds, if it sent one.
    ``text`` keeps a reply body that came back (e.g. invalid JSON), and the
    token counts the provider billed for it.
    """

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        text: str = "",
        input_tokens: int = 0,
        output_tokens: int = 0,
    ) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.retryable = retryable
        self.retry_after = retry_after
        self.text = text
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens

    @property
    def message(self) -> str:
        return f"{self.code}: {self.detail}"


def parse_retry_after(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (delta-seconds or HTTP date)."""
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = lower.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with deterministic jitter; the server's Retry-After wins when longer."""

    max_retries: int = 4
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    max_retry_after_s: float = 300.0  # a longer requested wait fails the request instead
    seed: int = 0

    def backoff(self, attempt: int, key: str) -> float:
        """Wait before attempt ``attempt + 1`` (attempt counts from 1): equal jitter over base * 2^(attempt-1)."""
        cap = min(self.backoff_max_s, self.backoff_base_s * (2 ** (attempt - 1)))
        digest = hashlib.sha256(f"{self.seed}:{key}:{attempt}".encode()).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))
        return cap / 2 + rng.uniform(0, cap / 2)

    def delay(self, attempt: int, key: str, retry_after: float | None) -> float:
        wait = self.backoff(attempt, key)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return wait
