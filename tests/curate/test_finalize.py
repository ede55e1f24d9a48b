"""Finalize: offline labels, guards, near-duplicates, splits, failures, the stage files."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from curate_helpers import FakeClient, failure
from rapidfuzz import fuzz

from echo_bench.curate import finalize as fz
from echo_bench.curate.heuristics import plain
from echo_bench.curate.tables import DISCARDED, PROCESSED, REVIEW
from echo_bench.io import read_parquet, write_parquet
from echo_bench.llm import make_client
from echo_bench.quarantine import Quarantine
from echo_bench.runner import run_stage
from echo_bench.schemas import SAMPLES

T0 = dt.datetime(2025, 4, 1, tzinfo=dt.UTC)


def row(sid: str, prompt: str, *, inputs: tuple[str, ...] = (), outputs: tuple[str, ...] = ("o.png",), minutes: int = 0,
        **kw: Any) -> dict[str, Any]:
    r = {c: None for c in PROCESSED}
    r.update(
        sample_id=sid, thread_id=f"t{sid}", sample_index=0, created_at=T0 + dt.timedelta(minutes=minutes), lang="en",
        prompt=prompt, prompt_modified=False, image_posts=[], image_post_texts=[], images=list(inputs) + list(outputs),
        image_post_of=[], n_missing_images=0, quality="Benchmark", feedback=[{"post_id": "f", "text": "so good"}],
        notes="", producer="offline-heuristic/extract-v1", extracted_prompt=prompt, prompt_source="thread",
        input_images=list(inputs), reference_outputs=list(outputs),
        task_type="text_to_image" if not inputs else "edit" if len(inputs) == 1 else "multi_image",
        n_junk=0, n_duplicates=0, n_unclassified=0, screenshot=False, composite=False, n_crops=0, blanks=[],
        blanks_resolved=False, mm_confidence="high", mm_status="ok", mm_notes="", mm_producer="offline-heuristic/multimodal-v1",
    )
    r.update(kw)
    return r


@pytest.mark.parametrize(
    ("kw", "label", "rule"),
    [
        ({"quality": "Trash"}, "Discard", "F1"),
        ({"prompt": "  "}, "Discard", "F2"),
        ({"prompt": "why?"}, "Discard", "F3"),
        ({"quality": "Analysis"}, "Discard", "F4"),
        ({"quality": "Analysis", "screenshot": True}, "Manual Review", "F4"),
        ({"mm_status": "failed"}, "Manual Review", "F5"),
        ({"blanks": ["[SUBJECT]"]}, "Manual Review", "F6"),
        ({"reference_outputs": []}, "Manual Review", "F7"),
        ({"prompt": "Turn this photo into a watercolor painting"}, "Manual Review", "F8"),
        ({"mm_confidence": "low"}, "Manual Review", "F9"),
        ({"prompt_modified": True, "prompt_source": "filled"}, "Manual Review", "F10"),
        ({"prompt_modified": True}, "Benchmark", ""),
        ({}, "Benchmark", ""),
    ],
)
def test_offline_label_rules(kw: dict[str, Any], label: str, rule: str) -> None:
    r = row("a", "A lighthouse on a cliff at sunset, watercolor")
    r.update(kw)
    got, reason = fz.offline_label(r)
    assert got == label
    assert reason.startswith(rule)


def test_guard_demotes_benchmark_without_output() -> None:
    assert fz.guard(row("a", "x", outputs=()), "Benchmark", "looks fine")[0] == "Manual Review"
    assert fz.guard(row("a", "x", blanks=["{x}"]), "Benchmark", "fine")[0] == "Manual Review"
    assert fz.guard(row("a", "x"), "Discard", "no")[0] == "Discard"


def _brute_force(rows: list[dict], threshold: float) -> dict[str, str]:
    """Rule N the slow way: every kept prompt compared with every later one."""
    kept: list[dict] = []
    removed = {}
    for r in rows:  # already in rank order
        text = plain(r["prompt"])
        scores = [(fuzz.ratio(text, plain(k["prompt"])), -i) for i, k in enumerate(kept)]
        best = max(scores, default=None)
        if best is not None and best[0] >= threshold:
            removed[r["sample_id"]] = kept[-best[1]]["sample_id"]
        else:
            kept.append(r)
    return removed


def test_near_duplicates_match_brute_force() -> None:
    rng = random.Random(7)
    words = ["cat", "dog", "red", "blue", "castle", "sky", "in", "the", "a", "watercolor", "neon"]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(2, 9))) for _ in range(250)]
    texts += [t + "s" for t in texts[:40]] + texts[:20]  # near and exact copies
    rows = [dict(row(f"s{i:04d}", t, minutes=i), label="Benchmark") for i, t in enumerate(texts)]
    for threshold, block, sub in ((90.0, 256, 32), (95.0, 256, 32), (95.0, 16, 3), (100.0, 7, 2), (80.0, 50, 50)):
        got = fz.remove_near_duplicates(rows, threshold, block=block, sub=sub)
        want = _brute_force(rows, threshold)
        assert set(got) == set(want)
        for sid, kept in got.items():  # the kept partner is a best match too (ties may differ)
            a = plain(next(r["prompt"] for r in rows if r["sample_id"] == sid))
            assert fuzz.ratio(a, plain(next(r["prompt"] for r in rows if r["sample_id"] == kept))) == fuzz.ratio(
                a, plain(next(r["prompt"] for r in rows if r["sample_id"] == want[sid])))


def test_near_duplicates_keep_the_best_and_respect_inputs() -> None:
    rows = [
        dict(row("late", "A lighthouse on a cliff at sunset, watercolor!", minutes=5), label="Benchmark"),
        dict(row("early", "a lighthouse on a cliff at sunset watercolor", minutes=1), label="Benchmark"),
        dict(row("review", "A lighthouse on a cliff at sunset, watercolor", minutes=0), label="Manual Review"),
        dict(row("e1", "Turn this photo into Studio Ghibli style", inputs=("in1.png",)), label="Benchmark"),
        dict(row("e2", "Turn this photo into Studio Ghibli style", inputs=("in2.png",)), label="Benchmark"),
        dict(row("e3", "Turn this photo into Studio Ghibli style", inputs=("in1.png",), minutes=9), label="Benchmark"),
    ]
    removed = fz.remove_near_duplicates(rows, 95.0)
    assert removed == {"late": "early", "review": "early", "e3": "e1"}


def _processed() -> pl.DataFrame:
    return pl.DataFrame(
        [
            row("t2i", "A lighthouse on a cliff at sunset, watercolor", minutes=1),
            row("i2i", "Turn this photo into Studio Ghibli style", inputs=("in.png",), minutes=2),
            row("copy", "A lighthouse on a cliff at sunset, watercolor.", minutes=3),
            row("fill", "A 3D figure of [SUBJECT] in a blister pack", blanks=["[SUBJECT]"], minutes=4),
            row("talk", "Is it just me or does every 4o image have a yellow tint?", quality="Analysis", minutes=5),
            row("trash", "Made with Midjourney", quality="Trash", minutes=6),
        ],
        schema=PROCESSED,
    )


def _offline(tmp_path: Path) -> Any:
    return lambda offline: make_client({"backend": "offline"}, cache_dir=tmp_path / "cache", offline=offline)


def test_finalize_splits_offline(tmp_path: Path) -> None:
    res = fz.finalize_samples(_processed(), _offline(tmp_path), fz.FinalizeSettings())
    s = res.splits
    assert all(df.schema == SAMPLES for df in s.values())
    assert s["text_to_image"]["sample_id"].to_list() == ["t2i"]
    assert s["image_to_image"]["sample_id"].to_list() == ["i2i"]
    assert s["analysis"]["sample_id"].to_list() == ["fill", "talk"]
    assert set(s["analysis"]["label"]) == {"Manual Review", "Discard"}
    assert res.manual_review.schema == REVIEW and res.manual_review["sample_id"].to_list() == ["fill"]
    d = {r["sample_id"]: r for r in res.discarded.iter_rows(named=True)}
    assert res.discarded.schema == DISCARDED
    assert d["copy"]["duplicate_of"] == "t2i" and d["copy"]["split"] is None
    assert d["trash"]["split"] is None and d["trash"]["reason"].startswith("F1")
    assert d["talk"]["split"] == "analysis"  # commentary: Discard as a task, kept for analysis
    p = s["text_to_image"]["producer"][0]
    assert "finalize=offline-heuristic/finalize-v1" in p and "extract=offline-heuristic/extract-v1" in p
    assert res.summary["labels"] == {"Benchmark": 3, "Manual Review": 1, "Discard": 2}
    assert res.summary["near_duplicates_removed"] == 1
    assert res.summary["splits"] == {"analysis": 2, "text_to_image": 1, "image_to_image": 1}


def test_llm_labels_are_guarded_and_failures_go_to_review() -> None:
    answers = {"i2i": failure("rate_limited: retry-after 900 s"), "fill": {"label": "Benchmark", "reason": "great"}}
    client = FakeClient(lambda r: answers.get(r.key, {"label": "Benchmark", "reason": "fine"}))
    q = Quarantine("finalize")
    res = fz.finalize_samples(_processed(), lambda off: client, fz.FinalizeSettings(), q=q)
    review = {r["sample_id"]: r["reason"] for r in res.manual_review.iter_rows(named=True)}
    assert review["i2i"].startswith("curator reply failed")
    assert review["fill"].startswith("G: unresolved placeholders")
    assert [r["reason"] for r in q.rows] == ["llm_rate_limited"]
    assert "trash" not in {r.key for r in client.requests}  # Trash is discarded by rule, never sent
    sent = {r.key: r for r in client.requests}
    assert sent["i2i"].images == ("in.png", "o.png")
    assert sent["i2i"].variables["image_legend"].splitlines()[:2] == [
        "1. input image (given to the model)", "2. output image (what the model of interest produced)"]
    assert res.summary["failed"] == 1


def test_stage_writes_five_tables(tmp_path: Path, params: dict[str, Any]) -> None:
    write_parquet(_processed(), tmp_path / "p.parquet", PROCESSED)
    outs = {"splits": str(tmp_path / "splits"), "quarantine": str(tmp_path / "q.parquet"),
            "cache": str(tmp_path / "cache"), "summary": str(tmp_path / "s.json")}
    keys = ["model_of_interest", "finalize"]
    s = run_stage("finalize", {"processed": str(tmp_path / "p.parquet")}, outs, {k: params[k] for k in keys})
    names = sorted(p.name for p in (tmp_path / "splits").iterdir())
    assert names == ["analysis.parquet", "discarded.parquet", "image_to_image.parquet", "manual_review.parquet",
                     "text_to_image.parquet"]
    first = {n: (tmp_path / "splits" / n).read_bytes() for n in names}
    run_stage("finalize", {"processed": str(tmp_path / "p.parquet")}, outs, {k: params[k] for k in keys})
    assert first == {n: (tmp_path / "splits" / n).read_bytes() for n in names}
    assert read_parquet(tmp_path / "splits" / "text_to_image.parquet", SAMPLES).height == 1
    assert s["backends"]["finalize"]["backend"] == "offline" and "llm_usage" in s


def test_stage_takes_named_outputs(tmp_path: Path, params: dict[str, Any]) -> None:
    write_parquet(_processed(), tmp_path / "p.parquet", PROCESSED)
    names = ("analysis", "text_to_image", "image_to_image", "manual_review", "discarded")
    outs = {n: str(tmp_path / "data" / "splits" / f"{n}.parquet") for n in names}
    outs.update(quarantine=str(tmp_path / "q.parquet"), cache=str(tmp_path / "cache"), summary=str(tmp_path / "s.json"))
    run_stage("finalize", {"processed": str(tmp_path / "p.parquet")}, outs, {k: params[k] for k in ("model_of_interest", "finalize")})
    assert all(Path(outs[n]).exists() for n in names)
    del outs["discarded"]
    with pytest.raises(KeyError, match="discarded"):
        run_stage("finalize", {"processed": str(tmp_path / "p.parquet")}, outs,
                  {k: params[k] for k in ("model_of_interest", "finalize")})


# --- issue 12: edit cues in several languages --------------------------------------------


@pytest.mark.parametrize(
    "prompt",
    [
        "参考图中的人物，生成一张吉卜力风格的插画",
        "上传一张自拍，把它变成3D手办，放在电脑桌上",
        "将输入图像转换为水彩画风格，保持构图不变",
        "保持原图的构图和人物，把背景换成雪山",
        "根据附图的草稿生成一张完整的海报",
        "Paste your screenshot and this prompt: redesign the app as a retro 90s website",
        "Turn your photo into a Pixar-style character with big eyes",
        "添付した写真の人物をアニメ風に描いて",
        "업로드한 사진을 수채화 스타일로 바꿔줘",
    ],
)
def test_edit_cues_in_several_languages_need_an_input(prompt: str) -> None:
    assert fz.needs_input(prompt)


@pytest.mark.parametrize(
    "prompt",
    [
        "A product photo of a soda can that keeps the shape of the original packaging, studio light",
        "一只戴着墨镜的柴犬坐在海边，夕阳，胶片摄影风格，高对比度",
        "Generate a screenshot of a weather app UI in dark mode",
    ],
)
def test_text_to_image_prompts_need_no_input(prompt: str) -> None:
    assert not fz.needs_input(prompt)
