"""Export the benchmark as a release: Parquet files (images embedded or referenced), a card, checksums.

Layout of a release folder (``data/release/`` in the pipeline)::

    README.md                       the dataset card (YAML header: Hugging Face configs)
    release.json                    machine-readable: counts, settings, backends, sha256 of every file
    samples/<split>.parquet         config "samples": analysis, text_to_image, image_to_image
    outputs/<split>.parquet         config "outputs": every released model's output per benchmark sample
    judgments/<split>.parquet       config "judgments": every judge's verbatim judgment and score
    metric_values/<split>.parquet   config "metric_values": community-driven metric values per output
    applicability/<split>.parquet   config "applicability": which metric applies to which sample
    results/winrates.json           headline win rates (as the pipeline's DVC metrics)
    results/metrics_table.json      per-model metric aggregates
    images/...                      only with ``images: reference``: the image files, by content hash

Image columns (``input_images``, ``reference_outputs`` of the samples, ``output_image`` of the
outputs) are, with ``images: embed``, Hugging Face ``Image`` values: a struct ``{bytes, path}``
whose ``path`` is the file's content-addressed name; the Parquet schema carries the
``huggingface`` features metadata so ``datasets`` decodes them to PIL images.  With
``images: reference`` they are strings, paths relative to the release folder.

Everything written is a function of the inputs and settings only (no times, no host names),
so two runs give byte-identical files.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from echo_bench.io import atomic_path, read_json, read_parquet, sha256_file, write_json
from echo_bench.schemas import GENERATIONS, JUDGMENTS, METRIC_VALUES, SAMPLES

SPLITS = ("analysis", "text_to_image", "image_to_image")
BENCHMARK_SPLITS = ("text_to_image", "image_to_image")
IMAGE_MODES = ("embed", "reference")

#: (config name, folder, splits it has) in the order the card lists them.
CONFIGS = (
    ("samples", "samples", SPLITS),
    ("outputs", "outputs", BENCHMARK_SPLITS),
    ("judgments", "judgments", BENCHMARK_SPLITS),
    ("metric_values", "metric_values", BENCHMARK_SPLITS),
    ("applicability", "applicability", BENCHMARK_SPLITS),
)

#: Image columns per config: column -> True when it holds a list of images.
IMAGE_COLUMNS = {
    "samples": {"input_images": True, "reference_outputs": True},
    "outputs": {"output_image": False},
}

#: Columns the release adds or renames with respect to the pipeline's tables.
OUTPUT_RELEASE_COLUMNS = ("output_path",)


@dataclass(frozen=True)
class ReleaseSettings:
    images: str = "embed"  # embed | reference
    row_group_size: int = 100  # rows per Parquet row group (images make rows large)
    compression_level: int = 3  # zstd

    def __post_init__(self) -> None:
        if self.images not in IMAGE_MODES:
            raise ValueError(f"release.images must be one of {IMAGE_MODES}, got {self.images!r}")
        if self.row_group_size < 1:
            raise ValueError("release.row_group_size must be >= 1")


# --- arrow / Hugging Face types ---------------------------------------------------------------------

IMAGE_STRUCT = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def _plain(t: pa.DataType) -> pa.DataType:
    """The arrow type with large/view variants replaced by the plain ones every reader knows."""
    if pa.types.is_large_string(t) or pa.types.is_string_view(t) or pa.types.is_string(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t) or pa.types.is_binary(t):
        return pa.binary()
    if pa.types.is_large_list(t) or pa.types.is_list(t) or pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
        return pa.list_(_plain(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _plain(f.type)) for f in t])
    return t


def hf_feature(t: pa.DataType) -> Any:
    """The Hugging Face ``datasets`` feature dict of a (plain) arrow type."""
    if t == IMAGE_STRUCT:
        raise AssertionError("image columns are declared explicitly")
    if pa.types.is_list(t):
        return {"feature": hf_feature(t.value_type), "_type": "List"}
    if pa.types.is_struct(t):
        return {f.name: hf_feature(f.type) for f in t}
    if pa.types.is_timestamp(t):
        dtype = f"timestamp[{t.unit}" + (f", tz={t.tz}]" if t.tz else "]")
        return {"dtype": dtype, "_type": "Value"}
    names = {pa.string(): "string", pa.binary(): "binary", pa.bool_(): "bool", pa.int32(): "int32",
             pa.int64(): "int64", pa.float64(): "float64", pa.float32(): "float32"}
    if t in names:
        return {"dtype": names[t], "_type": "Value"}
    raise TypeError(f"no Hugging Face feature for arrow type {t}")


def to_arrow(df: pl.DataFrame, image_columns: Mapping[str, bool], embed: bool) -> pa.Table:
    """``df`` as an arrow table with plain types and the ``huggingface`` features metadata."""
    table = df.to_arrow()
    fields, features = [], {}
    for f in table.schema:
        if embed and f.name in image_columns:
            t = pa.list_(IMAGE_STRUCT) if image_columns[f.name] else IMAGE_STRUCT
            feat: Any = {"_type": "Image"}
            features[f.name] = {"feature": feat, "_type": "List"} if image_columns[f.name] else feat
        else:
            t = _plain(f.type)
            features[f.name] = hf_feature(t)
        fields.append(pa.field(f.name, t))
    schema = pa.schema(fields)
    table = table.cast(schema)
    meta = {b"huggingface": json.dumps({"info": {"features": features}}, sort_keys=False).encode("utf-8")}
    return table.replace_schema_metadata(meta)


def write_table(table: pa.Table, path: str | os.PathLike[str], settings: ReleaseSettings) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", compression_level=settings.compression_level,
                       row_group_size=settings.row_group_size, write_statistics=True)


# --- images ---------------------------------------------------------------------------------------------


class ImageResolver:
    """Reads image files named by repo-relative paths and hands them out embedded or referenced."""

    def __init__(self, root: str | os.PathLike[str], dest: Path, settings: ReleaseSettings) -> None:
        self.root = Path(root)
        self.dest = dest
        self.embed = settings.images == "embed"
        self.count = 0
        self.bytes = 0
        self.missing: list[str] = []
        self._seen: set[str] = set()

    def _file(self, ref: str) -> Path:
        p = Path(ref)
        return p if p.is_absolute() else self.root / p

    def one(self, ref: str | None, name: str | None = None) -> Any:
        """One image: a ``{bytes, path}`` struct (embed) or a release-relative path (reference)."""
        if ref is None:
            return None
        src = self._file(ref)
        name = name or Path(ref).name
        if not src.is_file():
            self.missing.append(ref)
            return None
        if ref not in self._seen:
            self._seen.add(ref)
            self.count += 1
            self.bytes += src.stat().st_size
        if self.embed:
            return {"bytes": src.read_bytes(), "path": name}
        rel = f"images/{name}"
        target = self.dest / rel
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(target) as tmp:
                shutil.copyfile(src, tmp)
        return rel

    def many(self, refs: Sequence[str] | None) -> list[Any]:
        return [self.one(r) for r in (refs or [])]


def _image_dtype(embed: bool, is_list: bool) -> pl.DataType:
    one: pl.DataType = pl.Struct({"bytes": pl.Binary, "path": pl.Utf8}) if embed else pl.Utf8
    return pl.List(one) if is_list else one


def release_samples(samples: pl.DataFrame, images: ImageResolver) -> pl.DataFrame:
    """A split's SAMPLES rows, sorted by sample_id, with the image columns embedded or referenced."""
    df = samples.select(SAMPLES.names()).sort("sample_id")
    cols = {}
    for col in IMAGE_COLUMNS["samples"]:
        cols[col] = pl.Series(col, [images.many(v) for v in df[col].to_list()],
                              dtype=_image_dtype(images.embed, True))
    return df.with_columns(**cols)


def release_outputs(generations: pl.DataFrame, split: str, images: ImageResolver) -> pl.DataFrame:
    """The GENERATIONS rows of one split, the image as ``output_image``, its original path as ``output_path``."""
    df = generations.select(GENERATIONS.names()).filter(pl.col("split") == split).sort("model", "sample_id")
    names = [f"outputs/{r['split']}/{r['model']}/{r['sample_id']}{Path(r['output_image']).suffix}"
             if r["output_image"] else None for r in df.select("split", "model", "sample_id", "output_image").iter_rows(named=True)]
    values = [images.one(p, n) for p, n in zip(df["output_image"].to_list(), names)]
    return df.with_columns(
        pl.col("output_image").alias("output_path"),
        pl.Series("output_image", values, dtype=_image_dtype(images.embed, False)),
    ).select([*GENERATIONS.names(), *OUTPUT_RELEASE_COLUMNS])


# --- the release ----------------------------------------------------------------------------------------


@dataclass
class ReleaseInputs:
    """Paths of the pipeline's tables a release is made of."""

    splits: Mapping[str, str]  # split name -> SAMPLES Parquet
    generations: str | None = None  # GENERATIONS Parquet (all models, benchmark splits)
    judgments: Mapping[str, str] | None = None  # split -> JUDGMENTS Parquet
    metric_values: str | None = None  # METRIC_VALUES Parquet (all splits)
    applicability: Mapping[str, str] | None = None  # split -> APPLICABILITY Parquet
    winrates: str | None = None  # headline JSON (results/metrics/winrates.json)
    metrics_table: str | None = None  # per-model metric table JSON (results/metrics/table.json)


def export(
    inputs: ReleaseInputs,
    dest: str | os.PathLike[str],
    *,
    settings: ReleaseSettings,
    info: Mapping[str, Any],
    root: str | os.PathLike[str] = ".",
) -> dict[str, Any]:
    """Write the release folder ``dest`` (replaced as a whole); return its ``release.json`` document.

    ``info`` holds what the card says beyond the tables: name, version, description, licenses,
    curation backends, settings (see :func:`echo_bench.release.card.render`).
    """
    from echo_bench.metrics.applicability import APPLICABILITY
    from echo_bench.release.card import render

    dest = Path(dest)
    build = dest.parent / f".{dest.name}.building"
    if build.exists():
        shutil.rmtree(build)
    build.mkdir(parents=True)
    images = ImageResolver(root, build, settings)
    embed = settings.images == "embed"
    tables: dict[str, dict[str, pl.DataFrame]] = {}

    def put(config: str, split: str, df: pl.DataFrame) -> None:
        tables.setdefault(config, {})[split] = df
        folder = dict((c, f) for c, f, _ in CONFIGS)[config]
        write_table(to_arrow(df, IMAGE_COLUMNS.get(config, {}), embed), build / folder / f"{split}.parquet", settings)

    for split in SPLITS:
        if split not in inputs.splits:
            raise ValueError(f"release: no table for split {split!r}")
        put("samples", split, release_samples(read_parquet(inputs.splits[split], SAMPLES), images))
    present = [s for s in BENCHMARK_SPLITS]
    if inputs.generations:
        gens = read_parquet(inputs.generations, GENERATIONS)
        for split in present:
            put("outputs", split, release_outputs(gens, split, images))
    if inputs.judgments:
        for split in present:
            put("judgments", split, read_parquet(inputs.judgments[split], JUDGMENTS)
                .sort("sample_id", "model", "judge", "repeat"))
    if inputs.metric_values:
        values = read_parquet(inputs.metric_values, METRIC_VALUES)
        for split in present:
            put("metric_values", split, values.filter(pl.col("split") == split)
                .sort("model", "sample_id", "metric"))
    if inputs.applicability:
        for split in present:
            put("applicability", split, read_parquet(inputs.applicability[split], APPLICABILITY)
                .sort("sample_id", "family"))
    results: dict[str, Any] = {}
    if inputs.winrates:
        results["winrates"] = read_json(inputs.winrates)
        write_json(build / "results" / "winrates.json", results["winrates"])
    if inputs.metrics_table:
        results["metrics_table"] = read_json(inputs.metrics_table)
        write_json(build / "results" / "metrics_table.json", results["metrics_table"])

    if images.missing:
        raise FileNotFoundError(
            f"release: {len(images.missing)} image files referenced by the tables are missing, "
            f"e.g. {sorted(set(images.missing))[:3]}")

    doc = describe(tables, results, info, settings, images)
    card = render(doc, tables)
    with atomic_path(build / "README.md") as tmp:
        tmp.write_text(card, encoding="utf-8")
    doc["files"] = {p.relative_to(build).as_posix(): sha256_file(p)
                    for p in sorted(build.rglob("*")) if p.is_file()}
    write_json(build / "release.json", doc)
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(build, dest)
    return doc


def describe(tables: Mapping[str, Mapping[str, pl.DataFrame]], results: Mapping[str, Any], info: Mapping[str, Any],
             settings: ReleaseSettings, images: ImageResolver) -> dict[str, Any]:
    """Counts, backends and settings of a release: the content of ``release.json`` (without the file list)."""
    samples = tables["samples"]
    counts: dict[str, Any] = {"samples": {s: samples[s].height for s in SPLITS}}
    counts["samples_by_task_type"] = {
        s: dict(sorted(samples[s].group_by("task_type").len().rows())) for s in SPLITS}
    counts["images"] = images.count
    counts["image_bytes"] = images.bytes
    backends: dict[str, Any] = {
        "curation": dict(info.get("curation_backends", {})),
        "sample_producers": sorted({p for s in SPLITS for p in samples[s]["producer"].drop_nulls().to_list()}),
    }
    if "outputs" in tables:
        frames = list(tables["outputs"].values())
        gens = pl.concat(frames) if frames else pl.DataFrame(schema={**GENERATIONS, "output_path": pl.Utf8})
        models = {}
        for (model,), part in sorted(gens.group_by("model"), key=lambda kv: kv[0][0]):
            models[model] = {
                "backend": sorted(set(part["backend"].to_list())),
                "status": dict(sorted(part.group_by("status").len().rows())),
            }
        backends["models"] = models
        counts["outputs"] = {s: tables["outputs"][s].height for s in tables["outputs"]}
    if "judgments" in tables:
        frames = list(tables["judgments"].values())
        j = pl.concat(frames)
        backends["judges"] = {
            name: {"backend": sorted(set(part["backend"].to_list())), "template": sorted(set(part["template"].to_list())),
                   "status": dict(sorted(part.group_by("status").len().rows()))}
            for (name,), part in sorted(j.group_by("judge"), key=lambda kv: kv[0][0])}
        counts["judgments"] = {s: tables["judgments"][s].height for s in tables["judgments"]}
    if "metric_values" in tables:
        counts["metric_values"] = {s: tables["metric_values"][s].height for s in tables["metric_values"]}
    if "applicability" in tables:
        frames = list(tables["applicability"].values())
        backends["applicability"] = sorted(set(pl.concat(frames)["backend"].to_list()))
    backends["metrics"] = dict(info.get("metric_backends", {}))
    return {
        "name": info.get("name"),
        "version": info.get("version"),
        "model_of_interest": info.get("model_of_interest"),
        "images": settings.images,
        "counts": counts,
        "backends": backends,
        "offline": offline_parts(backends),
        "settings": dict(info.get("settings", {})),
        "settings_sha256": settings_hash(info.get("settings", {})),
        "licenses": dict(info.get("licenses", {})),
        "sources": [dict(d) for d in info.get("sources", [])],
        "headline": _headline(results.get("winrates")),
    }


def settings_hash(settings: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of the recorded settings: names the configuration, not the run."""
    import hashlib

    blob = json.dumps(settings, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _headline(winrates: Mapping[str, Any] | None) -> dict[str, Any]:
    if not winrates:
        return {}
    return {split: {"top_model": h.get("top_model"), "win_rate": h.get("win_rate"), "prompts": h.get("prompts"),
                    "offline_only": h.get("offline_only")} for split, h in sorted(winrates.items())}


def is_offline(backend: str) -> bool:
    b = str(backend).lower()
    return b.startswith("offline") or "offline" in b.split("/")[0] or b.startswith("control")


def offline_parts(backends: Mapping[str, Any]) -> list[str]:
    """Which parts of the data were produced by offline heuristics or control models, in words."""
    out = []
    for stage, b in sorted(backends.get("curation", {}).items()):
        if is_offline(str(b)):
            out.append(f"curation stage {stage}: offline heuristic rules (no LLM)")
    for name, m in sorted(backends.get("models", {}).items()):
        if any(str(b) == "control" for b in m["backend"]):
            out.append(f"model {name}: control model (a deterministic known-answer transform, not a generator)")
    for name, j in sorted(backends.get("judges", {}).items()):
        if any(is_offline(b) for b in j["backend"]):
            out.append(f"judge {name}: offline heuristic judge (measured signals, no VLM)")
    for b in backends.get("applicability", []):
        if is_offline(b):
            out.append(f"metric applicability: {b} (rules, no LLM)")
    for metric, b in sorted(backends.get("metrics", {}).items()):
        if is_offline(str(b)):
            out.append(f"metric {metric}: {b} (weight-free stand-in)")
    return out
