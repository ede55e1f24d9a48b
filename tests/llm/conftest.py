"""Fixtures of the LLM-layer tests: the loopback stub and client cfgs for both SDKs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from llm_helpers import KEY_ENV, PRICES, RELEVANCE_OK, base_url

from echo_bench.llm import LLMClient, make_client
from echo_bench.testing.api_stub import APIStub


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """The name of the env var holding a dummy key (secrets only come from the environment)."""
    monkeypatch.setenv(KEY_ENV, "sk-test-dummy")
    return KEY_ENV


@pytest.fixture
def stub() -> Iterator[APIStub]:
    with APIStub(lambda call: RELEVANCE_OK) as s:
        yield s


@pytest.fixture
def client_for(stub: APIStub, api_key: str, tmp_path: Path) -> Callable[..., LLMClient]:
    """make_client against the stub: client_for("openai", max_retries=2, ...)."""

    def make(provider: str, *, cache_dir: Path | None = None, prices: Any = PRICES, **cfg: Any) -> LLMClient:
        full = {
            "backend": provider,
            "model": "stub-model",
            "base_url": base_url(stub, provider),
            "api_key_env": api_key,
            "max_concurrency": 4,
            "timeout_s": 5.0,
            "max_retries": 3,
            "temperature": 0.0,
            "max_tokens": 256,
            "batch": False,
            "backoff_base_s": 0.01,
            "backoff_max_s": 0.05,
            "batch_poll_s": 0.02,
            "batch_timeout_s": 5.0,
            **cfg,
        }
        return make_client(full, cache_dir=cache_dir or tmp_path / f"cache-{provider}", prices=prices)

    return make
