"""The threads stage: reply trees, orphans, caps, cycles, order, documents, and the real corpus."""

from __future__ import annotations

import datetime as dt
import json
import random

import numpy as np
import polars as pl
import pytest

from echo_bench.io import read_parquet, write_parquet
from echo_bench.runner import run_stage
from echo_bench.schemas import QUARANTINE, QUERIED, THREAD_POSTS, THREADS
from echo_bench.threads import build_threads, walk_forest


def _tp(res) -> list[tuple]:
    return list(res.thread_posts.select("thread_id", "post_id", "parent_id", "depth", "position").iter_rows())


def _thread(res, thread_id: str) -> dict:
    rows = res.threads.filter(pl.col("thread_id") == thread_id).to_dicts()
    assert len(rows) == 1, thread_id
    return rows[0]


def _nested(post):
    #  1            (root, image m1)
    #  ├─ 2
    #  │  ├─ 3
    #  │  │  └─ 5
    #  │  └─ 6      (later than 5, still under 2 before 4: pre-order)
    #  └─ 4         (image m4, m4b)
    #  10           (second root, later)
    #  └─ 11
    return [
        post("1", "root post\nprompt below", minutes=0, media=["m1"], author="alice"),
        post("2", "the prompt: a cat", parent="1", minutes=1, author="alice"),
        post("3", "thanks!", parent="2", conv="1", minutes=2, author="bob"),
        post("4", "my result", parent="1", minutes=3, media=["m4", "m4b"], author="carol"),
        post("5", "deep", parent="3", conv="1", minutes=4, author="alice"),
        post("6", "also", parent="2", conv="1", minutes=5, author="dan"),
        post("10", "another root", minutes=10, author="erin"),
        post("11", "reply", parent="10", minutes=11, author="frank"),
    ]


def test_nested_replies_preorder_depth_and_parents(post, frame) -> None:
    res = build_threads(frame(_nested(post)))
    assert res.thread_posts.schema == THREAD_POSTS and res.threads.schema == THREADS
    assert _tp(res) == [
        ("1", "1", None, 0, 0),
        ("1", "2", "1", 1, 1),
        ("1", "3", "2", 2, 2),
        ("1", "5", "3", 3, 3),
        ("1", "6", "2", 2, 4),
        ("1", "4", "1", 1, 5),
        ("10", "10", None, 0, 0),
        ("10", "11", "10", 1, 1),
    ]
    t = _thread(res, "1")
    assert t["post_ids"] == ["1", "2", "3", "5", "6", "4"]
    assert t["media_keys"] == ["m1", "m4", "m4b"] and t["n_media"] == 3
    assert t["n_posts"] == 6 and t["max_depth"] == 3
    assert t["conversation_id"] == "1" and t["root_author"] == "alice"
    assert not t["is_orphan"] and not t["truncated"]
    assert res.threads["thread_id"].to_list() == ["1", "10"]
    s = res.summary
    assert (s["threads"], s["posts_placed"], s["orphan_threads"], s["cycles_broken"]) == (2, 8, 0, 0)
    assert s["max_depth_seen"] == 3 and s["largest_thread"] == 6


def test_document_rendering(post, frame) -> None:
    res = build_threads(frame(_nested(post)))
    doc = _thread(res, "1")["document"]
    assert doc == (
        "[thread 1] conversation 1, 6 posts\n"
        "[post 1] @alice (depth 0, 2025-04-01 12:00 UTC)\n"
        "root post\n"
        "prompt below\n"
        "images: m1\n"
        "  [post 2] @alice (depth 1, 2025-04-01 12:01 UTC)\n"
        "  the prompt: a cat\n"
        "    [post 3] @bob (depth 2, 2025-04-01 12:02 UTC)\n"
        "    thanks!\n"
        "      [post 5] @alice (depth 3, 2025-04-01 12:04 UTC)\n"
        "      deep\n"
        "    [post 6] @dan (depth 2, 2025-04-01 12:05 UTC)\n"
        "    also\n"
        "  [post 4] @carol (depth 1, 2025-04-01 12:03 UTC)\n"
        "  my result\n"
        "  images: m4, m4b"
    )


def test_document_edge_cases(post, frame) -> None:
    rows = [
        post("1", "line one\r\nline two\rline three", author=""),  # no handle: the author id
        post("2", None, parent="1", minutes=1, created_at=None, media=["k"]),  # no text, no time
        post("3", "", parent="1", minutes=2),  # no handle, no author id
    ]
    df = frame(rows).with_columns(
        pl.when(pl.col("post_id") == "3").then(None).otherwise(pl.col("author_id")).alias("author_id"),
        pl.when(pl.col("post_id") == "3").then(None).otherwise(pl.col("author_handle")).alias("author_handle"),
    )
    res = build_threads(df)
    assert res.threads["document"][0] == (
        "[thread 1] conversation 1, 3 posts\n"
        "[post 1] @id- (depth 0, 2025-04-01 12:00 UTC)\n"
        "line one\nline two\nline three\n"
        "  [post 3] @unknown (depth 1, 2025-04-01 12:02 UTC)\n"
        "  [post 2] @alice (depth 1, time unknown)\n"
        "  images: k"
    )
    assert res.threads["root_author"][0] == "id-"


def test_orphans_are_roots_of_their_own_trees(post, frame) -> None:
    rows = [
        post("1", "root"),
        post("2", "reply to a post missing from the dump", parent="99", conv="1", minutes=1),
        post("3", "reply under the orphan", parent="2", conv="1", minutes=2),
    ]
    res = build_threads(frame(rows))
    assert _tp(res) == [("1", "1", None, 0, 0), ("2", "2", None, 0, 0), ("2", "3", "2", 1, 1)]
    orphan = _thread(res, "2")
    assert orphan["is_orphan"] and orphan["conversation_id"] == "1" and orphan["n_posts"] == 2
    assert orphan["document"].startswith(
        "[thread 2] conversation 1, 2 posts; orphan: replies to post 99, which is not in the dump\n"
    )
    assert not _thread(res, "1")["is_orphan"]
    assert res.summary["orphan_threads"] == 1


def test_conversation_id_reattaches_a_lost_in_reply_to(post, frame) -> None:
    rows = [
        post("1", "root"),
        post("2", "reply whose in-reply-to was lost", parent=None, conv="1", minutes=1),
        post("3", "lost link, conversation root absent", parent=None, conv="77", minutes=2),
    ]
    res = build_threads(frame(rows))
    assert _tp(res) == [("1", "1", None, 0, 0), ("1", "2", "1", 1, 1), ("3", "3", None, 0, 0)]
    assert _thread(res, "3")["is_orphan"]
    assert "replies to post 77" in _thread(res, "3")["document"]
    assert res.summary["attached_by_conversation"] == 1


def test_depth_cap(post, frame) -> None:
    res = build_threads(frame(_nested(post)), max_depth=1)
    assert [r[1] for r in _tp(res)] == ["1", "2", "4", "10", "11"]
    t = _thread(res, "1")
    assert t["truncated"] and t["n_posts"] == 3 and t["max_depth"] == 1
    assert "truncated: 3 more posts cut" in t["document"].splitlines()[0]
    assert not _thread(res, "10")["truncated"]
    assert res.summary["cut_by_depth"] == 3 and res.summary["threads_truncated"] == 1
    only_roots = build_threads(frame(_nested(post)), max_depth=0)
    assert only_roots.thread_posts["post_id"].to_list() == ["1", "10"]


def test_size_cap_keeps_the_shallowest_earliest_posts(post, frame) -> None:
    res = build_threads(frame(_nested(post)), max_posts=4)
    # breadth first: 1, then its replies 2 and 4, then the earliest depth-2 post 3
    assert [r[1] for r in _tp(res) if r[0] == "1"] == ["1", "2", "3", "4"]
    assert [r[4] for r in _tp(res) if r[0] == "1"] == [0, 1, 2, 3]
    assert _thread(res, "1")["truncated"] and _thread(res, "1")["media_keys"] == ["m1", "m4", "m4b"]
    assert res.summary["cut_by_size"] == 2 and res.summary["cut_by_depth"] == 0
    both = build_threads(frame(_nested(post)), max_depth=1, max_posts=2)
    assert [r[1] for r in _tp(both)] == ["1", "2", "10", "11"]
    assert both.summary["cut_by_depth"] == 3 and both.summary["cut_by_size"] == 1
    with pytest.raises(ValueError):
        build_threads(frame(_nested(post)), max_posts=0)


def test_cycles_are_broken_not_hung(post, frame) -> None:
    rows = [
        post("a", "A", parent="c", minutes=2),
        post("b", "B", parent="a", minutes=3),
        post("c", "C", parent="b", minutes=1),  # a -> c -> b -> a: earliest is c
        post("d", "hangs below the cycle", parent="b", minutes=4),
        post("s", "replies to itself", parent="s", minutes=0),
        post("r", "a plain root", minutes=5),
    ]
    res = build_threads(frame(rows))
    assert _tp(res) == [
        ("s", "s", None, 0, 0),
        ("c", "c", None, 0, 0),
        ("c", "a", "c", 1, 1),
        ("c", "b", "a", 2, 2),
        ("c", "d", "b", 3, 3),
        ("r", "r", None, 0, 0),
    ]
    assert res.summary["cycles_broken"] == 2 and res.summary["posts_in_cycles"] == 4
    assert not _thread(res, "c")["is_orphan"]
    assert "reply cycle broken here (its parent b replies back into it)" in _thread(res, "c")["document"]


def test_long_cycle_and_long_chain_are_linear() -> None:
    n = 200_000
    parent = np.arange(-1, n - 1)  # one chain 0 <- 1 <- 2 ...
    walk = walk_forest(parent)
    assert walk.node.size == n and int(walk.depth.max()) == n - 1
    cyc = np.roll(np.arange(n), 1)  # 0 -> n-1 -> ... -> 1 -> 0: one big cycle
    walk = walk_forest(cyc)
    assert walk.node.size == n and walk.cycle_roots == [0] and walk.posts_in_cycles == n


def test_duplicates_and_missing_ids_are_quarantined(post, frame) -> None:
    rows = [post("1", "first"), post("1", "second copy", minutes=1), post("2", "reply", parent="1", minutes=2)]
    df = pl.concat(
        [frame(rows), frame([post("x", "no id")]).with_columns(pl.lit(None, dtype=pl.Utf8).alias("post_id"))]
    )
    res = build_threads(df)
    assert res.quarantine.schema == QUARANTINE
    assert sorted(res.quarantine["reason"].to_list()) == ["duplicate_post_id", "null_post_id"]
    assert _tp(res) == [("1", "1", None, 0, 0), ("1", "2", "1", 1, 1)]
    assert "first" in _thread(res, "1")["document"]


def test_order_is_deterministic(post, frame) -> None:
    rows = [*_nested(post), post("20", "orphan", parent="404", minutes=6), post("21", "x", parent="21", minutes=7)]
    expected = build_threads(frame(rows), max_depth=2, max_posts=4)
    for seed in range(5):
        shuffled = rows[:]
        random.Random(seed).shuffle(shuffled)
        got = build_threads(frame(shuffled), max_depth=2, max_posts=4)
        assert got.thread_posts.equals(expected.thread_posts)
        assert got.threads.equals(expected.threads)
        assert got.summary == expected.summary


def test_time_ties_are_ordered_by_post_id(post, frame) -> None:
    rows = [post("1", "root"), post("3", "b", parent="1", minutes=1), post("2", "a", parent="1", minutes=1)]
    assert [r[1] for r in _tp(build_threads(frame(rows)))] == ["1", "2", "3"]


def test_queried_input_and_empty_input(post, frame) -> None:
    q = frame(_nested(post)).with_columns(pl.lit(["x"], dtype=pl.List(pl.Utf8)).alias("matched_keywords"))
    assert q.schema == QUERIED
    assert build_threads(q).thread_posts.height == 8
    empty = build_threads(frame([]))
    assert empty.thread_posts.schema == THREAD_POSTS and empty.threads.schema == THREADS
    assert empty.threads.height == 0 and empty.summary["threads"] == 0


def test_stage_writes_its_outputs(post, frame, tmp_path) -> None:
    src = tmp_path / "queried.parquet"
    q = frame(_nested(post)).with_columns(pl.lit([], dtype=pl.List(pl.Utf8)).alias("matched_keywords"))
    write_parquet(q, src, QUERIED)
    outs = {
        "thread_posts": str(tmp_path / "o" / "thread_posts.parquet"),
        "threads": str(tmp_path / "o" / "threads.parquet"),
        "summary": str(tmp_path / "o" / "threads.json"),
    }
    cfg = {"threads": {"max_depth": 2, "max_posts": 200}}
    summary = run_stage("threads", {"queried": str(src)}, outs, cfg)
    assert summary["cut_by_depth"] == 1
    assert read_parquet(outs["thread_posts"], THREAD_POSTS).height == 7
    assert read_parquet(outs["threads"], THREADS)["thread_id"].to_list() == ["1", "10"]
    assert json.loads((tmp_path / "o" / "threads.json").read_text())["stage"] == "threads"
    first = [(tmp_path / "o" / f).read_bytes() for f in ("thread_posts.parquet", "threads.parquet")]
    run_stage("threads", {"queried": str(src)}, outs, {"threads.max_depth": 2, "threads.max_posts": 200})
    assert [(tmp_path / "o" / f).read_bytes() for f in ("thread_posts.parquet", "threads.parquet")] == first


# --- the real corpus ---------------------------------------------------------------------


def _check_usage_notes(posts: pl.DataFrame, corpus) -> None:
    truth = [json.loads(line) for line in (corpus / "truth.jsonl").read_text(encoding="utf-8").splitlines() if line]
    roots = {t["post_id"] for t in truth}
    replies = posts.filter(pl.col("parent_id").is_not_null())
    assert replies.height == 51 and set(replies["parent_id"].to_list()) <= roots

    res = build_threads(posts, max_depth=20, max_posts=200)
    s = res.summary
    assert s["threads"] == len(roots) == 94 and s["posts_placed"] == posts.height == 145
    assert s["orphan_threads"] == 0 and s["cycles_broken"] == 0 and s["threads_truncated"] == 0
    threads = {t["thread_id"]: t for t in res.threads.to_dicts()}
    assert set(threads) == roots
    tp = {(r["thread_id"], r["post_id"]): r for r in res.thread_posts.to_dicts()}
    for note in replies.to_dicts():
        root = note["parent_id"]
        t = threads[root]
        # each usage note is the one reply under its root: a thread of 2 posts, depth-1 reply
        assert t["n_posts"] == 2 and t["max_depth"] == 1 and t["post_ids"] == [root, note["post_id"]]
        assert tp[(root, note["post_id"])] == {
            "thread_id": root,
            "post_id": note["post_id"],
            "parent_id": root,
            "depth": 1,
            "position": 1,
        }
        lines = t["document"].splitlines()
        assert lines[0] == f"[thread {root}] conversation {root}, 2 posts"
        assert lines[1].startswith(f"[post {root}] @")
        assert f"  [post {note['post_id']}] @" in t["document"]
        assert "images: " in t["document"]
    for root in roots - set(replies["parent_id"].to_list()):
        assert threads[root]["n_posts"] == 1


def test_real_corpus_usage_notes_hang_under_their_roots(corpus_posts, gpt4o_corpus) -> None:
    _check_usage_notes(corpus_posts, gpt4o_corpus)  # through echo_bench.ingest when available


def test_real_corpus_with_the_local_reader(corpus_local_posts, gpt4o_corpus) -> None:
    _check_usage_notes(corpus_local_posts, gpt4o_corpus)


def test_docs_example_is_what_the_code_renders(post, frame, repo_root) -> None:
    text = (repo_root / "docs" / "schemas.md").read_text(encoding="utf-8")
    section = text[text.index("### The context document") :]
    example = section[section.index("```\n") + 4 :]
    example = example[: example.index("```")].rstrip("\n")

    def at(hh: int, mm: int) -> dt.datetime:
        return dt.datetime(2025, 3, 27, hh, mm, tzinfo=dt.UTC)

    rows = [
        post("1001", "Made a retro poster with GPT-4o, prompt below", created_at=at(15, 55), media=["3_1001"]),
        post(
            "1002",
            "Prompt: a retro poster in bold type,\nwith a red-and-yellow burst",
            parent="1001",
            created_at=at(15, 56),
        ),
        post(
            "1003",
            "mine, same prompt",
            parent="1001",
            created_at=at(16, 10),
            media=["3_1003a", "3_1003b"],
            author="carol",
        ),
        post("1004", "the text came out perfect", parent="1002", conv="1001", created_at=at(18, 2), author="bob"),
    ]
    assert build_threads(frame(rows)).threads["document"][0] == example


def test_a_dump_of_one_post_is_one_thread(post, frame) -> None:
    # A one-row frame once crashed the document rendering (polars: null replacement in replace_all).
    for media in ([], ["m1"]):
        res = build_threads(frame([post("1", "hello\nworld", media=media)]))
        assert res.threads.height == 1 and res.thread_posts.height == 1
        doc = res.threads["document"][0]
        assert doc.endswith("hello\nworld" + ("\nimages: m1" if media else ""))
