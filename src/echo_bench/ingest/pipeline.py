"""Read raw dumps into POSTS, MEDIA and QUARANTINE frames.

A dump is a directory (every ``*.json``, ``*.jsonl``, ``*.ndjson`` file below
it, optionally ``.gz``, in sorted path order; hidden files and folders are
skipped) or a single file.  Each file is read whole as one JSON document
(``.json``: a response page, a list of pages or posts, or, if it does not parse
as one document, JSON Lines) or line by line (``.jsonl``/``.ndjson``).

The format is forced per dump or detected per file from its first parsable
record: a response page (``data``/``includes``/``meta``) is ``twitter_v2``; a
post with ``id_str``/``conversationIdStr`` or a ``media`` object is
``twscrape``; a post with ``rawContent``/``content`` is ``snscrape``.  A file
whose first record matches none is quarantined once as ``unknown_format``.

Every file is bounded (``ingest.limits``, :class:`RecordLimits`): it must resolve
inside its dump (:mod:`.roots`); a JSON Lines line may hold ``max_record_bytes``,
a whole document ``max_document_bytes``; a ``.gz`` is decompressed as a stream
that stops at ``max_gzip_ratio`` x the compressed bytes read so far or at
``max_decompressed_bytes``; a record may nest ``max_depth`` levels.  Each
violation is a quarantine reason, and a catch-all per record (``internal_error``)
keeps any other failure of one record from ending the run.
"""

from __future__ import annotations

import contextlib
import gc
import gzip
import logging
import os
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from echo_bench.ingest import snscrape, twitter_v2, twscrape
from echo_bench.ingest.media import MediaProcessor, MediaSettings
from echo_bench.ingest.normalize import (
    I_CREATED,
    I_POST_ID,
    PostCollector,
    RecordLimits,
    micros_of,
    text_too_deep,
    too_deep,
)
from echo_bench.ingest.roots import OutsideRoot, open_inside
from echo_bench.log import progress
from echo_bench.quarantine import RAW_LIMIT
from echo_bench.schemas import MEDIA

try:  # orjson parses large dumps ~2x faster than the stdlib; either gives the same objects
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - depends on the environment
    from json import loads as _loads

FORMATS = ("twitter_v2", "twscrape", "snscrape")
_SUFFIXES = (".json", ".jsonl", ".ndjson")
_LINE_SUFFIXES = (".jsonl", ".ndjson")


@dataclass(frozen=True)
class FetchSettings:
    """``ingest.fetch.*``: remote media download (off unless enabled)."""

    enabled: bool = False
    allow_private: bool = False  # tests only: lets a fetch reach 127.0.0.1
    timeout_s: float = 10.0
    max_bytes: int = 20_000_000
    max_redirects: int = 3


@dataclass(frozen=True)
class IngestSettings:
    """``ingest.*`` of params.yaml (the keyword defaults are for library use and tests)."""

    media_dir: Path | None = None
    max_bytes: int = 20_000_000
    max_pixels: int = 50_000_000
    workers: int = 4
    fetch: FetchSettings = field(default_factory=FetchSettings)
    limits: RecordLimits = field(default_factory=RecordLimits)

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any]) -> IngestSettings:
        """From the ``ingest`` mapping of params.yaml; every key must be present."""
        f = cfg["fetch"]
        lim = cfg["limits"]
        media_dir = cfg["media_dir"]
        return cls(
            media_dir=Path(media_dir) if media_dir else None,
            max_bytes=int(cfg["max_bytes"]),
            max_pixels=int(cfg["max_pixels"]),
            workers=int(cfg["workers"]),
            fetch=FetchSettings(
                enabled=bool(f["enabled"]),
                allow_private=bool(f["allow_private"]),
                timeout_s=float(f["timeout_s"]),
                max_bytes=int(f["max_bytes"]),
                max_redirects=int(f["max_redirects"]),
            ),
            limits=RecordLimits(
                max_depth=int(lim["max_depth"]),
                max_record_bytes=int(lim["max_record_bytes"]),
                max_document_bytes=int(lim["max_document_bytes"]),
                max_text_chars=int(lim["max_text_chars"]),
                max_gzip_ratio=float(lim["max_gzip_ratio"]),
                max_decompressed_bytes=int(lim["max_decompressed_bytes"]),
                min_created_at=micros_of(lim["min_created_at"], "limits.min_created_at"),
                max_created_at=micros_of(lim["max_created_at"], "limits.max_created_at"),
            ),
        )

    def media_settings(self) -> MediaSettings:
        return MediaSettings(
            max_bytes=self.max_bytes,
            max_pixels=self.max_pixels,
            media_dir=self.media_dir,
            fetch_enabled=self.fetch.enabled,
            fetch_allow_private=self.fetch.allow_private,
            fetch_timeout_s=self.fetch.timeout_s,
            fetch_max_bytes=self.fetch.max_bytes,
            fetch_max_redirects=self.fetch.max_redirects,
            workers=self.workers,
        )


@dataclass
class IngestResult:
    posts: pl.DataFrame  # POSTS, sorted by (created_at, post_id)
    media: pl.DataFrame  # MEDIA, in post order then position
    quarantine: pl.DataFrame  # QUARANTINE
    summary: dict[str, Any]


# --- files -------------------------------------------------------------------------


def dump_files(path: Path) -> tuple[Path, list[Path], int]:
    """(root, dump files in sorted order, number of other files ignored) of a dump path."""
    if path.is_file():
        return path.parent, [path], 0
    files: list[Path] = []
    ignored = 0
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            base = name[:-3] if name.lower().endswith(".gz") else name
            if base.lower().endswith(_SUFFIXES):
                files.append(Path(dirpath) / name)
            else:
                ignored += 1
    files.sort(key=lambda p: p.relative_to(path).as_posix())
    return path, files, ignored


def detect_format(obj: Any) -> str | None:
    if type(obj) is not dict:
        return None
    if twitter_v2.looks_like_page(obj):
        return twitter_v2.FORMAT
    if twscrape.looks_like(obj):
        return twscrape.FORMAT
    if snscrape.looks_like(obj):
        return snscrape.FORMAT
    return None


class _FileReader:
    """Reads one dump file into the collector, record by record."""

    def __init__(self, sink: PostCollector, dump_index: int, rel: str, forced: str | None, root: str) -> None:
        self.sink = sink
        self.root = root  # the resolved dump path: the file must resolve inside it
        self.dump_index = dump_index
        self.rel = rel
        self.fmt = forced  # None: detect from the first record
        self.unknown = False

    def outcome(self) -> str:
        return "unknown_format" if self.unknown else (self.fmt or "empty")

    def record(self, obj: Any, loc: str, raw: Any, shallow: bool = False) -> bool:
        """Handle one top-level record; False when the file turned out to be of no known format.

        Whatever goes wrong inside is quarantined as ``internal_error`` (with the
        exception) so that no single record can end the run.
        """
        try:
            return self._record(obj, loc, raw, shallow)
        except Exception as e:  # noqa: BLE001 - the per-record catch-all
            self.sink.reject("internal_error", f"{type(e).__name__}: {e}"[:300], self.rel, loc or "doc", raw)
            return True

    def _record(self, obj: Any, loc: str, raw: Any, shallow: bool) -> bool:
        fmt = self.fmt
        if fmt is None:
            fmt = detect_format(obj)
            if fmt is None:
                keys = sorted(map(str, obj))[:12] if type(obj) is dict else type(obj).__name__
                self.sink.reject(
                    "unknown_format",
                    f"first record is not a Twitter v2 page, twscrape or snscrape post (keys: {keys}); file skipped",
                    self.rel,
                    loc or "file",
                    raw,
                )
                self.unknown = True
                return False
            self.fmt = fmt
        sink = self.sink
        limit = sink.limits.max_depth
        deep = not shallow and too_deep(obj, limit)
        if fmt == "twitter_v2":
            if not twitter_v2.looks_like_page(obj):
                sink.reject("format_mismatch", "record is not a Twitter v2 response page", self.rel, loc or "doc", raw)
                return True
            post_depth = None
            if deep:  # one deep post must not cost the page its other posts
                rest = {k: v for k, v in obj.items() if k != "data"}
                if too_deep(rest, limit) or limit < 3:
                    sink.reject("too_deep", f"page nests more than {limit} levels", self.rel, loc or "doc", raw)
                    return True
                post_depth = limit - 2  # page -> data list -> post
            try:
                twitter_v2.parse_page(
                    obj,
                    sink,
                    dump_index=self.dump_index,
                    source_file=self.rel,
                    prefix=f"{loc}/" if loc else "",
                    max_post_depth=post_depth,
                )
            except Exception as e:  # noqa: BLE001 - a page of an unexpected shape must not stop the run
                sink.reject("bad_record", f"page: {type(e).__name__}: {e}"[:300], self.rel, loc or "doc", raw)
            return True
        if type(obj) is not dict or twitter_v2.looks_like_page(obj):
            sink.reject("format_mismatch", f"record is not a {fmt} post", self.rel, loc or "doc", raw)
            return True
        if deep:
            sink.records_by_format[fmt] += 1
            sink.reject("too_deep", f"record nests more than {limit} levels", self.rel, loc or "doc", raw)
            return True
        parser = twscrape.parse_record if fmt == "twscrape" else snscrape.parse_record
        parser(obj, sink, dump_index=self.dump_index, source_file=self.rel, loc=loc or "doc")
        return True


class _TooMuch(Exception):
    """A file expanded or grew past a limit; carries the quarantine reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class _BoundedReader:
    """Reads a dump file (plain or gzip) under the size limits, counting the bytes it yields.

    For ``.gz`` the output may not exceed ``max_decompressed_bytes`` nor
    ``max_gzip_ratio`` times the compressed bytes consumed so far (at least
    64 KiB of them): a decompression bomb stops after a few MB, not GBs.
    """

    _CHUNK = 1 << 18

    def __init__(self, f: Any, gz: bool, limits: RecordLimits) -> None:
        self.raw = f
        self.gz = gzip.GzipFile(fileobj=f, mode="rb") if gz else None
        self.stream = self.gz if self.gz is not None else f
        self.limits = limits
        self.total = 0

    def _count(self, n: int) -> None:
        self.total += n
        if self.gz is None:
            return
        lim = self.limits
        if self.total > lim.max_decompressed_bytes:
            raise _TooMuch("decompression_bomb", f"expands past max_decompressed_bytes {lim.max_decompressed_bytes}")
        consumed = max(self.raw.tell(), 65536)
        if self.total > lim.max_gzip_ratio * consumed:
            raise _TooMuch(
                "decompression_bomb",
                f"{self.total} bytes out of {consumed} compressed (ratio > max_gzip_ratio {lim.max_gzip_ratio:g})",
            )

    def read_all(self, cap: int) -> bytes:
        """The whole (decompressed) file; :class:`_TooMuch` beyond ``cap`` bytes."""
        if self.gz is None:  # a plain file: its size is known, one read of exactly that much
            size = os.fstat(self.raw.fileno()).st_size
            if size > cap:
                raise _TooMuch("file_too_large", f"{size} bytes > max_document_bytes {cap}")
            data = self.raw.read(size + 1)  # (read(n) allocates n bytes: never ask for the cap itself)
            if len(data) > size:
                raise _TooMuch("file_too_large", f"grew past its size of {size} bytes while being read")
            return data
        parts: list[bytes] = []
        size = 0
        while True:
            chunk = self.stream.read(self._CHUNK)
            if not chunk:
                return b"".join(parts)
            size += len(chunk)
            self._count(len(chunk))
            if size > cap:
                raise _TooMuch("file_too_large", f"more than max_document_bytes {cap} bytes")
            parts.append(chunk)

    def lines(self) -> Iterator[tuple[int, bytes | None]]:
        """(line number, line) of every line; the line is None when it is longer than max_record_bytes."""
        cap = self.limits.max_record_bytes
        n = 0
        while True:
            line = self.stream.readline(cap + 1)
            if not line:
                return
            n += 1
            self._count(len(line))
            if len(line) > cap and not line.endswith(b"\n"):
                while True:  # skip the rest of the line, still counting what it expands to
                    more = self.stream.readline(self._CHUNK)
                    self._count(len(more))
                    if not more or more.endswith(b"\n"):
                        break
                yield n, None
                continue
            yield n, line


def _lines(data: bytes) -> Iterator[tuple[int, bytes | None]]:
    for n, line in enumerate(data.split(b"\n"), 1):
        yield n, line


def _read_lines(reader: _FileReader, lines: Iterable[tuple[int, bytes | None]]) -> None:
    sink = reader.sink
    limits = sink.limits
    for n, line in lines:
        if line is None or len(line) > limits.max_record_bytes:
            shown = b"" if line is None else line[:RAW_LIMIT]
            sink.reject("record_too_large", f"line {n} is longer than max_record_bytes {limits.max_record_bytes}",
                        reader.rel, f"line:{n}", shown)
            continue
        line = line.strip()
        if not line:
            continue
        if n == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        try:
            obj = _loads(line)
        except (ValueError, RecursionError) as e:
            sink.reject("bad_json", f"line {n}: {e}"[:300], reader.rel, f"line:{n}", line)
            continue
        # the depth from the text (C speed); the parsed record is walked only when it is too deep
        limit = limits.max_depth
        shallow = line.count(b"{") + line.count(b"[") <= limit or not text_too_deep(line, limit)
        if not reader.record(obj, f"line:{n}", line, shallow):
            return


def _looks_like_json_lines(data: bytes) -> bool:
    """A .json file holding JSON Lines: at least two lines and the first one is a whole object."""
    lines = [x for x in data.split(b"\n", 2)[:2] if x.strip()]
    if len(lines) < 2:
        return False
    try:
        return type(_loads(lines[0])) is dict
    except (ValueError, RecursionError):
        return False


def read_file(path: Path, rel: str, reader: _FileReader) -> str:
    """Read one dump file under the limits; returns how it went (its format, or a quarantine reason)."""
    sink = reader.sink
    limits = sink.limits
    name = path.name.lower()
    gz = name.endswith(".gz")
    base = name[:-3] if gz else name
    try:
        with open_inside(path, reader.root) as f:
            src = _BoundedReader(f, gz, limits)
            if base.endswith(_LINE_SUFFIXES):
                _read_lines(reader, src.lines())
                return reader.outcome()
            data = src.read_all(limits.max_document_bytes)
    except _TooMuch as e:
        sink.reject(e.reason, e.detail, rel, "file", "")
        return e.reason
    except OutsideRoot as e:
        sink.reject("path_traversal", str(e), rel, "file", "")
        return "path_traversal"
    except (OSError, EOFError, zlib.error) as e:
        sink.reject("unreadable_file", f"{type(e).__name__}: {e}", rel, "file", "")
        return "unreadable_file"
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        doc = _loads(data)
    except (ValueError, RecursionError) as e:
        if _looks_like_json_lines(data):
            _read_lines(reader, _lines(data))
            return reader.outcome()
        sink.reject("bad_json", f"{type(e).__name__}: {e}"[:300], rel, "file", data)
        return "bad_json"
    shallow = not text_too_deep(data, limits.max_depth)
    if type(doc) is list:
        for i, item in enumerate(doc):
            if not reader.record(item, f"item:{i}", item, shallow):
                break
    else:
        reader.record(doc, "", doc, shallow)
    return reader.outcome()


# --- the whole ingest ---------------------------------------------------------------------


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of small acyclic objects are made.

    Parsed JSON and row tuples hold no reference cycles, so nothing leaks; without
    the pause the collector's repeated full scans cost ~40% of a 1M-post ingest.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()



def _read_dumps(
    dumps: list[tuple[Path, str]],
    sink: PostCollector,
    roots: list[Path],
    dump_info: list[dict[str, Any]],
    files_by_format: Counter[str],
    log: logging.Logger,
) -> None:
    for dump_index, (path, fmt) in enumerate(dumps):
        path = Path(path)
        fmt = (fmt or "auto").lower()
        if fmt != "auto" and fmt not in FORMATS:
            raise ValueError(f"unknown dump format {fmt!r} for {path}; use auto or one of {FORMATS}")
        if not path.exists():
            sink.reject("missing_dump", f"dump path {path} does not exist", str(path), "", "")
            roots.append(path)
            dump_info.append({"path": str(path), "format": fmt, "files": 0, "ignored": 0})
            log.warning("dump %s does not exist", path)
            continue
        root, files, ignored = dump_files(path)
        roots.append(path if path.is_file() else root)
        dump_info.append({"path": str(path), "format": fmt, "files": len(files), "ignored": ignored})
        log.info("dump %s (%s): %d files, %d other files ignored", path, fmt, len(files), ignored)
        forced = None if fmt == "auto" else fmt
        for f in progress(files, log, total=len(files), what=f"files of {path}"):
            rel = f.relative_to(root).as_posix()
            reader = _FileReader(sink, dump_index, rel, forced, os.path.realpath(path))
            files_by_format[read_file(f, rel, reader)] += 1


def ingest_dumps(
    dumps: list[tuple[Path, str]],
    media_store: Path | None,
    settings: IngestSettings,
    *,
    log: logging.Logger | None = None,
) -> IngestResult:
    """Ingest every dump ``(path, format)`` (format: auto | twitter_v2 | twscrape | snscrape).

    ``media_store`` is the folder of the content-addressed images (MEDIA.path =
    ``media_store/<sha256>.<ext>`` as given, so pass a repo-relative path); with
    None, media are still resolved and validated but nothing is written and
    MEDIA.path stays null.
    """
    log = log or logging.getLogger("echo_bench.ingest")
    sink = PostCollector(settings.limits)
    roots: list[Path] = []
    dump_info: list[dict[str, Any]] = []
    files_by_format: Counter[str] = Counter()
    with _gc_paused():
        _read_dumps(dumps, sink, roots, dump_info, files_by_format, log)
        posts = sink.posts_frame()
    files_read = sum(files_by_format.values())
    files_ignored = sum(d["ignored"] for d in dump_info)
    log.info(
        "read %d records from %d files: %d posts kept, %d identical duplicates merged, "
        "%d duplicates that add media merged, %d quarantined",
        sum(sink.records_by_format.values()),
        files_read,
        posts.height,
        sink.duplicate_identical,
        sink.duplicate_media_merged,
        len(sink.quarantine),
    )

    processor = MediaProcessor(roots, settings.media_settings(), media_store)  # a file dump: the file itself
    if media_store is not None:
        media_store.mkdir(parents=True, exist_ok=True)
    if sink.media or media_store is not None:
        rows = sink.rows
        order = sorted(sink.media, key=lambda i: (rows[i][I_CREATED], rows[i][I_POST_ID]))
        media = processor.process([sink.media[i] for i in order], sink.quarantine)
    else:
        media = pl.DataFrame(schema=MEDIA)
    mc = processor.counters
    media_summary = {
        "refs": mc["refs"],
        "sources": mc["sources"],
        "fetched": mc["fetched"],
        "distinct_images": mc["distinct_images"],
        "duplicate_refs": mc["duplicate_refs"],
        "stale_files_removed": mc["stale_files_removed"],
        "quarantined": mc["quarantined"],
        "posts_with_unusable_media": mc["posts_with_unusable_media"],
        "by_status": {k[7:]: v for k, v in sorted(mc.items()) if k.startswith("status.")},
        "by_reason": {k[7:]: v for k, v in sorted(mc.items()) if k.startswith("reason.")},
    }
    log.info("media: %d references, by status %s", mc["refs"], media_summary["by_status"])

    quarantine = sink.quarantine.frame()
    summary: dict[str, Any] = {
        "dumps": dump_info,
        "files_read": files_read,
        "files_ignored": files_ignored,
        "files_by_format": dict(sorted(files_by_format.items())),
        "records_read": sum(sink.records_by_format.values()),
        "records_by_format": dict(sorted(sink.records_by_format.items())),
        "posts": posts.height,
        "duplicate_id": sink.duplicate_identical,
        "duplicate_conflict": sink.duplicate_conflict,
        "duplicate_media_merged": sink.duplicate_media_merged,
        "unknown_fields": dict(sorted(sink.unknown_fields.items())),
        "referenced_tweets_not_ingested": sink.counters["referenced_tweets_not_ingested"],
        "api_errors": sink.counters["api_errors"],
        "quarantined": len(sink.quarantine),
        "quarantine_reasons": sink.quarantine.counts(),
        "media": media_summary,
    }
    if summary["unknown_fields"]:
        log.info("unknown fields ignored: %s", summary["unknown_fields"])
    if summary["quarantined"]:
        log.info("quarantined by reason: %s", summary["quarantine_reasons"])
    return IngestResult(posts, media, quarantine, summary)


__all__ = ["FetchSettings", "IngestResult", "IngestSettings", "detect_format", "dump_files", "ingest_dumps"]
