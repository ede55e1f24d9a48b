"""The content-addressed response cache: one JSON file per successful reply.

Layout under ``cache_dir`` (keep it under ``data/cache/`` so DVC versions it,
declared ``persist: true`` so ``dvc repro`` does not wipe it)::

    <cache_dir>/ab/abcdef...64 hex....json    one entry per successful reply
    <cache_dir>/batches/<provider>-<id>.json  state of submitted provider batches

The key is the sha256 of a canonical JSON document holding everything that can
change a reply (see :func:`cache_key`); entries hold the verbatim reply text and
the usage of the call that produced it, and no wall-clock time, so equal runs
give equal bytes.  Only successful replies are written; errors never are.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from echo_bench.io import atomic_path, sha256_file

#: Bump when the key material or the entry layout changes: every old entry becomes a miss.
CACHE_FORMAT = 1

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def cache_key(material: Mapping[str, Any]) -> str:
    """sha256 over the canonical JSON of ``material`` plus the cache format version."""
    doc = {"cache_format": CACHE_FORMAT, **material}
    blob = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ImageHasher:
    """sha256 of image files, memoized per (path, size, mtime).

    Files of the content-addressed media store are named by the sha256 of their
    bytes (``data/media/<sha256>.<ext>``, see ``schemas.py``); with
    ``trust_names`` such a name is taken as the hash without reading the file.
    """

    def __init__(self, *, trust_names: bool = True) -> None:
        self.trust_names = trust_names
        self._memo: dict[tuple[str, int, int], str] = {}
        self._lock = threading.Lock()

    def __call__(self, path: str | os.PathLike[str]) -> str:
        p = Path(path)
        if self.trust_names and _HEX64.match(p.stem):
            if not p.is_file():
                raise FileNotFoundError(str(p))
            return p.stem
        st = p.stat()  # FileNotFoundError for a missing image
        memo_key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
        with self._lock:
            hit = self._memo.get(memo_key)
        if hit is not None:
            return hit
        digest = sha256_file(p)
        with self._lock:
            self._memo[memo_key] = digest
        return digest


class ResponseCache:
    """Sharded one-file-per-entry store of successful replies."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The entry for ``key``, or None when absent or unreadable (a corrupt entry is a miss)."""
        try:
            with open(self.path(key), "rb") as f:
                entry = json.loads(f.read())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or entry.get("key") != key or entry.get("cache_format") != CACHE_FORMAT:
            return None
        return entry

    def put(self, key: str, entry: Mapping[str, Any]) -> None:
        doc = {"cache_format": CACHE_FORMAT, "key": key, **entry}
        data = (json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
        with atomic_path(self.path(key)) as tmp:
            tmp.write_bytes(data)

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()

    def keys(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.stem for p in self.root.glob("??/*.json") if _HEX64.match(p.stem))

    @property
    def batch_dir(self) -> Path:
        return self.root / "batches"
