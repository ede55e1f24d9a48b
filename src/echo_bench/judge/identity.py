"""Who judged: the judge's model as sent and as reported, the template, the prompt's hash.

Judge scores are only reproducible when the judge is pinned.  Every JUDGMENTS
row therefore records

* ``judge_model`` -- the model string this project *sent* (``judge.judges[].model``);
* ``judge_model_reported`` -- the model the provider *reported* in its reply
  (``model`` of the OpenAI / Anthropic response, kept in the response cache, so
  cache hits keep the original); null when no reply came back.  For the
  offline judge it is the heuristic's own name (there is no provider);
* ``template`` -- the template as ``name@version`` (already there before);
* ``prompt_sha256`` -- SHA-256 of the rendered prompt, ``system + "\\0" + user``
  (the same digest the response cache stores as ``prompt_sha256``), so two runs
  can be checked to have asked the very same question;
* ``cache_key`` -- the content address of the verbatim reply in the response cache.

:func:`alias_warning` names judges configured with a *rolling alias*: a model
string ending in ``latest`` (``chatgpt-4o-latest``) or one without a date or
snapshot number (``gpt-4o``, ``claude-sonnet-4-5``), which the provider may
point at another snapshot at any time.  A judge whose reported model differs
from the string sent is listed too, with the reported name as the pin to use.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

import polars as pl

from echo_bench.prompts import TemplateError
from echo_bench.prompts import load as load_template

#: A date in the model string (2024-08-06, 20241022, 2024.08) or a numbered snapshot suffix (-0613, -001, -v2, @3).
_PINNED = re.compile(
    r"(?:(?<!\d)20\d{2}[-_.]?[01]\d(?:[-_.]?[0-3]\d)?(?!\d))"  # a date
    r"|(?:[-_@](?:v?\d{3,4}|v\d+(?:\.\d+)*)$)"  # -0613, -001, -v2, @v1.2 at the end
)
_LATEST = re.compile(r"latest", re.IGNORECASE)


def prompt_sha256(template: str, variables: Mapping[str, Any]) -> str | None:
    """SHA-256 of the rendered prompt (``system + "\\0" + user``); None when the template does not render."""
    try:
        rendered = load_template(template).render(variables)
    except (TemplateError, KeyError, TypeError, ValueError):
        return None
    return hashlib.sha256((rendered.system + "\x00" + rendered.user).encode("utf-8")).hexdigest()


def alias_kind(model: str | None) -> str | None:
    """``"latest"`` for a *-latest alias, ``"undated"`` for a model string with no date/snapshot, None when pinned."""
    if not model:
        return "undated"
    name = model.rsplit("/", 1)[-1]
    if _LATEST.search(name):
        return "latest"
    return None if _PINNED.search(name) else "undated"


def reported_model(client: Any, reply: Any, *, backend: str) -> str | None:
    """The model the provider reported for ``reply`` (from the response cache entry); the heuristic's name offline."""
    if backend == "offline":
        return getattr(reply, "model", None) or None
    key = getattr(reply, "cache_key", "") or ""
    if not key or not getattr(reply, "ok", False):
        return None
    try:
        entry = client.cache.get(key)
    except (OSError, ValueError):
        return None
    return (entry or {}).get("response_model") or None


def judge_identity(judgments: pl.DataFrame) -> list[dict[str, Any]]:
    """Per judge: backend, models sent and reported, templates, distinct prompt hashes, and alias warnings."""
    out = []
    for judge in sorted(set(judgments["judge"].to_list())):
        d = judgments.filter(pl.col("judge") == judge)
        backends = sorted(set(d["backend"].drop_nulls().to_list()))
        sent = sorted(set(d["judge_model"].drop_nulls().to_list()))
        reported = sorted(set(d["judge_model_reported"].drop_nulls().to_list()))
        warnings = []
        if backends != ["offline"]:
            for m in sent:
                kind = alias_kind(m)
                if kind == "latest":
                    warnings.append(f"judge {judge}: model {m!r} is a rolling alias (*latest*); pin a dated snapshot")
                elif kind == "undated":
                    warnings.append(f"judge {judge}: model {m!r} names no date or snapshot; the provider may move it")
            moved = [r for r in reported if r not in sent]
            if moved:
                warnings.append(f"judge {judge}: the provider reported {moved} for {sent}; pin the reported name")
            if len(reported) > 1:
                warnings.append(f"judge {judge}: replies came from several models {reported} within one run")
        out.append(
            {
                "judge": judge,
                "backend": ",".join(backends),
                "model_sent": sent,
                "model_reported": reported,
                "templates": sorted(set(d["template"].drop_nulls().to_list())),
                "prompts": d["prompt_sha256"].drop_nulls().n_unique(),
                "rows_without_reported_model": int(
                    d.filter(pl.col("status").is_in(["ok", "parse_failed"]) & pl.col("judge_model_reported").is_null()).height
                ),
                "warnings": warnings,
            }
        )
    return out


def alias_warning(identity: list[dict[str, Any]]) -> list[str]:
    """All warnings of :func:`judge_identity`, flattened."""
    return [w for j in identity for w in j["warnings"]]
