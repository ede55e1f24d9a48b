"""Generating one (split, model) pair: every sample through a backend, hygiene, images, manifest rows.

:func:`generate_split` is the domain function the ``generate`` stage wires to
files.  For every sample (sorted by ``sample_id``) it builds a request (prompt,
input images resolved against the repository root and hashed, the sample's
derived seed), answers it from the response cache or the backend, normalizes
the image (:mod:`echo_bench.generate.hygiene`), writes ``<sample_id>.png``, and
returns one GENERATIONS row per sample, whatever happened.

Response cache (real backends only: ``openai``, ``openai_compatible``,
``diffusers``): ``<cache>/<ab>/<key>.json`` + ``<key>.img`` where ``key`` is
the sha256 of everything that determines the output (backend kind, base url,
API model, request settings, prompt, input image hashes, seed when used) and
the entry holds the backend's raw image bytes plus the latency, cost and info
of the call that produced it.  Only ``ok`` results are cached; refusals,
timeouts and errors are retried on the next run.  A cached output is recorded
with the latency and cost of its original call, so a re-run writes the same
manifest and spends nothing (the stage summary's ``spent_usd`` is what this run
paid).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl

from echo_bench.generate.backends import Backend, GenRequest, GenResult, ImportBackend
from echo_bench.generate.controls import derive_seed
from echo_bench.generate.hygiene import ImageError, NormalizedImage, SizePolicy, normalize
from echo_bench.io import atomic_path, read_parquet, sha256_file
from echo_bench.log import progress
from echo_bench.schemas import GENERATIONS

CACHE_FORMAT = 1
_SAFE_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


# --- response cache --------------------------------------------------------------------------------


def cache_key(material: Mapping[str, Any]) -> str:
    blob = json.dumps({"generate_cache_format": CACHE_FORMAT, **material}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ImageCache:
    """One (meta JSON, raw image bytes) pair per successful generation, sharded by key prefix."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _paths(self, key: str) -> tuple[Path, Path]:
        d = self.root / key[:2]
        return d / f"{key}.json", d / f"{key}.img"

    def get(self, key: str) -> tuple[bytes, dict[str, Any]] | None:
        meta_p, img_p = self._paths(key)
        if not meta_p.is_file() or not img_p.is_file():
            return None
        try:
            meta = json.loads(meta_p.read_text(encoding="utf-8"))
            data = img_p.read_bytes()
        except (OSError, ValueError):
            return None
        if meta.get("sha256") != hashlib.sha256(data).hexdigest():
            return None  # torn or tampered entry: a miss
        return data, meta

    def put(self, key: str, data: bytes, meta: Mapping[str, Any]) -> None:
        meta_p, img_p = self._paths(key)
        with atomic_path(img_p) as tmp:  # image first: the JSON's presence marks a complete entry
            tmp.write_bytes(data)
        doc = {**meta, "sha256": hashlib.sha256(data).hexdigest()}
        with atomic_path(meta_p) as tmp:
            tmp.write_text(json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False, default=str) + "\n",
                           encoding="utf-8")

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json")) if self.root.is_dir() else 0


# --- helpers ----------------------------------------------------------------------------------------------


def repo_relative(path: str | os.PathLike[str], root: str | os.PathLike[str] = ".") -> str:
    """``path`` as a POSIX path relative to ``root`` when it lies under it, else as given (absolute)."""
    p = Path(path)
    r = Path(root).resolve()
    full = p if p.is_absolute() else (Path.cwd() / p)
    try:
        return full.resolve().relative_to(r).as_posix()
    except ValueError:
        return p.as_posix()


def _input_hash(path: Path) -> str:
    return path.stem if _HEX64.match(path.stem) else sha256_file(path)  # the media store names files by hash


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _row(split: str, model: str, sid: str, backend: str, settings: Mapping[str, Any], r: GenResult,
         output_image: str | None = None, sha: str | None = None) -> dict[str, Any]:
    return {
        "split": split,
        "model": model,
        "sample_id": sid,
        "status": r.status,
        "reason": r.reason,
        "output_image": output_image,
        "sha256": sha,
        "backend": backend,
        "seed": r.seed,
        "latency_s": None if r.latency_s is None else round(float(r.latency_s), 4),
        "cost_usd": None if r.cost_usd is None else float(r.cost_usd),
        "settings": canonical_json({**settings, **({"info": r.info} if r.info else {})}),
    }


# --- the pair -------------------------------------------------------------------------------------------------


def generate_split(
    samples: pl.DataFrame,
    backend: Backend,
    *,
    split: str,
    model: str,
    images_dir: str | os.PathLike[str],
    seed: int,
    policy: SizePolicy,
    root: str | os.PathLike[str] = ".",
    cache: ImageCache | None = None,
    log: logging.Logger | None = None,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Generate every sample of ``samples`` with ``backend``; write ``images_dir/<sample_id>.png``.

    ``images_dir`` is replaced as a whole (built beside it, then renamed), so it
    holds exactly the ok outputs of this run.  Returns the GENERATIONS frame
    (one row per sample, sorted by sample_id) and a summary of counts.
    """
    log = log or logging.getLogger("echo_bench.generate")
    root = Path(root)
    images_dir = Path(images_dir)
    base_settings = {"backend": backend.kind, "model": model, "seed": int(seed), "image": policy.as_dict(),
                     **backend.settings()}
    rows: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    requests: list[GenRequest] = []
    seen: set[str] = set()

    ordered = samples.sort("sample_id", maintain_order=True)
    for s in ordered.iter_rows(named=True):
        sid = str(s["sample_id"])
        if sid in seen:
            counts["duplicate_sample_ids"] += 1
            continue
        seen.add(sid)
        sample_seed = derive_seed(sid, seed)
        if not _SAFE_ID.match(sid):
            r = GenResult("failed", "bad_sample_id: not usable as a file name", cost_usd=None)
            rows.append(_row(split, model, sid, backend.kind, base_settings, r))
            continue
        paths, hashes, missing = [], [], []
        for ref in s["input_images"] or []:
            p = Path(ref) if Path(ref).is_absolute() else root / ref
            if not p.is_file():
                missing.append(ref)
                continue
            paths.append(str(p))
            hashes.append(_input_hash(p))
        if missing:
            r = GenResult("failed", f"input_missing: {', '.join(missing)}", cost_usd=None)
            rows.append(_row(split, model, sid, backend.kind, base_settings, r))
            continue
        requests.append(GenRequest(split, sid, str(s["prompt"] or ""), paths, hashes, sample_seed))

    if counts["duplicate_sample_ids"]:
        log.warning("generate %s/%s: %d repeated sample ids, the first row of each is used",
                    split, model, counts["duplicate_sample_ids"])

    prepared = [False]
    prep_lock = threading.Lock()
    spent = 0.0
    hits = misses = 0

    def answer(req: GenRequest) -> tuple[GenResult, bool, bool, NormalizedImage | None]:
        """(result, cache hit, backend called, normalized image when ok) of one request; runs in a worker."""
        material = backend.cache_material(req)
        key = cache_key(material) if (cache is not None and material is not None) else None
        r: GenResult | None = None
        hit = False
        if key is not None:
            got = cache.get(key)  # type: ignore[union-attr]
            if got is not None:
                data, meta = got
                r = GenResult("ok", image=data, latency_s=meta.get("latency_s"), cost_usd=meta.get("cost_usd"),
                              seed=meta.get("seed"), info=meta.get("info") or {})
                hit = True
        if r is None:
            with prep_lock:  # once, before the first uncached request: a missing key or model fails here
                if not prepared[0]:
                    backend.prepare()
                    prepared[0] = True
            r = backend.generate(req)
            if key is not None and r.status == "ok" and isinstance(r.image, (bytes, bytearray)):
                cache.put(key, bytes(r.image), {"latency_s": r.latency_s, "cost_usd": r.cost_usd,  # type: ignore[union-attr]
                                                "seed": r.seed, "info": r.info, "material": material})
        if r.status != "ok":
            return r, hit, material is not None and not hit, None
        try:
            img = normalize(r.image, policy)  # type: ignore[arg-type]
        except ImageError as e:
            bad = GenResult("failed", f"output_unusable: {e}", latency_s=r.latency_s, cost_usd=r.cost_usd,
                            seed=r.seed, info=r.info)
            return bad, hit, material is not None and not hit, None
        if img.resized_from is not None:
            r.info = {**r.info, "resized_from": list(img.resized_from)}
        r.image = None  # the normalized PNG is what is kept
        (staging / f"{req.sample_id}.png").write_bytes(img.png)
        return r, hit, material is not None and not hit, img

    def answers(pool: ThreadPoolExecutor, window: int) -> Iterator[tuple[GenRequest, Any]]:
        """Results in request order, with at most ``window`` requests in flight (bounded memory)."""
        pending: deque[tuple[GenRequest, Future[Any]]] = deque()
        it = iter(requests)
        try:
            for req in it:
                pending.append((req, pool.submit(answer, req)))
                if len(pending) >= window:
                    done_req, fut = pending.popleft()
                    yield done_req, fut.result()
            while pending:
                done_req, fut = pending.popleft()
                yield done_req, fut.result()
        finally:
            for _, fut in pending:  # an error (e.g. a config error raised by prepare): stop the rest
                fut.cancel()

    # Build the staging folder beside images_dir, swap it in at the end.
    images_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{images_dir.name}.", suffix=".tmp", dir=images_dir.parent))
    try:
        workers = max(1, int(getattr(backend, "concurrency", 1)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for req, (r, hit, called, img) in progress(answers(pool, 2 * workers), log, total=len(requests),
                                                       what=f"{split}/{model} samples"):
                hits += int(hit)
                if called:
                    misses += 1
                    if r.status == "ok" and r.cost_usd:
                        spent += float(r.cost_usd)
                if img is None:
                    rows.append(_row(split, model, req.sample_id, backend.kind, base_settings, r))
                    continue
                rows.append(_row(split, model, req.sample_id, backend.kind, base_settings, r,
                                 repo_relative(images_dir / f"{req.sample_id}.png", root), img.sha256))
        if images_dir.exists():
            old = images_dir.with_name(f".{images_dir.name}.old")
            if old.exists():
                shutil.rmtree(old)
            images_dir.rename(old)
            staging.rename(images_dir)
            shutil.rmtree(old)
        else:
            staging.rename(images_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        backend.close()

    df = pl.DataFrame(rows, schema=GENERATIONS).sort("sample_id") if rows else pl.DataFrame(schema=GENERATIONS)
    for r in rows:
        counts[f"status_{r['status']}"] += 1
        if r["status"] != "ok":
            reasons[str(r["reason"]).split(":", 1)[0]] += 1
    summary: dict[str, Any] = {
        "split": split,
        "model": model,
        "backend": backend.kind,
        "samples": len(seen),
        "images_written": counts["status_ok"],
        **{f"status_{s}": counts[f"status_{s}"] for s in ("ok", "refused", "failed", "timeout", "missing")},
        "reasons": dict(sorted(reasons.items())),
        "duplicate_sample_ids": counts["duplicate_sample_ids"],
        "cost_usd": round(float(df["cost_usd"].fill_null(0).sum()), 6) if df.height else 0.0,
        "spent_usd": round(spent, 6),
        "cache_hits": hits,
        "cache_misses": misses,
        "backend_prepared": prepared[0],
    }
    if isinstance(backend, ImportBackend):
        extra = backend.unmatched(seen)
        summary["import_folder"] = backend.folder
        summary["import_unmatched_files"] = len(extra)
        if extra:
            log.warning("generate %s/%s: %d files in %s match no sample id (ignored), e.g. %s",
                        split, model, len(extra), backend.folder, extra[:5])
    log.info("generate %s/%s (%s): %d samples, ok %d, refused %d, failed %d, timeout %d, missing %d; reasons %s; "
             "cache hits %d, misses %d; cost %.4f USD (spent this run %.4f)",
             split, model, backend.kind, len(seen), summary["status_ok"], summary["status_refused"],
             summary["status_failed"], summary["status_timeout"], summary["status_missing"], summary["reasons"],
             hits, misses, summary["cost_usd"], spent)
    return df, summary


# --- merging ------------------------------------------------------------------------------------------------------


def merge_manifests(frames_or_paths: Iterable[pl.DataFrame | str | os.PathLike[str]]) -> pl.DataFrame:
    """One GENERATIONS frame of many per-(split, model) manifests, sorted by (split, model, sample_id).

    A (split, model, sample_id) that appears in two manifests is an error (two
    rules wrote the same pair).
    """
    frames = [f if isinstance(f, pl.DataFrame) else read_parquet(f, GENERATIONS) for f in frames_or_paths]
    frames = [f.select(list(GENERATIONS)) for f in frames]
    df = pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame(schema=GENERATIONS)
    dup = df.group_by(["split", "model", "sample_id"]).len().filter(pl.col("len") > 1)
    if dup.height:
        ex = dup.head(3).to_dicts()
        raise ValueError(f"merge_manifests: {dup.height} (split, model, sample_id) rows appear twice, e.g. {ex}")
    return df.sort(["split", "model", "sample_id"])


def models_of(generate_cfg: Mapping[str, Any]) -> list[str]:
    """The model names of ``generate.models`` (params order), for rules that expand over models."""
    return [str(m) for m in (generate_cfg.get("models") or {})]


def rule_inputs(generate_cfg: Mapping[str, Any], split: str, model: str) -> dict[str, str]:
    """Extra inputs a (split, model) rule should declare so DVC/Snakemake track them:
    the import folder of an ``import`` model (``import_dir``)."""
    entry = (generate_cfg.get("models") or {}).get(model) or {}
    if entry.get("backend") == "import" and entry.get("path"):
        path = str(entry["path"])
        return {"import_dir": path.format(split=split) if "{split}" in path else f"{path.rstrip('/')}/{split}"}
    return {}


__all__: Sequence[str] = [
    "ImageCache",
    "cache_key",
    "generate_split",
    "merge_manifests",
    "models_of",
    "repo_relative",
    "rule_inputs",
]
