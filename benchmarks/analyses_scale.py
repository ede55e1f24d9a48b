"""Analyses at the paper's scale: ~29k analysis samples with ~60k feedback replies.

Times the offline feedback lexicon (annotation, frequencies, examples, word cloud),
the taxonomy and the prompt statistics on a synthetic split built from the
phrases of the tests, and prints the figures.  Run: .venv/bin/python benchmarks/analyses_scale.py
"""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import polars as pl

from echo_bench.analyses import compare as cmp
from echo_bench.analyses import feedback as fb
from echo_bench.analyses import taxonomy as tax
from echo_bench.analyses import wordcloud as wc
from echo_bench.schemas import SAMPLES

N_SAMPLES = 29_300
REPLIES = ["why is it so yellow", "the text is misspelled", "it doesn't look like you", "wow incredible",
           "perfect, no typos", "the aspect ratio changed", "thanks!", "hands look weird, extra fingers",
           "love it", "too warm, piss filter again", "garbled letters on the sign", "so close"]
PROMPTS = ['a poster that says "{w}"', "turn this photo into {w} style", "remove the {w} from the background",
           "an action figure of a {w} in a blister pack", "a photorealistic photo of a {w} at golden hour",
           "combine these two images of a {w}", "an infographic about {w}"]
WORDS = ["cat", "ghibli", "car", "coffee", "pixel art", "lighthouse", "robot", "garden", "city", "dog"]


def main() -> None:
    rng = np.random.default_rng(0)
    t0 = dt.datetime(2025, 3, 20, tzinfo=dt.UTC)
    rows = []
    for i in range(N_SAMPLES):
        k = int(rng.integers(0, 4))
        rows.append({
            "sample_id": f"s{i:06d}", "split": "analysis", "thread_id": str(i), "created_at": t0 + dt.timedelta(minutes=int(i)),
            "prompt": PROMPTS[i % len(PROMPTS)].format(w=WORDS[int(rng.integers(0, len(WORDS)))]),
            "task_type": "edit" if i % 3 else "text_to_image", "input_images": [], "reference_outputs": [],
            "feedback": [{"post_id": f"{i}{j}", "text": REPLIES[int(rng.integers(0, len(REPLIES)))]} for j in range(k)],
        })
    samples = pl.DataFrame(rows).with_columns(
        [pl.lit(None, dtype=t).alias(c) for c, t in SAMPLES.items() if c not in rows[0]]).select(list(SAMPLES))
    t = time.perf_counter()
    items = fb.feedback_items(samples)
    ann = fb.annotate_items(items)
    t_ann = time.perf_counter() - t
    t = time.perf_counter()
    kw = fb.keyword_frequencies(ann)
    fail = kw.filter(pl.col("polarity") == "failure")
    ex = fb.examples(ann, samples, fail["keyword"].head(15).to_list(), per_keyword=3)
    t_freq = time.perf_counter() - t
    t = time.perf_counter()
    cloud = wc.layout(list(fail.select("keyword", "count").iter_rows()), wc.CloudSettings())
    t_cloud = time.perf_counter() - t
    t = time.perf_counter()
    table = tax.taxonomy_table(samples, ["analysis"])
    t_tax = time.perf_counter() - t
    t = time.perf_counter()
    ps = cmp.PromptSet("synthetic", samples["prompt"].to_list(), samples["task_type"].to_list(), {})
    stats = cmp.prompt_stats(ps, top_k=10, distinct_sample=500, seed=0)
    t_cmp = time.perf_counter() - t
    print(f"samples {samples.height}, feedback items {len(items)}")
    print(f"annotate (offline lexicon): {t_ann:.2f} s = {1e6 * t_ann / max(len(items), 1):.0f} us/item; "
          f"polarity {dict(ann.group_by('polarity').len().sort('polarity').iter_rows())}")
    print(f"keyword frequencies + examples: {t_freq:.2f} s ({fail.height} failure keywords, {sum(map(len, ex.values()))} examples)")
    print(f"word cloud layout: {t_cloud:.2f} s ({len(cloud['words'])} words, {len(cloud['dropped'])} dropped)")
    print(f"taxonomy: {t_tax:.2f} s ({table.filter(pl.col('split') == 'all')['n_prompts'][0]} prompts)")
    print(f"prompt statistics: {t_cmp:.2f} s (first bigrams {stats['first_bigrams']}, top-1 share {stats['first_bigram_top1_share']})")


if __name__ == "__main__":
    main()
