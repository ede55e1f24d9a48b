"""The metrics stage end to end on a tiny split: statuses, the per-model table, determinism, wildcards."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image

from echo_bench.io import read_parquet, sha256_file
from echo_bench.metrics import controls
from echo_bench.metrics.runner import TABLE
from echo_bench.params import StageParams
from echo_bench.schemas import GENERATIONS, METRIC_VALUES, SAMPLES
from echo_bench.stages import metrics as stage

LOG = logging.getLogger("test.metrics")

#: The params.yaml block of the stage (docs/metrics.md), as the tests use it.
METRICS_PARAMS = {
    "enabled": ["color_shift", "color_delta_e", "face_identity", "structure_distance", "text_accuracy"],
    "device": "auto",
    "batch_size": "auto",
    "seed": 20250325,
    "bootstrap": 200,
    "cpu_threads": 0,
    "applicability": {"llm": {"backend": "offline"}, "probe_faces": True},
    "color": {"bins_lo": 5, "bins_hi": 250, "input_pool": "split", "lab_size": 256},
    "face": {"backend": "dlib", "detector": "hog", "det_size": 640, "upsample": 1, "model_dir": None,
             "dlib_models_dir": None, "same_person_distance": 0.6},
    "structure": {"backend": "offline", "dino_weights": None, "size": 224},
    "text": {"reader": "ocr", "min_ocr_score": 0.5, "max_ed_en": 100, "max_ed_zh": 50,
             "llm": {"backend": "offline"}},
}


def _save(img: np.ndarray, root: Path, name: str) -> str:
    path = Path("data/media") / f"{name}.png"
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(root / path)
    return str(path)


def build(root: Path, astronaut: np.ndarray, render_text) -> tuple[str, str, dict]:
    scene = controls.scene((384, 320), 7)
    imgs = {
        "astro": astronaut,
        "scene": scene,
        "astro_cast": controls.color_cast(astronaut),
        "scene_cast": controls.color_cast(scene),
        "scene_scr": controls.scrambled(scene),
        "text_ok": render_text(["FRESH COFFEE"]),
        "text_bad": render_text(["FRXSH COFFKE"]),
    }
    p = {k: _save(v, root, k) for k, v in imgs.items()}
    t0 = datetime(2025, 3, 26, tzinfo=timezone.utc)
    samples = [
        ("s1", "Make me look like a Studio Ghibli character", "edit", [p["astro"]]),
        ("s2", "Add a small red boat to the lake", "edit", [p["scene"]]),
        ("s3", 'A chalkboard sign that says "FRESH COFFEE"', "text_to_image", []),
        ("s4", "Turn this into a black and white photo", "edit", [p["scene"]]),
    ]
    sdf = pl.DataFrame(
        [
            {"sample_id": sid, "split": "image_to_image", "thread_id": f"t{sid}", "created_at": t0, "lang": "en",
             "prompt": prompt, "prompt_modified": False, "task_type": task, "input_images": ins,
             "reference_outputs": [], "quality": "Benchmark", "label": "Benchmark", "feedback": [],
             "producer": "test"}
            for sid, prompt, task, ins in samples
        ],
        schema=SAMPLES,
    )
    outs = {
        "copy": {"s1": p["astro"], "s2": p["scene"], "s3": p["text_ok"], "s4": p["scene"]},
        "caster": {"s1": p["astro_cast"], "s2": p["scene_cast"], "s3": p["text_bad"], "s4": p["scene_scr"]},
        "broken": {"s2": p["scene"]},
    }
    gens = []
    for model, by_sid in outs.items():
        for sid, *_ in samples:
            out = by_sid.get(sid)
            gens.append({"split": "image_to_image", "model": model, "sample_id": sid,
                         "status": "ok" if out else "failed", "reason": None if out else "backend error",
                         "output_image": out, "sha256": None, "backend": "control", "seed": 0,
                         "latency_s": 0.0, "cost_usd": 0.0, "settings": "{}"})
    gdf = pl.DataFrame(gens, schema=GENERATIONS)
    sdf.write_parquet(root / "samples.parquet")
    gdf.write_parquet(root / "generations.parquet")
    return "samples.parquet", "generations.parquet", imgs


def _run(tmp: Path, inputs: dict, tag: str, **extra) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    outputs = {"values": f"out/{tag}/values.parquet", "table": f"out/{tag}/table.csv",
               "table_json": f"out/{tag}/table.json", "applicability": f"out/{tag}/applicability.parquet"}
    params = StageParams({"metrics": METRICS_PARAMS, **extra})
    summary = stage.run(inputs, outputs, params, LOG)
    values = read_parquet(tmp / outputs["values"], METRIC_VALUES)
    table = pl.read_csv(tmp / outputs["table"], schema=TABLE)
    return values, table, summary


@pytest.fixture(scope="module")
def split_dir(tmp_path_factory, astronaut, render_text):
    root = tmp_path_factory.mktemp("metrics_stage")
    s, g, imgs = build(root, astronaut, render_text)
    return root, {"samples": s, "generations": g}, imgs


@pytest.fixture(scope="module")
def full_run(split_dir):
    root, inputs, imgs = split_dir
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        values, table, summary = _run(root, inputs, "a")
    return values, table, summary


def _val(values, model, sid, metric):
    r = values.filter((pl.col("model") == model) & (pl.col("sample_id") == sid) & (pl.col("metric") == metric))
    assert r.height == 1
    return r.row(0, named=True)


def _tab(table, model, metric):
    return table.filter((pl.col("model") == model) & (pl.col("metric") == metric)).row(0, named=True)


def test_rows_and_statuses(full_run) -> None:
    values, table, summary = full_run
    assert values.height == 3 * 4 * 5  # models x samples x metrics
    # applicability
    assert _val(values, "copy", "s3", "color_shift")["status"] == "not_applicable"  # text-to-image
    assert _val(values, "copy", "s4", "color_shift")["status"] == "not_applicable"  # black and white asked
    assert _val(values, "copy", "s4", "structure_distance")["status"] == "ok"
    assert _val(values, "copy", "s2", "face_identity")["status"] == "not_applicable"  # no face, no person
    assert _val(values, "copy", "s1", "text_accuracy")["status"] == "not_applicable"
    reason = json.loads(_val(values, "copy", "s4", "color_shift")["detail"])["reason"]
    assert "black and white" in reason
    # a model without output
    r = _val(values, "broken", "s1", "face_identity")
    assert r["status"] == "no_output" and r["value"] is None
    assert json.loads(r["detail"])["generation_status"] == "failed"
    assert summary["applicable"] == {"color": 2, "face": 1, "structure": 3, "text": 1}


def test_known_answers_per_sample(full_run) -> None:
    values, _, _ = full_run
    assert _val(values, "copy", "s2", "color_shift")["value"] == 0.0
    assert _val(values, "copy", "s2", "structure_distance")["value"] == pytest.approx(0.0, abs=1e-9)
    assert _val(values, "caster", "s2", "color_shift")["value"] > 10
    assert _val(values, "caster", "s4", "structure_distance")["value"] > 10 * _val(
        values, "caster", "s2", "structure_distance")["value"]
    same = _val(values, "copy", "s1", "face_identity")
    assert same["status"] == "ok" and same["value"] > 0.999
    cast = json.loads(_val(values, "caster", "s1", "face_identity")["detail"])
    assert cast["same_person"] is True and cast["backend"].startswith("dlib")
    assert _val(values, "copy", "s3", "text_accuracy")["value"] == 1.0
    bad = _val(values, "caster", "s3", "text_accuracy")
    assert bad["value"] == pytest.approx(1 - 2 / 11, abs=0.05)
    d = json.loads(bad["detail"])
    assert d["target"] == ["FRESH COFFEE"] and d["oneig"]["score"] < 1 and d["mario"]["recall"] == 0.0  # both words misspelt


def test_table_pooled_color_shift_equals_the_naive_reference(full_run, split_dir) -> None:
    from test_color import naive_reference

    values, table, _ = full_run
    _, _, imgs = split_dir
    row = _tab(table, "caster", "color_shift")
    # inputs: every colour-applicable sample (s1, s2); outputs: the model's outputs on them
    want = naive_reference([imgs["astro"], imgs["scene"]], [imgs["astro_cast"], imgs["scene_cast"]])
    assert row["value"] == pytest.approx(want, abs=1e-9)
    assert row["n_ok"] == 2 and row["n_applicable"] == 2 and row["n_not_applicable"] == 2
    assert row["ci_low"] <= row["value"] <= row["ci_high"] or row["ci_low"] is None
    assert _tab(table, "copy", "color_shift")["value"] == 0.0
    # the model without outputs: pooled over nothing
    b = _tab(table, "broken", "color_shift")
    assert b["n_ok"] == 1 and b["n_no_output"] == 1
    assert _tab(table, "copy", "text_accuracy")["value"] > _tab(table, "caster", "text_accuracy")["value"]
    assert _tab(table, "caster", "structure_distance")["value"] > _tab(table, "copy", "structure_distance")["value"]
    extras = json.loads(_tab(table, "caster", "text_accuracy")["extras"])
    assert {"oneig_score", "mario_f", "word_recall"} <= set(extras)


def test_outputs_are_deterministic_and_wildcards_restrict(split_dir, full_run, monkeypatch) -> None:
    root, inputs, _ = split_dir
    monkeypatch.chdir(root)
    # the faster metrics again: equal bytes
    _run(root, inputs, "b", metric="color_shift")
    _run(root, inputs, "c", metric="color_shift")
    assert sha256_file(root / "out/b/values.parquet") == sha256_file(root / "out/c/values.parquet")
    assert (root / "out/b/table.csv").read_bytes() == (root / "out/c/table.csv").read_bytes()
    values, table, _ = _run(root, inputs, "d", metric="structure_distance", model="caster")
    assert set(values["metric"]) == {"structure_distance"} and set(values["model"]) == {"caster"}
    assert values.height == 4 and table.height == 1
    # the same values as in the full run
    full = full_run[0].filter((pl.col("metric") == "structure_distance") & (pl.col("model") == "caster"))
    np.testing.assert_allclose(values.sort("sample_id")["value"].fill_null(-1).to_numpy(),
                               full.sort("sample_id")["value"].fill_null(-1).to_numpy(), rtol=1e-5)
    app = read_parquet(root / "out/d/applicability.parquet")
    assert app.height == 4 * 4
    assert json.loads((root / "out/d/table.json").read_text())[0]["metric"] == "structure_distance"


def test_unreadable_image_is_failed_not_dropped(split_dir, monkeypatch, tmp_path) -> None:
    root, inputs, _ = split_dir
    monkeypatch.chdir(root)
    gens = pl.read_parquet(root / inputs["generations"]).with_columns(
        pl.when((pl.col("model") == "copy") & (pl.col("sample_id") == "s2"))
        .then(pl.lit("data/media/missing.png")).otherwise(pl.col("output_image")).alias("output_image")
    )
    gens.write_parquet(root / "gens_bad.parquet")
    values, _, _ = _run(root, {**inputs, "generations": "gens_bad.parquet"}, "e", metric="structure_distance")
    r = _val(values, "copy", "s2", "structure_distance")
    assert r["status"] == "failed" and "missing.png" in json.loads(r["detail"])["error"]


def test_undeclared_metric_wildcard_is_refused(split_dir, monkeypatch) -> None:
    root, inputs, _ = split_dir
    monkeypatch.chdir(root)
    with pytest.raises(ValueError, match="not in metrics.enabled"):
        _run(root, inputs, "f", metric="sharpness")


def test_vlm_text_reader_offline_and_through_the_sdk(split_dir, full_run, monkeypatch, text_judge_cleanup) -> None:
    from echo_bench.testing.api_stub import APIStub

    root, inputs, _ = split_dir
    monkeypatch.chdir(root)
    monkeypatch.setenv("ECHO_TEST_KEY", "sk-test")
    text = {**METRICS_PARAMS["text"], "reader": "vlm"}
    params = {"metrics": {**METRICS_PARAMS, "text": text}}
    outputs = {"values": "out/g/values.parquet", "table": "out/g/table.csv", "cache": "out/g/cache"}
    # offline: the heuristic transcribes with the OCR, so the OCR run's numbers come back
    stage.run(inputs, outputs, StageParams({**params, "metric": "text_accuracy"}), LOG)
    v = read_parquet(root / outputs["values"])
    ocr_run = full_run[0]
    for model in ("copy", "caster"):
        assert _val(v, model, "s3", "text_accuracy")["value"] == pytest.approx(
            _val(ocr_run, model, "s3", "text_accuracy")["value"])
        assert json.loads(_val(v, model, "s3", "text_accuracy")["detail"])["reader"] == "vlm"
    # a real backend (OpenAI SDK) against the loopback stub
    with APIStub(lambda call: {"rendered_text": "FRESH COFFEE", "accuracy": 0.9, "reason": "ok"}) as stub:
        text["llm"] = {"backend": "openai", "model": "vlm-stub", "base_url": stub.openai_base_url,
                       "api_key_env": "ECHO_TEST_KEY", "max_retries": 0}
        stage.run(inputs, outputs, StageParams({**params, "metric": "text_accuracy"}), LOG)
        assert stub.model_hits == 2  # one output image per model with output
        assert all(len(c.images) == 1 for c in stub.calls)
    v = read_parquet(root / outputs["values"])
    r = _val(v, "caster", "s3", "text_accuracy")
    d = json.loads(r["detail"])
    # the score comes from the VLM's transcription; its own accuracy claim stays in detail only
    assert r["value"] == 1.0 and d["backend"] == "openai/vlm-stub" and d["char_accuracy"] == 1.0
    assert d["vlm_accuracy_claim"] == 0.9


def test_color_input_pool_split_vs_paired() -> None:
    from echo_bench.metrics import color
    from echo_bench.metrics.runner import aggregate

    def row(sid, status, **d):
        return {"split": "x", "model": "m", "sample_id": sid, "metric": "color_shift",
                "value": 1.0 if status == "ok" else None, "status": status, "detail": json.dumps(d)}

    a_in = {"in_counts": [10, 10, 10], "in_sums": [1000, 1000, 1000]}  # mean 100
    b_in = {"in_counts": [10, 10, 10], "in_sums": [2000, 2000, 2000]}  # mean 200
    out = {"out_counts": [10, 10, 10], "out_sums": [1100, 1100, 1100]}  # mean 110
    values = pl.DataFrame([row("a", "ok", **a_in, **out), row("b", "no_output", **b_in)], schema=METRIC_VALUES)
    split = aggregate(values, input_pool="split", bootstrap=0).row(0, named=True)
    paired = aggregate(values, input_pool="paired", bootstrap=0).row(0, named=True)
    assert split["value"] == pytest.approx(color.color_shift_magnitude([150] * 3, [110] * 3))
    assert paired["value"] == pytest.approx(color.color_shift_magnitude([100] * 3, [110] * 3))
    assert json.loads(split["extras"])["n_inputs_pooled"] == 2 and split["n_no_output"] == 1


def test_merge_of_per_metric_shards_equals_the_single_run(split_dir, full_run, monkeypatch) -> None:
    root, inputs, _ = split_dir
    monkeypatch.chdir(root)
    shards = []
    for metric in ("color_shift", "structure_distance"):
        _run(root, inputs, f"shard-{metric}", metric=metric)
        shards.append(f"out/shard-{metric}/values.parquet")
    outs = {"values": "out/merged/values.parquet", "table": "out/merged/table.csv"}
    summary = stage.run({"values": shards}, outs, StageParams({"metrics": METRICS_PARAMS}), LOG)
    assert summary["shards"] == 2
    merged = pl.read_csv(root / outs["table"], schema=TABLE)
    full = full_run[1].filter(pl.col("metric").is_in(["color_shift", "structure_distance"]))
    for col in ("value", "n_ok", "n_applicable", "ci_low"):
        a = merged.sort("metric", "model")[col].fill_null(-1).to_list()
        b = full.sort("metric", "model")[col].fill_null(-1).to_list()
        assert a == pytest.approx(b, rel=1e-5, abs=1e-9), col
    with pytest.raises(ValueError, match="more than one shard"):
        stage.run({"values": shards + shards[:1]}, outs, StageParams({"metrics": METRICS_PARAMS}), LOG)


def test_applicability_mode_then_shards_reuse_it(split_dir, full_run, monkeypatch) -> None:
    root, inputs, _ = split_dir
    monkeypatch.chdir(root)
    p = StageParams({"metrics": METRICS_PARAMS})
    s = stage.run(inputs, {"applicability": "out/app/applicability.parquet"}, p, LOG)
    assert s["mode"] == "applicability" and s["applicable"] == {"color": 2, "face": 1, "structure": 3, "text": 1}
    values, _, _ = _run(root, {**inputs, "applicability": "out/app/applicability.parquet"}, "h",
                        metric="face_identity")
    full = full_run[0].filter(pl.col("metric") == "face_identity").sort("model", "sample_id")
    assert values.sort("model", "sample_id")["status"].to_list() == full["status"].to_list()
