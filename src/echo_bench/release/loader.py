"""Reading a release back: polars frames, Hugging Face datasets, image files, checksums.

A release folder is what ``dvc get <repo> data/release`` (or ``dvc pull``) gives; see
:mod:`echo_bench.release.export` for its layout.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import polars as pl

from echo_bench.io import atomic_path, read_json, sha256_file


def info(release: str | os.PathLike[str]) -> dict[str, Any]:
    """The release's ``release.json`` (counts, settings, backends, checksums)."""
    return read_json(Path(release) / "release.json")


def verify(release: str | os.PathLike[str]) -> list[str]:
    """Files whose sha256 differs from ``release.json`` (or that are missing); empty when intact."""
    root = Path(release)
    bad = []
    for rel, digest in sorted(info(root)["files"].items()):
        p = root / rel
        if not p.is_file() or sha256_file(p) != digest:
            bad.append(rel)
    return bad


def path_of(release: str | os.PathLike[str], config: str, split: str) -> Path:
    from echo_bench.release.export import CONFIGS

    folders = {c: f for c, f, _ in CONFIGS}
    if config not in folders:
        raise KeyError(f"unknown config {config!r}; one of {sorted(folders)}")
    p = Path(release) / folders[config] / f"{split}.parquet"
    if not p.is_file():
        raise FileNotFoundError(f"release has no {config}/{split}: {p}")
    return p


def load_split(release: str | os.PathLike[str], split: str, config: str = "samples") -> pl.DataFrame:
    """One split of one config as a polars frame (embedded images: structs ``{bytes, path}``)."""
    return pl.read_parquet(path_of(release, config, split))


def load_hf(release: str | os.PathLike[str], config: str = "samples"):
    """One config as a ``datasets.DatasetDict`` (needs ``pip install datasets``), images decoded to PIL."""
    from datasets import load_dataset

    from echo_bench.release.export import CONFIGS

    folder, splits = {c: (f, s) for c, f, s in CONFIGS}[config]
    files = {s: str(p) for s in splits if (p := Path(release) / folder / f"{s}.parquet").is_file()}
    if not files:
        raise FileNotFoundError(f"release {release} has no files of config {config!r}")
    return load_dataset("parquet", data_files=files)


def image_bytes(release: str | os.PathLike[str], value: Any) -> bytes:
    """The bytes of one image value of a release, embedded (struct) or referenced (relative path)."""
    if isinstance(value, dict):
        if value.get("bytes") is not None:
            return bytes(value["bytes"])
        value = value.get("path")
    if not value:
        raise ValueError("empty image value")
    return (Path(release) / str(value)).read_bytes()


def image_name(value: Any) -> str:
    return Path(value["path"] if isinstance(value, dict) else str(value)).name


def materialize_samples(release: str | os.PathLike[str], split: str, dest: str | os.PathLike[str]) -> pl.DataFrame:
    """The split's samples with image columns as paths of files written under ``dest/media``.

    The result has the pipeline's SAMPLES schema (image columns are lists of paths), so the
    generate, metrics and judge stages can run on it.  Paths are absolute.
    """
    from echo_bench.schemas import SAMPLES, conform

    df = load_split(release, split)
    media = Path(dest) / "media"
    media.mkdir(parents=True, exist_ok=True)

    def files(values: list[Any] | None) -> list[str]:
        out = []
        for v in values or []:
            target = media / image_name(v)
            if not target.exists():
                with atomic_path(target) as tmp:
                    tmp.write_bytes(image_bytes(release, v))
            out.append(str(target.resolve()))
        return out

    cols = {c: pl.Series(c, [files(v) for v in df[c].to_list()], dtype=pl.List(pl.Utf8))
            for c in ("input_images", "reference_outputs")}
    return conform(df.with_columns(**cols), SAMPLES, name=f"release {split}")
