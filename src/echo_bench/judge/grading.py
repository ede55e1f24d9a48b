"""Single-answer grading: what each judge is asked, and how its reply is read.

A judge sees one *item*: the instruction of a benchmark sample (its prompt text
and input images) and one model's output image, and replies in free text that
must end with a line ``Rating: [[N]]`` (template ``judge_single``).  This
module

* lists the items of a split (:func:`judge_items`): one per (sample, model),
  including the models that produced no output (they are recorded, not judged);
* builds the :class:`echo_bench.llm.LLMRequest` of an item (:func:`build_request`);
* turns the client's replies into JUDGMENTS rows, the judge's reply kept verbatim
  in ``raw`` beside the parsed ``score`` (:func:`grade`);
* parses a reply (:func:`parse_rating`) and re-parses a whole JUDGMENTS table
  without any call (:func:`reparse`), so a change of the parsing rule never
  needs new judge calls.

The parsing rule (see docs/judging.md)
--------------------------------------
Only the judge's own reply is parsed, never the instruction, so a rating-looking
string in a prompt or in text rendered inside an image cannot become a score
unless the judge itself ends its reply with it.

1. The *last non-empty line* of the reply is the verdict line.  After removing
   markdown emphasis characters (``*``, ``_`` and backticks), surrounding
   whitespace and one trailing period, it must be a whole verdict in one of the
   spellings judges produce (:data:`FORMS`, ``Rating`` in any case, optional
   spaces): ``Rating: [[N]]`` (the template's form), ``[[N]]``,
   ``Rating: N/10`` or ``Rating: N`` (which also covers ``**Rating:** N``).
   Which one matched is recorded (``rating_form``, with ``+markdown`` when
   emphasis characters were removed).
2. ``N`` must be an integer with 1 <= N <= 10 (``7.5``, ``0``, ``11``,
   ``[[7/10]]`` are parse failures).
3. Any *other* line of the reply that is, by the same cleaning, a whole verdict
   line (any form) with a value M != N makes the reply ambiguous: parse failure
   ("conflicting ratings").  A repeated verdict with the same value is accepted.
   Rating-looking text *inside* a sentence (for example the judge quoting the
   prompt) is not a verdict line and is ignored.

Nothing else is accepted: no search for a rating elsewhere in the reply, no
number after the verdict line.  A reply that fails is re-asked (the client's
repair turn, :data:`RATING_REPAIR_NOTE`) like an invalid JSON reply; when every
attempt fails the row gets ``status = parse_failed``, ``score = null``, the
reason in ``error`` and every rejected reply verbatim, with its attempt number,
in ``rejected``; that judge then abstains on the battles of that item.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from echo_bench.judge import identity
from echo_bench.llm import LLMRequest
from echo_bench.prompts import TemplateError
from echo_bench.prompts import load as load_template
from echo_bench.schemas import GENERATIONS, JUDGMENTS, SAMPLES

#: JUDGMENTS.status values.
OK, PARSE_FAILED, CALL_FAILED, NO_OUTPUT = "ok", "parse_failed", "call_failed", "no_output"
STATUSES = (OK, PARSE_FAILED, CALL_FAILED, NO_OUTPUT)

RATING_MIN, RATING_MAX = 1, 10

#: The verdict spellings accepted on the last line, in the order they are tried: (form, pattern).
FORMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("rating_brackets", re.compile(r"rating\s*:\s*\[\[\s*([^\[\]]*?)\s*\]\]", re.IGNORECASE)),  # Rating: [[8]]
    ("brackets", re.compile(r"\[\[\s*([^\[\]]*?)\s*\]\]")),  # [[8]]
    ("rating_out_of_10", re.compile(r"rating\s*:\s*([+-]?\d+(?:\.\d+)?)\s*/\s*10", re.IGNORECASE)),  # Rating: 8/10
    ("rating_plain", re.compile(r"rating\s*:\s*([+-]?\d+(?:\.\d+)?)", re.IGNORECASE)),  # Rating: 8, **Rating:** 8
)

#: The re-ask after a reply without a usable rating ("{error}" is the parser's reason).
RATING_REPAIR_NOTE = (
    "Your previous reply could not be used: {error}. Reply again with your evaluation, and end it with "
    "a final line of exactly the form `Rating: [[N]]`, where N is an integer from 1 to 10."
)
_INTEGER = re.compile(r"[+-]?\d+")
_DECORATION = str.maketrans("", "", "*_`")


@dataclass(frozen=True)
class ParsedRating:
    """The outcome of parsing one reply: ``score`` is None unless ``status == "ok"``."""

    score: float | None
    status: str
    error: str | None = None
    form: str | None = None  # which verdict spelling matched (FORMS), "+markdown" when emphasis was removed


def _verdict(line: str) -> tuple[str, str] | None:
    """(value text, form) when ``line`` is a whole verdict line in one of :data:`FORMS`, else None."""
    stripped = line.strip()
    cleaned = stripped.translate(_DECORATION).strip()
    if cleaned.endswith("."):
        cleaned = cleaned[:-1].rstrip()
    for form, pattern in FORMS:
        m = pattern.fullmatch(cleaned)
        if m:
            marked = stripped.rstrip(".").strip() != stripped.translate(_DECORATION).rstrip(".").strip()
            return m.group(1), form + ("+markdown" if marked else "")
    return None


def _verdict_value(line: str) -> str | None:
    v = _verdict(line)
    return v[0] if v else None


def parse_rating(reply: str | None, *, lo: int = RATING_MIN, hi: int = RATING_MAX) -> ParsedRating:
    """Parse the final verdict line of a judge's reply (rules in the module doc)."""
    if reply is None or not reply.strip():
        return ParsedRating(None, PARSE_FAILED, "empty reply")
    lines = [ln for ln in reply.splitlines() if ln.strip()]
    verdict = _verdict(lines[-1])
    if verdict is None:
        tail = lines[-1].strip()
        return ParsedRating(None, PARSE_FAILED, f"last line is not 'Rating: [[N]]': {tail[:80]!r}")
    value, form = verdict
    if not _INTEGER.fullmatch(value):
        return ParsedRating(None, PARSE_FAILED, f"rating {value!r} is not an integer", form)
    n = int(value)
    if not lo <= n <= hi:
        return ParsedRating(None, PARSE_FAILED, f"rating {n} outside {lo}-{hi}", form)
    others = {v for v in (_verdict_value(ln) for ln in lines[:-1]) if v is not None}
    conflicting = sorted(v for v in others if not (_INTEGER.fullmatch(v) and int(v) == n))
    if conflicting:
        return ParsedRating(None, PARSE_FAILED, f"conflicting ratings: final {n}, earlier {conflicting}", form)
    return ParsedRating(float(n), OK, None, form)


def rating_check(reply: str) -> str | None:
    """The client-side check of a judge reply (``LLMRequest.check``): None when a rating parses, else why not."""
    p = parse_rating(reply)
    return None if p.status == OK else p.error


def reparse(judgments: pl.DataFrame) -> pl.DataFrame:
    """Re-derive ``score``/``status``/``error`` from the verbatim ``raw`` replies, with no call.

    Rows whose judge was reached (status ok or parse_failed) are parsed again with
    :func:`parse_rating`; call failures and missing outputs are left as they are.
    """
    if judgments.is_empty():
        return judgments
    parsed_rows = [
        parse_rating(raw) if status in (OK, PARSE_FAILED) else None
        for raw, status in zip(judgments["raw"].to_list(), judgments["status"].to_list())
    ]
    scores = [p.score if p else s for p, s in zip(parsed_rows, judgments["score"].to_list())]
    statuses = [p.status if p else s for p, s in zip(parsed_rows, judgments["status"].to_list())]
    errors = [p.error if p else e for p, e in zip(parsed_rows, judgments["error"].to_list())]
    forms = [p.form if p else f for p, f in zip(parsed_rows, judgments["rating_form"].to_list())]
    return judgments.with_columns(
        pl.Series("score", scores, dtype=pl.Float64),
        pl.Series("status", statuses, dtype=pl.Utf8),
        pl.Series("error", errors, dtype=pl.Utf8),
        pl.Series("rating_form", forms, dtype=pl.Utf8),
    )


# --- items -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One (sample, model) to judge."""

    split: str
    sample_id: str
    model: str
    prompt: str
    input_images: tuple[str, ...]
    output_image: str | None  # None when the model produced nothing usable
    reason: str | None = None  # why output_image is None
    signals: Mapping[str, Any] = field(default_factory=dict)  # measured signals for the offline judge

    @property
    def has_output(self) -> bool:
        return self.output_image is not None


def judge_items(
    samples: pl.DataFrame,
    generations: pl.DataFrame,
    *,
    root: str | Path | None = None,
    signals: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
) -> tuple[list[Item], dict[str, Any]]:
    """Every (sample, model) of the split, sorted, and counts of what was found.

    The models are those of ``generations``.  A model with no generation row for a
    sample, a row whose status is not ``ok``, no output path, or an output file that
    does not exist (relative paths are resolved against ``root``, default the
    working directory) gives an item without output (``no_output``).  Generation
    rows of samples that are not in ``samples`` are counted, not judged.
    """
    samples = samples.select(SAMPLES.names())
    generations = generations.select(GENERATIONS.names())
    base = Path(root) if root is not None else Path.cwd()
    models = sorted(set(generations["model"].to_list()))
    sample_rows = sorted(samples.iter_rows(named=True), key=lambda r: r["sample_id"])
    known = {r["sample_id"] for r in sample_rows}
    gen: dict[tuple[str, str], dict[str, Any]] = {}
    duplicates = 0
    for row in generations.sort(["sample_id", "model", "status"]).iter_rows(named=True):
        k = (row["sample_id"], row["model"])
        if k in gen:
            duplicates += 1
            if gen[k]["status"] == "ok":  # keep an ok row over a failed one
                continue
        gen[k] = row
    unknown = sum(1 for sid, _ in gen if sid not in known)
    signals = signals or {}
    items: list[Item] = []
    reasons: dict[str, int] = {}
    for s in sample_rows:
        inputs = tuple(s["input_images"] or ())
        for m in models:
            g = gen.get((s["sample_id"], m))
            out, reason = None, None
            if g is None:
                reason = "no generation row"
            elif g["status"] != "ok":
                reason = f"generation {g['status']}" + (f": {g['reason']}" if g["reason"] else "")
            elif not g["output_image"]:
                reason = "generation ok but no output_image"
            elif not (base / g["output_image"]).is_file():
                reason = f"output file not found: {g['output_image']}"
            else:
                out = g["output_image"]
            if reason:
                key = reason.split(":")[0]
                reasons[key] = reasons.get(key, 0) + 1
            items.append(
                Item(
                    split=s["split"],
                    sample_id=s["sample_id"],
                    model=m,
                    prompt=s["prompt"] or "",
                    input_images=inputs,
                    output_image=out,
                    reason=reason,
                    signals=dict(signals.get((s["sample_id"], m), {})),
                )
            )
    counts = {
        "samples": len(sample_rows),
        "models": models,
        "items": len(items),
        "items_with_output": sum(it.has_output for it in items),
        "items_without_output": dict(sorted(reasons.items())),
        "generation_rows_of_unknown_samples": unknown,
        "duplicate_generation_rows": duplicates,
    }
    return items, counts


# --- requests and rows --------------------------------------------------------------------


@functools.cache
def count_variable(template: str) -> str:
    """The template's variable for the number of input images (``n_input_images`` or ``n_inputs``)."""
    try:
        declared = set(load_template(template).variables)
    except TemplateError:
        declared = set()
    for name in ("n_input_images", "n_inputs"):
        if name in declared:
            return name
    return "n_input_images"


def build_request(item: Item, *, template: str, repeat: int = 0, offline_signals: bool = False) -> Any:
    """The LLMRequest that asks a judge to grade ``item`` (template ``judge_single``).

    Variables: ``instruction`` (the prompt text) and the number of input images
    (``n_input_images`` in ``judge_single@v1``; the name is taken from the template's
    declared variables, ``n_inputs`` also understood); images: the input images
    followed by the output image last.  ``_repeat`` (not rendered, part of the
    cache key) makes repeated runs distinct calls.  For the offline judge the item's
    measured signals travel as ``_signals`` (so a change in the metrics table is a
    change of cache key) together with ``_task``.
    """
    if item.output_image is None:
        raise ValueError(f"item {item.sample_id}/{item.model} has no output to judge")
    variables: dict[str, Any] = {
        "instruction": item.prompt,
        count_variable(template): len(item.input_images),
        "_repeat": int(repeat),
    }
    if offline_signals:
        variables["_signals"] = {k: item.signals[k] for k in sorted(item.signals)}
    return LLMRequest(
        template=template,
        variables=variables,
        images=(*item.input_images, item.output_image),
        json_schema=None,
        key=f"{item.split}/{item.sample_id}/{item.model}/r{repeat}",
        check=rating_check,
        repair_note=RATING_REPAIR_NOTE,
    )


def _row(item: Item, judge: str, backend: str, template: str, repeat: int, **kw: Any) -> dict[str, Any]:
    """One JUDGMENTS row; the identity fields (module :mod:`echo_bench.judge.identity`) come in ``kw``."""
    return {
        "split": item.split,
        "sample_id": item.sample_id,
        "model": item.model,
        "judge": judge,
        "backend": backend,
        "template": template,
        "repeat": repeat,
        "raw": kw.get("raw"),
        "score": kw.get("score"),
        "status": kw["status"],
        "error": kw.get("error"),
        "rating_form": kw.get("rating_form"),
        "rejected": json.dumps(list(kw["rejected"]), ensure_ascii=False, sort_keys=True) if kw.get("rejected") else None,
        "judge_model": kw.get("judge_model"),
        "judge_model_reported": kw.get("judge_model_reported"),
        "prompt_sha256": kw.get("prompt_sha256"),
        "cache_key": kw.get("cache_key"),
    }


def grade(
    items: Sequence[Item],
    *,
    judge: str,
    backend: str,
    client: Any,
    template: str,
    repeats: int = 1,
) -> list[dict[str, Any]]:
    """JUDGMENTS rows of one judge for ``items`` x ``range(repeats)``, in that order.

    Items without output give ``no_output`` rows and no call.  The others are sent
    in one ``client.run`` batch; a failed call gives ``call_failed`` (the client's
    error in ``error``), a reply gives its verbatim text in ``raw`` and the parse.
    A reply the client rejected after every re-ask (error code ``unparsed_reply``)
    gives ``parse_failed`` with its last reply in ``raw``; every rejected reply of
    the item (also those before a successful re-ask) is in ``rejected``.
    """
    offline = backend == "offline"
    sent = getattr(client, "model", None) or None
    todo: list[tuple[Item, int]] = []
    for it in items:
        for r in range(repeats):
            if it.has_output:
                todo.append((it, r))
    requests = [build_request(it, template=template, repeat=r, offline_signals=offline) for it, r in todo]
    replies = client.run(requests)
    if len(replies) != len(todo):
        raise RuntimeError(f"judge {judge}: client returned {len(replies)} replies for {len(todo)} requests")
    by_key = {(it.sample_id, it.model, r): (req, rep) for (it, r), req, rep in zip(todo, requests, replies)}
    rows: list[dict[str, Any]] = []
    for it in items:
        for r in range(repeats):
            if not it.has_output:
                rows.append(_row(it, judge, backend, template, r, status=NO_OUTPUT, error=it.reason, judge_model=sent))
                continue
            req, rep = by_key[(it.sample_id, it.model, r)]
            tpl = getattr(rep, "template", None) or template
            rejected = tuple(getattr(rep, "rejected", ()) or ())
            ident = {
                "judge_model": sent,
                "judge_model_reported": identity.reported_model(client, rep, backend=backend),
                "prompt_sha256": identity.prompt_sha256(tpl, req.variables),
                "cache_key": getattr(rep, "cache_key", None) or None,
            }
            if not rep.ok:
                unparsed = (rep.error or "").split(":", 1)[0] == "unparsed_reply"
                p = parse_rating(rep.text) if unparsed else None
                rows.append(
                    _row(
                        it, judge, backend, tpl, r,
                        status=PARSE_FAILED if p is not None else CALL_FAILED,
                        raw=rep.text or None,
                        error=rep.error or "call failed",
                        rating_form=p.form if p is not None else None,
                        rejected=rejected,
                        **ident,
                    )
                )
                continue
            p = parse_rating(rep.text)
            rows.append(
                _row(
                    it, judge, backend, tpl, r,
                    status=p.status, raw=rep.text, score=p.score, error=p.error, rating_form=p.form, rejected=rejected,
                    **ident,
                )
            )
    return rows


def judgments_frame(rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """JUDGMENTS frame of ``rows``, sorted by (split, sample_id, model, judge, repeat)."""
    rows = list(rows)
    if not rows:
        return pl.DataFrame(schema=JUDGMENTS)
    return pl.DataFrame(rows, schema=JUDGMENTS, orient="row").sort(["split", "sample_id", "model", "judge", "repeat"])
