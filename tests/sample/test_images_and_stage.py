"""Pictures of the sample (known-answer checks) and the stage entry point."""

from __future__ import annotations

import json

import numpy as np
import pytest

from echo_bench import runner
from echo_bench.params import StageParams
from echo_bench.sample import SampleConfig
from echo_bench.sample import images as im
from echo_bench.sample.kinds import misspell
from echo_bench.sample.posts import World


def mean_rgb(img) -> np.ndarray:
    return np.asarray(img, float).reshape(-1, 3).mean(axis=0)


def test_yellow_cast_drops_blue_most():
    base = im.render({"op": "portrait", "face": "astronaut", "seed": 1}, 96).image
    tinted = im.yellow_cast(base, 1.0)
    before, after = mean_rgb(base), mean_rgb(tinted)
    drop = before - after
    assert drop[2] > drop[1] > drop[0]
    assert np.linalg.norm(drop) > 10


def test_faces_come_from_real_photos_and_differ():
    a = im.render({"op": "portrait", "face": "astronaut", "seed": 3}, 96).image
    b = im.render({"op": "portrait", "face": "grace_hopper", "seed": 3}, 96).image
    assert a.size == b.size == (96, 96)
    assert np.abs(np.asarray(a, float) - np.asarray(b, float)).mean() > 20
    assert np.asarray(a).std() > 30  # a photo, not a flat fill


def test_render_is_deterministic_and_styles_keep_geometry():
    src = {"op": "scene", "theme": "sunset", "seed": 5, "aspect": "4:3"}
    first = im.encode(im.render({"op": "style", "style": "ghibli", "src": src}, 96).image, "png", 88)
    second = im.encode(im.render({"op": "style", "style": "ghibli", "src": src}, 96).image, "png", 88)
    assert first == second
    for style in im.STYLE_NAMES:
        assert im.stylize(im.render(src, 96).image, style).size == (96, 72)


def test_stretch_changes_the_aspect_ratio():
    src = {"op": "scene", "theme": "beach", "seed": 2, "aspect": "4:3"}
    assert im.render({"op": "stretch", "aspect": "1:1", "src": src}, 96).image.size == (96, 96)


def test_screenshot_boxes_hold_the_pasted_pictures():
    out = {"op": "object", "thing": "mug", "seed": 4}
    upload = {"op": "portrait", "face": "grace_hopper", "seed": 4}
    shot = im.render({"op": "screenshot", "prompt": "Make it winter", "input": upload, "output": out}, 128)
    x0, y0, x1, y1 = shot.boxes["output"]
    crop = shot.image.crop((x0, y0, x1, y1)).resize((128, 128))
    reference = im.render(out, 128).image
    assert np.abs(np.asarray(crop, float) - np.asarray(reference, float)).mean() < 8
    assert set(shot.boxes) == {"input", "prompt", "output"}


def test_text_images_use_the_bundled_font():
    assert im.font_path().endswith("DejaVuSans.ttf")
    poster = im.render({"op": "poster", "text": "GRAND OPENING", "seed": 1}, 128).image
    assert len(np.unique(np.asarray(poster).reshape(-1, 3), axis=0)) > 4


def test_misspell_changes_exactly_one_word():
    world = World(SampleConfig(n_threads=5))
    m = world.maker("text_render", world.rng(99))
    for text in ("GRAND OPENING", "OPEN 24 HOURS", "SALE 50% OFF"):
        wrong = misspell(m, text)
        changed = [a for a, b in zip(text.split(), wrong.split(), strict=True) if a != b]
        assert wrong != text and len(changed) == 1


# --- the stage ----------------------------------------------------------------------------------------------

PARAMS = {
    "sample.seed": 3,
    "sample.n_threads": 16,
    "sample.start": "2025-03-20",
    "sample.days": 10,
    "sample.spikes": [{"date": "2025-03-25", "factor": 5.0}],
    "sample.image_size": 48,
    "sample.jpeg_quality": 85,
    "sample.page_size": 20,
    "sample.kind_shares": {"prompt_share": 0.5, "edit_pair": 0.25, "coincidental": 0.25},
    "sample.duplicate_share": 0.1,
    "sample.defect_rate": 0.5,
    "sample.feedback_rate": 0.5,
    "sample.n_bad": 2,
}


def test_stage_writes_the_dump_and_its_summary(tmp_path):
    outputs = {"dump": str(tmp_path / "data" / "sample"), "summary": str(tmp_path / "results" / "sample.json")}
    summary = runner.run_stage("sample", {}, outputs, PARAMS)
    written = json.loads((tmp_path / "results" / "sample.json").read_text())
    assert written == summary
    assert summary["stage"] == "sample"
    assert summary["kinds"] == {"prompt_share": 8, "edit_pair": 4, "coincidental": 4}
    assert summary["bad_records"] == {"bad_timestamp": 1, "truncated_page": 1}
    assert (tmp_path / "data" / "sample" / "truth.jsonl").exists()
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["sample"]


def test_config_reads_dotted_keys_or_the_whole_section():
    dotted = SampleConfig.from_params(StageParams(PARAMS))
    nested = {"sample": {k.removeprefix("sample."): v for k, v in PARAMS.items()}}
    assert SampleConfig.from_params(StageParams(nested)) == dotted
    assert dotted.spikes[0][1] == 5.0 and dotted.start.isoformat() == "2025-03-20"


def test_a_missing_param_is_an_error():
    params = StageParams({k: v for k, v in PARAMS.items() if k != "sample.n_bad"})
    with pytest.raises(KeyError, match="sample.n_bad"):
        SampleConfig.from_params(params)
