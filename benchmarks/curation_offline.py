"""Offline curation throughput on generated threads (text level): threads per second.

    python benchmarks/curation_offline.py                # 100,000 threads
    python benchmarks/curation_offline.py --threads 20000 --seed 3

Generates QUERIED / THREADS / THREAD_POSTS frames of synthetic reply trees (a
seeded mix of prompt shares, "prompt below" threads with the prompt in a
reply, commentary, other-model posts and coincidental keyword hits, 1-8 posts
each, with feedback and chatter replies), then runs relevance -> extraction ->
image step -> finalize with the offline backends through the LLM client, as the
stages do.  Text level: the posts carry no media files, so the image step takes
its no-image path and no pixels are read (pixel throughput depends on image
sizes; see docs/curation.md).  Prints the time and threads/s of each step.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from echo_bench.collect import match_keywords
from echo_bench.curate import extract as ex
from echo_bench.curate import finalize as fz
from echo_bench.curate import multimodal as mm
from echo_bench.curate import relevance as rel
from echo_bench.curate.heuristics import DEFAULT_NAMES
from echo_bench.llm import make_client
from echo_bench.quarantine import Quarantine
from echo_bench.schemas import MEDIA, POSTS
from echo_bench.threads import build_threads

SUBJECTS = ["a red fox in fresh snow", "a glass teapot on a wooden table", "an old tram in a rainy city",
            "a knight made of paper", "a tiny robot watering plants", "a lighthouse in a storm",
            "a bowl of ramen under neon signs", "a cat astronaut floating in space"]
STYLES = ["watercolor", "as a claymation still", "in ukiyo-e style", "photorealistic, 35mm film", "as pixel art",
          "as a 3D chibi figure", "in a flat vector poster style"]
LIGHT = ["soft morning light", "dramatic rim lighting", "golden hour", "overcast light"]
EXTRAS = ["highly detailed", "muted palette", "wide angle", "close-up", "shallow depth of field", "film grain",
          "isometric view", "centered composition", "rich saturated colors", "no text", "4k", "cinematic mood",
          "top-down view", "low angle", "pastel tones", "hand-drawn lines", "glossy finish", "matte texture",
          "volumetric fog", "bokeh background", "symmetrical layout", "long exposure", "tilt-shift", "soft shadows",
          "neon accents", "paper texture", "studio backdrop", "minimal background", "warm tones", "cool tones"]
CAPTIONS = ["GPT-4o image gen is wild. Prompt: {p}", "{p}\n\n#GPT4o #AIart", "ChatGPT nailed this one 🤯\n\nPrompt: \"{p}\"",
            "Made with 4o image generation.\nPrompt 👉 {p}"]
BELOW = ["4o keeps surprising me. Prompt below 👇", "ChatGPT made this, full prompt in the reply 👇"]
COMMENT = ["Is it just me or does every 4o image look yellow?", "the chatgpt image model is rate limited again",
           "4o finally spells text right, mockups are easy now"]
OTHER = ["Made with Midjourney v7, not 4o. prompt: {p}", "Flux does this better than 4o imo: {p}"]
COINCIDENCE = ["Route 4o bus was late again", "Test drove the 4o hatchback, smooth ride", "asked chatgpt to fix my SQL"]
FEEDBACK = ["stunning, the lighting is perfect", "the colors are too yellow", "text is misspelled lol",
            "it changed the face completely", "what app is this?", "saving this", "wow so good"]


def generate(n_threads: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(POSTS, MEDIA) of ``n_threads`` synthetic reply trees; MEDIA is empty (text level)."""
    rng = np.random.default_rng(seed)
    t0 = dt.datetime(2025, 3, 25, tzinfo=dt.UTC)
    cols: dict[str, list] = {c: [] for c in POSTS}
    pid = 10**15

    def add(text: str, author: str, parent: int | None, root: int, minutes: float, n_media: int) -> int:
        nonlocal pid
        pid += 1
        cols["post_id"].append(str(pid))
        cols["conversation_id"].append(str(root if root else pid))
        cols["parent_id"].append(None if parent is None else str(parent))
        cols["quoted_id"].append(None)
        cols["retweet_of_id"].append(None)
        cols["author_id"].append(author)
        cols["author_handle"].append(author)
        cols["created_at"].append(t0 + dt.timedelta(minutes=float(minutes)))
        cols["text"].append(text)
        cols["lang"].append("en")
        cols["media_keys"].append([f"3_{pid}_{k}" for k in range(n_media)])
        for c in ("like_count", "retweet_count", "reply_count", "quote_count"):
            cols[c].append(0)
        cols["source_format"].append("twitter_v2")
        cols["source_file"].append("synthetic.jsonl")
        cols["source_record"].append(str(pid))
        return pid

    kinds = rng.choice(5, size=n_threads, p=[0.4, 0.2, 0.15, 0.1, 0.15])
    for i in range(n_threads):
        minutes = i * 0.5
        extras = ", ".join(EXTRAS[j] for j in rng.choice(len(EXTRAS), size=int(rng.integers(1, 14)), replace=False))
        prompt = (f"{SUBJECTS[rng.integers(len(SUBJECTS))].capitalize()} {STYLES[rng.integers(len(STYLES))]}, "
                  f"{LIGHT[rng.integers(len(LIGHT))]}, {extras}")
        author = f"user{rng.integers(n_threads)}"
        k = kinds[i]
        if k == 0:
            root = add(CAPTIONS[rng.integers(len(CAPTIONS))].format(p=prompt), author, None, 0, minutes, 1 + int(rng.integers(3)))
        elif k == 1:
            root = add(BELOW[rng.integers(len(BELOW))], author, None, 0, minutes, 1)
            add(f"Prompt:\n{prompt}", author, root, root, minutes + 1, 0)
        elif k == 2:
            root = add(COMMENT[rng.integers(len(COMMENT))], author, None, 0, minutes, 0)
        elif k == 3:
            root = add(OTHER[rng.integers(len(OTHER))].format(p=prompt), author, None, 0, minutes, 1)
        else:
            root = add(COINCIDENCE[rng.integers(len(COINCIDENCE))], author, None, 0, minutes, 0)
        for r in range(int(rng.integers(0, 7))):
            add(f"@{author} {FEEDBACK[rng.integers(len(FEEDBACK))]}", f"fan{rng.integers(10**6)}", root, root,
                minutes + 2 + r, 0)
    return pl.DataFrame(cols, schema=POSTS), pl.DataFrame(schema=MEDIA)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=20250325)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    log = logging.getLogger("bench")
    t = time.perf_counter()
    posts, media = generate(a.threads, a.seed)
    queried = match_keywords(posts, ["chatgpt", "create image", "image gen", "4o", "gpt-4o", "gpt4o"])
    tr = build_threads(queried)
    print(f"generated {a.threads} threads, {posts.height} posts in {time.perf_counter() - t:.1f}s")
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)

        def client(step: str, offline):  # noqa: ANN001
            return make_client({"backend": "offline"}, cache_dir=work / step, offline=offline, log=log)

        t = time.perf_counter()
        r = rel.score_threads(queried, tr.threads, client("relevance", rel.make_offline(DEFAULT_NAMES)),
                              rel.RelevanceSettings(threshold=3), log=log)
        times["relevance"] = time.perf_counter() - t
        t = time.perf_counter()
        q = Quarantine("extract")
        threads = ex.build_threads(r.kept_threads, tr.thread_posts, queried, media, q)
        e = ex.extract_samples(threads, client("extract", ex.make_offline({x.thread_id: x for x in threads}, DEFAULT_NAMES)),
                               ex.ExtractSettings(), q, log=log)
        times["extract"] = time.perf_counter() - t
        t = time.perf_counter()
        m = mm.process_candidates(e.candidates, lambda off: client("multimodal", off), mm.MultimodalSettings(),
                                  crops_dir=None, log=log)
        times["multimodal (no pixels)"] = time.perf_counter() - t
        t = time.perf_counter()
        f = fz.finalize_samples(m.processed, lambda off: client("finalize", off), fz.FinalizeSettings(), log=log)
        times["finalize"] = time.perf_counter() - t
        # the near-duplicate pass alone, timed again on the same labelled rows (worst case quadratic)
        labels = {sid: lab for df in (*f.splits.values(), f.discarded) for sid, lab in df.select("sample_id", "label").iter_rows()}
        usable = [dict(r, label=labels[r["sample_id"]]) for r in m.processed.iter_rows(named=True)
                  if r["quality"] != "Trash" and (r["prompt"] or "").strip()]
        t = time.perf_counter()
        fz.remove_near_duplicates(usable, fz.FinalizeSettings().near_duplicate_threshold)
        near_dup_s = time.perf_counter() - t
    total = sum(times.values())
    print(f"relevance: {r.summary['posts_scored']} posts scored, {r.kept_threads.height} threads kept")
    print(f"extract: {e.candidates.height} candidates {e.summary['candidates_by_quality']}")
    print(f"finalize: labels {f.summary['labels']}, splits {f.summary['splits']}, "
          f"near-duplicates removed {f.summary['near_duplicates_removed']}")
    for step, s in times.items():
        print(f"{step:24s} {s:8.2f}s")
    print(f"{'  of which near-dups':24s} {near_dup_s:8.2f}s  ({len(usable)} usable samples, one call)")
    print(f"{'total':24s} {total:8.2f}s  -> {a.threads / total:,.0f} threads/s (input threads, offline, text level)")


if __name__ == "__main__":
    main()
