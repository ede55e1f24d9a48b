"""Task taxonomy of prompts: offline keyword rules, several labels per prompt, one primary.

Each category is a set of regular expressions over the normalized prompt (lower
case, plain quotes); some also need the sample's task type (an edit needs input
images).  A prompt gets every category whose rule fires (``labels``) and one
``primary`` category, the first of :data:`CATEGORIES` in priority order that
fired, ``other`` when none did.  The rules are listed in docs/analyses.md.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from echo_bench.text_requests import requested_text

RULES_VERSION = "v1"
PRODUCER = f"offline-rules/taxonomy-{RULES_VERSION}"

#: Categories in priority order (the primary label is the first that fires).
CATEGORIES = (
    "text_rendering",
    "character_figure",
    "style_transfer",
    "local_edit",
    "composition",
    "portrait_identity",
    "product_design",
    "infographic_diagram",
    "photorealistic_scene",
    "other",
)

#: Task types that come with input images (the SAMPLES.task_type values besides text_to_image).
EDIT_TASKS = ("edit", "multi_image")

@dataclass(frozen=True)
class Rule:
    category: str
    patterns: tuple[str, ...]
    needs_inputs: bool = False  # only for prompts that come with input images
    also: tuple[str, ...] = ()  # patterns that must *also* match (any of them), e.g. a text cue with a quote


RULES: tuple[Rule, ...] = (
    Rule("text_rendering", (r"typograph(?:y|ic)", r"lettering", r"calligraph", r"handwrit", r"\bfont\b",
                            r"(?:text|caption|headline|title|slogan|words?|label|sign|banner) (?:that )?(?:says|reads|reading|saying)",
                            r"(?:with|and) the (?:text|words?|title|caption|slogan|headline)",
                            r"\b(?:says|reads|written|spelled|spelling)\b")),
    Rule("character_figure", (r"action figure", r"figurine", r"\bchibi\b", r"funko", r"\btoy\b", r"\bdoll\b", r"collectible",
                              r"blister pack", r"3d (?:figure|character|model|cartoon)", r"\bplush", r"\bmascot",
                              r"character sheet", r"\bavatar\b")),
    Rule("style_transfer", (r"in the style of", r"\b(?:\w+ )?style\b", r"ghibli", r"pixar", r"\banime\b", r"cartoon", r"watercolou?r",
                            r"oil painting", r"pixel art", r"clay(?:mation)?", r"\blego\b", r"comic", r"manga", r"sketch",
                            r"simpsons", r"muppet", r"ukiyo-?e", r"van gogh", r"impressionis", r"cyberpunk", r"vaporwave",
                            r"low[- ]poly", r"origami", r"needle ?felt", r"stained glass", r"renaissance", r"pop art",
                            r"(?:turn|transform|convert|make|reimagine|redraw|recreate|render)\b.{0,60}\b(?:into|as) (?:a |an )?")),
    Rule("local_edit", (r"\b(?:remove|erase|delete|replace|swap|change|recolou?r|colou?rize|restore|retouch|fix|add|put|"
                        r"insert|move|extend|expand|outpaint|inpaint|upscale|crop|blur|sharpen|brighten|darken)\b",
                        r"\bbackground\b", r"\bmake (?:him|her|it|them|the|this|me)\b", r"keep (?:everything|the rest)"),
         needs_inputs=True),
    Rule("composition", (r"\b(?:combine|merge|blend|fuse|composite|collage)\b", r"(?:first|second|third|both|these|two|three) (?:images?|photos?|pictures?)",
                         r"image ?[123]\b", r"\b(?:left|right) of\b", r"\bnext to\b", r"\bon top of\b", r"\b(?:above|below|beneath|behind|in front of)\b",
                         r"\b(?:two|three|four|five|six|seven|eight|several|multiple)\b \w+s\b", r"side by side", r"\bgrid\b",
                         r"\bpanels?\b", r"\bstoryboard\b")),
    Rule("portrait_identity", (r"\bportrait\b", r"\bselfie\b", r"headshot", r"\bface\b", r"\bfaces\b", r"\bmy (?:photo|picture|pic|face|self)\b",
                               r"\b(?:of|like|as) me\b", r"\bthis (?:person|man|woman|guy|girl|kid|child|couple|family)\b",
                               r"\b(?:person|people|man|woman|men|women|boy|girl|child|kid|couple|family|baby|persons?)\b",
                               r"\bprofile (?:photo|picture|pic)\b", r"likeness", r"\bid photo\b", r"passport photo")),
    Rule("product_design", (r"\blogo\b", r"\bicons?\b", r"mock-?up", r"packaging", r"\bproduct\b", r"\bbrand(?:ing)?\b",
                            r"advert(?:isement|ising)?", r"\bad\b", r"\bui\b", r"\bapp\b", r"website", r"\bsticker", r"t-?shirt",
                            r"\bposter\b", r"\bflyer\b", r"\bbillboard\b", r"\bmerch", r"\bbottle\b", r"\blabel\b", r"\bfashion\b")),
    Rule("infographic_diagram", (r"infographic", r"diagram", r"\bchart\b", r"\bmaps?\b", r"flow ?chart", r"recipe card",
                                 r"step[- ]by[- ]step", r"instructions", r"\btimeline\b", r"\bexploded view\b", r"blueprint",
                                 r"\bmenu\b", r"\bslide\b", r"whiteboard", r"annotated", r"\bcomic strip\b", r"educational")),
    Rule("photorealistic_scene", (r"\bphoto(?:graph)?\b", r"photoreal", r"realistic", r"cinematic", r"\b35 ?mm\b", r"\bdslr\b",
                                  r"\bbokeh\b", r"\blens\b", r"golden hour", r"\blandscape\b", r"\bscene\b", r"\bshot\b",
                                  r"\blighting\b", r"\bhdr\b", r"\b8k\b", r"\b4k\b")),
)

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u300c": '"', "\u300d": '"'})
_COMPILED = [(r, [re.compile(p) for p in r.patterns], [re.compile(p) for p in r.also]) for r in RULES]


def normalize(text: str | None) -> str:
    return re.sub(r"\s+", " ", (text or "").translate(_QUOTES).lower()).strip()


def classify(prompt: str | None, task_type: str | None = None) -> tuple[list[str], str]:
    """(labels in priority order, primary label) of one prompt."""
    s = normalize(prompt)
    has_inputs = task_type in EDIT_TASKS
    fired: set[str] = set()
    for rule, pats, also in _COMPILED:
        if rule.category in fired or (rule.needs_inputs and not has_inputs):
            continue
        if any(p.search(s) for p in pats) and (not also or any(a.search(s) for a in also)):
            fired.add(rule.category)
    if requested_text(prompt or ""):  # the one definition of requested text (echo_bench.text_requests)
        fired.add("text_rendering")
    if task_type == "multi_image":
        fired.add("composition")
    labels = [c for c in CATEGORIES if c in fired]
    return labels, (labels[0] if labels else "other")


def label_frame(prompts: Sequence[str], task_types: Sequence[str | None] | None = None) -> pl.DataFrame:
    """One row per prompt: ``labels`` (list) and ``primary``."""
    tts = list(task_types) if task_types is not None else [None] * len(prompts)
    rows = [classify(p, t) for p, t in zip(prompts, tts, strict=True)]
    return pl.DataFrame(
        {"labels": [r[0] for r in rows], "primary": [r[1] for r in rows]},
        schema={"labels": pl.List(pl.Utf8), "primary": pl.Utf8},
    )


def counts(labelled: Iterable[tuple[list[str], str]]) -> dict[str, dict[str, Any]]:
    """Per category: ``count`` (prompts carrying the label), ``primary`` (prompts whose primary it is), shares."""
    items = list(labelled)
    n = len(items)
    c_all: Counter[str] = Counter()
    c_pri: Counter[str] = Counter()
    for labels, primary in items:
        c_all.update(set(labels))
        c_pri[primary] += 1
    return {
        cat: {
            "count": c_all.get(cat, 0) if cat != "other" else c_pri.get("other", 0),
            "share": round((c_all.get(cat, 0) if cat != "other" else c_pri.get("other", 0)) / n, 6) if n else None,
            "primary": c_pri.get(cat, 0),
            "primary_share": round(c_pri.get(cat, 0) / n, 6) if n else None,
        }
        for cat in CATEGORIES
    }


def taxonomy_table(samples: pl.DataFrame, splits: Sequence[str]) -> pl.DataFrame:
    """split, category, count, share, primary, primary_share: one row per (split, category), plus split ``all``."""
    rows = []
    groups: list[tuple[str, pl.DataFrame]] = [(s, samples.filter(pl.col("split") == s)) for s in splits]
    groups.append(("all", samples.filter(pl.col("split").is_in(list(splits)))))
    for split, g in groups:
        lab = [classify(p, t) for p, t in g.select("prompt", "task_type").iter_rows()]
        for cat, v in counts(lab).items():
            rows.append({"split": split, "n_prompts": len(lab), "category": cat, **v})
    schema = {"split": pl.Utf8, "n_prompts": pl.Int64, "category": pl.Utf8, "count": pl.Int64, "share": pl.Float64,
              "primary": pl.Int64, "primary_share": pl.Float64}
    return pl.DataFrame(rows, schema=schema)
