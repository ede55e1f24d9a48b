"""Helpers of the LLM-layer tests (requests, images, constants); fixtures live in conftest.py."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image

from echo_bench.llm import LLMRequest
from echo_bench.prompts import reply_schema
from echo_bench.testing.api_stub import APIStub

KEY_ENV = "ECHO_TEST_LLM_KEY"
PROVIDERS = ("openai", "anthropic")
PRICES = {
    "stub-model": {
        "input_per_mtok": 2.0,
        "output_per_mtok": 8.0,
        "batch_input_per_mtok": 1.0,
        "batch_output_per_mtok": 4.0,
    }
}
RELEVANCE_OK = {"score": 5, "reason": "shares a prompt and the result"}


def base_url(stub: APIStub, provider: str) -> str:
    return stub.openai_base_url if provider == "openai" else stub.anthropic_base_url


def relevance_request(i: int = 0, **kw: Any) -> LLMRequest:
    return LLMRequest(
        "relevance",
        {"model_of_interest": "GPT-4o image generation", "post_text": f"post number {i}: look what 4o made"},
        json_schema=reply_schema("relevance"),
        key=f"post-{i}",
        **kw,
    )


def judge_request(instruction: str, images: tuple[str, ...], n_inputs: int, **kw: Any) -> LLMRequest:
    return LLMRequest("judge_single", {"instruction": instruction, "n_input_images": n_inputs}, images=images, **kw)


def write_png(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (16, 12)) -> Path:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path


def expected_cost(input_tokens: int, output_tokens: int, *, batch: bool = False) -> float:
    p = PRICES["stub-model"]
    pin = p["batch_input_per_mtok"] if batch else p["input_per_mtok"]
    pout = p["batch_output_per_mtok"] if batch else p["output_per_mtok"]
    return (input_tokens * pin + output_tokens * pout) / 1e6
