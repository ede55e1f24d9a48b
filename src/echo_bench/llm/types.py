"""The request and reply records every LLM stage exchanges with :class:`LLMClient`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from echo_bench.secrets import StageFailed


@dataclass(frozen=True)
class LLMRequest:
    """One call: a template, its variables, and the images sent with it.

    ``variables`` whose name starts with ``_`` are not rendered into the prompt
    but are hashed into the cache key (``_repeat`` for repeated judge runs).
    """

    template: str  # template name ("judge_single") or pinned ("judge_single@v1")
    variables: Mapping[str, Any] = field(default_factory=dict)
    images: tuple[str, ...] = ()  # local image paths, sent in this order
    json_schema: Mapping[str, Any] | None = None  # reply must be JSON valid against it
    key: str = ""  # caller's id for the request (sample id ...), for logs and records
    #: for free-text replies: returns None when the reply is usable, else why not (the reply is then
    #: rejected like invalid JSON: kept in ``LLMReply.rejected``, never cached, re-asked with ``repair_note``)
    check: Callable[[str], str | None] | None = field(default=None, compare=False)
    repair_note: str | None = None  # "{error}" is replaced by the check's reason

    def __post_init__(self) -> None:
        if not isinstance(self.images, tuple):
            object.__setattr__(self, "images", tuple(str(p) for p in self.images))


@dataclass
class LLMReply:
    """What came back for one request; ``ok=False`` carries the reason in ``error``.

    ``error`` starts with a short code followed by ``": "`` and a detail, e.g.
    ``"refusal: I can't help with that"``; the codes are listed in docs/llm.md
    and available as :attr:`error_code`.  ``text`` is the verbatim reply (also
    for failures that got a reply, e.g. invalid JSON), so nothing is lost.
    Token counts and ``cost_usd`` are what *this run* spent on the request
    (0 for cache hits); the cached entry keeps the original usage.
    """

    ok: bool
    text: str = ""
    data: Any = None
    error: str | None = None
    backend: str = ""
    model: str = ""
    template: str = ""  # name@version
    cached: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    attempts: int = 0
    key: str = ""  # the request's key, echoed
    cache_key: str = ""  # the content address of the reply in the response cache
    #: every reply a parser rejected, verbatim: ``{"attempt": n, "error": "code: detail", "text": reply}``
    rejected: tuple[dict[str, Any], ...] = ()

    @property
    def error_code(self) -> str | None:
        if self.error is None:
            return None
        return self.error.split(":", 1)[0]


class LLMStageError(StageFailed):
    """A stage cannot do its job through the LLM layer: the stage must fail (exit non-zero, write nothing).

    Raised by :meth:`echo_bench.llm.LLMClient.run` on a failed preflight (no key,
    key rejected, unknown model, endpoint unreachable) and when the share of
    failed requests exceeds the cfg's ``max_failed_share``.  The message names
    the stage, the backend, the URL and the cause, with secrets redacted.
    """
