"""The release export on small hand-made tables: layout, card, loading with polars and `datasets`, determinism."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest
from PIL import Image

from echo_bench.io import write_json, write_parquet
from echo_bench.metrics.applicability import APPLICABILITY
from echo_bench.release import loader
from echo_bench.release.card import FIELDS
from echo_bench.release.export import SPLITS, ReleaseInputs, ReleaseSettings, export
from echo_bench.schemas import GENERATIONS, JUDGMENTS, METRIC_VALUES, SAMPLES

T0 = datetime(2025, 3, 27, 12, 0, tzinfo=timezone.utc)


def _png(color: tuple[int, int, int], size=(16, 12)) -> bytes:
    b = io.BytesIO()
    Image.new("RGB", size, color).save(b, "PNG")
    return b.getvalue()


def _store(root: Path, data: bytes, folder="data/media") -> str:
    sha = hashlib.sha256(data).hexdigest()
    p = root / folder / f"{sha}.png"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p.relative_to(root).as_posix()


def build_inputs(root: Path) -> ReleaseInputs:
    """Three splits (2, 3, 2 samples), two models, one judge, one metric: files under ``root``."""
    sizes = {"analysis": 2, "text_to_image": 3, "image_to_image": 2}
    paths, gens, judg, vals, apps = {}, [], [], [], {}
    k = 0
    for split, n in sizes.items():
        rows = []
        for i in range(n):
            k += 1
            sid = f"{split[:3]}{i:02d}"
            inputs = [_store(root, _png((10 * k, 5, 5)))] if split == "image_to_image" else []
            ref = [_store(root, _png((5, 10 * k, 5)))]
            rows.append({"sample_id": sid, "split": split, "thread_id": f"t{k}", "created_at": T0, "lang": "en",
                         "prompt": f"make a poster {k}", "prompt_modified": False,
                         "task_type": "edit" if inputs else "text_to_image", "input_images": inputs,
                         "reference_outputs": ref, "quality": "Benchmark", "label": "Benchmark",
                         "feedback": [{"post_id": f"p{k}", "text": "nice"}], "producer": "extract=offline-heuristic"})
            if split == "analysis":
                continue
            for m, score in (("good", 8.0), ("bad", 3.0)):
                out = _store(root, _png((k, 100 if m == "good" else 200, 9)), f"data/generated/{split}/{m}")
                gens.append({"split": split, "model": m, "sample_id": sid, "status": "ok", "reason": None,
                             "output_image": out, "sha256": "x", "backend": "control", "seed": 1, "latency_s": None,
                             "cost_usd": None, "settings": "{}"})
                judg.append({"split": split, "sample_id": sid, "model": m, "judge": "offline", "backend": "offline",
                             "template": "judge_single@v1", "repeat": 0, "raw": f"Rating: [[{score}]]", "score": score,
                             "status": "ok", "error": None})
                vals.append({"split": split, "model": m, "sample_id": sid, "metric": "color_shift",
                             "value": 1.0 if m == "good" else 9.0, "status": "ok", "detail": "{}"})
        df = pl.DataFrame(rows, schema=SAMPLES)
        paths[split] = root / "data/splits" / f"{split}.parquet"
        write_parquet(df, paths[split], SAMPLES)
        if split != "analysis":
            apps[split] = root / "data/metrics/applicability" / f"{split}.parquet"
            write_parquet(pl.DataFrame([{"sample_id": r["sample_id"], "family": "color", "applicable": True,
                                         "reason": "r", "target_text": [], "backend": "offline-rules"} for r in rows],
                                       schema=APPLICABILITY), apps[split], APPLICABILITY)
    write_parquet(pl.DataFrame(gens, schema=GENERATIONS), root / "gen.parquet", GENERATIONS)
    jpaths = {}
    for split in ("text_to_image", "image_to_image"):
        jpaths[split] = root / "data/judge" / f"{split}.parquet"
        write_parquet(pl.DataFrame([j for j in judg if j["split"] == split], schema=JUDGMENTS), jpaths[split], JUDGMENTS)
    write_parquet(pl.DataFrame(vals, schema=METRIC_VALUES), root / "values.parquet", METRIC_VALUES)
    write_json(root / "winrates.json", {s: {"split": s, "prompts": sizes[s], "top_model": "good", "offline_only": True,
                                            "win_rate": {"good": 1.0, "bad": 0.0}} for s in ("text_to_image", "image_to_image")})
    write_json(root / "table.json", [{"split": "text_to_image", "model": "good", "metric": "color_shift", "value": 1.0}])
    return ReleaseInputs(splits={k: str(v) for k, v in paths.items()}, generations=str(root / "gen.parquet"),
                         judgments={k: str(v) for k, v in jpaths.items()}, metric_values=str(root / "values.parquet"),
                         applicability={k: str(v) for k, v in apps.items()}, winrates=str(root / "winrates.json"),
                         metrics_table=str(root / "table.json"))


INFO = {"name": "tiny", "version": "0.0.1", "model_of_interest": "GPT-4o image generation",
        "licenses": {"spdx": "other", "metadata": "CC-BY-4.0"},
        "curation_backends": {"extract": "offline", "finalize": "openai/gpt-4o"},
        "metric_backends": {"structure_distance": "offline"}, "settings": {"judge": {"repeats": 1}}}


@pytest.fixture()
def released(tmp_path: Path) -> tuple[Path, dict]:
    ri = build_inputs(tmp_path)
    doc = export(ri, tmp_path / "data/release", settings=ReleaseSettings(images="embed"), info=INFO, root=tmp_path)
    return tmp_path / "data/release", doc


def test_layout_counts_and_checksums(released):
    rel, doc = released
    assert doc["counts"]["samples"] == {"analysis": 2, "text_to_image": 3, "image_to_image": 2}
    assert doc["counts"]["outputs"] == {"text_to_image": 6, "image_to_image": 4}
    # 7 reference outputs + 2 inputs + 10 model outputs, all distinct
    assert doc["counts"]["images"] == 19
    for rel_path in ("README.md", "samples/analysis.parquet", "outputs/text_to_image.parquet",
                     "judgments/image_to_image.parquet", "metric_values/text_to_image.parquet",
                     "applicability/image_to_image.parquet", "results/winrates.json"):
        assert (rel / rel_path).is_file(), rel_path
    assert loader.verify(rel) == []
    (rel / "samples/analysis.parquet").write_bytes(b"tampered")
    assert loader.verify(rel) == ["samples/analysis.parquet"]


def test_polars_reads_embedded_images(released):
    rel, _ = released
    df = loader.load_split(rel, "image_to_image")
    assert df.height == 2
    first = df["input_images"][0][0]
    img = Image.open(io.BytesIO(first["bytes"]))
    assert img.size == (16, 12)
    assert first["path"].endswith(".png") and len(Path(first["path"]).stem) == 64
    # the embedded bytes are the original file's (content-addressed name = sha256 of the bytes)
    assert hashlib.sha256(first["bytes"]).hexdigest() == Path(first["path"]).stem
    outs = loader.load_split(rel, "text_to_image", "outputs")
    assert sorted(set(outs["model"].to_list())) == ["bad", "good"]
    assert all(v["bytes"] for v in outs["output_image"].to_list())


def test_datasets_load_dataset_decodes_images(released, tmp_path):
    datasets = pytest.importorskip("datasets")
    rel, _ = released
    files = {s: str(rel / "samples" / f"{s}.parquet") for s in SPLITS}
    ds = datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "hf"))
    assert {s: ds[s].num_rows for s in SPLITS} == {"analysis": 2, "text_to_image": 3, "image_to_image": 2}
    row = ds["image_to_image"][0]
    assert isinstance(row["input_images"][0], Image.Image)
    assert row["input_images"][0].size == (16, 12)
    assert isinstance(ds["text_to_image"][1]["reference_outputs"][0], Image.Image)
    outs = loader.load_hf(rel, "outputs")
    assert outs["image_to_image"].num_rows == 4
    assert isinstance(outs["image_to_image"][0]["output_image"], Image.Image)
    # the folder itself (card YAML configs) loads too
    by_card = datasets.load_dataset(str(rel), "samples", cache_dir=str(tmp_path / "hf2"))
    assert by_card["analysis"].num_rows == 2


def test_card_names_backends_offline_parts_and_every_field(released):
    rel, doc = released
    card = (rel / "README.md").read_text()
    assert card.startswith("---\n")
    assert "config_name: samples" in card and "path: samples/text_to_image.parquet" in card
    assert "curation stage extract: offline heuristic rules (no LLM)" in card
    assert "finalize" in card and "openai/gpt-4o" in card
    assert "model good: control model" in card
    assert "judge offline: offline heuristic judge" in card
    for config, cols in FIELDS.items():
        for col in cols:
            assert f"`{col}`" in card, (config, col)
    assert "CC-BY-4.0" in card
    assert len(doc["settings_sha256"]) == 64 and doc["settings_sha256"] in card


def test_export_is_byte_identical_and_reference_mode(tmp_path):
    ri = build_inputs(tmp_path)
    a = export(ri, tmp_path / "a", settings=ReleaseSettings(), info=INFO, root=tmp_path)
    b = export(ri, tmp_path / "b", settings=ReleaseSettings(), info=INFO, root=tmp_path)
    assert a["files"] == b["files"]
    assert (tmp_path / "a/release.json").read_bytes() == (tmp_path / "b/release.json").read_bytes()
    r = export(ri, tmp_path / "r", settings=ReleaseSettings(images="reference"), info=INFO, root=tmp_path)
    assert r["counts"]["images"] == a["counts"]["images"]
    df = loader.load_split(tmp_path / "r", "image_to_image")
    ref = df["input_images"][0][0]
    assert isinstance(ref, str) and ref.startswith("images/")
    assert loader.image_bytes(tmp_path / "r", ref) == loader.image_bytes(tmp_path / "a", loader.load_split(
        tmp_path / "a", "image_to_image")["input_images"][0][0])
    assert loader.verify(tmp_path / "r") == []


def test_missing_image_is_an_error(tmp_path):
    ri = build_inputs(tmp_path)
    victim = pl.read_parquet(ri.splits["text_to_image"])["reference_outputs"][0][0]
    (tmp_path / victim).unlink()
    with pytest.raises(FileNotFoundError, match="missing"):
        export(ri, tmp_path / "x", settings=ReleaseSettings(), info=INFO, root=tmp_path)


def test_materialize_samples_round_trips(released, tmp_path):
    rel, _ = released
    df = loader.materialize_samples(rel, "image_to_image", tmp_path / "work")
    assert df.schema == SAMPLES
    p = Path(df["input_images"][0][0])
    assert p.is_file() and hashlib.sha256(p.read_bytes()).hexdigest() == p.stem
    json.dumps(loader.info(rel))


def test_card_names_the_dumps_it_was_built_from(tmp_path):
    ri = build_inputs(tmp_path)
    info = dict(INFO, sources=[{"path": "data/raw/my_dump", "format": "twscrape"},
                               {"path": "data/raw/sample", "format": "auto"}])
    export(ri, tmp_path / "rel", settings=ReleaseSettings(), info=info, root=tmp_path)
    card = (tmp_path / "rel" / "README.md").read_text()
    assert "## Built from" in card and "`data/raw/my_dump`, format twscrape" in card
    assert "`data/raw/sample`, format auto (the embedded synthetic sample" in card
    export(ri, tmp_path / "bare", settings=ReleaseSettings(), info=INFO, root=tmp_path)
    assert "raw dumps of this release were not recorded" in (tmp_path / "bare" / "README.md").read_text()
