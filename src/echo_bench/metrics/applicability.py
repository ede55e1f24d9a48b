"""Which metrics apply to a sample: an offline rule set, or an LLM (template ``applicability``).

A metric is computed only where it applies; the verdicts are stored (the
``APPLICABILITY`` table, and ``not_applicable`` rows with the reason in the
metric values), so every number can be traced to the decision behind it.

Offline rules (``backend: offline``, the default; deterministic, labelled
``offline-rules`` in every artifact):

- ``color`` (color shift, and its CIEDE2000 variant): the sample has an input
  image, and the prompt does not ask to change colours, lighting, time of day
  or palette (:data:`COLOR_CHANGE`).
- ``structure``: the sample has an input image, and the prompt does not ask to
  change composition or viewpoint (:data:`LAYOUT_CHANGE`).  Style transfer and
  local edits keep the layout, so they apply.
- ``face``: the sample has an input image, and a face is detected in an input
  image (when a detector is given) or the prompt mentions a person
  (:data:`PERSON_WORDS`: person, face, me, portrait, selfie, ...); not when the
  prompt replaces or anonymizes the person (:data:`FACE_CHANGE`).
- ``text``: the prompt asks for rendered text (quoted strings with a text cue,
  ``that says ...``, ``with the text ...``; see :mod:`echo_bench.metrics.text`);
  the extracted text is the target.

With ``backend`` set to an LLM backend, the same decision comes from the
``applicability`` template through :mod:`echo_bench.llm` (cached; the offline
rules are the client's offline heuristic, and stand in, labelled, where an LLM
call fails).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from echo_bench.metrics.text import extract_requested_text

#: metric families the applicability verdict is given for (the template's keys)
FAMILIES = ("color", "face", "structure", "text")
#: metric name -> family
FAMILY_OF = {
    "color_shift": "color",
    "color_delta_e": "color",
    "face_identity": "face",
    "structure_distance": "structure",
    "text_accuracy": "text",
}
OFFLINE_BACKEND = "offline-rules"

#: One row per (sample, family): the verdict and why.
APPLICABILITY = pl.Schema(
    {
        "sample_id": pl.Utf8,
        "family": pl.Utf8,  # color | face | structure | text
        "applicable": pl.Boolean,
        "reason": pl.Utf8,
        "target_text": pl.List(pl.Utf8),  # text family: the requested pieces of text
        "backend": pl.Utf8,  # offline-rules | <llm backend>/<model> | offline-rules (fallback: ...)
    }
)


def _words(*ws: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(ws) + r")\b", re.IGNORECASE)


COLOR_CHANGE = _words(
    r"colou?r(?:s|ed|ize|ise|ized|ised|ful|ing)?", r"recolou?r\w*", r"black[- ](?:and|&)[- ]white", r"b&w", r"b/w",
    r"gr[ae]yscale", r"monochrome", r"sepia", r"tint\w*", r"hue", r"saturat\w*", r"desaturat\w*", r"palette",
    r"filter", r"vintage", r"retro", r"lighting", r"light(?:er|en)", r"dark(?:er|en)", r"brighter", r"night(?:time)?",
    r"sunset", r"sunrise", r"dusk", r"dawn", r"golden hour", r"winter", r"autumn", r"fall colou?rs", r"neon",
    r"cyberpunk", r"noir", r"sketch", r"pencil", r"line ?art", r"charcoal", r"ink", r"watercolou?r",
    r"(?:red|green|blue|yellow|orange|purple|pink|white|black|gold|golden|silver) (?:hair|dress|shirt|car|wall|sky)",
    r"warm(?:er)? (?:tones?|colou?rs?|light)", r"cool(?:er)? (?:tones?|colou?rs?|light)", r"invert\w*", r"negative", r"infrared", r"thermal", r"x-?ray",
)
LAYOUT_CHANGE = _words(
    r"zoom(?:ed)?[- ]?(?:in|out)", r"zoom", r"crop\w*", r"rotat\w*", r"flip\w*", r"mirror\w*",
    r"(?:different|new|another|side|top|bird'?s[- ]eye|aerial|back|rear|low|high) (?:angle|view|perspective)",
    r"from (?:above|below|behind|the side|the back)", r"view from", r"perspective", r"outpaint\w*",
    r"expand\w*", r"extend\w*", r"uncrop\w*", r"widen\w*", r"rearrang\w*", r"re-?arrang\w*", r"re-?compos\w*",
    r"move (?:the|him|her|it|them)", r"full[- ]body", r"whole body", r"collage", r"grid", r"comic(?: strip)?",
    r"panels?", r"storyboard", r"sticker sheet", r"multiple (?:views|poses|angles)", r"turnaround", r"3d model",
    r"isometric", r"action figure", r"toy box", r"blister pack", r"funko", r"lego", r"figurine", r"chibi",
    r"meme", r"infographic", r"(?:make|turn) (?:it|this|me|him|her|them) (?:into|a) (?:a )?(?:poster|card|cover)",
)
PERSON_WORDS = _words(
    r"person", r"people", r"persons", r"face", r"faces", r"facial", r"me", r"my", r"myself", r"us", r"portrait\w*", r"selfie\w*", r"headshot\w*", r"man", r"men", r"woman", r"women", r"guy",
    r"girl", r"girls", r"boy", r"boys", r"kid", r"kids", r"child", r"children", r"baby", r"babies", r"toddler",
    r"family", r"wife", r"husband", r"son", r"daughter", r"mom", r"dad", r"mother", r"father", r"friend\w*",
    r"couple", r"he", r"she", r"him", r"her", r"his", r"lady", r"gentleman", r"actor", r"actress",
    r"character", r"avatar", r"profile (?:pic|picture|photo)", r"pfp", r"likeness", r"identity",
)
FACE_CHANGE = _words(
    r"(?:replace|swap|change) (?:the |my |his |her |their )?(?:face|person|head|people)", r"face ?swap",
    r"anonymi[sz]\w*", r"blur (?:the |my |his |her |their )?faces?", r"different (?:person|face|people)",
    r"remove (?:the |all )?(?:person|people|man|woman|him|her|them)", r"without (?:the )?(?:person|people)",
    r"faceless", r"mask (?:the )?faces?",
)


@dataclass(frozen=True)
class Verdict:
    applicable: bool
    reason: str
    target_text: tuple[str, ...] = ()


def _first(rx: re.Pattern[str], text: str) -> str | None:
    m = rx.search(text or "")
    return m.group(0) if m else None


def offline_applicability(
    prompt: str,
    task_type: str,
    n_input_images: int,
    *,
    input_has_face: bool | None = None,
) -> dict[str, Verdict]:
    """The offline rules' verdict per family for one sample.

    ``input_has_face``: whether a face detector found a face in an input image
    (None: no detector run; then only the prompt decides).
    """
    prompt = prompt or ""
    has_input = n_input_images > 0 and task_type != "text_to_image"
    out: dict[str, Verdict] = {}

    if not has_input:
        no_input = "no input image (text-to-image): nothing to compare with"
        out["color"] = Verdict(False, no_input)
        out["structure"] = Verdict(False, no_input)
        out["face"] = Verdict(False, no_input)
    else:
        w = _first(COLOR_CHANGE, prompt)
        out["color"] = Verdict(False, f"prompt asks for a colour/lighting change ({w!r})") if w else Verdict(
            True, "edit with an input image; prompt keeps the colours"
        )
        w = _first(LAYOUT_CHANGE, prompt)
        out["structure"] = Verdict(False, f"prompt changes composition or viewpoint ({w!r})") if w else Verdict(
            True, "edit with an input image; prompt keeps the layout"
        )
        w_change = _first(FACE_CHANGE, prompt)
        w_person = _first(PERSON_WORDS, prompt)
        if w_change:
            out["face"] = Verdict(False, f"prompt replaces or hides the person ({w_change!r})")
        elif input_has_face:
            out["face"] = Verdict(True, "a face is detected in an input image")
        elif w_person:
            why = "prompt mentions a person" + (" (no face detected in the input)" if input_has_face is False else "")
            out["face"] = Verdict(True, f"{why}: {w_person!r}")
        else:
            why = "no face detected in the input and " if input_has_face is False else ""
            out["face"] = Verdict(False, f"{why}the prompt mentions no person")

    target = extract_requested_text(prompt)
    out["text"] = (
        Verdict(True, "prompt asks for rendered text", tuple(target))
        if target
        else Verdict(False, "prompt asks for no specific text")
    )
    return out


def verdicts_to_reply(verdicts: Mapping[str, Verdict]) -> dict[str, Any]:
    """The offline verdicts in the ``applicability`` template's reply shape."""
    reply: dict[str, Any] = {f: {"applicable": v.applicable, "reason": v.reason} for f, v in verdicts.items()}
    reply["text"]["target_text"] = "\n".join(verdicts["text"].target_text) or None
    return reply


def reply_to_verdicts(data: Mapping[str, Any]) -> dict[str, Verdict]:
    """The ``applicability`` template's reply as verdicts (target text split on newlines)."""
    out = {}
    for f in FAMILIES:
        v = data[f]
        target: tuple[str, ...] = ()
        if f == "text" and v.get("target_text"):
            target = tuple(s.strip() for s in str(v["target_text"]).splitlines() if s.strip())
        applicable = bool(v["applicable"]) and (f != "text" or bool(target))
        reason = str(v.get("reason", ""))
        if f == "text" and v["applicable"] and not target:
            reason = f"{reason} (no target text given)".strip()
        out[f] = Verdict(applicable, reason, target)
    return out


def decide(
    samples: pl.DataFrame,
    *,
    llm_cfg: Mapping[str, Any] | None = None,
    face_probe: Callable[[Sequence[str]], bool | None] | None = None,
    cache_dir: str | None = None,
    prices: Mapping[str, Any] | None = None,
    log: logging.Logger | None = None,
    max_failed_share: float | None = None,
) -> pl.DataFrame:
    """Verdicts for every sample and family (an ``APPLICABILITY`` frame, sorted).

    ``samples`` needs sample_id, prompt, task_type and input_images.
    ``llm_cfg``: None or ``{backend: offline}`` for the offline rules, else an
    :mod:`echo_bench.llm` cfg (then ``cache_dir`` is the response cache).
    ``face_probe(input_paths)``: whether an input image shows a face (None: unknown).
    ``max_failed_share``: the failure policy of the LLM backend
    (``metrics.applicability.max_failed_share``, docs/llm.md): a larger share of
    failed requests, or a failed preflight, raises ``LLMStageError``; the failures
    within it fall back to the offline rules, labelled as such.
    """
    log = log or logging.getLogger("echo_bench.metrics")
    rows = samples.select("sample_id", "prompt", "task_type", "input_images").to_dicts()

    def rules(row: Mapping[str, Any]) -> dict[str, Verdict]:
        inputs = list(row["input_images"] or [])
        has_face = face_probe(inputs) if (face_probe is not None and inputs) else None
        return offline_applicability(row["prompt"] or "", row["task_type"] or "", len(inputs), input_has_face=has_face)

    backend = (llm_cfg or {}).get("backend", "offline")
    decided: list[tuple[str, dict[str, Verdict], str]] = []
    if backend == "offline":
        for row in rows:
            decided.append((row["sample_id"], rules(row), OFFLINE_BACKEND))
    else:
        decided = _decide_llm(rows, rules, llm_cfg or {}, cache_dir, prices, log, max_failed_share)

    out = []
    for sid, verdicts, label in decided:
        for f in FAMILIES:
            v = verdicts[f]
            out.append(
                {
                    "sample_id": sid,
                    "family": f,
                    "applicable": v.applicable,
                    "reason": v.reason,
                    "target_text": list(v.target_text),
                    "backend": label,
                }
            )
    df = pl.DataFrame(out, schema=APPLICABILITY) if out else pl.DataFrame(schema=APPLICABILITY)
    return df.sort("sample_id", "family")


def _decide_llm(
    rows: list[dict[str, Any]],
    rules: Callable[[Mapping[str, Any]], dict[str, Verdict]],
    llm_cfg: Mapping[str, Any],
    cache_dir: str | None,
    prices: Mapping[str, Any] | None,
    log: logging.Logger,
    max_failed_share: float | None = None,
) -> list[tuple[str, dict[str, Verdict], str]]:
    from echo_bench.llm import LLMRequest, make_client, reply_schema

    if not cache_dir:
        raise ValueError("an LLM applicability backend needs a response cache folder")
    by_id = {r["sample_id"]: r for r in rows}

    def offline(req: Any) -> dict[str, Any]:  # the client's offline heuristic: the same rules
        return verdicts_to_reply(rules(by_id[req.key]))

    client = make_client(llm_cfg, cache_dir=cache_dir, offline=offline, prices=prices, log=log,
                         stage="metrics.applicability", max_failed_share=max_failed_share)
    schema = reply_schema("applicability")
    requests = []
    for r in rows:
        inputs = tuple(r["input_images"] or ())
        legend = "\n".join(f"{i + 1}. input image {i + 1}" for i in range(len(inputs))) or "(no images attached)"
        requests.append(
            LLMRequest(
                "applicability",
                {
                    "prompt": r["prompt"] or "",
                    "task_type": r["task_type"] or "",
                    "n_input_images": len(inputs),
                    "image_legend": legend,
                },
                images=inputs,
                json_schema=schema,
                key=r["sample_id"],
            )
        )
    replies = client.run(requests)
    out = []
    n_fallback = 0
    for r, rep in zip(rows, replies, strict=True):
        label = f"{rep.backend}/{rep.model}"
        if rep.ok and rep.data is not None:
            try:
                out.append((r["sample_id"], reply_to_verdicts(rep.data), label))
                continue
            except (KeyError, TypeError) as e:
                err = f"bad_reply: {e}"
        else:
            err = rep.error or "no reply"
        n_fallback += 1
        out.append((r["sample_id"], rules(r), f"{OFFLINE_BACKEND} (fallback: {err.split(':', 1)[0]})"))
    if n_fallback:
        log.warning("applicability: %d of %d samples fell back to the offline rules (LLM call failed)",
                    n_fallback, len(rows))
    return out


def applicable_map(df: pl.DataFrame) -> dict[tuple[str, str], dict[str, Any]]:
    """``(sample_id, family) -> row`` of an APPLICABILITY frame."""
    return {(r["sample_id"], r["family"]): r for r in df.iter_rows(named=True)}


def families_of(metrics: Iterable[str]) -> list[str]:
    unknown = [m for m in metrics if m not in FAMILY_OF]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known: {sorted(FAMILY_OF)}")
    return sorted({FAMILY_OF[m] for m in metrics})
