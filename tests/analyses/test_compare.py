"""Dataset comparison: prompt sets from paths, statistics, and GenEval against ECHO-style prompts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from echo_bench.analyses import compare as cmp


def geneval_spec(prior: Path) -> dict:
    return {"name": "GenEval", "path": str(prior / "geneval_evaluation_metadata.jsonl"), "format": "jsonl", "field": "prompt"}


def echo_style(corpus: Path) -> cmp.PromptSet:
    """The prompts people shared with GPT-4o posts (the shared awesome-gpt4o-images corpus)."""
    prompts = [json.loads(line)["prompt"] for line in (corpus / "truth.jsonl").read_text(encoding="utf-8").splitlines()
               if line.strip()]
    prompts = list(dict.fromkeys(p.strip() for p in prompts if p and p.strip()))
    return cmp.PromptSet("ECHO-style (awesome-gpt4o-images)", prompts, ["text_to_image"] * len(prompts), {})


def test_geneval_first_bigrams_are_far_more_concentrated_than_echo_style_prompts(prior_benchmarks, gpt4o_corpus):
    geneval = cmp.load_prompt_set(geneval_spec(prior_benchmarks))
    assert geneval.info["status"] == "ok" and len(geneval.prompts) >= 500
    echo = echo_style(gpt4o_corpus)
    assert len(echo.prompts) >= 50
    g = cmp.prompt_stats(geneval, top_k=10, distinct_sample=90, seed=1)
    e = cmp.prompt_stats(echo, top_k=10, distinct_sample=90, seed=1)
    print(f"\nfirst-bigram top-1 share: GenEval {g['first_bigram_top1_share']:.3f} ({g['n_prompts']} prompts, "
          f"'{g['top_first_bigrams'][0]['bigram']}'), ECHO-style {e['first_bigram_top1_share']:.3f} ({e['n_prompts']})")
    print(f"top-10 share: GenEval {g['first_bigram_topk_share']:.3f}, ECHO-style {e['first_bigram_topk_share']:.3f}; "
          f"normalized entropy: GenEval {g['first_bigram_entropy']:.3f}, ECHO-style {e['first_bigram_entropy']:.3f}")
    assert g["top_first_bigrams"][0]["bigram"] == "a photo"
    assert g["first_bigram_top1_share"] > 0.9
    assert g["first_bigram_top1_share"] >= 4 * e["first_bigram_top1_share"]
    # the top-k share grows as a set shrinks; GenEval (553) still beats the smaller ECHO-style set (94)
    assert g["first_bigram_topk_share"] > e["first_bigram_topk_share"] + 0.3
    assert g["first_bigram_entropy"] < 0.2 < 0.6 < e["first_bigram_entropy"]
    # and on distinct-n at equal sample size, ECHO-style prompts are more varied
    assert e["distinct_2"] > g["distinct_2"]


def test_partiprompts_load_from_tsv_with_their_field(prior_benchmarks):
    ps = cmp.load_prompt_set({"name": "PartiPrompts", "path": str(prior_benchmarks / "PartiPrompts.tsv"), "format": "tsv",
                              "field": "Prompt"})
    assert ps.info["status"] == "ok"
    assert ps.info["rows"] == 1632 and 1500 < len(ps.prompts) <= 1632  # repeated prompts dropped and counted
    assert ps.info["dropped_duplicate"] == 1632 - len(ps.prompts) - ps.info["dropped_empty"]
    assert len(ps.info["sha256"]) == 64


def test_absent_and_broken_sets_are_reported_not_fatal(tmp_path):
    absent = cmp.load_prompt_set({"name": "X", "path": [str(tmp_path / "a.txt"), str(tmp_path / "b.txt")],
                                  "url": "https://example.invalid/x.txt"})
    assert absent.info["status"] == "absent" and absent.prompts == []
    assert "a.txt" in absent.info["reason"] and "fetching urls is disabled" in absent.info["reason"]
    (tmp_path / "bad.jsonl").write_text("{not json\n", encoding="utf-8")
    broken = cmp.load_prompt_set({"name": "Y", "path": str(tmp_path / "bad.jsonl")})
    assert broken.info["status"] == "failed" and "JSONDecodeError" in broken.info["reason"]
    (tmp_path / "b.txt").write_text("one two\n\none two\nthree\n", encoding="utf-8")
    second = cmp.load_prompt_set({"name": "Z", "path": [str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]})
    assert second.info["source"].endswith("b.txt") and second.prompts == ["one two", "three"]


def test_statistics_on_a_known_set():
    ps = cmp.PromptSet("t", ["a photo of a cat", "a photo of a dog", "draw me a red fox", "a"], [None] * 4, {})
    s = cmp.prompt_stats(ps, top_k=1, distinct_sample=10, seed=0)
    assert s["first_bigrams"] == 3
    assert s["first_bigram_top1_share"] == pytest.approx(0.5) and s["first_bigram_topk_share"] == pytest.approx(0.5)
    assert s["words_mean"] == pytest.approx((5 + 5 + 5 + 1) / 4)
    # 16 unigrams, distinct: a photo of cat dog draw me red fox = 9
    assert s["distinct_1"] == pytest.approx(9 / 16)
    assert cmp.distinct_n(["x y x y"], 2) == pytest.approx(2 / 3)
