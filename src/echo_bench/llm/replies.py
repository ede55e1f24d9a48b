"""Reading replies: JSON extraction and validation, refusals, judge ratings."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

import jsonschema

_FENCE_RE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)

#: The fixed rating line the judge template asks for: ``Rating: [[7]]``.
RATING_RE = re.compile(r"Rating:\s*\[\[\s*(\d+(?:\.\d+)?)\s*\]\]")

# A short reply that opens like this and says it will not do the task is a refusal.
_REFUSAL_OPEN_RE = re.compile(
    r"^\s*(?:I['’]?m sorry|I am sorry|Sorry|I apologi[sz]e|Unfortunately|I['’]?m afraid|As an AI)\b"
    r"|^\s*I\s*(?:can(?:no|['’])t|cannot|won['’]t|will not|am unable|['’]m unable|am not able|['’]m not able"
    r"|must decline)\b",
    re.IGNORECASE,
)
_REFUSAL_VERB_RE = re.compile(
    r"\b(?:can(?:no|['’])t|cannot|unable to|not able to|won['’]t|will not|must decline|not comfortable)\b"
    r"[^.\n]{0,60}\b(?:help|assist|comply|provide|do that|fulfil|fulfill|process|evaluate|analy[sz]e|describe"
    r"|identify|view|look at|with (?:this|that))",
    re.IGNORECASE,
)


class InvalidReply(ValueError):
    """The reply is not the JSON the request asked for."""


def parse_json_text(text: str) -> Any:
    """The JSON value in ``text``: bare, inside a ```json fence, or the outermost {...}/[...] span."""
    s = text.strip()
    if not s:
        raise InvalidReply("empty reply")
    candidates = [s]
    candidates += [m.group(1).strip() for m in _FENCE_RE.finditer(s)]
    for open_, close in (("{", "}"), ("[", "]")):
        i, j = s.find(open_), s.rfind(close)
        if 0 <= i < j:
            candidates.append(s[i : j + 1])
    err: Exception | None = None
    for cand in candidates:
        try:
            return json.loads(cand)
        except json.JSONDecodeError as e:
            err = e
    raise InvalidReply(f"no JSON value found ({err})")


def schema_digest(schema: Mapping[str, Any] | None) -> str | None:
    if schema is None:
        return None
    return hashlib.sha256(json.dumps(schema, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


_VALIDATORS: dict[str, Any] = {}


def _validator(schema: Mapping[str, Any]) -> Any:
    digest = schema_digest(schema)
    assert digest is not None
    v = _VALIDATORS.get(digest)
    if v is None:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        cls.check_schema(schema)
        v = _VALIDATORS[digest] = cls(schema)
    return v


def parse_json_reply(text: str, schema: Mapping[str, Any]) -> Any:
    """Parse ``text`` as JSON and validate it against ``schema``; raise :class:`InvalidReply`."""
    data = parse_json_text(text)
    validator = _validator(schema)
    if validator.is_valid(data):
        return data
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise InvalidReply(f"schema violation at {where}: {error.message}"[:500])
    return data


def looks_like_refusal(text: str) -> bool:
    """A short reply that declines the task ("I'm sorry, but I can't help with that.")."""
    s = text.strip()
    if not s or len(s) > 400 or s.startswith(("{", "[", "```")):
        return False
    return bool(_REFUSAL_OPEN_RE.search(s) and _REFUSAL_VERB_RE.search(s))


def parse_rating(text: str, *, low: float = 1, high: float = 10) -> float | None:
    """The judge's rating from the last ``Rating: [[N]]`` line, or None if absent or out of range."""
    found = RATING_RE.findall(text or "")
    if not found:
        return None
    value = float(found[-1])
    return value if low <= value <= high else None
