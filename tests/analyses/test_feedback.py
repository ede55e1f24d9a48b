"""Community feedback: the offline lexicon, keyword frequencies, examples linking to samples, the word cloud."""

from __future__ import annotations

import polars as pl
import pytest

from echo_bench.analyses import feedback as fb
from echo_bench.analyses import wordcloud as wc
from echo_bench.schemas import SAMPLES


@pytest.mark.parametrize(
    ("text", "polarity", "keyword"),
    [
        ("the text is misspelled again", "failure", "misspelled"),
        ("why is everything so yellow", "failure", "yellow"),
        ("it doesn't look like you at all", "failure", "doesn't look like"),
        ("the aspect ratio changed and it's squished", "failure", "aspect ratio"),
        ("perfect, no typos!", "success", "no typos"),
        ("the spelling was right this time", "success", "spelled right"),
        ("wow it really looks like you", "success", "looks like you"),
        ("thanks for sharing the prompt", "neutral", None),
        ("cool style but the likeness is gone", "failure", "lost the identity"),
    ],
)
def test_offline_lexicon_reads_polarity_and_keywords(text, polarity, keyword):
    out = fb.annotate_text(text)
    assert out["polarity"] == polarity
    if keyword:
        assert keyword in [k["keyword"] for k in out["keywords"]]
    else:
        assert out["keywords"] == []


def test_negated_failure_becomes_success():
    out = fb.annotate_text("there are no artifacts and it is not blurry")
    pols = {k["keyword"]: k["polarity"] for k in out["keywords"]}
    assert pols.get("no blurry") == "success"
    assert out["polarity"] == "success"


def samples() -> pl.DataFrame:
    rows = []
    for i, texts in enumerate([["so yellow", "love it"], ["way too yellow, piss filter"], ["typos everywhere"]]):
        rows.append({"sample_id": f"s{i}", "split": "text_to_image", "thread_id": f"t{i}", "prompt": f"prompt {i}",
                     "task_type": "text_to_image", "input_images": [], "reference_outputs": [],
                     "feedback": [{"post_id": f"{i}{j}", "text": t} for j, t in enumerate(texts)]})
    return pl.DataFrame(rows).with_columns(
        [pl.lit(None, dtype=t).alias(c) for c, t in SAMPLES.items() if c not in rows[0]]).select(list(SAMPLES))


def test_frequencies_examples_and_offline_producer():
    s = samples()
    ann = fb.annotate_items(fb.feedback_items(s))
    assert ann.height == 4 and set(ann["producer"]) == {fb.OFFLINE_PRODUCER}
    kw = fb.keyword_frequencies(ann)
    fail = {r["keyword"]: r for r in kw.filter(pl.col("polarity") == "failure").to_dicts()}
    assert fail["yellow"]["count"] == 2 and fail["yellow"]["samples"] == 2
    assert fail["yellow"]["category"] == "color_balance"
    ex = fb.examples(ann, s, ["yellow", "typos"], per_keyword=3)
    assert {e["sample_id"] for e in ex["yellow"]} == {"s0", "s1"}
    assert ex["typos"][0]["sample_id"] == "s2" and ex["typos"][0]["prompt"] == "prompt 2"
    assert ex["typos"][0]["url"] == "https://x.com/i/web/status/20"


def test_llm_path_through_the_client_uses_the_template_and_names_the_offline_producer(tmp_path):
    from echo_bench.llm import make_client

    client = make_client({"backend": "offline", "model": None}, cache_dir=tmp_path, offline=fb.offline_reply)
    items = fb.feedback_items(samples())
    via_client = fb.annotate_items(items, client)
    direct = fb.annotate_items(items)
    assert via_client.drop("producer").equals(direct.drop("producer"))
    assert set(via_client["producer"]) == {fb.OFFLINE_PRODUCER}


def test_wordcloud_layout_is_deterministic_inside_the_canvas_and_without_overlaps():
    weights = {f"word{i}": 30 - i for i in range(25)}
    s = wc.CloudSettings(width=500, height=260, max_words=25, min_size=10, max_size=48, seed=3)
    a, b = wc.layout(weights, s), wc.layout(weights, s)
    assert a == b
    words = a["words"]
    assert len(words) + len(a["dropped"]) == 25 and len(words) >= 15
    assert words[0]["text"] == "word0" and words[0]["size"] == 48
    boxes = [(w["x"] - w["w"] / 2, w["y"] - w["h"] / 2, w["x"] + w["w"] / 2, w["y"] + w["h"] / 2) for w in words]
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        assert 0 <= x0 and x1 <= 500 and 0 <= y0 and y1 <= 260
        for a0, b0, a1, b1 in boxes[:i]:
            assert not (x0 < a1 and a0 < x1 and y0 < b1 and b0 < y1)
