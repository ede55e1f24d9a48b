"""The LLM/VLM layer every LLM stage uses: curation, judges, applicability.

    from echo_bench.llm import LLMRequest, make_client
    client = make_client(params["relevance.llm"], cache_dir="data/cache/llm/relevance",
                         offline=heuristic, prices=params["llm.prices"], log=log)
    replies = client.run([LLMRequest("relevance", {"model_of_interest": ..., "post_text": ...},
                                     json_schema=reply_schema("relevance"), key=post_id)])

Backends: ``openai`` (the OpenAI SDK; any OpenAI-compatible endpoint through
``base_url``), ``anthropic`` (the Anthropic SDK) and ``offline`` (the stage's own
deterministic heuristic).  See docs/llm.md.
"""

from echo_bench.llm.cache import CACHE_FORMAT, ResponseCache, cache_key
from echo_bench.llm.client import DEFAULT_MAX_FAILED_SHARE, DEFAULTS, OFFLINE_MODEL, LLMClient, make_client, resolve_cfg
from echo_bench.llm.replies import (
    RATING_RE,
    InvalidReply,
    looks_like_refusal,
    parse_json_reply,
    parse_json_text,
    parse_rating,
)
from echo_bench.llm.types import LLMReply, LLMRequest, LLMStageError
from echo_bench.llm.usage import write_usage
from echo_bench.prompts import load as load_template
from echo_bench.prompts import reply_schema

__all__ = [
    "DEFAULT_MAX_FAILED_SHARE",
    "CACHE_FORMAT",
    "DEFAULTS",
    "OFFLINE_MODEL",
    "RATING_RE",
    "InvalidReply",
    "LLMClient",
    "LLMReply",
    "LLMRequest",
    "LLMStageError",
    "ResponseCache",
    "cache_key",
    "load_template",
    "looks_like_refusal",
    "make_client",
    "parse_json_reply",
    "parse_json_text",
    "parse_rating",
    "reply_schema",
    "resolve_cfg",
    "write_usage",
]
