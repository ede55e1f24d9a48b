"""The generate stage: one (split, model) pair from split Parquet to images and manifest; merging."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from echo_bench.generate.backends import BackendConfigError
from echo_bench.generate.hygiene import decode_rgb
from echo_bench.generate.run import merge_manifests, models_of, rule_inputs
from echo_bench.io import read_parquet, sha256_file
from echo_bench.runner import run_stage
from echo_bench.schemas import GENERATIONS
from echo_bench.stages import generate as stage

from gen_helpers import GENERATE_PARAMS, T2I_PROMPTS, stage_params

LOG = logging.getLogger("test.generate")


def _run(root: Path, split: str, model: str, generate=None, *, cache: bool = False) -> tuple[pl.DataFrame, dict, Path]:
    images = root / f"data/generated/{split}/{model}"
    outputs = {"manifest": str(root / f"data/generated/{split}/{model}.parquet"), "images": str(images)}
    if cache:
        outputs["cache"] = str(root / f"data/cache/generate/{model}")
    summary = stage.run({"samples": str(root / f"data/splits/{split}.parquet")}, outputs,
                        stage_params(split, model, generate), LOG)
    return read_parquet(outputs["manifest"], GENERATIONS), summary, images


@pytest.mark.parametrize("split", ["text_to_image", "image_to_image"])
def test_every_control_answers_every_sample(mini_repo, monkeypatch, split):
    root = mini_repo["root"]
    monkeypatch.chdir(root)
    for model in GENERATE_PARAMS["models"]:
        df, summary, images = _run(root, split, model)
        assert df.height == 3 and df["status"].to_list() == ["ok"] * 3, df
        assert summary["status_ok"] == 3 and summary["images_written"] == 3
        assert df["sample_id"].to_list() == sorted(df["sample_id"].to_list())
        assert sorted(p.name for p in images.iterdir()) == [f"{s}.png" for s in df["sample_id"]]
        for r in df.iter_rows(named=True):
            assert r["output_image"] == f"data/generated/{split}/{model}/{r['sample_id']}.png"  # repo-relative
            assert sha256_file(root / r["output_image"]) == r["sha256"]
            assert r["backend"] == "control" and r["latency_s"] is None and r["cost_usd"] == 0.0
            settings = json.loads(r["settings"])
            assert settings["control"] == model and settings["model"] == model and settings["seed"] == 20250325
            assert settings["info"]["control"] == model
            assert r["seed"] is not None


def test_identity_through_the_stage_is_pixel_exact(mini_repo, monkeypatch):
    root = mini_repo["root"]
    monkeypatch.chdir(root)
    df, _, _ = _run(root, "image_to_image", "identity")
    by = {r["sample_id"]: r for r in df.iter_rows(named=True)}
    # i2i_000's input is a JPEG: the output holds exactly its decoded pixels
    assert np.array_equal(decode_rgb(root / by["i2i_000"]["output_image"]), decode_rgb(root / mini_repo["astronaut"]))
    # i2i_002 has two inputs: the first one (Grace Hopper) comes back
    assert np.array_equal(decode_rgb(root / by["i2i_002"]["output_image"]), decode_rgb(root / mini_repo["grace"]))


def test_typo_manifest_records_the_known_error_rate(mini_repo, monkeypatch):
    from rapidfuzz.distance import Levenshtein

    root = mini_repo["root"]
    monkeypatch.chdir(root)
    df, _, _ = _run(root, "text_to_image", "typo")
    for r in df.iter_rows(named=True):
        info = json.loads(r["settings"])["info"]
        req, got = info["requested_text"], info["rendered_text"]
        assert abs(Levenshtein.distance(req, got) / len(req) - 0.2) <= 0.5 / len(req) + 1e-12
    mug = json.loads(df.filter(pl.col("sample_id") == "t2i_002")["settings"][0])["info"]
    assert mug["requested_text"] == "Best Dad Ever" and mug["text_source"] == "quoted"


def test_reruns_are_byte_identical_and_replace_stale_images(mini_repo, monkeypatch):
    root = mini_repo["root"]
    monkeypatch.chdir(root)
    _, _, images = _run(root, "image_to_image", "scramble")
    (images / "stale_sample.png").write_bytes(b"old")
    first = Path(root / "data/generated/image_to_image/scramble.parquet").read_bytes()
    hashes = {p.name: sha256_file(p) for p in images.iterdir() if p.name != "stale_sample.png"}
    _run(root, "image_to_image", "scramble")
    assert Path(root / "data/generated/image_to_image/scramble.parquet").read_bytes() == first
    assert {p.name: sha256_file(p) for p in images.iterdir()} == hashes  # stale file gone, rest identical
    assert not list(images.parent.glob(".scramble*"))  # no staging leftovers
    # another seed: other outputs
    other = {**GENERATE_PARAMS, "seed": 1}
    df2, _, _ = _run(root, "image_to_image", "scramble", other)
    assert set(df2["sha256"]) != set(hashes.values())


def test_missing_input_images_are_recorded_not_fatal(mini_repo, monkeypatch):
    root = mini_repo["root"]
    monkeypatch.chdir(root)
    (root / mini_repo["grace"]).unlink()
    df, summary, _ = _run(root, "image_to_image", "identity")
    by = {r["sample_id"]: r for r in df.iter_rows(named=True)}
    assert by["i2i_000"]["status"] == "ok"
    assert by["i2i_001"]["status"] == "failed" and by["i2i_001"]["reason"].startswith("input_missing: data/media/")
    assert by["i2i_001"]["output_image"] is None and by["i2i_001"]["sha256"] is None
    assert summary["status_failed"] == 2 and summary["reasons"] == {"input_missing": 2}


def test_size_policy_applies_to_outputs(mini_repo, monkeypatch):
    root = mini_repo["root"]
    monkeypatch.chdir(root)
    small = {**GENERATE_PARAMS, "image": {"max_side": 100, "resample": "lanczos", "compress_level": 6}}
    df, _, _ = _run(root, "image_to_image", "identity", small)
    for r in df.iter_rows(named=True):
        px = decode_rgb(root / r["output_image"])
        assert max(px.shape[:2]) == 100
        assert "resized_from" in json.loads(r["settings"])["info"]


def test_config_errors_raise_before_generating(mini_repo, monkeypatch):
    root = mini_repo["root"]
    monkeypatch.chdir(root)
    bad = json.loads(json.dumps(GENERATE_PARAMS))
    bad["models"]["identity"]["blocksize"] = 3
    with pytest.raises(BackendConfigError, match="unknown keys"):
        _run(root, "image_to_image", "identity", bad)
    bad["models"] = {"x.y": {"backend": "control", "control": "identity"}}
    with pytest.raises(KeyError):
        _run(root, "image_to_image", "x.y", bad)  # a dotted name cannot even be looked up
    bad["models"] = {"weird": {"backend": "dalle"}}
    with pytest.raises(BackendConfigError, match="unknown backend"):
        _run(root, "image_to_image", "weird", bad)
    with pytest.raises(KeyError, match="not declared"):
        stage.run({"samples": "x"}, {}, __import__("echo_bench.params", fromlist=["StageParams"]).StageParams(
            {"split": "a", "model": "identity"}), LOG)


def test_merge_of_per_model_manifests_and_runner(mini_repo, monkeypatch):
    root = mini_repo["root"]
    monkeypatch.chdir(root)
    paths = []
    for split in ("text_to_image", "image_to_image"):
        for model in ("identity", "typo"):
            _run(root, split, model)
            paths.append(f"data/generated/{split}/{model}.parquet")
    merged = merge_manifests(paths)
    assert merged.height == 12
    assert merged.select("split", "model", "sample_id").rows() == sorted(merged.select("split", "model", "sample_id").rows())
    with pytest.raises(ValueError, match="appear twice"):
        merge_manifests(paths + paths[:1])
    summary = run_stage("generate", {"manifests": paths}, {"generations": "data/generations.parquet",
                                                             "summary": "results/stages/generate_merge.json"}, {})
    assert summary["rows"] == 12 and summary["mode"] == "merge"
    assert read_parquet("data/generations.parquet", GENERATIONS).equals(merged)
    assert json.loads(Path("results/stages/generate_merge.json").read_text())["manifests"] == 4


def test_rule_helpers():
    cfg = {"models": {"identity": {"backend": "control"}, "mine": {"backend": "import", "path": "data/external/mine"},
                      "other": {"backend": "import", "path": "outs/{split}/v2"}}}
    assert models_of(cfg) == ["identity", "mine", "other"]
    assert rule_inputs(cfg, "text_to_image", "identity") == {}
    assert rule_inputs(cfg, "text_to_image", "mine") == {"import_dir": "data/external/mine/text_to_image"}
    assert rule_inputs(cfg, "image_to_image", "other") == {"import_dir": "outs/image_to_image/v2"}


def test_prompts_fixture_is_what_the_splits_hold(mini_repo):
    df = read_parquet(mini_repo["splits"] / "text_to_image.parquet")
    assert dict(zip(df["sample_id"], df["prompt"])) == T2I_PROMPTS


class _Named(dict):
    """A stand-in for Snakemake's Namedlist: named items, plus len()."""

    def items(self):  # noqa: D102
        return super().items()


def test_through_the_runner_as_snakemake_calls_it(mini_repo, monkeypatch):
    from types import SimpleNamespace

    from echo_bench.runner import run_from_snakemake

    root = mini_repo["root"]
    monkeypatch.chdir(root)
    smk = SimpleNamespace(
        rule="generate",
        input=_Named(samples="data/splits/image_to_image.parquet"),
        output=_Named(manifest="data/generated/manifests/image_to_image/face_swap.parquet",
                      images="data/generated/image_to_image/face_swap"),
        params=_Named(cfg={"generate": GENERATE_PARAMS}, cache="data/cache/generate"),
        wildcards=_Named(split="image_to_image", model="face_swap"),
        log=[],
    )
    run_from_snakemake(smk)
    df = read_parquet("data/generated/manifests/image_to_image/face_swap.parquet", GENERATIONS)
    assert df["status"].to_list() == ["ok"] * 3 and df["model"].unique().to_list() == ["face_swap"]
    assert Path("data/cache/generate").is_dir()  # created, empty: controls are never cached
    merge = SimpleNamespace(
        rule="generations",
        input=_Named(manifests=["data/generated/manifests/image_to_image/face_swap.parquet"], imports=[]),
        output=_Named(generations="data/generated/generations.parquet", summary="results/stages/generate.json"),
        params=_Named(cfg={}, stage="generate"),
        wildcards=_Named(),
        log=[],
    )
    run_from_snakemake(merge)
    assert read_parquet("data/generated/generations.parquet", GENERATIONS).equals(df)
    assert json.loads(Path("results/stages/generate.json").read_text())["rows"] == 3
