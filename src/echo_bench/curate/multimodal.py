"""The image step: roles of a sample's images, duplicates, blanks, screenshots and composites.

A VLM (template ``classify_images``) sees the sample's prompt, a legend of its
images (post, caption, size) and the images; the offline backend
(:func:`offline_classify`, rules M1-M7 in docs/curation.md) answers the same
JSON from pixel rules (:mod:`.pixels`) and text cues.  Both replies are applied
by :func:`apply_reply`:

* roles: ``input`` images become ``input_images``, ``output`` images
  ``reference_outputs`` (in attachment order); ``junk`` and duplicates
  (``duplicate_of``) are left out and counted; images the reply did not
  classify are left out, counted and quarantined (``image_not_classified``);
* a chat screenshot (``screenshots``) or a composite (``composites``, an
  extension of the template's reply that the offline backend fills: ``kind``
  ``pair`` for a before/after composite, ``grid`` for a collage of outputs) is
  a container: its boxes are cropped into content-addressed
  PNGs (``<crops>/<sha256>.png``), input boxes to inputs and output boxes to
  outputs; a box too small or out of range is quarantined (``bad_box``);
* fill-in-the-blank: the placeholders found by ``find_blanks`` are filled from
  ``resolved_prompt`` only when the reply says ``resolution_confident`` and the
  filled prompt has no placeholder left (``prompt_source = filled``,
  ``prompt_modified = true``); the offline backend never fills;
* a screenshot's transcribed prompt replaces the extracted one when that one
  is empty, was guessed (``prompt_modified``) or the extractor found no task
  (quality Analysis) -- ``prompt_source = screenshot``, ``prompt_modified = true``;
* ``task_type``: no input = text_to_image, one = edit, more = multi_image.

Trash candidates are not sent (``mm_status = skipped``), candidates without
images need no call (``no_images``); a failed reply keeps the candidate with
``mm_status = failed`` and no image roles (finalize sends it to Manual Review)
and is quarantined.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from echo_bench.curate import pixels
from echo_bench.curate.common import backend_info, producer_of, quarantine_failed, truncate
from echo_bench.curate.heuristics import (
    EDIT_CUES,
    MULTI_CUES,
    PAIR_CAPTION_CUES,
    REVERSED_ORDER_CUES,
    find_blanks,
    has_term,
)
from echo_bench.curate.tables import PROCESSED
from echo_bench.quarantine import Quarantine

STEP = "multimodal"
TEMPLATE = "classify_images"
ROLES = ("input", "output", "junk")
TASK_TYPES = ("text_to_image", "edit", "multi_image")

_BOXES = {
    "type": "array",
    "items": {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number", "minimum": 0, "maximum": 1}},
}
#: The reply every backend must give: the template's fields, plus two optional ones the offline
#: backend fills -- ``composites`` (side-by-side images, split like screenshots) and a
#: ``confidence`` per screenshot/composite.
REPLY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["images", "resolved_prompt", "resolution_confident", "screenshots"],
    "properties": {
        "images": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "role", "duplicate_of"],
                "properties": {
                    "index": {"type": "integer", "minimum": 1},
                    "role": {"enum": list(ROLES)},
                    "duplicate_of": {"type": ["integer", "null"], "minimum": 1},
                    "reason": {"type": "string"},
                },
            },
        },
        "resolved_prompt": {"type": ["string", "null"]},
        "resolution_confident": {"type": "boolean"},
        "screenshots": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "prompt", "input_boxes", "output_boxes"],
                "properties": {
                    "index": {"type": "integer", "minimum": 1},
                    "prompt": {"type": ["string", "null"]},
                    "input_boxes": _BOXES,
                    "output_boxes": _BOXES,
                    "confidence": {"enum": ["high", "low"]},
                },
            },
        },
        "composites": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "input_boxes", "output_boxes"],
                "properties": {
                    "index": {"type": "integer", "minimum": 1},
                    "kind": {"enum": ["pair", "grid"]},  # before/after composite | collage of outputs
                    "input_boxes": _BOXES,
                    "output_boxes": _BOXES,
                    "confidence": {"enum": ["high", "low"]},
                },
            },
        },
        "notes": {"type": "string"},
    },
}


@dataclass(frozen=True)
class MultimodalSettings:
    model_of_interest: str = "GPT-4o image generation"
    caption_chars: int = 280
    pixels: pixels.PixelSettings = field(default_factory=pixels.PixelSettings)


@dataclass
class MultimodalResult:
    processed: pl.DataFrame
    quarantine: pl.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)


# --- offline rules ----------------------------------------------------------------------------


def _r(b: Sequence[float]) -> list[float]:
    return [round(float(v), 4) for v in b]


def offline_classify(
    prompt: str,
    captions: Sequence[str],
    paths: Sequence[str],
    settings: pixels.PixelSettings,
    feature_cache: dict[str, pixels.Features] | None = None,
) -> dict:
    """The offline image step for one sample (rules M1-M7): the reply JSON of ``classify_images``."""
    cache = feature_cache if feature_cache is not None else {}
    feats = []
    for p in paths:
        f = cache.get(p)
        if f is None:
            f = cache[p] = pixels.features(p, settings)
        feats.append(f)
    n = len(paths)
    text = "\n".join(captions)
    needs_multi = has_term(prompt, MULTI_CUES)
    needs_edit = has_term(prompt, EDIT_CUES) or has_term(text, EDIT_CUES) or has_term(text, PAIR_CAPTION_CUES)
    reverse = has_term(text, REVERSED_ORDER_CUES)
    images: list[dict] = [{"index": i + 1, "role": "junk", "duplicate_of": None, "reason": ""} for i in range(n)]
    screenshots: list[dict] = []
    composites: list[dict] = []
    plain: list[int] = []
    kept: list[int] = []
    for i, f in enumerate(feats):
        img = images[i]
        if not f.readable:  # M1
            img["reason"] = f"M1 unreadable ({truncate(f.error, 120)})"
            continue
        if f.junk:  # M1
            img["reason"] = f"M1 {f.junk}"
            continue
        dup = next((j for j in kept if pixels.is_duplicate(feats[j], f, settings.duplicate_max_distance, settings.duplicate_max_color_delta)), None)
        if dup is not None:  # M2
            img.update(duplicate_of=dup + 1, role=images[dup]["role"], reason=f"M2 same hashes as image {dup + 1}")
            continue
        kept.append(i)
        if f.layout is not None and f.layout.is_screenshot:  # M4
            pics = f.layout.pictures
            ins = [b for b in pics if b[0] >= 0.3 and (b[2] - b[0]) <= 0.75]  # right-aligned, narrower: the user's upload
            outs = [b for b in pics if b not in ins]
            if not outs and len(ins) >= 2:
                outs = [ins.pop()]
            screenshots.append(
                {"index": i + 1, "prompt": None, "input_boxes": [_r(b) for b in ins], "output_boxes": [_r(b) for b in outs],
                 "confidence": "low"}
            )
            img["reason"] = (
                f"M4 chat-screenshot layout ({len(pics)} picture block(s), {f.layout.text_blocks} text blocks); "
                "prompt not read (no OCR)"
            )
            continue
        grid = f.grid
        if grid is not None and grid.n_cells >= 3:  # M3b: a collage of outputs
            rows, cols = grid.shape
            composites.append(
                {"index": i + 1, "kind": "grid", "input_boxes": [], "output_boxes": [_r(b) for b in grid.boxes()],
                 "confidence": "high" if grid.clean else "low"}
            )
            img["reason"] = f"M3b output collage ({rows}x{cols} grid, cuts: {', '.join(grid.kinds)})"
            continue
        if f.seam is not None:  # M3: before/after composite, or a collage of two outputs
            left, right = f.seam.boxes(f.width, f.height)
            pair = (needs_edit or needs_multi) and f.seam.similarity >= settings.composite_min_similarity
            if pair:
                ins, outs = ([right], [left]) if reverse else ([left], [right])
                confident = f.seam.confident
            else:
                ins, outs = [], [left, right]
                confident = f.seam.kind == "gutter" or (grid is not None and grid.clean)
            composites.append(
                {"index": i + 1, "kind": "pair" if pair else "grid", "input_boxes": [_r(b) for b in ins],
                 "output_boxes": [_r(b) for b in outs], "confidence": "high" if confident else "low"}
            )
            what = "M3 before/after composite" if pair else "M3b collage of two outputs"
            img["reason"] = f"{what} ({f.seam.kind} at x={f.seam.x0}, panel similarity {f.seam.similarity:.2f})"
            continue
        if grid is not None:  # two stacked cells: M3's test, top = input
            first, second = grid.boxes()
            pair = (needs_edit or needs_multi) and grid.similarity >= settings.composite_min_similarity
            ins, outs = (([second], [first]) if reverse else ([first], [second])) if pair else ([], [first, second])
            composites.append(
                {"index": i + 1, "kind": "pair" if pair else "grid", "input_boxes": [_r(b) for b in ins],
                 "output_boxes": [_r(b) for b in outs],
                 "confidence": "high" if grid.kinds[0] == "gutter" and (grid.clean or pair) else "low"}
            )
            what = "M3 before/after composite (stacked)" if pair else "M3b collage of two outputs"
            img["reason"] = f"{what} ({grid.shape[0]}x{grid.shape[1]} grid, cut: {grid.kinds[0]}, " \
                            f"panel similarity {grid.similarity:.2f})"
            continue
        plain.append(i)
    # M5: roles of the plain images from the text cues
    order = plain[::-1] if reverse else plain
    k = len(order)
    roles: dict[int, str] = {}
    if k:
        if needs_multi and k >= 2:
            roles = {i: "input" for i in order[:-1]} | {order[-1]: "output"}
            why = "M5 multi-image cue: all but the last are inputs"
        elif needs_edit and k >= 2:
            roles = {order[0]: "input"} | {i: "output" for i in order[1:]}
            why = "M5 edit cue: the first image is the input" + (" (order reversed by the caption)" if reverse else "")
        else:
            roles = {i: "output" for i in order}
            why = "M5 no input cue: outputs" if not needs_edit else "M5 edit cue but one image: the output (input missing)"
        for i, role in roles.items():
            images[i].update(role=role, reason=why)
    for img in images:  # duplicates take the role their original got
        if img["duplicate_of"] is not None:
            img["role"] = images[img["duplicate_of"] - 1]["role"]
    blanks = find_blanks(prompt)
    notes = "offline rules M1-M7"
    if blanks:
        notes += f"; M6 fill-in-the-blank {blanks[:5]} not resolved offline"
    return {
        "images": images,
        "resolved_prompt": None,
        "resolution_confident": False,
        "screenshots": screenshots,
        "composites": composites,
        "notes": notes,
    }


# --- requests ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One candidate's image step: its row, the resolved files, the request legend."""

    row: dict
    paths: tuple[str, ...]  # readable locations of the candidate's images (same order as row["images"])
    legend: str


def legend_of(row: Mapping[str, Any], sizes: Mapping[str, tuple[int, int]], caption_chars: int) -> str:
    texts = dict(zip(row["image_posts"], row["image_post_texts"], strict=False))
    lines = []
    for i, (img, post) in enumerate(zip(row["images"], row["image_post_of"], strict=False), 1):
        w, h = sizes.get(img, (0, 0))
        size = f", {w}x{h} px" if w and h else ""
        cap = truncate(re.sub(r"\s+", " ", texts.get(post, "")).strip(), caption_chars)
        lines.append(f'{i}. attached to post {post}{size}; that post says: "{cap}"')
    return "\n".join(lines) if lines else "(no images)"


def request_for(job: Job, settings: MultimodalSettings) -> Any:
    from echo_bench.llm import LLMRequest

    return LLMRequest(
        TEMPLATE,
        {"model_of_interest": settings.model_of_interest, "prompt": job.row["prompt"], "image_legend": job.legend},
        images=job.paths,
        json_schema=REPLY_SCHEMA,
        key=job.row["sample_id"],
    )


def make_offline(jobs: Mapping[str, Job], settings: MultimodalSettings) -> Callable[[Any], dict]:
    cache: dict[str, pixels.Features] = {}

    def offline(request: Any) -> dict:
        job = jobs[request.key]
        captions = [t for t in job.row["image_post_texts"]]
        return offline_classify(job.row["prompt"], captions, list(request.images), settings.pixels, cache)

    return offline


# --- applying a reply ---------------------------------------------------------------------------


def _base(row: Mapping[str, Any]) -> dict:
    out = {k: row[k] for k in PROCESSED if k in row}
    blanks = find_blanks(row["prompt"])
    out.update(
        extracted_prompt=row["prompt"],
        prompt_source="thread" if row["prompt"] else "none",
        input_images=[],
        reference_outputs=[],
        task_type="text_to_image",
        n_junk=0,
        n_duplicates=0,
        n_unclassified=0,
        screenshot=False,
        composite=False,
        n_crops=0,
        blanks=blanks,
        blanks_resolved=False,
        mm_confidence="none",
        mm_status="ok",
        mm_notes="",
        mm_producer="",
    )
    return out


def _task_type(n_inputs: int) -> str:
    return TASK_TYPES[min(n_inputs, 2)]


def apply_reply(
    job: Job, data: Mapping[str, Any], producer: str, crops_dir: str | None, q: Quarantine
) -> dict:
    """The processed row of one candidate from a valid reply (see the module docstring)."""
    row = job.row
    out = _base(row)
    out["mm_producer"] = producer
    sid = row["sample_id"]
    n = len(row["images"])
    by_index: dict[int, Mapping[str, Any]] = {}
    for item in data.get("images") or []:
        idx = int(item["index"])
        if not 1 <= idx <= n:
            q.add("bad_index", f"sample {sid}: image index {idx} is not in 1..{n}", source_record=sid, raw=str(item))
            continue
        by_index.setdefault(idx, item)
    containers: dict[int, tuple[str, Mapping[str, Any]]] = {}
    for kind, key in (("screenshot", "screenshots"), ("composite", "composites")):
        for item in data.get(key) or []:
            idx = int(item["index"])
            if not 1 <= idx <= n:
                q.add("bad_index", f"sample {sid}: {kind} index {idx} is not in 1..{n}", source_record=sid, raw=str(item))
                continue
            containers.setdefault(idx, (kind, item))
    inputs: list[str] = []
    outputs: list[str] = []
    low = False
    screenshot_prompt = None
    for idx in range(1, n + 1):
        item = by_index.get(idx)
        dup = item.get("duplicate_of") if item else None
        if dup is not None and 1 <= int(dup) < idx:
            out["n_duplicates"] += 1
            continue
        if idx in containers:
            kind, c = containers[idx]
            out[kind] = True
            if c.get("confidence") == "low":
                low = True
            if kind == "screenshot" and c.get("prompt") and str(c["prompt"]).strip() and screenshot_prompt is None:
                screenshot_prompt = str(c["prompt"]).strip()
            for boxes, sink in ((c.get("input_boxes") or [], inputs), (c.get("output_boxes") or [], outputs)):
                for box in boxes:
                    path = _crop(job.paths[idx - 1], box, crops_dir, sid, idx, q)
                    if path is not None:
                        sink.append(path)
                        out["n_crops"] += 1
            continue
        if item is None:
            out["n_unclassified"] += 1
            q.add("image_not_classified", f"sample {sid}: the reply gave no role to image {idx} ({row['images'][idx - 1]})",
                  source_record=sid)
            continue
        role = item["role"]
        if role == "input":
            inputs.append(row["images"][idx - 1])
        elif role == "output":
            outputs.append(row["images"][idx - 1])
        else:
            out["n_junk"] += 1
    out["input_images"] = inputs
    out["reference_outputs"] = outputs
    out["task_type"] = _task_type(len(inputs))
    # blanks
    resolved = data.get("resolved_prompt")
    if out["blanks"] and data.get("resolution_confident") and resolved and str(resolved).strip():
        if find_blanks(str(resolved)):
            q.add("blank_left", f"sample {sid}: the filled prompt still has placeholders; not used", source_record=sid,
                  raw=str(resolved))
        else:
            out.update(prompt=str(resolved).strip(), prompt_modified=True, prompt_source="filled", blanks_resolved=True)
    # screenshot prompt
    if screenshot_prompt and (not row["prompt"] or row["prompt_modified"] or row["quality"] == "Analysis"):
        out.update(prompt=screenshot_prompt, prompt_modified=True, prompt_source="screenshot")
        out["blanks"] = find_blanks(screenshot_prompt)
    out["mm_confidence"] = "low" if low else "high"
    out["mm_notes"] = str(data.get("notes") or "")
    return out


def _crop(path: str, box: Sequence[float], crops_dir: str | None, sid: str, idx: int, q: Quarantine) -> str | None:
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1) or (x1 - x0) * (y1 - y0) < 0.01:
        q.add("bad_box", f"sample {sid}: box {list(box)} of image {idx} is empty or out of range", source_record=sid)
        return None
    if crops_dir is None:
        q.add("no_crops_dir", f"sample {sid}: no crops folder to write box {list(box)} of image {idx}", source_record=sid)
        return None
    try:
        data = pixels.crop_png(path, (x0, y0, x1, y1))
    except Exception as e:  # noqa: BLE001 - an unreadable container image is a quarantined box, not a crash
        q.add("bad_box", f"sample {sid}: cannot crop image {idx}: {type(e).__name__}: {e}", source_record=sid)
        return None
    if data is None:
        q.add("bad_box", f"sample {sid}: box {list(box)} of image {idx} is under 8 px", source_record=sid)
        return None
    return pixels.write_crop(data, crops_dir)


# --- the step ------------------------------------------------------------------------------------


def resolver(media_store: str | None) -> Callable[[str], str]:
    """Where an image reference can be read: as given (repo-relative), else under ``media_store`` by file name."""

    def resolve(ref: str) -> str:
        p = Path(ref)
        if p.exists() or media_store is None:
            return ref
        alt = Path(media_store) / p.name
        return str(alt) if alt.exists() else ref

    return resolve


def process_candidates(
    candidates: pl.DataFrame,
    client_for: Callable[[Callable[[Any], dict]], Any],
    settings: MultimodalSettings,
    *,
    crops_dir: str | None,
    resolve: Callable[[str], str] = lambda p: p,
    sizes: Mapping[str, tuple[int, int]] | None = None,
    q: Quarantine | None = None,
    log: logging.Logger | None = None,
) -> MultimodalResult:
    """Processed rows for ``candidates`` (CANDIDATES).

    ``client_for(offline)`` makes the LLM client, given the offline backend of
    these candidates (:func:`make_offline` needs their jobs, so the client is
    made here); a test passes ``lambda offline: fake_client``.
    """
    log = log or logging.getLogger("echo_bench.multimodal")
    q = q if q is not None else Quarantine(STEP)
    sizes = sizes or {}
    rows: list[dict | None] = []
    jobs: list[Job] = []
    slot: list[int] = []
    skipped = no_images = 0
    for row in candidates.iter_rows(named=True):
        if row["quality"] == "Trash":
            r = _base(row)
            r.update(mm_status="skipped", mm_notes="Trash: not sent to the image step")
            r["reference_outputs"] = []
            rows.append(r)
            skipped += 1
            continue
        if not row["images"]:
            r = _base(row)
            r.update(mm_status="no_images")
            rows.append(r)
            no_images += 1
            continue
        job = Job(row, tuple(resolve(p) for p in row["images"]), legend_of(row, sizes, settings.caption_chars))
        slot.append(len(rows))
        rows.append(None)
        jobs.append(job)
    client = client_for(make_offline({j.row["sample_id"]: j for j in jobs}, settings))
    replies = client.run([request_for(j, settings) for j in jobs]) if jobs else []
    failed = 0
    for i, job, reply in zip(slot, jobs, replies, strict=True):
        if reply.ok and isinstance(reply.data, Mapping):
            rows[i] = apply_reply(job, reply.data, producer_of(reply, STEP), crops_dir, q)
        else:
            failed += 1
            quarantine_failed(q, reply, what="image step of sample", key=job.row["sample_id"], raw=reply.text)
            r = _base(job.row)
            r.update(mm_status="failed", mm_producer=producer_of(reply, STEP), mm_notes=reply.error or "failed",
                     mm_confidence="low")
            rows[i] = r
    done = [r for r in rows if r is not None]
    for r in done:
        r.setdefault("mm_producer", "")
        if not r["mm_producer"]:
            r["mm_producer"] = "none"
    processed = (pl.DataFrame(done, schema=PROCESSED) if done else pl.DataFrame(schema=PROCESSED)).sort(
        ["created_at", "thread_id", "sample_index"], nulls_last=True
    )
    summary = {
        "candidates_read": candidates.height,
        "sent": len(jobs),
        "failed": failed,
        "skipped_trash": skipped,
        "no_images": no_images,
        "task_types": {t: int((processed["task_type"] == t).sum()) for t in TASK_TYPES} if done else {t: 0 for t in TASK_TYPES},
        "junk_images": int(processed["n_junk"].sum()) if done else 0,
        "duplicate_images": int(processed["n_duplicates"].sum()) if done else 0,
        "unclassified_images": int(processed["n_unclassified"].sum()) if done else 0,
        "screenshots": int(processed["screenshot"].sum()) if done else 0,
        "composites": int(processed["composite"].sum()) if done else 0,
        "crops": int(processed["n_crops"].sum()) if done else 0,
        "fill_in_blank": int((processed["blanks"].list.len() > 0).sum()) if done else 0,
        "blanks_resolved": int(processed["blanks_resolved"].sum()) if done else 0,
        "low_confidence": int((processed["mm_confidence"] == "low").sum()) if done else 0,
        "backends": {STEP: backend_info(client, STEP)},
        "llm_usage": {STEP: client.usage()},
    }
    log.info(
        "multimodal: %d candidates, %d sent (%d failed), %d Trash skipped, %d without images; task types %s; "
        "%d junk, %d duplicate images; %d screenshots, %d composites, %d crops; %d fill-in-the-blank (%d resolved)",
        candidates.height, len(jobs), failed, skipped, no_images, summary["task_types"], summary["junk_images"],
        summary["duplicate_images"], summary["screenshots"], summary["composites"], summary["crops"],
        summary["fill_in_blank"], summary["blanks_resolved"],
    )
    return MultimodalResult(processed, q.frame(), summary)
