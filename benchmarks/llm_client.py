"""Benchmark of the LLM client against the loopback API stub.

Prints two figures and their targets:

1. sustained requests/s of uncached calls through the real SDK (OpenAI chat
   completions and Anthropic messages) at concurrency 32 (target >= 200/s);
2. wall time of a fully cached re-run of 35,000 requests (target < 30 s):
   half JSON requests validated against their schema (relevance), half judge
   requests with two content-addressed images each; the stub counts zero calls.

    .venv/bin/python benchmarks/llm_client.py [--calls 3000] [--cached 35000] [--stub process|thread] [--workdir DIR]

``--stub process`` (default) serves the stub from a child process, so the figure
is the client's own throughput (a real provider's CPU is not ours); ``--stub
thread`` runs it in a thread of the benchmark process, sharing its interpreter.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Self

from PIL import Image

from echo_bench.llm import LLMRequest, make_client, reply_schema
from echo_bench.llm.backends import Result
from echo_bench.testing.api_stub import APIStub, ModelReply

TARGET_RPS = 200.0
TARGET_CACHED_S = 30.0
KEY_ENV = "ECHO_BENCH_STUB_KEY"
REPLY = json.dumps({"score": 4, "reason": "benchmark"})


def responder(call):  # module level: picklable for --stub-process
    return ModelReply(text=REPLY, input_tokens=300, output_tokens=12)


def _serve(queue: mp.Queue, stop: mp.Event) -> None:
    stub = APIStub(responder, record=False).start()
    queue.put(stub.port)
    stop.wait()
    queue.put(dict(stub.hits))
    stub.stop()


class StubProcess:
    def __enter__(self) -> Self:
        ctx = mp.get_context("spawn")
        self.queue, self.stop = ctx.Queue(), ctx.Event()
        self.proc = ctx.Process(target=_serve, args=(self.queue, self.stop), daemon=True)
        self.proc.start()
        self.port = self.queue.get(timeout=60)
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def hits(self) -> dict:
        self.stop.set()
        return self.queue.get(timeout=30)

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.proc.join(timeout=10)


def relevance(i: int) -> LLMRequest:
    return LLMRequest(
        "relevance",
        {"model_of_interest": "GPT-4o image generation", "post_text": f"benchmark post {i}: made this with 4o"},
        json_schema=reply_schema("relevance"),
        key=f"r{i}",
    )


def bench_calls(url: str, provider: str, n: int, cache_dir: Path) -> tuple[float, float]:
    base = f"{url}/v1" if provider == "openai" else url
    cfg = {
        "backend": provider,
        "model": "bench-model",
        "base_url": base,
        "api_key_env": KEY_ENV,
        "max_concurrency": 32,
        "timeout_s": 30,
        "max_retries": 2,
        "temperature": 0.0,
        "max_tokens": 64,
    }
    client = make_client(cfg, cache_dir=cache_dir, prices={"bench-model": {"input_per_mtok": 1, "output_per_mtok": 4}})
    client.run([relevance(10_000_000 + i) for i in range(64)])  # warm-up: imports, connections
    reqs = [relevance(i) for i in range(n)]
    t0, c0 = time.perf_counter(), time.process_time()
    replies = client.run(reqs)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    bad = [r.error for r in replies if not r.ok]
    assert not bad, bad[:3]
    return n / dt, cpu / n


def media_files(root: Path, n: int) -> list[str]:
    paths = []
    for i in range(n):
        buf = io.BytesIO()
        Image.new("RGB", (64, 48), (i * 37 % 256, i * 91 % 256, i * 13 % 256)).save(buf, format="PNG")
        data = buf.getvalue()
        p = root / f"{hashlib.sha256(data).hexdigest()}.png"
        p.write_bytes(data)
        paths.append(str(p))
    return paths


def bench_cached(url: str, n: int, cache_dir: Path, media: list[str]) -> tuple[float, int]:
    cfg = {
        "backend": "openai",
        "model": "bench-model",
        "base_url": f"{url}/v1",
        "api_key_env": KEY_ENV,
        "max_concurrency": 32,
    }
    client = make_client(cfg, cache_dir=cache_dir)
    reqs: list[LLMRequest] = []
    for i in range(n):
        if i % 2:
            imgs = (media[i % len(media)], media[(i * 7 + 3) % len(media)])
            reqs.append(
                LLMRequest(
                    "judge_single",
                    {"instruction": f"edit {i}: make it a watercolor", "n_input_images": 1},
                    images=imgs,
                    key=f"j{i}",
                )
            )
        else:
            reqs.append(relevance(i))
    # fill the cache directly (what a previous run would have left), then time the re-run
    t0 = time.perf_counter()
    judge_text = "Expectation: ...\nRating: [[7]]"
    for i, r in enumerate(reqs):
        prep = client._prepare(i, r)
        client._store(
            prep, Result(text=REPLY if i % 2 == 0 else judge_text, input_tokens=300, output_tokens=12), via="sync"
        )
    fill_s = time.perf_counter() - t0
    print(f"  (filled {n} cache entries in {fill_s:.1f}s)")
    fresh = make_client(cfg, cache_dir=cache_dir)  # a new process would start with no memo
    t0 = time.perf_counter()
    replies = fresh.run(reqs)
    dt = time.perf_counter() - t0
    assert all(r.ok and r.cached for r in replies)
    return dt, sum(1 for r in replies if r.cached)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=3000, help="uncached calls per provider for the throughput figure")
    ap.add_argument("--cached", type=int, default=35000, help="requests in the fully cached re-run")
    ap.add_argument(
        "--stub",
        choices=("process", "thread"),
        default="process",
        help="serve the stub from a child process (default: the client's CPU is measured alone, as with a real "
        "provider) or from a thread of this process (client and server share one interpreter)",
    )
    ap.add_argument(
        "--workdir",
        default=None,
        help="where the temporary caches go (default: the system temp dir); use a folder on the disk that holds "
        "data/cache to measure that file system",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault(KEY_ENV, "sk-benchmark-dummy")
    where = "a child process" if args.stub == "process" else "a thread of this process"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), load average {load}; stub in {where}")
    print(f"caches under {args.workdir or tempfile.gettempdir()}")
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    ok = True
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="llm-bench-") as tmp:
        tmp_path = Path(tmp)
        server = StubProcess() if args.stub == "process" else APIStub(responder, record=False)
        with server as s:
            url = s.url
            for provider in ("openai", "anthropic"):
                rps, cpu = bench_calls(url, provider, args.calls, tmp_path / f"calls-{provider}")
                ok &= rps >= TARGET_RPS
                per_core = f" (= {1 / cpu:,.0f} requests/s per free core)" if args.stub == "process" else ""
                print(
                    f"uncached calls, {provider} SDK, concurrency 32: {rps:,.0f} requests/s "
                    f"(target >= {TARGET_RPS:.0f}/s); CPU of this process {cpu * 1000:.2f} ms/request{per_core}"
                )
            media_dir = tmp_path / "media"
            media_dir.mkdir()
            media = media_files(media_dir, 200)
            before = sum(s.hits.values()) if isinstance(s, APIStub) else None
            dt, n_cached = bench_cached(url, args.cached, tmp_path / "cached", media)
            ok &= dt < TARGET_CACHED_S
            print(
                f"fully cached re-run of {args.cached:,} requests: {dt:.1f}s, {args.cached / dt:,.0f} requests/s "
                f"(target < {TARGET_CACHED_S:.0f}s); {n_cached:,} served from cache"
            )
            if before is not None:
                print(f"server hits during the cached re-run: {sum(s.hits.values()) - before}")
            else:
                hits = s.hits()
                expected = 2 * (args.calls + 64)
                print(f"server hits in total: {sum(hits.values())} = the uncached calls only ({expected}): {hits}")
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
