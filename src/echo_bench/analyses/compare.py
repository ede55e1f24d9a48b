"""How ECHO prompts differ from earlier benchmarks' prompts: statistics per dataset.

Prompt sets are read from local paths or http(s) URLs named in params
(:func:`load_prompt_set`); a set that is absent or unreadable is reported with
its reason and left out, never fatal.

Statistics of one set (:func:`prompt_stats`), with words = runs of letters,
digits, ``_`` and ``'`` of the lower-cased prompt (Unicode aware):

* ``words_mean`` / ``words_median`` / ``words_p90``: prompt length in words;
* ``first_bigrams``: number of distinct first bigrams (the first two words; a
  one-word prompt's first "bigram" is that word);
* ``first_bigram_top1_share``: share of the prompts that start with the most
  frequent first bigram (GenEval: "a photo ...");
* ``first_bigram_topk_share``: share of the prompts whose first bigram is one of
  the ``top_k`` most frequent (concentration: 1.0 = all prompts start alike; it
  grows as a set shrinks, so compare sets of similar size or read the entropy);
* ``first_bigram_entropy``: Shannon entropy of the first-bigram distribution
  divided by ``log(n)``, n the number of prompts (1.0 = every prompt starts
  differently, 0 = all start the same);
* ``distinct_1`` / ``distinct_2``: distinct unigrams (bigrams) over all unigrams
  (bigrams) of a seeded random subsample of ``distinct_sample`` prompts (the
  same size for every set, since distinct-n falls as a corpus grows);
* ``task_<category>``: share of prompts carrying each task-taxonomy label
  (:mod:`echo_bench.analyses.taxonomy`), and ``tasktype_<t>``: share of each
  task type (ECHO: the sample's ``task_type``; other sets: ``task_type`` of
  their params entry).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from echo_bench.analyses import taxonomy

_WORD = re.compile(r"[\w']+")
PROMPT_FIELDS = ("prompt", "Prompt", "text", "caption", "instruction", "edit", "prompts")


def words(text: str | None) -> list[str]:
    return [w.strip("'") for w in _WORD.findall((text or "").lower()) if w.strip("'")]


def first_bigram(text: str | None) -> str:
    return " ".join(words(text)[:2])


@dataclass
class PromptSet:
    name: str
    prompts: list[str]
    task_types: list[str | None]
    info: dict[str, Any] = field(default_factory=dict)  # status, source, sha256, n, reason


def _rows_from_bytes(data: bytes, fmt: str) -> list[dict[str, Any]] | list[str]:
    text = data.decode("utf-8-sig")
    if fmt == "jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    if fmt == "json":
        doc = json.loads(text)
        if isinstance(doc, Mapping):  # {"prompts": [...]} or {"data": [...]}
            doc = next((v for v in doc.values() if isinstance(v, list)), [])
        return list(doc)
    if fmt in ("tsv", "csv"):
        return list(csv.DictReader(io.StringIO(text), delimiter="\t" if fmt == "tsv" else ","))
    if fmt == "txt":
        return [line.strip() for line in text.splitlines() if line.strip()]
    raise ValueError(f"unknown prompt-set format {fmt!r} (jsonl, json, tsv, csv, txt, parquet)")


def _format_of(source: str, fmt: str | None) -> str:
    if fmt and fmt != "auto":
        return fmt
    name = source.split("?", 1)[0].lower()
    for ext in ("jsonl", "json", "tsv", "csv", "txt", "parquet"):
        if name.endswith("." + ext):
            return ext
    return "txt"


def _fetch(url: str, timeout_s: float, max_bytes: int) -> bytes:
    import httpx

    with httpx.Client(timeout=timeout_s, follow_redirects=True) as client, client.stream("GET", url) as r:
        r.raise_for_status()
        buf = bytearray()
        for chunk in r.iter_bytes():
            buf += chunk
            if len(buf) > max_bytes:
                raise ValueError(f"more than {max_bytes} bytes")
        return bytes(buf)


def load_prompt_set(spec: Mapping[str, Any], *, fetch: Mapping[str, Any] | None = None, root: str | Path = ".") -> PromptSet:
    """The prompts of one params entry ``{name, path, url, format, field, task_type}``.

    ``path`` (relative to ``root``; a list: the first that exists) is read when the file exists; otherwise ``url``
    is downloaded when ``fetch.enabled`` (timeout ``fetch.timeout_s``, at most
    ``fetch.max_bytes``); otherwise the set is ``absent``.  ``format``: jsonl | json |
    tsv | csv | txt | parquet | auto (from the file name); ``field``: the column
    holding the prompt (default: the first of prompt, Prompt, text, caption,
    instruction, edit, prompts that exists); ``task_type``: what the prompts ask
    for (text_to_image | edit | multi_image).  Empty and repeated prompts are
    dropped (counted in the info).
    """
    name = str(spec["name"])
    task_type = spec.get("task_type") or "text_to_image"
    path, url = spec.get("path"), spec.get("url")
    info: dict[str, Any] = {"name": name, "path": path, "url": url, "task_type": task_type}
    if not path and not url:
        return PromptSet(name, [], [], {**info, "status": "failed", "reason": "neither path nor url given"})
    fetch = fetch or {}
    candidates = [str(p) for p in ([path] if isinstance(path, str) else (path or []))]
    found = next((p for p in candidates if (Path(root) / p).is_file()), None)
    try:
        if found is not None:
            source = found
            data = (Path(root) / found).read_bytes()
        elif url and fetch.get("enabled", False):
            if not re.match(r"^https?://", str(url)):
                raise ValueError(f"not an http(s) url: {url}")
            source = str(url)
            data = _fetch(source, float(fetch.get("timeout_s", 30)), int(fetch.get("max_bytes", 200_000_000)))
        else:
            why = [f"no file at {' or '.join(candidates)}"] if candidates else []
            if url:
                why.append("fetching urls is disabled (analyses.compare.fetch.enabled)")
            return PromptSet(name, [], [], {**info, "status": "absent", "reason": "; ".join(why)})
        info["source"] = source
        info["sha256"] = hashlib.sha256(data).hexdigest()
        fmt = _format_of(source, spec.get("format"))
        if fmt == "parquet":
            import polars as pl

            rows: list[Any] = pl.read_parquet(io.BytesIO(data)).to_dicts()
        else:
            rows = _rows_from_bytes(data, fmt)
    except Exception as e:  # noqa: BLE001 - a missing or broken set is reported, not fatal
        return PromptSet(name, [], [], {**info, "status": "failed", "reason": f"{type(e).__name__}: {e}"[:300]})
    fld = spec.get("field")
    prompts: list[str] = []
    for row in rows:
        if isinstance(row, str):
            prompts.append(row)
            continue
        if not isinstance(row, Mapping):
            continue
        key = fld if fld else next((k for k in PROMPT_FIELDS if k in row), None)
        val = row.get(key) if key else None
        if isinstance(val, str):
            prompts.append(val)
    cleaned = [re.sub(r"\s+", " ", p).strip() for p in prompts]
    kept = list(dict.fromkeys(p for p in cleaned if p))
    info.update(status="ok" if kept else "failed", rows=len(rows), n=len(kept),
                dropped_empty=sum(1 for p in cleaned if not p), dropped_duplicate=len([p for p in cleaned if p]) - len(kept))
    if not kept:
        info["reason"] = f"no prompts found (field {fld or 'auto'})"
    return PromptSet(name, kept, [task_type] * len(kept), info)


def _entropy(counts: Sequence[int]) -> float:
    total = float(sum(counts))
    if total <= 0:
        return 0.0
    p = np.asarray(counts, dtype=np.float64) / total
    return float(-(p * np.log(p)).sum())


def distinct_n(prompts: Sequence[str], n: int) -> float | None:
    grams: list[tuple[str, ...]] = []
    for p in prompts:
        w = words(p)
        grams += [tuple(w[i : i + n]) for i in range(len(w) - n + 1)]
    return len(set(grams)) / len(grams) if grams else None


def prompt_stats(
    ps: PromptSet,
    *,
    top_k: int,
    distinct_sample: int,
    seed: int,
    top_list: int = 5,
) -> dict[str, Any]:
    """The statistics of one prompt set (module docstring), as a flat dict."""
    prompts = ps.prompts
    n = len(prompts)
    lengths = np.array([len(words(p)) for p in prompts], dtype=np.float64)
    fb = Counter(first_bigram(p) for p in prompts)
    fb.pop("", None)
    ranked = sorted(fb.items(), key=lambda kv: (-kv[1], kv[0]))
    n_fb = sum(fb.values())
    rng = np.random.default_rng([seed, *hashlib.sha256(ps.name.encode()).digest()[:4]])
    sub = prompts if n <= distinct_sample else [prompts[i] for i in sorted(rng.choice(n, distinct_sample, replace=False))]
    out: dict[str, Any] = {
        "dataset": ps.name,
        "n_prompts": n,
        "words_mean": round(float(lengths.mean()), 4) if n else None,
        "words_median": float(np.median(lengths)) if n else None,
        "words_p90": float(np.quantile(lengths, 0.9)) if n else None,
        "first_bigrams": len(fb),
        "top_k": int(top_k),
        "first_bigram_top1_share": round(ranked[0][1] / n_fb, 6) if n_fb else None,
        "first_bigram_topk_share": round(sum(c for _, c in ranked[:top_k]) / n_fb, 6) if n_fb else None,
        "first_bigram_entropy": round(_entropy([c for _, c in ranked]) / math.log(n_fb), 6) + 0.0 if n_fb > 1 else None,
        "top_first_bigrams": [{"bigram": b, "count": c, "share": round(c / n_fb, 6)} for b, c in ranked[:top_list]],
        "distinct_sample": len(sub),
        "distinct_1": _r(distinct_n(sub, 1)),
        "distinct_2": _r(distinct_n(sub, 2)),
    }
    labelled = [taxonomy.classify(p, t) for p, t in zip(prompts, ps.task_types, strict=True)]
    for cat, v in taxonomy.counts(labelled).items():
        out[f"task_{cat}"] = v["share"]
    tt = Counter(t or "unknown" for t in ps.task_types)
    for t in ("text_to_image", "edit", "multi_image"):
        out[f"tasktype_{t}"] = round(tt.get(t, 0) / n, 6) if n else None
    return out


def _r(x: float | None, nd: int = 6) -> float | None:
    return None if x is None else round(float(x), nd)


def subsample(ps: PromptSet, k: int, seed: int) -> list[int]:
    """Indices of a seeded random subsample of at most ``k`` prompts (sorted)."""
    n = len(ps.prompts)
    if n <= k:
        return list(range(n))
    rng = np.random.default_rng([seed, 1, *hashlib.sha256(ps.name.encode()).digest()[:4]])
    return sorted(int(i) for i in rng.choice(n, k, replace=False))
