"""Reading and writing artifacts: atomic, deterministic, schema-checked.

Every file a stage produces is written to a temporary file in the same folder
and renamed into place, so a crash never leaves a half-written output.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from echo_bench.schemas import conform


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Outputs get the usual file mode (mkstemp's temporary file is private, 0600).
FILE_MODE = 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, FILE_MODE)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def paths(value: Any) -> list[str]:
    """The paths of a named input: one path, a list of them (Snakemake's ``expand``), or none."""
    if value is None:
        return []
    return [value] if isinstance(value, (str, os.PathLike)) else [str(v) for v in value]


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def dumps_json(obj: Any) -> str:
    """Canonical JSON: sorted keys, two-space indent, UTF-8, trailing newline."""
    return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False, default=str) + "\n"


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    write_text(path, dumps_json(obj))


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_parquet(
    df: pl.DataFrame, path: str | os.PathLike[str], schema: pl.Schema | None = None, *, name: str = ""
) -> None:
    """Write ``df`` (conformed to ``schema`` when given) as Parquet, atomically.

    Statistics and compression are fixed so that equal frames give equal bytes.
    """
    if schema is not None:
        df = conform(df, schema, name=name or Path(path).name)
    with atomic_path(path) as tmp:
        df.write_parquet(tmp, compression="zstd", compression_level=3, statistics=True)


def read_parquet(path: str | os.PathLike[str], schema: pl.Schema | None = None) -> pl.DataFrame:
    df = pl.read_parquet(path)
    if schema is not None:
        df = conform(df, schema, name=str(path))
    return df


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
