"""Seeded fuzz of ingest (issue 16): malformed records and files, bounded in time.

Each round writes a dump of randomly mutated posts (twscrape and snscrape JSON
Lines, Twitter v2 pages) plus broken files (truncated, binary, gzip bombs,
truncated gzip, symlinks out of the dump, a FIFO) and media references that are
hostile (traversal, symlinks, HTML named .png, missing).  Ingest must return;
every record must be kept or quarantined (or counted as a merged duplicate),
the counts must add up, every media row of a kept post must be ok or
quarantined, and no file outside the dump, the store and the interpreter's own
files may be opened.  The last round runs as ``echo-bench stage ingest`` in a
child process, which must exit 0.  The figures (rounds, cases, reasons seen)
are printed (``pytest -s``).
"""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
import time
import zlib
from collections import Counter
from pathlib import Path

import pytest
import yaml

from echo_bench.ingest import IngestSettings, ingest_dumps
from echo_bench.ingest.normalize import RecordLimits

SEED = 16
BUDGET_S = 8.0
MAX_ROUNDS = 150
LIMITS = RecordLimits(max_depth=32, max_record_bytes=20_000, max_document_bytes=200_000, max_text_chars=3_000,
                      max_gzip_ratio=30, max_decompressed_bytes=1_000_000)

HOSTILE_VALUES = [
    None, True, -1, 0, 2**70, 1.5e308, "", "../../etc/passwd", "-1", "12\u202e34", "1\x002", "١٢٣", "x" * 5000,
    [], {}, [1, [2, [3]]], {"id": {"id": 1}}, "9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+14:00",
    "2025-13-45T99:99:99Z", "Wed Oct 10 20:19:24 +0000 2018", "\ud800", "NaN",
]
HOSTILE_URLS = [
    "../secret.png", "/etc/passwd", "media/../../secret.png", "media/link.png", "media/html.png", "media/ok.png",
    "media/nothing.png", "file:///etc/passwd", "https://169.254.169.254/latest/meta-data", "data:image/png;base64,AA",
    "http://127.0.0.1:1/x.png", "\\\\server\\share\\x.png", "C:/Windows/win.ini", "media/\x00.png", None, 5,
]


def deep(n: int) -> object:
    v: object = []
    for _ in range(n):
        v = [v]
    return v


class Fuzz:
    def __init__(self, rng: random.Random, root: Path) -> None:
        self.rng = rng
        self.root = root
        self.next_id = 1_900_000_000_000_000_000
        self.records: list[tuple[str, str]] = []  # (file, source_record) of every record written
        self.broken_files: set[str] = set()
        self.cases: Counter[str] = Counter()

    def new_id(self) -> int:
        self.next_id += self.rng.randint(1, 1000)
        return self.next_id

    def value(self) -> object:
        r = self.rng.random()
        if r < 0.1:
            return deep(self.rng.choice([10, 40, 1000]))
        return self.rng.choice(HOSTILE_VALUES)

    def scraped(self, twscrape: bool) -> dict:
        i = self.new_id()
        rec: dict = {"id": i, "rawContent": f"post {i} made with gpt-4o", "date": "2025-04-01 10:00:00+00:00",
                     "user": {"id": 42, "username": "u"}, "conversationId": i}
        if twscrape:
            rec.update(id_str=str(i), conversationIdStr=str(i), date="2025-04-01 10:00:00+00:00")
            if self.rng.random() < 0.5:
                n = self.rng.randint(1, 3)
                rec["media"] = {"photos": [{"url": self.rng.choice(HOSTILE_URLS)} for _ in range(n)]}
        elif self.rng.random() < 0.5:
            rec["media"] = [{"_type": "snscrape.modules.twitter.Photo", "fullUrl": self.rng.choice(HOSTILE_URLS)}]
        return self.mutate(rec)

    def v2_post(self) -> tuple[dict, list[dict]]:
        i = self.new_id()
        t: dict = {"id": str(i), "text": f"post {i}", "author_id": "42", "created_at": "2025-04-01T10:00:00.000Z",
                   "conversation_id": str(i)}
        media = []
        if self.rng.random() < 0.5:
            key = f"3_{i}"
            t["attachments"] = {"media_keys": [key]}
            media.append({"media_key": key, "type": "photo", "url": self.rng.choice(HOSTILE_URLS)})
        return self.mutate(t), media

    def mutate(self, rec: dict) -> dict:
        for _ in range(self.rng.choice([0, 0, 1, 1, 2, 3])):
            keys = list(rec) + ["geo", "place", "unknown_field"]
            k = self.rng.choice(keys)
            if self.rng.random() < 0.15:
                rec.pop(k, None)
                self.cases["drop_field"] += 1
            else:
                rec[k] = self.value()
                self.cases["hostile_value"] += 1
        return rec

    def encode(self, obj: object) -> bytes:
        try:
            return json.dumps(obj, ensure_ascii=self.rng.random() < 0.5).encode("utf-8", "surrogatepass")
        except RecursionError:
            return b"[" * 1000 + b"]" * 1000

    # -- files ---------------------------------------------------------------------

    def jsonl_file(self, dump: Path, name: str, twscrape: bool) -> None:
        lines = []
        for n in range(1, self.rng.randint(2, 12)):
            r = self.rng.random()
            if r < 0.08:
                line = b'{"id": 1, "rawContent": "cut'
                self.cases["broken_line"] += 1
            elif r < 0.12:
                line = os.urandom(self.rng.randint(1, 200)).replace(b"\n", b" ")
                self.cases["binary_line"] += 1
            elif r < 0.15:
                line = b'{"x": "' + b"y" * 30_000 + b'"}'
                self.cases["oversized_line"] += 1
            elif r < 0.18 and lines:
                line = lines[0]  # a duplicate id
                self.cases["duplicate_line"] += 1
            else:
                line = self.encode(self.scraped(twscrape))
                self.cases["scraped_record"] += 1
            lines.append(line)
            if line.strip():
                self.records.append((name, f"line:{n}"))
        data = b"\n".join(lines) + b"\n"
        if self.rng.random() < 0.3:
            name += ".gz"
            data = gzip.compress(data)
            self.records = [(name if f == name[:-3] else f, loc) for f, loc in self.records]
            self.cases["gzip_jsonl"] += 1
        (dump / name).write_bytes(data)

    def v2_file(self, dump: Path, name: str) -> None:
        posts, media = [], []
        for i in range(self.rng.randint(1, 8)):
            t, m = self.v2_post()
            posts.append(t)
            media += m
            self.records.append((name, f"data[{i}]"))
            self.cases["v2_post"] += 1
        page = {"data": posts, "includes": {"users": [{"id": "42", "username": "u"}], "media": media}}
        (dump / name).write_bytes(self.encode(page))

    def broken_file(self, dump: Path, n: int) -> None:
        kind = self.rng.choice(["truncated", "binary", "bomb", "bomb_lines", "bad_gzip", "symlink_out", "fifo",
                                "deep_page", "big_doc", "empty"])
        self.cases[f"file_{kind}"] += 1
        name = f"broken-{n}.json"
        p = dump / name
        if kind == "truncated":
            text = json.dumps({"data": [{"id": "1", "text": "x"}] * 5})
            p.write_text(text[: self.rng.randint(1, len(text) - 1)])
        elif kind == "binary":
            p.write_bytes(os.urandom(self.rng.randint(1, 5000)))
        elif kind in ("bomb", "bomb_lines"):
            name += ".gz" if kind == "bomb" else "l.gz"
            p = dump / name
            co = zlib.compressobj(9, zlib.DEFLATED, 31)
            p.write_bytes(co.compress(b'{"data":[{"text":"' + b"a" * 3_000_000) + co.flush())
        elif kind == "bad_gzip":
            name += ".gz"
            p = dump / name
            p.write_bytes(gzip.compress(b'{"data": []}')[:-6])
        elif kind == "symlink_out":
            os.symlink(self.root / "secret.json", p)
        elif kind == "fifo":
            os.mkfifo(p)
        elif kind == "deep_page":
            p.write_bytes(b'{"data":[], "includes":' + b"[" * 900 + b"]" * 900 + b"}")
        elif kind == "big_doc":
            p.write_text(json.dumps({"data": [{"id": "1", "text": "z" * 300_000}]}))
        else:
            p.write_bytes(b"")
        if kind != "empty":
            self.broken_files.add(name)


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 30)).save(buf, format="PNG")
    return buf.getvalue()


def make_dump(fz: Fuzz, dump: Path) -> None:
    media = dump / "media"
    media.mkdir(parents=True)
    (media / "ok.png").write_bytes(_png())
    (media / "html.png").write_text("<html><body>not an image</body></html>")
    os.symlink(fz.root / "secret.png", media / "link.png")
    os.symlink(fz.root / "secret.png", media / "3_1.png")  # found by media key
    for n in range(fz.rng.randint(1, 4)):
        kind = fz.rng.choice(["twscrape", "snscrape", "v2"])
        if kind == "v2":
            fz.v2_file(dump, f"page-{n}.json")
        else:
            fz.jsonl_file(dump, f"{kind}-{n}.jsonl", kind == "twscrape")
    for n in range(fz.rng.randint(0, 2)):
        fz.broken_file(dump, n)


class OpenAudit:
    """Every path opened (``open`` audit event) while armed."""

    def __init__(self) -> None:
        self.armed = False
        self.paths: list[str] = []
        sys.addaudithook(self.hook)

    def hook(self, event: str, args: tuple) -> None:
        if self.armed and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            self.paths.append(os.path.realpath(os.fsdecode(args[0])))


def interpreter_file(path: str) -> bool:
    """Files Python itself may open during a run (lazy imports, locale data)."""
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.dirname(__file__))}
    prefixes |= {os.path.realpath(p) for p in sys.path if p}
    return any(path.startswith(os.path.realpath(p) + os.sep) for p in prefixes) or path.startswith("/dev/")


def check_accounting(fz: Fuzz, res) -> None:
    posts = set(res.posts.select("source_file", "source_record").iter_rows())
    q = res.quarantine
    qrec = set(q.select("source_file", "source_record").iter_rows())
    file_level = {f for f, loc in qrec if loc in ("file", "doc")} | set(
        q.filter(q["reason"] == "unknown_format")["source_file"].to_list())
    for name in fz.broken_files:
        assert name in file_level or any(f == name for f, _ in qrec), f"broken file {name} not quarantined"
    dups = res.summary["duplicate_id"] + res.summary["duplicate_media_merged"]
    unaccounted = [(f, loc) for f, loc in fz.records
                   if f not in file_level and (f, loc) not in posts and (f, loc) not in qrec]
    assert len(unaccounted) <= dups, f"records neither kept nor quarantined: {unaccounted[:5]}"
    record_rows = q.filter(~q["source_record"].str.contains("/media[", literal=True)
                           & ~q["source_file"].is_in(list(file_level)))
    counted = [r for r in fz.records if r[0] not in file_level]
    assert res.posts.height + record_rows.height + dups == len(counted)
    # media: one row per key of a kept post; every row not ok is quarantined
    assert res.media.height == res.posts["media_keys"].list.len().sum()
    bad = res.media.filter(res.media["status"] != "ok").height
    assert q.filter(q["source_record"].str.contains("/media[", literal=True)).height == bad
    assert res.summary["media"]["quarantined"] == bad


def test_fuzz_ingest(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    (tmp_path / "secret.png").write_bytes(_png())
    (tmp_path / "secret.json").write_text(json.dumps({"data": [{"id": "1", "text": "secret", "author_id": "1",
                                                                "created_at": "2025-01-01T00:00:00Z"}]}))
    audit = OpenAudit()
    settings = IngestSettings(workers=1, limits=LIMITS)
    reasons: Counter[str] = Counter()
    cases: Counter[str] = Counter()
    n_records = rounds = 0
    start = time.monotonic()
    last = None
    while rounds < MAX_ROUNDS and time.monotonic() - start < BUDGET_S:
        fz = Fuzz(rng, tmp_path)
        case = tmp_path / f"round-{rounds}"
        make_dump(fz, case / "dump")
        audit.paths.clear()
        audit.armed = True
        try:
            res = ingest_dumps([(case / "dump", "auto")], case / "store", settings)
        finally:
            audit.armed = False
        allowed = (os.path.realpath(case / "dump"), os.path.realpath(case / "store"))
        outside = [p for p in audit.paths if not any(p == a or p.startswith(a + os.sep) for a in allowed)
                   and not interpreter_file(p)]
        assert not outside, f"round {rounds} opened files outside its roots: {outside}"
        check_accounting(fz, res)
        reasons.update(res.quarantine["reason"].to_list())
        cases.update(fz.cases)
        n_records += len(fz.records)
        rounds += 1
        last = case
    print(f"\nfuzz seed {SEED}: {rounds} rounds in {time.monotonic() - start:.1f}s, {n_records} records, "
          f"cases {dict(sorted(cases.items()))}\nreasons seen {dict(sorted(reasons.items()))}")
    assert rounds >= 3
    assert {"bad_json", "bad_id", "path_traversal", "too_deep", "decompression_bomb"} <= set(reasons)
    assert "internal_error" not in reasons  # the catch-all is a last resort: the fuzz finds what reaches it

    # the stage as a command: exit 0 on the last round's dump
    assert last is not None
    params = yaml.safe_load((Path(__file__).parents[2] / "params.yaml").read_text())
    params["ingest"]["dumps"] = [{"path": "dump", "format": "auto"}]
    (last / "params.yaml").write_text(yaml.safe_dump(params))
    out = subprocess.run(
        [sys.executable, "-m", "echo_bench.cli", "stage", "ingest", "-i", "dumps=dump", "-o", "posts=out/posts.parquet",
         "-o", "media=out/media.parquet", "-o", "quarantine=out/q.parquet", "-o", "media_store=out/media",
         "-o", "summary=out/summary.json", "-p", "ingest"],
        cwd=last, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads((last / "out" / "summary.json").read_text())["stage"] == "ingest"
