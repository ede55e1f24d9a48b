"""Benchmark: ingest + collect + threads on 1,000,000 synthetic text-only posts.

    python benchmarks/ingest_threads_1m.py                 # 1M posts
    python benchmarks/ingest_threads_1m.py --posts 100000  # a smaller run

Writes the posts as Twitter API v2 search pages (100 posts per page, with
``includes.users``) into a temporary folder: ~30% roots, replies to a random
earlier post of the same conversation (recent conversations are busier), and a
few deleted posts whose replies become orphans.  Then, in a child process (so
its peak memory is its own), it times ``echo_bench.ingest.ingest_dumps`` (no
media store), the collect query (default keywords) and ``build_threads`` on all
posts, printing posts/s per phase, the total wall time and the child's peak RSS
(``ru_maxrss``) beside the targets (< 60 s, < 4 GiB).  Exit status 1 when a
target is missed.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

TARGET_S = 60.0
TARGET_RSS_GIB = 4.0
KEYWORDS = ["chatgpt", "create image", "image gen", "4o", "gpt-4o", "gpt4o", "sora"]
BASE_ID = 1_905_000_000_000_000_000
T0_MS = 1_743_465_600_000  # 2025-04-01T00:00:00Z
TEXTS = [
    "Made this with GPT-4o image gen, prompt below",
    "A studio ghibli style portrait of my dog on a sunny hill, soft light",
    "wow this is amazing",
    "how did you get the text so clean?",
    "Tried the same prompt with ChatGPT and the hands came out wrong",
    "prompt: an isometric diorama of a tiny coffee shop, pastel colors, 3D render",
    "the colors shifted a lot compared to my input photo",
    "Sora does this better imo",
    "lol",
    "can you share the prompt?",
    "Here it is: turn the person in the photo into a chibi figure in a blister pack",
    "The face doesn't look like me at all",
]


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def generate(out: Path, n: int, seed: int = 0, users: int = 20_000) -> dict[str, int]:
    """Write ``n`` posts as v2 pages under ``out``; returns counts of what was made."""
    rng = np.random.default_rng(seed)
    is_root = rng.random(n) < 0.30
    is_root[0] = True
    deleted = rng.random(n) < 0.0005  # missing from the dump: their replies become orphans
    author = rng.integers(0, users, n)
    text_ix = rng.integers(0, len(TEXTS), n)
    step_ms = rng.integers(200, 3_000, n)
    created_ms = T0_MS + np.cumsum(step_ms)
    pick_conv = rng.geometric(0.02, n)  # how far back among the roots the reply's conversation is
    pick_parent = rng.random(n)
    viral = rng.random(n) < 0.0002  # roots that draw replies long after they were posted
    to_viral = rng.random(n) < 0.03  # replies that go to the latest viral root

    conv = np.empty(n, dtype=np.int64)
    parent = np.full(n, -1, dtype=np.int64)
    roots: list[int] = []
    members: dict[int, list[int]] = {}
    pc = pick_conv.tolist()
    pp = pick_parent.tolist()
    vr, tv = viral.tolist(), to_viral.tolist()
    latest_viral = 0
    for i, r in enumerate(is_root.tolist()):
        if r:
            roots.append(i)
            members[i] = [i]
            conv[i] = i
            if vr[i]:
                latest_viral = i
            continue
        root = latest_viral if tv[i] else roots[max(len(roots) - pc[i], 0)]
        m = members[root]
        parent[i] = m[int(pp[i] * len(m))]
        conv[i] = root
        m.append(i)

    ids = [str(BASE_ID + i * 4096) for i in range(n)]
    stamps = (np.datetime_as_string(created_ms.astype("datetime64[ms]"), unit="ms").astype(object) + "Z").tolist()
    texts = [_escape(t) for t in TEXTS]
    out.mkdir(parents=True, exist_ok=True)
    metrics = '"public_metrics":{"retweet_count":0,"reply_count":0,"like_count":0,"quote_count":0}'
    written = orphans = 0
    page_rows: list[str] = []
    page_users: set[int] = set()
    page_no = 0
    par_l, conv_l, auth_l, txt_l, del_l = (
        parent.tolist(),
        conv.tolist(),
        author.tolist(),
        text_ix.tolist(),
        deleted.tolist(),
    )

    def flush() -> None:
        nonlocal page_no, page_rows, page_users
        if not page_rows:
            return
        page_no += 1
        users_json = ",".join(f'{{"id":"{u}","username":"user{u}","name":"User {u}"}}' for u in sorted(page_users))
        doc = (
            '{"data":[' + ",".join(page_rows) + '],"includes":{"users":[' + users_json + "]},"
            f'"meta":{{"result_count":{len(page_rows)},"newest_id":"x","oldest_id":"y"}}}}'
        )
        (out / f"page-{page_no:06d}.json").write_text(doc, encoding="utf-8")
        page_rows, page_users = [], set()

    for i in range(n):
        if del_l[i]:
            continue
        p = par_l[i]
        a = auth_l[i]
        uid = 1000 + a
        if p >= 0:
            if del_l[p]:
                orphans += 1
            reply = (
                f',"in_reply_to_user_id":"{1000 + auth_l[p]}",'
                f'"referenced_tweets":[{{"type":"replied_to","id":"{ids[p]}"}}]'
            )
        else:
            reply = ""
        page_rows.append(
            f'{{"id":"{ids[i]}","text":"{texts[txt_l[i]]} #{i}","author_id":"{uid}","created_at":"{stamps[i]}",'
            f'"conversation_id":"{ids[conv_l[i]]}","lang":"en",{metrics}{reply}}}'
        )
        page_users.add(uid)
        written += 1
        if len(page_rows) == 100:
            flush()
    flush()
    return {
        "posts": written,
        "pages": page_no,
        "roots": int(is_root[~deleted].sum()),
        "deleted": int(deleted.sum()),
        "replies_to_deleted": orphans,
    }


def _measure(pages: str, max_depth: int | None, max_posts: int | None, queue: Any) -> None:
    """Runs in the child: ingest, collect, threads; puts the timings and peak RSS on ``queue``."""
    import logging

    from echo_bench.collect import collect
    from echo_bench.ingest import IngestSettings, ingest_dumps
    from echo_bench.threads import build_threads

    logging.getLogger("echo_bench").setLevel(logging.WARNING)
    out: dict[str, Any] = {}

    def rss_gib() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux

    t = time.perf_counter()
    ing = ingest_dumps([(Path(pages), "twitter_v2")], None, IngestSettings(), log=logging.getLogger("bench.ingest"))
    out["ingest"] = {
        "s": time.perf_counter() - t,
        "posts": ing.posts.height,
        "quarantined": ing.quarantine.height,
        "rss_gib": rss_gib(),
    }
    t = time.perf_counter()
    col = collect(ing.posts, keywords=KEYWORDS, since=None, until=None, include_replies=True, drop_retweets=True)
    out["collect"] = {
        "s": time.perf_counter() - t,
        "posts": ing.posts.height,
        "kept": col.queried.height,
        "matched": col.summary["matched"],
        "rss_gib": rss_gib(),
    }
    del col
    t = time.perf_counter()
    thr = build_threads(ing.posts, max_depth=max_depth, max_posts=max_posts)
    s = thr.summary
    out["threads"] = {
        "s": time.perf_counter() - t,
        "posts": ing.posts.height,
        "threads": s["threads"],
        "orphans": s["orphan_threads"],
        "placed": s["posts_placed"],
        "cut": s["cut_by_depth"] + s["cut_by_size"],
        "largest": s["largest_thread"],
        "max_depth_seen": s["max_depth_seen"],
        "doc_mib": thr.threads["document"].str.len_bytes().sum() / 2**20,
        "rss_gib": rss_gib(),
    }
    out["peak_rss_gib"] = rss_gib()
    queue.put(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-depth", type=int, default=20, help="threads.max_depth (params.yaml default 20)")
    ap.add_argument("--max-posts", type=int, default=200, help="threads.max_posts (params.yaml default 200)")
    ap.add_argument("--keep", type=Path, help="write the pages here and keep them (default: a temp dir)")
    a = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="echo-bench-1m-")) if a.keep is None else a.keep
    try:
        t = time.perf_counter()
        made = generate(tmp / "pages", a.posts, a.seed)
        gen_s = time.perf_counter() - t
        size = sum(f.stat().st_size for f in (tmp / "pages").iterdir())
        print(
            f"generated {made['posts']:,} posts in {made['pages']:,} pages ({size / 2**20:.0f} MiB) in {gen_s:.1f}s: "
            f"{made['roots']:,} roots, {made['deleted']} deleted posts, {made['replies_to_deleted']} replies to them"
        )

        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        child = ctx.Process(target=_measure, args=(str(tmp / "pages"), a.max_depth, a.max_posts, queue))
        wall = time.perf_counter()
        child.start()
        res = queue.get()
        child.join()
        wall = time.perf_counter() - wall
        if child.exitcode != 0:
            print(f"measuring child failed with exit code {child.exitcode}", file=sys.stderr)
            return 2
    finally:
        if a.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)

    n = res["ingest"]["posts"]
    print(f"\n{'phase':<9} {'seconds':>8} {'posts/s':>12} {'peak RSS so far':>16}  detail")
    i, c, th = res["ingest"], res["collect"], res["threads"]
    print(
        f"{'ingest':<9} {i['s']:8.2f} {n / i['s']:12,.0f} {i['rss_gib']:13.2f} GiB  "
        f"{n:,} posts, {i['quarantined']} quarantined"
    )
    print(
        f"{'collect':<9} {c['s']:8.2f} {n / c['s']:12,.0f} {c['rss_gib']:13.2f} GiB  {c['matched']:,} matches, "
        f"{c['kept']:,} kept with their conversations"
    )
    print(
        f"{'threads':<9} {th['s']:8.2f} {n / th['s']:12,.0f} {th['rss_gib']:13.2f} GiB  {th['threads']:,} threads "
        f"({th['orphans']:,} orphan), {th['placed']:,} placed, {th['cut']:,} cut by caps, largest {th['largest']}, "
        f"depth <= {th['max_depth_seen']}, documents {th['doc_mib']:.0f} MiB"
    )
    measured = i["s"] + th["s"]
    ok_t = measured < TARGET_S
    ok_m = res["peak_rss_gib"] < TARGET_RSS_GIB
    print(f"\ningest + threads: {measured:.2f}s  (target < {TARGET_S:.0f}s: {'ok' if ok_t else 'MISSED'})")
    print(f"child wall time (imports, ingest, collect, threads): {wall:.2f}s")
    print(
        f"peak RSS of the child: {res['peak_rss_gib']:.2f} GiB  (target < {TARGET_RSS_GIB:.0f} GiB: "
        f"{'ok' if ok_m else 'MISSED'})"
    )
    return 0 if ok_t and ok_m else 1


if __name__ == "__main__":
    raise SystemExit(main())
