"""Finalize: the curator's label, near-duplicates, and the three splits.

Labels (template ``finalize``; offline: :func:`offline_label`, rules F1-F10 in
docs/curation.md): Benchmark, Manual Review (valid prompt, but images missing,
mismatched or uncertain) or Discard (not a prompt).  Whatever the backend, a
few guards hold (rule G): Trash and empty prompts are discarded without a call;
a Benchmark label needs a reference output, no unresolved placeholder and a
successful image step, else it becomes Manual Review.

Near-duplicates (rule N): two samples are near-duplicates when their
normalized prompts (NFKC, lower case, punctuation and extra spaces removed)
have a rapidfuzz ``ratio`` >= ``near_duplicate_threshold`` and they were given
the same input images (both none for text-to-image); samples parsed from chat
screenshots must also share the screenshot (their real prompt is in it).
Samples are visited best first (Benchmark before Manual Review before Discard,
then with an output image, then earliest, then smallest sample id); one that is
a near-duplicate of a sample already kept is removed (``reason =
near_duplicate``, ``duplicate_of`` = the most similar kept sample).

Splits: Benchmark with no input image -> ``text_to_image``, with input images
-> ``image_to_image``; every other usable sample (quality not Trash, prompt not
empty, not a near-duplicate) -> ``analysis``.  ``manual_review`` lists the Manual
Review samples (all in ``analysis``) with the reason; ``discarded`` lists the
samples labelled Discard (``split = analysis`` when they still serve analysis,
as commentary does) and those in no split (``split`` null: Trash, empty prompt,
near-duplicates, failed replies), each with its reason.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from rapidfuzz import fuzz, process

from echo_bench.curate.common import backend_info, producer_of, quarantine_failed, truncate
from echo_bench.curate.heuristics import EDIT_CUES, MULTI_CUES, has_term, is_question, n_words, plain
from echo_bench.curate.tables import DISCARDED, REVIEW
from echo_bench.quarantine import Quarantine
from echo_bench.schemas import SAMPLES

STEP = "finalize"
TEMPLATE = "finalize"
LABELS = ("Benchmark", "Manual Review", "Discard")
SPLITS = ("analysis", "text_to_image", "image_to_image")

REPLY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["label", "reason"],
    "properties": {"label": {"enum": list(LABELS)}, "reason": {"type": "string"}},
}


@dataclass(frozen=True)
class FinalizeSettings:
    model_of_interest: str = "GPT-4o image generation"
    near_duplicate_threshold: float = 95.0
    send_images: bool = True
    min_prompt_words: int = 3

    def __post_init__(self) -> None:
        if not 0 < float(self.near_duplicate_threshold) <= 100:
            raise ValueError("finalize.near_duplicate_threshold must be in (0, 100]")


@dataclass
class FinalizeResult:
    splits: dict[str, pl.DataFrame]  # SAMPLES frames by split name
    manual_review: pl.DataFrame  # REVIEW
    discarded: pl.DataFrame  # DISCARDED
    quarantine: pl.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)


# --- offline rules --------------------------------------------------------------------------------


def needs_input(prompt: str) -> bool:
    return has_term(prompt, EDIT_CUES) or has_term(prompt, MULTI_CUES)


def offline_label(row: Mapping[str, Any], min_prompt_words: int = 3) -> tuple[str, str]:
    """The offline curator's label of one processed row: (label, reason), rules F1-F10."""
    prompt = (row.get("prompt") or "").strip()
    if row.get("quality") == "Trash":
        return "Discard", "F1 extraction judged it Trash (irrelevant or made with another model)"
    if not prompt:
        return "Discard", "F2 no prompt"
    if n_words(prompt) < min_prompt_words or is_question(prompt):
        return "Discard", "F3 the prompt is too short or a question, not an instruction"
    if row.get("quality") == "Analysis" and row.get("prompt_source") != "screenshot":
        if row.get("screenshot"):
            return "Manual Review", "F4 a chat screenshot holds the prompt, but it was not read (no OCR offline)"
        return "Discard", "F4 commentary or a question about the model, no executable prompt"
    if row.get("mm_status") == "failed":
        return "Manual Review", "F5 the image step failed; roles unknown"
    if row.get("blanks") and not row.get("blanks_resolved"):
        return "Manual Review", f"F6 fill-in-the-blank prompt not resolved ({', '.join(list(row['blanks'])[:3])})"
    if not row.get("reference_outputs"):
        return "Manual Review", "F7 no output image of the model is attached"
    if not row.get("input_images") and needs_input(prompt):
        return "Manual Review", "F8 the prompt works on an input image that is not attached"
    if row.get("mm_confidence") == "low":
        return "Manual Review", "F9 screenshot or composite parsed with low confidence"
    if row.get("prompt_modified") and row.get("prompt_source") in ("filled", "screenshot"):
        return "Manual Review", f"F10 the prompt was {row['prompt_source']} by a model, not copied from the thread"
    return "Benchmark", "clean task: verbatim prompt, output attached, inputs as the prompt needs"


def make_offline(rows: Mapping[str, Mapping[str, Any]], settings: FinalizeSettings) -> Callable[[Any], dict]:
    def offline(request: Any) -> dict:
        label, reason = offline_label(rows[request.key], settings.min_prompt_words)
        return {"label": label, "reason": reason}

    return offline


def guard(row: Mapping[str, Any], label: str, reason: str) -> tuple[str, str]:
    """Rule G: what any backend's label must respect."""
    if label == "Benchmark":
        if row.get("mm_status") == "failed":
            return "Manual Review", f"G: image step failed (curator said Benchmark: {reason})"
        if not row.get("reference_outputs"):
            return "Manual Review", f"G: no output image (curator said Benchmark: {reason})"
        if row.get("blanks") and not row.get("blanks_resolved"):
            return "Manual Review", f"G: unresolved placeholders (curator said Benchmark: {reason})"
    return label, reason


# --- near-duplicates ----------------------------------------------------------------------------------


def _length_window(lo_len: int, hi_len: int, threshold: float) -> tuple[float, float]:
    """Lengths a partner may have to reach ``fuzz.ratio >= threshold`` with texts of lengths lo..hi.

    ratio <= 200*min(a, b)/(a + b), so b lies in [a*t/(200-t), a*(200-t)/t].
    """
    return lo_len * threshold / (200.0 - threshold) - 1e-9, hi_len * (200.0 - threshold) / threshold + 1e-9


def remove_near_duplicates(rows: list[dict], threshold: float, *, block: int = 256, sub: int = 32) -> dict[str, str]:
    """``{removed sample_id: kept sample_id}`` (rule N).

    Rows are visited best first (Benchmark, Manual Review, Discard; then with an
    output; then earliest; then smallest id).  A row whose normalized prompt is
    identical to, or has ``fuzz.ratio >= threshold`` with, a prompt already kept
    in its group (same input images; screenshots also by their picture) is
    removed in favour of the most similar kept one (the earliest of equals);
    otherwise it is kept.  Same result as comparing row by row (tested against a
    brute force), computed in blocks of ``block`` rows: identical prompts by a
    dict; the others with rapidfuzz ``cdist`` (C++, all cores) against the kept
    prompts whose length can reach the threshold (kept prompts are held sorted
    by length; the block is cut into ``sub`` rows of similar length), then
    within the block, in order.  Worst case quadratic (all prompts of similar
    length and distinct).
    """
    rank = {"Benchmark": 0, "Manual Review": 1, "Discard": 2}
    ordered = sorted(
        rows,
        key=lambda r: (rank.get(r["label"], 3), not r["reference_outputs"], r["created_at"] is None,
                       r["created_at"] or 0, r["sample_id"]),
    )
    groups: dict[tuple, list[dict]] = {}
    for r in ordered:
        # a screenshot's real prompt is in its picture: screenshots are only duplicates when they share it
        key = (tuple(sorted(r["input_images"] or [])), tuple(sorted(r["images"] or [])) if r.get("screenshot") else ())
        groups.setdefault(key, []).append(r)
    removed: dict[str, str] = {}
    for members in groups.values():
        # kept prompts sorted by length; "order" is the kept position (earlier kept wins ties)
        k_len: list[int] = []
        k_text: list[str] = []
        k_id: list[str] = []
        k_order: list[int] = []
        exact: dict[str, str] = {}
        for start in range(0, len(members), block):
            chunk = []
            for r in members[start : start + block]:
                text = plain(r["prompt"])
                if text in exact:
                    removed[r["sample_id"]] = exact[text]
                else:
                    chunk.append((r["sample_id"], text))
            if not chunk:
                continue
            texts = [t for _, t in chunk]
            best_kept: list[tuple[int, int, str]] = [(0, 0, "")] * len(chunk)  # (score, -order, kept id)
            if k_text:
                by_len = sorted(range(len(chunk)), key=lambda i: len(texts[i]))
                for s0 in range(0, len(by_len), sub):
                    part = by_len[s0 : s0 + sub]
                    lo, hi = _length_window(len(texts[part[0]]), len(texts[part[-1]]), threshold)
                    a, b = bisect.bisect_left(k_len, lo), bisect.bisect_right(k_len, hi)
                    if b <= a:
                        continue
                    m = process.cdist([texts[i] for i in part], k_text[a:b], scorer=fuzz.ratio, score_cutoff=threshold,
                                      dtype=np.uint8, workers=-1)
                    for row_i, i in enumerate(part):
                        hits = np.flatnonzero(m[row_i] >= threshold)
                        if hits.size:
                            best_kept[i] = max((int(m[row_i, j]), -k_order[a + j], k_id[a + j]) for j in hits.tolist())
            inner = process.cdist(texts, texts, scorer=fuzz.ratio, score_cutoff=threshold, dtype=np.uint8, workers=-1)
            new: list[int] = []
            base = len(k_id)
            for i, (sid, text) in enumerate(chunk):
                cands = [best_kept[i]] if best_kept[i][2] else []
                if new:
                    row = inner[i, new]
                    cands += [(int(row[n]), -(base + n), chunk[new[n]][0]) for n in np.flatnonzero(row >= threshold).tolist()]
                if cands:
                    removed[sid] = max(cands)[2]
                else:
                    new.append(i)
                    exact[text] = sid
            for n, i in enumerate(new):
                at = bisect.bisect_right(k_len, len(texts[i]))
                k_len.insert(at, len(texts[i]))
                k_text.insert(at, texts[i])
                k_id.insert(at, chunk[i][0])
                k_order.insert(at, base + n)
    return removed


# --- requests ------------------------------------------------------------------------------------------


def legend_of(row: Mapping[str, Any]) -> str:
    lines = []
    i = 0
    for p in row["input_images"] or []:
        i += 1
        lines.append(f"{i}. input image (given to the model)")
    for p in row["reference_outputs"] or []:
        i += 1
        lines.append(f"{i}. output image (what the model of interest produced)")
    extra = []
    if row.get("n_junk"):
        extra.append(f"{row['n_junk']} junk image(s) left out")
    if row.get("n_duplicates"):
        extra.append(f"{row['n_duplicates']} duplicate(s) left out")
    if row.get("n_missing_images"):
        extra.append(f"{row['n_missing_images']} attachment(s) missing or not photos")
    if row.get("mm_status") == "failed":
        extra.append("the image step failed, roles unknown")
    if row.get("blanks") and not row.get("blanks_resolved"):
        extra.append(f"the prompt has unfilled placeholders {list(row['blanks'])[:5]}")
    text = "\n".join(lines) if lines else "(none)"
    return text + ("\n(" + "; ".join(extra) + ")" if extra else "")


def request_for(row: Mapping[str, Any], settings: FinalizeSettings, resolve: Callable[[str], str]) -> Any:
    from echo_bench.llm import LLMRequest

    images = tuple(resolve(p) for p in list(row["input_images"] or []) + list(row["reference_outputs"] or []))
    return LLMRequest(
        TEMPLATE,
        {
            "model_of_interest": settings.model_of_interest,
            "prompt": row["prompt"],
            "prompt_modified": bool(row["prompt_modified"]),
            "task_type": row["task_type"],
            "quality": row["quality"],
            "image_legend": legend_of(row),
        },
        images=images if settings.send_images else (),
        json_schema=REPLY_SCHEMA,
        key=row["sample_id"],
    )


# --- the step --------------------------------------------------------------------------------------------


def _sample(row: Mapping[str, Any], split: str | None, label: str, producer: str) -> dict:
    return {
        "sample_id": row["sample_id"],
        "split": split,
        "thread_id": row["thread_id"],
        "created_at": row["created_at"],
        "lang": row["lang"],
        "prompt": row["prompt"],
        "prompt_modified": bool(row["prompt_modified"]),
        "task_type": row["task_type"],
        "input_images": list(row["input_images"] or []),
        "reference_outputs": list(row["reference_outputs"] or []),
        "quality": row["quality"],
        "label": label,
        "feedback": list(row["feedback"] or []),
        "producer": producer,
    }


def _frame(rows: list[dict], schema: pl.Schema) -> pl.DataFrame:
    df = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    return df.sort(["created_at", "sample_id"], nulls_last=True)


def finalize_samples(
    processed: pl.DataFrame,
    client_for: Callable[[Callable[[Any], dict]], Any],
    settings: FinalizeSettings,
    *,
    resolve: Callable[[str], str] = lambda p: p,
    q: Quarantine | None = None,
    log: logging.Logger | None = None,
) -> FinalizeResult:
    """Labels, near-duplicates and splits of ``processed`` (PROCESSED)."""
    log = log or logging.getLogger("echo_bench.finalize")
    q = q if q is not None else Quarantine(STEP)
    rows = list(processed.iter_rows(named=True))
    labels: dict[str, tuple[str, str]] = {}
    no_split: dict[str, str] = {}
    ask: list[dict] = []
    for r in rows:
        if r["quality"] == "Trash" or not (r["prompt"] or "").strip():
            labels[r["sample_id"]] = offline_label(r, settings.min_prompt_words)
            no_split[r["sample_id"]] = labels[r["sample_id"]][1]
        else:
            ask.append(r)
    client = client_for(make_offline({r["sample_id"]: r for r in ask}, settings))
    replies = client.run([request_for(r, settings, resolve) for r in ask]) if ask else []
    finalize_producer: dict[str, str] = {}
    failed = 0
    for r, reply in zip(ask, replies, strict=True):
        finalize_producer[r["sample_id"]] = producer_of(reply, STEP)
        if reply.ok and isinstance(reply.data, Mapping):
            labels[r["sample_id"]] = guard(r, str(reply.data["label"]), str(reply.data.get("reason", "")))
        else:
            failed += 1
            quarantine_failed(q, reply, what="final label of sample", key=r["sample_id"], raw=reply.text)
            labels[r["sample_id"]] = ("Manual Review", f"curator reply failed: {truncate(reply.error, 200)}")
    # near-duplicates among the usable samples
    usable = [dict(r, label=labels[r["sample_id"]][0]) for r in rows if r["sample_id"] not in no_split]
    dups = remove_near_duplicates(usable, settings.near_duplicate_threshold)
    split_rows: dict[str, list[dict]] = {s: [] for s in SPLITS}
    review_rows: list[dict] = []
    discard_rows: list[dict] = []
    by_label = {k: 0 for k in LABELS}
    for r in rows:
        sid = r["sample_id"]
        label, reason = labels[sid]
        by_label[label] += 1
        producer = (
            f"extract={r['producer']}; multimodal={r['mm_producer']}; "
            f"finalize={finalize_producer.get(sid, 'rule-G')}"
        )
        if sid in no_split:
            discard_rows.append({**_sample(r, None, label, producer), "reason": reason, "duplicate_of": None})
            continue
        if sid in dups:
            discard_rows.append({**_sample(r, None, label, producer), "reason": f"near_duplicate; label was {label}: {reason}",
                                 "duplicate_of": dups[sid]})
            continue
        if label == "Benchmark":
            split = "image_to_image" if r["input_images"] else "text_to_image"
        else:
            split = "analysis"
        s = _sample(r, split, label, producer)
        split_rows[split].append(s)
        if label == "Manual Review":
            review_rows.append({**s, "reason": reason})
        elif label == "Discard":
            discard_rows.append({**s, "reason": reason, "duplicate_of": None})
    splits = {k: _frame(v, SAMPLES) for k, v in split_rows.items()}
    manual = _frame(review_rows, REVIEW)
    discarded = _frame(discard_rows, DISCARDED)
    summary = {
        "processed_read": len(rows),
        "sent": len(ask),
        "failed": failed,
        "labels": by_label,
        "splits": {k: v.height for k, v in splits.items()},
        "split_task_types": {
            k: {t: int((v["task_type"] == t).sum()) for t in ("text_to_image", "edit", "multi_image")} for k, v in splits.items()
        },
        "manual_review": manual.height,
        "discarded": discarded.height,
        "discarded_in_no_split": int(discarded["split"].is_null().sum()),
        "near_duplicates_removed": len(dups),
        "near_duplicate_threshold": settings.near_duplicate_threshold,
        "backends": {STEP: backend_info(client, STEP)},
        "llm_usage": {STEP: client.usage()},
    }
    log.info(
        "finalize: %d samples -> labels %s; splits %s; %d near-duplicates removed; %d for manual review, %d discarded",
        len(rows), by_label, summary["splits"], len(dups), manual.height, discarded.height,
    )
    return FinalizeResult(splits, manual, discarded, q.frame(), summary)
