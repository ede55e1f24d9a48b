"""The image step: pixel rules, offline roles, applying replies, failures, the stage files."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from curate_helpers import FakeClient, chat_screenshot, failure, photo, save, shifted, side_by_side
from PIL import Image

from echo_bench.curate import multimodal as mm
from echo_bench.curate import pixels
from echo_bench.curate.tables import CANDIDATES, PROCESSED
from echo_bench.io import read_parquet, write_parquet
from echo_bench.llm import make_client
from echo_bench.quarantine import Quarantine
from echo_bench.runner import run_stage
from echo_bench.schemas import MEDIA

S = pixels.PixelSettings()


# --- pixels -----------------------------------------------------------------------------------


def test_hashes_find_copies_but_not_edits(tmp_path: Path) -> None:
    a = photo(1, 256, 256)
    pa = save(a, tmp_path / "a.png")
    copy = tmp_path / "a_small.jpg"
    a.resize((160, 160)).save(copy, quality=85)
    edit = save(shifted(a, (30, 10, -25)), tmp_path / "edit.png")
    other = save(photo(2, 256, 256), tmp_path / "b.png")
    f, g, e, o = (pixels.features(p, S) for p in (pa, copy, edit, other))
    assert pixels.is_duplicate(f, g, S.duplicate_max_distance, S.duplicate_max_color_delta)
    assert pixels.hamming(f.ahash, e.ahash) <= S.duplicate_max_distance  # same layout ...
    assert not pixels.is_duplicate(f, e, S.duplicate_max_distance, S.duplicate_max_color_delta)  # ... other colours
    assert not pixels.is_duplicate(f, o, S.duplicate_max_distance, S.duplicate_max_color_delta)


def test_junk_rules(tmp_path: Path) -> None:
    tiny = pixels.features(save(photo(3, 40, 40), tmp_path / "tiny.png"), S)
    blank = pixels.features(save(Image.new("RGB", (200, 200), (240, 240, 240)), tmp_path / "blank.png"), S)
    banner = pixels.features(save(photo(4, 600, 100), tmp_path / "banner.png"), S)
    ok = pixels.features(save(photo(5), tmp_path / "ok.png"), S)
    assert "too small" in tiny.junk and "blank" in blank.junk and "banner" in banner.junk
    assert ok.junk is None
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert not pixels.features(bad, S).readable


def test_side_by_side_gutter_is_found(tmp_path: Path) -> None:
    left = photo(6, 200, 200)
    comp = side_by_side(left, shifted(left, (25, 15, -20)), gap=6)
    f = pixels.features(save(comp, tmp_path / "comp.png"), S)
    assert f.seam is not None and f.seam.kind == "gutter" and f.seam.confident
    assert 195 <= f.seam.x0 <= 201 and 205 <= f.seam.x1 <= 207
    lone = pixels.features(save(photo(7, 320, 200), tmp_path / "wide.png"), S)
    assert lone.seam is None


def test_chat_screenshot_layout(tmp_path: Path) -> None:
    shot, boxes = chat_screenshot(photo(8), photo(9))
    f = pixels.features(save(shot, tmp_path / "shot.png"), S)
    assert f.layout is not None and f.layout.is_screenshot
    assert len(f.layout.pictures) == 2
    up, out = f.layout.pictures
    x0, y0, x1, y1 = boxes["input"]
    assert abs(up[0] - x0 / 360) < 0.03 and abs(up[3] - y1 / 640) < 0.03
    assert out[2] - out[0] > 0.7  # the model's picture is the wide one
    plain = pixels.features(save(photo(10, 300, 500), tmp_path / "portrait.png"), S)
    assert plain.layout is not None and not plain.layout.is_screenshot


def test_crops_are_content_addressed(tmp_path: Path) -> None:
    p = save(photo(11), tmp_path / "x.png")
    data = pixels.crop_png(p, (0.0, 0.0, 0.5, 0.5))
    assert data is not None
    path = pixels.write_crop(data, tmp_path / "crops")
    assert Path(path).name == hashlib.sha256(Path(path).read_bytes()).hexdigest() + ".png"
    assert pixels.write_crop(data, tmp_path / "crops") == path
    assert pixels.crop_png(p, (0.0, 0.0, 0.01, 0.01)) is None


# --- offline roles --------------------------------------------------------------------------------


def test_edit_pair_roles_and_reversed_caption(tmp_path: Path) -> None:
    a = save(photo(12), tmp_path / "in.png")
    b = save(shifted(photo(12), (40, 0, -40)), tmp_path / "out.png")
    r = mm.offline_classify("Turn this photo into Studio Ghibli style", ["Original vs edited"], [a, b], S)
    assert [i["role"] for i in r["images"]] == ["input", "output"]
    r = mm.offline_classify("Turn this photo into Studio Ghibli style", ["ChatGPT result first, original second"], [b, a], S)
    assert [i["role"] for i in r["images"]] == ["output", "input"]
    r = mm.offline_classify("A lighthouse at dawn, watercolor", ["four results"], [a, b], S)
    assert [i["role"] for i in r["images"]] == ["output", "output"]


def test_original_inside_a_prompt_is_not_a_pair_caption(tmp_path: Path) -> None:
    a = save(photo(12), tmp_path / "one.png")
    b = save(photo(13), tmp_path / "two.png")
    prompt = "A product photo of a soda can that keeps the shape of the original packaging, studio light"
    r = mm.offline_classify(prompt, [prompt], [a, b], S)
    assert [i["role"] for i in r["images"]] == ["output", "output"]
    r = mm.offline_classify("参考图中的人物，生成吉卜力风格插画", ["原图 vs 效果"], [a, b], S)
    assert [i["role"] for i in r["images"]] == ["input", "output"]


def test_multi_image_duplicates_and_blanks(tmp_path: Path) -> None:
    obj, scene, out = (save(photo(s), tmp_path / f"{s}.png") for s in (13, 14, 15))
    again = tmp_path / "15_copy.jpg"
    Image.open(out).save(again, quality=90)
    r = mm.offline_classify("Put the cat from the first image into the scene of the second image", [""],
                            [obj, scene, out, str(again)], S)
    assert [i["role"] for i in r["images"]] == ["input", "input", "output", "output"]
    assert r["images"][3]["duplicate_of"] == 3
    r = mm.offline_classify("A 3D figure of [SUBJECT] in a blister pack", [""], [out], S)
    assert r["resolved_prompt"] is None and r["resolution_confident"] is False
    assert "M6" in r["notes"]


def _candidate(images: list[str], prompt: str, caption: str = "", quality: str = "Benchmark", **kw: Any) -> dict:
    row = {
        "sample_id": kw.pop("sample_id", "s1"), "thread_id": "t1", "sample_index": 0, "created_at": None, "lang": "en",
        "prompt": prompt, "prompt_modified": False, "image_posts": ["p1"], "image_post_texts": [caption],
        "images": images, "image_post_of": ["p1"] * len(images), "n_missing_images": 0, "quality": quality,
        "feedback": [], "notes": "", "producer": "offline-heuristic/extract-v1",
    }
    row.update(kw)
    return row


def _frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=CANDIDATES)


def _offline(tmp_path: Path) -> Any:
    return lambda offline: make_client({"backend": "offline"}, cache_dir=tmp_path / "cache", offline=offline)


def test_process_composite_and_screenshot_offline(tmp_path: Path) -> None:
    left = photo(16, 200, 200)
    comp = save(side_by_side(left, shifted(left, (30, 20, -30))), tmp_path / "m" / "comp.png")
    shot = save(chat_screenshot(photo(17), photo(18))[0], tmp_path / "m" / "shot.png")
    cands = _frame([
        _candidate([comp], "Turn this photo into a watercolor painting", "Before / after", sample_id="c"),
        _candidate([shot], "ChatGPT just did this from one sentence", quality="Analysis", sample_id="s"),
        _candidate([], "A fox in snow, oil painting", sample_id="n"),
        _candidate([comp], "irrelevant", quality="Trash", sample_id="t"),
    ])
    res = mm.process_candidates(cands, _offline(tmp_path), mm.MultimodalSettings(), crops_dir=str(tmp_path / "crops"))
    p = {r["sample_id"]: r for r in res.processed.iter_rows(named=True)}
    assert res.processed.schema == PROCESSED
    c = p["c"]
    assert c["composite"] and c["task_type"] == "edit" and c["mm_confidence"] == "high"
    assert len(c["input_images"]) == 1 and len(c["reference_outputs"]) == 1
    crop = Path(c["input_images"][0])
    assert crop.parent == tmp_path / "crops" and crop.exists()
    assert Image.open(crop).size[0] in range(195, 202)
    s = p["s"]
    assert s["screenshot"] and s["mm_confidence"] == "low" and s["task_type"] == "edit"
    assert s["prompt_source"] == "thread"  # offline cannot read the screenshot's prompt
    assert p["n"]["mm_status"] == "no_images" and p["n"]["task_type"] == "text_to_image"
    assert p["t"]["mm_status"] == "skipped"
    assert res.summary["sent"] == 2 and res.summary["crops"] == 4


def test_apply_reply_fills_blanks_only_when_confident(tmp_path: Path) -> None:
    out = save(photo(19), tmp_path / "o.png")
    cand = _frame([_candidate([out], "A 3D figure of [SUBJECT] in a blister pack", sample_id="f1"),
                   _candidate([out], "A 3D figure of [SUBJECT] in a blister pack", sample_id="f2"),
                   _candidate([out], "A 3D figure of [SUBJECT] in a blister pack", sample_id="f3")])
    answers = {
        "f1": {"images": [{"index": 1, "role": "output", "duplicate_of": None}], "resolved_prompt": "A 3D figure of a barista in a blister pack",
               "resolution_confident": True, "screenshots": []},
        "f2": {"images": [{"index": 1, "role": "output", "duplicate_of": None}], "resolved_prompt": "A 3D figure of a barista",
               "resolution_confident": False, "screenshots": []},
        "f3": {"images": [{"index": 1, "role": "output", "duplicate_of": None}], "resolved_prompt": "A 3D figure of [SUBJECT] x",
               "resolution_confident": True, "screenshots": []},
    }
    client = FakeClient(lambda r: answers[r.key])
    q = Quarantine("multimodal")
    res = mm.process_candidates(cand, lambda off: client, mm.MultimodalSettings(), crops_dir=None, q=q)
    p = {r["sample_id"]: r for r in res.processed.iter_rows(named=True)}
    assert p["f1"]["prompt"] == "A 3D figure of a barista in a blister pack"
    assert p["f1"]["prompt_modified"] and p["f1"]["blanks_resolved"] and p["f1"]["prompt_source"] == "filled"
    assert p["f1"]["extracted_prompt"] == "A 3D figure of [SUBJECT] in a blister pack"
    assert not p["f2"]["blanks_resolved"] and p["f2"]["prompt"].endswith("blister pack")
    assert not p["f3"]["blanks_resolved"]
    assert [r["reason"] for r in q.rows] == ["blank_left"]
    assert client.requests[0].images == (out,)
    assert client.requests[0].template == "classify_images"


def test_apply_reply_checks_indices_boxes_and_screenshot_prompt(tmp_path: Path) -> None:
    shot = save(chat_screenshot(None, photo(20))[0], tmp_path / "shot.png")
    other = save(photo(21), tmp_path / "x.png")
    cand = _frame([_candidate([shot, other], "look what it did", quality="Analysis", sample_id="v")])
    reply = {
        "images": [{"index": 1, "role": "junk", "duplicate_of": None}, {"index": 7, "role": "output", "duplicate_of": None}],
        "resolved_prompt": None, "resolution_confident": False,
        "screenshots": [{"index": 1, "prompt": "Paint a fox in the snow, oil on canvas",
                         "input_boxes": [[0.5, 0.5, 0.4, 0.6]], "output_boxes": [[0.05, 0.3, 0.9, 0.8]]}],
    }
    q = Quarantine("multimodal")
    res = mm.process_candidates(cand, lambda off: FakeClient(lambda r: reply), mm.MultimodalSettings(),
                                crops_dir=str(tmp_path / "crops"), q=q)
    row = res.processed.row(0, named=True)
    assert row["prompt"] == "Paint a fox in the snow, oil on canvas"
    assert row["prompt_source"] == "screenshot" and row["prompt_modified"]
    assert row["screenshot"] and len(row["reference_outputs"]) == 1 and row["input_images"] == []
    assert row["n_unclassified"] == 1  # image 2 got no role
    assert sorted(r["reason"] for r in q.rows) == ["bad_box", "bad_index", "image_not_classified"]
    assert row["mm_producer"] == "fake:fake-model"


def test_failed_reply_keeps_the_candidate(tmp_path: Path) -> None:
    out = save(photo(22), tmp_path / "o.png")
    q = Quarantine("multimodal")
    res = mm.process_candidates(_frame([_candidate([out], "A fox in snow, oil painting")]),
                                lambda off: FakeClient(lambda r: failure("timeout: no reply in 120 s")),
                                mm.MultimodalSettings(), crops_dir=None, q=q)
    row = res.processed.row(0, named=True)
    assert row["mm_status"] == "failed" and row["reference_outputs"] == [] and "timeout" in row["mm_notes"]
    assert [r["reason"] for r in q.rows] == ["llm_timeout"]
    assert res.summary["failed"] == 1


def test_stage_removes_stale_crops_and_is_deterministic(tmp_path: Path, params: dict[str, Any]) -> None:
    left = photo(23, 200, 200)
    store = tmp_path / "data" / "media"
    comp = save(side_by_side(left, shifted(left, (30, 20, -30))), store / "comp.png")
    cands = _frame([_candidate([comp], "Turn this photo into a watercolor painting", "Before / after")])
    write_parquet(cands, tmp_path / "cand.parquet", CANDIDATES)
    write_parquet(pl.DataFrame(schema=MEDIA), tmp_path / "media.parquet", MEDIA)
    crops = tmp_path / "crops"
    crops.mkdir()
    stale = crops / ("0" * 64 + ".png")
    stale.write_bytes(b"old")
    ins = {"candidates": str(tmp_path / "cand.parquet"), "media": str(tmp_path / "media.parquet"), "media_store": str(store)}
    outs = {"processed": str(tmp_path / "o/p.parquet"), "crops": str(crops), "quarantine": str(tmp_path / "o/q.parquet"),
            "cache": str(tmp_path / "cache"), "summary": str(tmp_path / "o/s.json")}
    keys = ["model_of_interest", "multimodal"]
    s = run_stage("multimodal", ins, outs, {k: params[k] for k in keys})
    first = Path(outs["processed"]).read_bytes()
    assert not stale.exists() and s["stale_crops_removed"] == 1
    assert len(list(crops.iterdir())) == 2
    run_stage("multimodal", ins, outs, {k: params[k] for k in keys})
    assert Path(outs["processed"]).read_bytes() == first
    assert read_parquet(outs["processed"], PROCESSED)["composite"].to_list() == [True]


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_task_type_by_number_of_inputs(n: int) -> None:
    assert mm._task_type(n) == ("text_to_image", "edit", "multi_image", "multi_image")[n]


def test_legend_names_posts_and_sizes() -> None:
    row = _candidate(["a.png", "b.png"], "x", "caption  with\nspaces")
    text = mm.legend_of(row, {"a.png": (640, 480)}, 280)
    assert text.splitlines()[0] == '1. attached to post p1, 640x480 px; that post says: "caption with spaces"'
    assert text.splitlines()[1].startswith("2. attached to post p1;")

