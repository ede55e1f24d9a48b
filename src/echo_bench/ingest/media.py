"""Post media: find the file (or fetch it), check it is a sane image, store it by content.

Resolution of a media reference, in order:

1. a relative path (as in the awesome-gpt4o-images pages, ``media/3_....jpg``)
   is taken relative to the dump root; an absolute path is taken as is.  Either
   must land, after resolving ``..`` and symlinks, inside an *allowed root* (the
   dump root or a media folder below), else it is rejected as
   ``path_traversal`` and nothing is read;
2. if that file does not exist, or the reference is a URL, the media folders are
   searched by file name, by file stem and by media key: ``<dump>/media``,
   ``<dump>/../media`` (a ``media/`` folder next to the dump) and the
   ``ingest.media_dir`` param;
3. an ``http(s)`` URL not found locally is downloaded with
   :func:`echo_bench.ingest.fetch.fetch_image` when ``ingest.fetch.enabled``,
   else the row is ``skipped`` / ``fetch_disabled``.

Every file found, whichever way (path, name, stem or media key), must resolve
after following symlinks inside an allowed root, and is opened with
``O_NOFOLLOW`` (:mod:`echo_bench.ingest.roots`).  A dump given as a file has
its folder as root and only ``<folder>/media`` as media folder.  Every row that
is not ``ok`` (``skipped`` included) is also a quarantine row, and the summary
counts them (``media.quarantined``, ``media.posts_with_unusable_media``).

Validation (Pillow): at most ``max_bytes`` bytes; only JPEG, PNG, GIF and WebP
decoders are tried; the header's width x height must not exceed ``max_pixels``
(checked before the pixels are decoded, with ``Image.MAX_IMAGE_PIXELS`` set to
the same cap so Pillow's own decompression-bomb guard agrees); then the image is
fully decoded, so truncated or corrupt files are caught.  A valid image is
stored unchanged as ``<sha256 of its bytes>.<ext>``; identical images are stored
once and every later reference gets ``duplicate_of`` = the first media key.
"""

from __future__ import annotations

import hashlib
import io as _io
import os
import re
import stat
import warnings
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import polars as pl
from PIL import Image, UnidentifiedImageError

from echo_bench.ingest.fetch import FetchError, fetch_image, make_client
from echo_bench.ingest.normalize import PostMedia
from echo_bench.ingest.roots import OutsideRoot, inside, open_inside, resolve_inside
from echo_bench.io import write_bytes
from echo_bench.quarantine import Quarantine
from echo_bench.schemas import MEDIA

#: Pillow format -> file extension of the stored copy.
EXTENSIONS = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}
#: Only these decoders are ever run on untrusted bytes.
DECODERS = ("JPEG", "PNG", "GIF", "WEBP")

#: MEDIA.status of each reason code (status ``ok`` has no reason).
STATUS_OF_REASON = {
    "missing_media": "missing",
    "media_not_in_includes": "missing",
    "no_url": "missing",
    "fetch_failed": "missing",
    "fetch_timeout": "missing",
    "corrupt": "corrupt",
    "path_traversal": "rejected",
    "not_a_file": "rejected",
    "too_large": "rejected",
    "decompression_bomb": "rejected",
    "unsupported_format": "rejected",
    "bad_scheme": "rejected",
    "bad_url": "rejected",
    "private_address": "rejected",
    "bad_content_type": "rejected",
    "fetch_too_large": "rejected",
    "too_many_redirects": "rejected",
    "fetch_disabled": "skipped",
    "not_a_photo": "skipped",
}

_STORE_NAME = re.compile(r"^[0-9a-f]{64}\.[a-z0-9]+$")
_OTHER_IMAGE_MAGIC = (
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"8BPS", "PSD"),
)


class MediaError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class MediaSettings:
    max_bytes: int
    max_pixels: int
    media_dir: Path | None
    fetch_enabled: bool
    fetch_allow_private: bool
    fetch_timeout_s: float
    fetch_max_bytes: int
    fetch_max_redirects: int
    workers: int


@dataclass(frozen=True)
class Outcome:
    """What became of one media source (a file or a URL)."""

    status: str
    reason: str | None = None
    detail: str | None = None
    sha256: str | None = None
    ext: str | None = None
    width: int | None = None
    height: int | None = None
    nbytes: int | None = None


def failed(reason: str, detail: str) -> Outcome:
    return Outcome(STATUS_OF_REASON.get(reason, "rejected"), reason, detail)


# --- validation ------------------------------------------------------------------


@contextmanager
def pixel_limit(max_pixels: int) -> Iterator[None]:
    """Set Pillow's decompression-bomb limit to ``max_pixels`` and make its warning an error."""
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


def inspect_image(data: bytes, max_pixels: int) -> tuple[str, int, int]:
    """(extension, width, height) of a valid image; raises :class:`MediaError`.

    Run it inside :func:`pixel_limit` so Pillow's own guard uses the same cap.
    """
    try:
        with Image.open(_io.BytesIO(data), formats=DECODERS) as im:
            width, height = im.size
            if width <= 0 or height <= 0:
                raise MediaError("corrupt", f"image claims size {width}x{height}")
            if width * height > max_pixels:
                raise MediaError(
                    "decompression_bomb", f"{width}x{height} = {width * height} pixels > max_pixels {max_pixels}"
                )
            fmt = im.format or ""
            im.load()  # full decode: truncated or corrupt data fails here
    except MediaError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise MediaError("decompression_bomb", str(e)[:300]) from None
    except UnidentifiedImageError:
        for magic, name in _OTHER_IMAGE_MAGIC:
            if data.startswith(magic):
                raise MediaError("unsupported_format", f"{name} images are not accepted") from None
        if data[4:12] in (b"ftypheic", b"ftypavif", b"ftypheix", b"ftypmif1"):
            raise MediaError("unsupported_format", "HEIF/AVIF images are not accepted") from None
        raise MediaError("corrupt", "not a decodable JPEG, PNG, GIF or WebP image") from None
    except Exception as e:  # noqa: BLE001 - any decoder failure means the file is unusable
        raise MediaError("corrupt", f"{type(e).__name__}: {e}"[:300]) from None
    ext = EXTENSIONS.get(fmt)
    if ext is None:
        raise MediaError("unsupported_format", f"format {fmt!r} is not accepted")
    return ext, width, height


def check_bytes(data: bytes, max_pixels: int) -> Outcome:
    """Validate ``data`` as an image and hash it (no storing)."""
    try:
        ext, w, h = inspect_image(data, max_pixels)
    except MediaError as e:
        return failed(e.reason, e.detail)
    return Outcome("ok", sha256=hashlib.sha256(data).hexdigest(), ext=ext, width=w, height=h, nbytes=len(data))


# --- local resolution ---------------------------------------------------------------


class DumpMedia:
    """Where the media of one dump may be: its root and the media folders.

    ``dump`` is the dump folder, or the dump file (then its folder is the root
    and only ``<folder>/media`` is searched, nothing above it).
    """

    def __init__(self, dump: Path, media_dir: Path | None) -> None:
        is_file = dump.is_file()
        root = dump.parent if is_file else dump
        self.root = root
        candidates = [root / "media"] if is_file else [root / "media", root.parent / "media"]
        if media_dir is not None:
            candidates.append(media_dir)
        self.search_dirs: list[Path] = []
        for d in candidates:
            if d.is_dir() and os.path.realpath(d) not in {os.path.realpath(x) for x in self.search_dirs}:
                self.search_dirs.append(d)
        self.allowed_roots = [os.path.realpath(root)] + [os.path.realpath(d) for d in self.search_dirs]
        self._by_name: dict[str, Path] | None = None
        self._by_stem: dict[str, Path] = {}

    def checked(self, path: Path) -> str:
        """The resolved ``path`` if it lies inside the allowed roots; else :class:`MediaError` ``path_traversal``."""
        try:
            return resolve_inside(path, self.allowed_roots)
        except OutsideRoot as e:
            raise MediaError("path_traversal", str(e)) from None

    def _index(self) -> dict[str, Path]:
        if self._by_name is None:
            self._by_name = {}
            for d in self.search_dirs:
                try:
                    entries = sorted(os.scandir(d), key=lambda e: e.name)
                except OSError:
                    continue
                for e in entries:
                    if e.name.startswith(".") or not e.is_file():
                        continue
                    p = Path(e.path)
                    self._by_name.setdefault(e.name, p)
                    self._by_stem.setdefault(p.stem, p)
        return self._by_name

    def find(self, name: str | None, media_key: str | None) -> Path | None:
        """A file in the media folders named ``name`` (or with that stem), or named by ``media_key``."""
        by_name = self._index()
        if name:
            hit = by_name.get(name) or self._by_stem.get(name) or self._by_stem.get(name.rsplit(".", 1)[0])
            if hit is not None:
                return hit
        if media_key:
            return self._by_stem.get(media_key)
        return None

    def resolve_local(self, ref: str, media_key: str | None) -> Path:
        """The file a relative/absolute path reference points to; raises :class:`MediaError`."""
        s = ref.replace("\\", "/")
        if "\x00" in s:
            raise MediaError("path_traversal", "NUL byte in path")
        p = PurePosixPath(s)
        is_abs = p.is_absolute() or re.match(r"^[A-Za-z]:/", s) is not None
        candidate = Path(s) if is_abs else self.root / p
        if not any(inside(os.path.realpath(candidate), r) for r in self.allowed_roots):
            raise MediaError("path_traversal", f"{ref!r} points outside the dump and its media folders")
        if candidate.exists():
            return candidate
        found = self.find(p.name, media_key)
        if found is None:
            raise MediaError("missing_media", f"no file {ref!r} under {self.root} or in {self._dirs_text()}")
        return found

    def _dirs_text(self) -> str:
        return ", ".join(str(d) for d in self.search_dirs) or "no media folder"


def read_file(path: Path, max_bytes: int, roots: list[str]) -> bytes:
    """The bytes of a media file that resolves inside ``roots`` (see :func:`open_inside`)."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise MediaError("missing_media", f"cannot stat {path}: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise MediaError("not_a_file", f"{path} is not a regular file")
    if st.st_size > max_bytes:
        raise MediaError("too_large", f"{st.st_size} bytes > max_bytes {max_bytes}")
    try:
        with open_inside(path, roots) as f:
            data = f.read(max_bytes + 1)
    except OutsideRoot as e:
        raise MediaError("path_traversal", str(e)) from None
    except OSError as e:
        raise MediaError("missing_media", f"cannot read {path}: {e.strerror}") from None
    if len(data) > max_bytes:
        raise MediaError("too_large", f"more than max_bytes {max_bytes} bytes")
    return data


# --- the media manifest ----------------------------------------------------------------


def _url_name(url: str) -> str:
    path = urlsplit(url).path
    return unquote(path.rstrip("/").rsplit("/", 1)[-1]) if path else ""


class MediaProcessor:
    """Resolves, validates and stores the media of all kept posts."""

    def __init__(self, dump_roots: list[Path], settings: MediaSettings, store: Path | None) -> None:
        self.settings = settings
        self.store = store
        self.dumps = [DumpMedia(r, settings.media_dir) for r in dump_roots]
        self.allowed_roots = sorted({r for d in self.dumps for r in d.allowed_roots})
        self.counters: Counter[str] = Counter()
        self._client: Any = None

    # A "source" is what bytes come from: ("file", real path) or ("url", url).
    def _source(self, ref_url: str | None, media_key: str, mtype: str | None, dump: DumpMedia) -> tuple | Outcome:
        if mtype is not None and mtype != "photo":
            return failed("not_a_photo", f"{mtype} media are not ingested")
        try:
            return self._plan(ref_url, media_key, dump)
        except MediaError as e:
            return failed(e.reason, e.detail)

    def _plan(self, ref_url: str | None, media_key: str, dump: DumpMedia) -> tuple | Outcome:
        """The source of a photo reference; every local file found is checked against the allowed roots."""
        if not ref_url:
            found = dump.find(None, media_key)
            if found is not None:
                return ("file", dump.checked(found))
            return failed("no_url", "the dump gives no url for this media")
        scheme = urlsplit(ref_url).scheme.lower() if "://" in ref_url or ref_url[:5].lower() == "data:" else ""
        if scheme in ("http", "https"):
            found = dump.find(_url_name(ref_url), media_key)
            if found is not None:
                return ("file", dump.checked(found))
            if not self.settings.fetch_enabled:
                return failed("fetch_disabled", "remote media and ingest.fetch.enabled is false")
            return ("url", ref_url)
        if scheme:
            return failed("bad_scheme", f"{scheme!r} URLs are not read")
        return ("file", dump.checked(dump.resolve_local(ref_url, media_key)))

    def _load(self, source: tuple) -> Outcome:
        kind, where = source
        s = self.settings
        if kind == "file":
            try:
                data = read_file(Path(where), s.max_bytes, self.allowed_roots)
            except MediaError as e:
                return failed(e.reason, e.detail)
        else:
            try:
                data = fetch_image(
                    where,
                    client=self._client,
                    timeout_s=s.fetch_timeout_s,
                    max_bytes=min(s.fetch_max_bytes, s.max_bytes),
                    max_redirects=s.fetch_max_redirects,
                    allow_private=s.fetch_allow_private,
                ).data
            except FetchError as e:
                return failed(e.reason, e.detail)
        out = check_bytes(data, s.max_pixels)
        if out.status == "ok" and self.store is not None:
            dest = self.store / f"{out.sha256}.{out.ext}"
            try:
                present = dest.stat().st_size == len(data)
            except OSError:
                present = False
            if not present:  # same name = same content, so an existing file of the right size is kept
                write_bytes(dest, data)
        return out

    def process(self, items: list[PostMedia], quarantine: Quarantine) -> pl.DataFrame:
        """The MEDIA frame of ``items`` (the media of kept posts, in the posts' order).

        Rows keep that order and the position inside each post; non-ok, non-skipped
        rows also go to ``quarantine``.
        """
        # 1. every reference -> a source or an immediate outcome (cheap, main thread)
        planned: list[tuple[PostMedia, int, Any]] = []
        sources: dict[tuple, None] = {}
        for pm in items:
            for pos, ref in enumerate(pm.refs):
                dump = self.dumps[pm.dump_index if ref.dump_index is None else ref.dump_index]
                if ref.problem:
                    plan: Any = failed(ref.problem, f"media key {ref.media_key} is not described in the page's includes")
                else:
                    plan = self._source(ref.url, ref.media_key, ref.type, dump)
                if isinstance(plan, tuple):
                    sources.setdefault(plan, None)
                planned.append((pm, pos, plan))
        # 2. read/fetch, validate, store every distinct source once
        outcomes: dict[tuple, Outcome] = {}
        if sources:
            srcs = list(sources)
            if any(k == "url" for k, _ in srcs):
                self._client = make_client(self.settings.fetch_timeout_s)
            try:
                with pixel_limit(self.settings.max_pixels):
                    workers = max(1, int(self.settings.workers))
                    if workers == 1 or len(srcs) == 1:
                        results = [self._load(src) for src in srcs]
                    else:
                        with ThreadPoolExecutor(max_workers=workers) as ex:
                            results = list(ex.map(self._load, srcs))
            finally:
                if self._client is not None:
                    self._client.close()
                    self._client = None
            outcomes = dict(zip(srcs, results, strict=True))
            self.counters["sources"] = len(srcs)
            self.counters["fetched"] = sum(1 for (k, _), o in outcomes.items() if k == "url" and o.status == "ok")
        # 3. rows in post order, duplicates marked, failures quarantined
        store_prefix = self.store.as_posix().rstrip("/") if self.store is not None else None
        cols: dict[str, list] = {c: [] for c in MEDIA.names()}
        first_key: dict[str, str] = {}
        stored: set[str] = set()
        posts_not_ok: set[str] = set()
        for pm, pos, plan in planned:
            ref = pm.refs[pos]
            out = outcomes[plan] if isinstance(plan, tuple) else plan
            dup = None
            path = None
            if out.status == "ok":
                dup = first_key.get(out.sha256)
                if dup is None:
                    first_key[out.sha256] = ref.media_key
                stored.add(f"{out.sha256}.{out.ext}")
                if store_prefix is not None:
                    path = f"{store_prefix}/{out.sha256}.{out.ext}"
            else:  # missing, corrupt, rejected and skipped (fetch disabled, not a photo) alike
                self.counters["quarantined"] += 1
                posts_not_ok.add(pm.post_id)
                quarantine.add(
                    out.reason or out.status,
                    f"post {pm.post_id} media {ref.media_key}: {out.detail}",
                    source_file=pm.source_file,
                    source_record=f"{pm.source_record}/media[{pos}]",
                    raw=ref.url or ref.media_key,
                )
            cols["media_key"].append(ref.media_key)
            cols["post_id"].append(pm.post_id)
            cols["position"].append(pos)
            cols["type"].append(ref.type)
            cols["source_url"].append(ref.url)
            cols["status"].append(out.status)
            cols["reason"].append(out.reason)
            cols["sha256"].append(out.sha256)
            cols["path"].append(path)
            cols["width"].append(out.width)
            cols["height"].append(out.height)
            cols["bytes"].append(out.nbytes)
            cols["duplicate_of"].append(dup)
            self.counters[f"status.{out.status}"] += 1
            if out.reason:
                self.counters[f"reason.{out.reason}"] += 1
        self.counters["refs"] = len(planned)
        self.counters["posts_with_unusable_media"] = len(posts_not_ok)
        self.counters["distinct_images"] = len(first_key)
        self.counters["duplicate_refs"] = sum(1 for d in cols["duplicate_of"] if d is not None)
        if self.store is not None:
            self.counters["stale_files_removed"] = self._prune_store(stored)
        return pl.DataFrame(cols, schema=MEDIA)

    def _prune_store(self, keep: set[str]) -> int:
        """Remove content-addressed files of earlier runs that no post references any more."""
        if self.store is None or not self.store.is_dir():
            return 0
        removed = 0
        for e in os.scandir(self.store):
            if e.is_file() and _STORE_NAME.match(e.name) and e.name not in keep:
                os.unlink(e.path)
                removed += 1
        return removed
