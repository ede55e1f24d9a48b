"""What failure handling every stage shares: the stage-failure error, and secret redaction.

:class:`StageFailed` is what a stage raises when it cannot do its job; the
runner turns it into a non-zero exit with no outputs left behind.

Redaction: the values of the configured API-key variables never reach a log, a table or a cache.

Every LLM cfg names the environment variable that holds its key
(``api_key_env``).  Each name is registered here (by :func:`register`, which
:class:`echo_bench.llm.LLMClient` and the stage runner call for every
``api_key_env`` they see), and :func:`redact` replaces the current value of
every registered variable with ``[redacted:<NAME>]``.  The stage logger carries
:class:`RedactingFilter`, so no log line holds a key; the client redacts every
error string and rejected reply before it leaves the LLM layer, so no table
does either.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any

#: Shorter values are not redacted (a one-letter "key" would mangle every message).
MIN_SECRET_CHARS = 6

class StageFailed(RuntimeError):
    """A stage cannot do its job: it exits non-zero and writes nothing (see :mod:`echo_bench.runner`)."""


_names: set[str] = set()
_lock = threading.Lock()


def register(*names: str | None) -> None:
    """Remember environment variable names whose values are secrets."""
    with _lock:
        _names.update(n for n in names if n)


def key_envs_in(params: Any) -> list[str]:
    """Every ``api_key_env`` value anywhere inside a (nested) params mapping or list."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                if k == "api_key_env" and isinstance(v, str) and v:
                    found.append(v)
                else:
                    walk(v)
        elif isinstance(node, (list, tuple)):
            for v in node:
                walk(v)

    walk(params)
    return found


def _secrets() -> list[tuple[str, str]]:
    with _lock:
        names = sorted(_names)
    pairs = [(n, os.environ.get(n) or "") for n in names]
    # longest first, so a key that contains another is replaced whole
    return sorted(((n, v) for n, v in pairs if len(v) >= MIN_SECRET_CHARS), key=lambda p: -len(p[1]))


def redact(text: Any) -> Any:
    """``text`` with the value of every registered key variable replaced; non-strings pass through."""
    if not isinstance(text, str) or not text:
        return text
    for name, value in _secrets():
        if value in text:
            text = text.replace(value, f"[redacted:{name}]")
    return text


def redact_all(items: Iterable[Any]) -> list[Any]:
    return [redact(x) for x in items]


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with the secrets removed (attach to handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _secrets():
            return True
        message = record.getMessage()
        clean = redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            # the formatted traceback is built later from exc_info: render it now, redacted
            formatted = logging.Formatter().formatException(record.exc_info)
            clean = f"{clean}\n{redact(formatted)}"
            record.exc_info = None
            record.exc_text = None
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return True
