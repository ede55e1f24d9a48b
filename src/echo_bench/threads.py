"""Stage 2, reconstruct: reply trees and one context document per tree.

Input is a POSTS-like frame (QUERIED works: extra columns are ignored).  The
rules (documented in ``docs/schemas.md``, section "Threads"):

* **Parent.** A post whose ``parent_id`` (in-reply-to) is in the input hangs
  under that post.  A post whose ``parent_id`` is set but missing from the
  input is an **orphan**: the root of its own tree, ``is_orphan = true``.
* **conversation_id** is used only where the in-reply-to link itself is lost:
  a post with no ``parent_id`` whose ``conversation_id`` names another post
  hangs directly under that conversation root when it is in the input
  (counted as ``attached_by_conversation``), and is an orphan root otherwise.
  Orphan trees are not merged into their conversation's tree (their true place
  in it is unknown); ``threads.conversation_id`` lets later stages group the
  trees of one conversation.
* **Order.** Siblings, roots and threads are ordered by (created_at, post_id),
  nulls last; ``position`` is the pre-order index inside the tree.
* **Cycles** (a bad dump: A replies to B replies to A) are broken at their
  earliest post, which becomes a root (``is_orphan = false``); each broken cycle
  is counted.  The walk visits each post once, so nothing can hang.
* **Caps.** ``max_depth``: posts deeper than this (the root is depth 0) are
  cut.  ``max_posts``: of the rest, a tree keeps its ``max_posts`` shallowest
  posts (breadth first, earliest first at each depth), so the root's direct
  replies survive before deep sub-conversations.  Both keep every kept post's
  parent, so a cut tree is still a tree.  Cut posts are counted and their tree
  gets ``truncated = true``.  ``None`` means no cap.
* **Document.** See :func:`post_blocks` and :func:`thread_header_expr`.

The tree walk is a linear Python loop over integer arrays (children lists in
CSR form); everything else is vectorized polars / numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from echo_bench.schemas import POSTS, QUARANTINE, THREAD_POSTS, THREADS

STAGE = "threads"
INDENT = "  "  # per depth level in the document
TIME_FORMAT = "%Y-%m-%d %H:%M UTC"
RAW_LIMIT = 2000


@dataclass
class ThreadsResult:
    thread_posts: pl.DataFrame  # THREAD_POSTS, sorted by thread then position
    threads: pl.DataFrame  # THREADS, sorted by (root created_at, thread_id)
    quarantine: pl.DataFrame  # QUARANTINE: rows without an id, repeated ids
    summary: dict[str, Any] = field(default_factory=dict)


# --- parents ----------------------------------------------------------------------


def _prepare(posts: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Unique posts sorted by (created_at, post_id) with row index ``_i``; quarantined rows."""
    cols = [c for c in POSTS if c in posts.columns]
    missing = [c for c in ("post_id", "parent_id", "conversation_id", "created_at") if c not in cols]
    if missing:
        raise ValueError(f"threads: input lacks columns {missing}")
    df = posts.select(cols)
    for c, t in POSTS.items():
        if c not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=t).alias(c))
    df = df.select(list(POSTS)).with_columns(pl.col("media_keys").fill_null(pl.lit([], dtype=pl.List(pl.Utf8))))
    bad_id = pl.col("post_id").is_null() | (pl.col("post_id") == "")
    dup = ~pl.col("post_id").is_first_distinct()
    reason = pl.when(bad_id).then(pl.lit("null_post_id")).when(dup).then(pl.lit("duplicate_post_id"))
    flagged = df.with_columns(reason.alias("_reason"))
    quarantine = flagged.filter(pl.col("_reason").is_not_null()).select(
        pl.lit(STAGE).alias("stage"),
        pl.col("source_file").fill_null(""),
        pl.col("source_record").fill_null(""),
        pl.col("_reason").alias("reason"),
        pl.when(pl.col("_reason") == "null_post_id")
        .then(pl.lit("post has no id: it cannot be placed in a tree"))
        .otherwise(pl.format("post {} appears more than once; the first is used", "post_id"))
        .alias("detail"),
        pl.struct([pl.col(c).cast(pl.Utf8) for c in POSTS if c != "media_keys"] + [pl.col("media_keys")])
        .struct.json_encode()
        .str.slice(0, RAW_LIMIT)
        .alias("raw"),
    )
    df = flagged.filter(pl.col("_reason").is_null()).drop("_reason")
    df = df.sort(["created_at", "post_id"], nulls_last=True).with_row_index("_i")
    return df, quarantine


def resolve_parents(df: pl.DataFrame) -> pl.DataFrame:
    """``_i, _parent (index or -1), _orphan, _by_conv`` for ``df`` from :func:`_prepare`."""
    ids = df.select(pl.col("post_id"), pl.col("_i"))
    out = (
        df.select("_i", "post_id", "parent_id", "conversation_id")
        .join(ids.rename({"post_id": "parent_id", "_i": "_pidx"}), on="parent_id", how="left")
        .join(ids.rename({"post_id": "conversation_id", "_i": "_cidx"}), on="conversation_id", how="left")
        .sort("_i")
    )
    has_parent = pl.col("parent_id").is_not_null() & (pl.col("parent_id") != "")
    lost_link = (
        ~has_parent
        & pl.col("conversation_id").is_not_null()
        & (pl.col("conversation_id") != "")
        & (pl.col("conversation_id") != pl.col("post_id"))
    )
    by_conv = lost_link & pl.col("_cidx").is_not_null()
    return out.select(
        "_i",
        pl.when(has_parent)
        .then(pl.col("_pidx"))
        .when(by_conv)
        .then(pl.col("_cidx"))
        .otherwise(None)
        .fill_null(-1)
        .cast(pl.Int64)
        .alias("_parent"),
        ((has_parent & pl.col("_pidx").is_null()) | (lost_link & pl.col("_cidx").is_null())).alias("_orphan"),
        by_conv.alias("_by_conv"),
    )


# --- the walk ---------------------------------------------------------------------


@dataclass
class Walk:
    node: np.ndarray  # visit (pre-order) sequence of row indices
    depth: np.ndarray  # depth of each visited node
    root: np.ndarray  # root row index of each visited node
    parent: np.ndarray  # parent row index per row (-1 for roots, cycle breaks applied)
    cycle_roots: list[int]  # rows where a cycle was broken
    posts_in_cycles: int


def walk_forest(parent: np.ndarray) -> Walk:
    """Pre-order walk of the forest given by ``parent`` (row index, -1 = root).

    Children are visited in row order (rows are sorted by time).  Rows left
    unvisited after the walk from the roots hang below a cycle; each cycle is
    broken at its smallest row, which becomes a root.  Linear in the rows.
    """
    n = int(parent.shape[0])
    parent = parent.astype(np.int64, copy=True)
    # CSR children lists; a stable sort by parent keeps siblings in row (time) order.
    has_parent = parent >= 0
    child_rows = np.flatnonzero(has_parent)
    child_rows = child_rows[np.argsort(parent[child_rows], kind="stable")]
    counts = np.bincount(parent[has_parent], minlength=n) if n else np.zeros(0, dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    off = offsets.tolist()
    children = child_rows.tolist()

    visited = bytearray(n)
    out_node: list[int] = []
    out_depth: list[int] = []

    def walk_from(start: list[int]) -> None:
        """Pre-order from the roots ``start`` (in order); appends to out_node/out_depth."""
        stack = start[::-1]
        depths = [0] * len(stack)
        pop, dpop, push, dpush = stack.pop, depths.pop, stack.extend, depths.extend
        add_node, add_depth = out_node.append, out_depth.append
        while stack:
            v = pop()
            d = dpop()
            if visited[v]:  # only a cycle-break root, seen again from its old parent
                continue
            visited[v] = 1
            add_node(v)
            add_depth(d)
            s = off[v]
            e = off[v + 1]
            if e > s:
                push(children[e - 1 : s - 1 : -1] if s else children[e - 1 :: -1])
                dpush([d + 1] * (e - s))

    walk_from(np.flatnonzero(~has_parent).tolist())

    cycle_roots: list[int] = []
    in_cycles = 0
    if len(out_node) < n:
        par = parent.tolist()
        for u in np.flatnonzero(np.frombuffer(bytes(visited), dtype=np.uint8) == 0).tolist():
            if visited[u]:
                continue
            path: list[int] = []
            on_path: set[int] = set()
            x = u
            while x >= 0 and not visited[x] and x not in on_path:
                on_path.add(x)
                path.append(x)
                x = par[x]
            if x >= 0 and x in on_path:
                cycle = path[path.index(x) :]
                r = min(cycle)
                in_cycles += len(cycle)
            else:  # defensive: cannot happen for a well-formed parent array
                r = u
            cycle_roots.append(r)
            parent[r] = -1
            par[r] = -1
            walk_from([r])

    node = np.asarray(out_node, dtype=np.int64)
    depth = np.asarray(out_depth, dtype=np.int32)
    # Each tree is one contiguous run of the pre-order sequence, starting at its root (depth 0).
    k = np.arange(node.size)
    root = node[np.maximum.accumulate(np.where(depth == 0, k, 0))] if node.size else node
    return Walk(
        node=node,
        depth=depth,
        root=root,
        parent=parent,
        cycle_roots=sorted(cycle_roots),
        posts_in_cycles=in_cycles,
    )


# --- documents --------------------------------------------------------------------


def post_blocks(frame: pl.DataFrame) -> pl.Series:
    """Each post of ``frame`` (POSTS columns plus ``depth``) as a block of lines, indented by its depth.

    ``[post <id>] @<handle> (depth <d>, <YYYY-MM-DD HH:MM> UTC)``, then the text
    (``\r\n`` and ``\r`` become ``\n``, otherwise verbatim; no line when empty), then
    ``images: <key>, <key>`` when the post has media.  Every line of the block is
    indented by two spaces per depth level.  A post without a handle shows its
    author id, else ``@unknown``; one without a time shows ``time unknown``.
    """
    author = pl.coalesce(
        pl.when(pl.col("author_handle") != "").then(pl.col("author_handle")),
        pl.when(pl.col("author_id") != "").then(pl.col("author_id")),
        pl.lit("unknown"),
    )
    when = pl.col("created_at").dt.strftime(TIME_FORMAT).fill_null("time unknown")
    text = pl.col("text").fill_null("")
    if frame.select(pl.col("text").str.contains("\r", literal=True).any()).item():
        text = text.str.replace_all("\r\n", "\n", literal=True).str.replace_all("\r", "\n", literal=True)
    images = (
        pl.when(pl.col("media_keys").list.len() > 0)
        .then(pl.lit("\nimages: ") + pl.col("media_keys").list.join(", "))
        .otherwise(pl.lit(""))
    )
    block = pl.concat_str(
        [
            pl.lit("[post "),
            pl.col("post_id"),
            pl.lit("] @"),
            author,
            pl.lit(" (depth "),
            pl.col("depth").cast(pl.Utf8),
            pl.lit(", "),
            when,
            pl.lit(")"),
            pl.when(text != "").then(pl.lit("\n") + text).otherwise(pl.lit("")),
            images,
        ]
    )
    # One literal indent per depth present (a few; depth is capped): a per-row replacement
    # expression fails in polars on a one-row frame.
    blocks = frame.select(block.alias("_block"), "depth")
    indented = pl.col("_block")
    for depth in sorted(d for d in blocks["depth"].unique().to_list() if d):
        pad = INDENT * depth
        indented = (
            pl.when(pl.col("depth") == depth)
            .then(pl.lit(pad) + pl.col("_block").str.replace_all("\n", "\n" + pad, literal=True))
            .otherwise(indented)
        )
    out = blocks.select(indented.alias("_block"))
    return out["_block"]


def thread_header_expr() -> pl.Expr:
    """The first line of a document (columns of THREADS plus ``_root_parent``, ``_cycle``, ``_cut``)."""
    n = pl.format("{} post", "n_posts") + pl.when(pl.col("n_posts") == 1).then(pl.lit("")).otherwise(pl.lit("s"))
    orphan = (
        pl.when(pl.col("is_orphan"))
        .then(
            pl.format(
                "; orphan: replies to post {}, which is not in the dump",
                pl.coalesce(pl.col("_root_parent"), pl.col("conversation_id"), pl.lit("?")),
            )
        )
        .otherwise(pl.lit(""))
    )
    cycle = (
        pl.when(pl.col("_cycle"))
        .then(pl.format("; reply cycle broken here (its parent {} replies back into it)", "_root_parent"))
        .otherwise(pl.lit(""))
    )
    cut = (
        pl.when(pl.col("truncated"))
        .then(pl.format("; truncated: {} more posts cut by the depth/size caps", "_cut"))
        .otherwise(pl.lit(""))
    )
    return pl.format("[thread {}] conversation {}, ", "thread_id", pl.col("conversation_id")) + n + orphan + cycle + cut


def _rank_in_runs(keys: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... inside each run of equal consecutive ``keys``."""
    if keys.size == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    run = np.repeat(np.arange(starts.size), np.diff(np.append(starts, keys.size)))
    return np.arange(keys.size) - starts[run]


# --- the stage --------------------------------------------------------------------


def build_threads(posts: pl.DataFrame, *, max_depth: int | None = None, max_posts: int | None = None) -> ThreadsResult:
    """Reply trees of ``posts`` (POSTS columns; QUERIED is fine).  See the module docstring."""
    if max_depth is not None and int(max_depth) < 0:
        raise ValueError("threads.max_depth must be >= 0 or null")
    if max_posts is not None and int(max_posts) < 1:
        raise ValueError("threads.max_posts must be >= 1 or null")
    n_read = posts.height
    df, quarantine = _prepare(posts)
    rel = resolve_parents(df)
    walk = walk_forest(rel["_parent"].to_numpy())

    node, depth, root = walk.node, walk.depth, walk.root  # pre-order, one contiguous run per tree
    if walk.cycle_roots:  # cycle-broken trees were walked last: put every tree in root (time) order
        order = np.argsort(root, kind="stable")
        node, depth, root = node[order], depth[order], root[order]

    # Caps: depth first, then the size cap keeps the shallowest, earliest posts of each tree.
    cut_depth = depth > int(max_depth) if max_depth is not None else np.zeros(node.size, dtype=bool)
    cut_size = np.zeros(node.size, dtype=bool)
    if max_posts is not None:
        cand = np.flatnonzero(~cut_depth)
        sizes = np.bincount(root[cand], minlength=df.height) if cand.size else np.zeros(0, dtype=np.int64)
        if sizes.size and int(sizes.max()) > int(max_posts):
            cand = cand[np.isin(root[cand], np.flatnonzero(sizes > int(max_posts)))]
            cand = cand[np.lexsort((node[cand], depth[cand], root[cand]))]
            cut_size[cand[_rank_in_runs(root[cand]) >= int(max_posts)]] = True
    cut = cut_depth | cut_size
    cut_per_root = np.bincount(root[cut], minlength=df.height) if df.height else np.zeros(0, dtype=np.int64)
    keep = ~cut
    node, depth, root = node[keep], depth[keep], root[keep]
    position = _rank_in_runs(root).astype(np.int32)
    starts = np.flatnonzero(position == 0)  # first row of each tree
    roots = root[starts]

    # Per-tree facts, in tree order.
    n_posts = np.diff(np.append(starts, node.size)).astype(np.int32)
    max_d = np.maximum.reduceat(depth, starts).astype(np.int32) if starts.size else np.zeros(0, dtype=np.int32)
    cycle = np.isin(roots, np.asarray(walk.cycle_roots, dtype=np.int64))
    tree = (
        df.select(
            pl.col("post_id").alias("thread_id"),
            pl.coalesce("conversation_id", "post_id").alias("conversation_id"),
            pl.coalesce(
                pl.when(pl.col("author_handle") != "").then(pl.col("author_handle")), pl.col("author_id")
            ).alias("root_author"),
            "created_at",
            pl.col("parent_id").alias("_root_parent"),
        )
        .with_columns(rel["_orphan"].alias("is_orphan"))
        .select(pl.all().gather(pl.Series(roots)))
        .with_columns(
            pl.Series("n_posts", n_posts, dtype=pl.Int32),
            pl.Series("max_depth", max_d, dtype=pl.Int32),
            pl.Series("_cut", cut_per_root[roots] if roots.size else np.zeros(0, dtype=np.int64), dtype=pl.Int64),
            pl.Series("_cycle", cycle, dtype=pl.Boolean),
        )
        .with_columns((pl.col("_cut") > 0).alias("truncated"))
    )
    headers = tree.select(thread_header_expr())[:, 0]

    # Per-post rows, in tree order then pre-order.
    parent = walk.parent[node]
    kept = (
        df.select("post_id", "author_id", "author_handle", "created_at", "text", "media_keys")
        .select(pl.all().gather(pl.Series(node)))
        .with_columns(
            pl.Series("depth", depth, dtype=pl.Int32),
            pl.Series("position", position, dtype=pl.Int32),
            pl.Series("_tree", np.repeat(np.arange(starts.size), n_posts), dtype=pl.Int64),
            df["post_id"].gather(pl.Series(np.maximum(parent, 0))).alias("_parent_post"),
            pl.Series("_is_root", parent < 0, dtype=pl.Boolean),
        )
    )
    kept = kept.with_columns(
        df["post_id"].gather(pl.Series(root)).alias("thread_id"),
        pl.when(pl.col("_is_root")).then(None).otherwise(pl.col("_parent_post")).alias("parent_id"),
    )
    head = pl.Series("_head", [None] * 0, dtype=pl.Utf8).extend_constant(None, kept.height)
    if starts.size:
        head = head.scatter(starts, headers)
    blocks = post_blocks(kept)
    kept = kept.with_columns(
        pl.when(pl.col("position") == 0).then(head + pl.lit("\n") + blocks).otherwise(blocks).alias("_block")
    )
    thread_posts = kept.select(list(THREAD_POSTS))

    agg = kept.group_by("_tree", maintain_order=True).agg(
        pl.col("media_keys").list.len().sum().cast(pl.Int32).alias("n_media"),
        pl.col("post_id").alias("post_ids"),
        pl.col("media_keys").list.explode(keep_nulls=False, empty_as_null=False).alias("media_keys"),
        pl.col("_block").str.join("\n").alias("document"),
    )
    threads = pl.concat([tree, agg.drop("_tree")], how="horizontal").select(list(THREADS))

    n_cut_depth = int(cut_depth.sum())
    n_cut_size = int(cut_size.sum())
    by_conv = int(rel["_by_conv"].sum())
    summary: dict[str, Any] = {
        "read": n_read,
        "quarantined": quarantine.height,
        "quarantined_by_reason": dict(sorted(quarantine["reason"].value_counts().iter_rows()))
        if quarantine.height
        else {},
        "posts": df.height,
        "threads": threads.height,
        "threads_with_replies": int((threads["n_posts"] > 1).sum()),
        "orphan_threads": int(threads["is_orphan"].sum()),
        "attached_by_conversation": by_conv,
        "cycles_broken": len(walk.cycle_roots),
        "posts_in_cycles": walk.posts_in_cycles,
        "posts_placed": thread_posts.height,
        "cut_by_depth": n_cut_depth,
        "cut_by_size": n_cut_size,
        "threads_truncated": int(threads["truncated"].sum()),
        "max_depth_seen": int(walk.depth.max()) if walk.depth.size else 0,
        "largest_thread": int(threads["n_posts"].max()) if threads.height else 0,  # type: ignore[arg-type]
        "max_depth": max_depth,
        "max_posts": max_posts,
    }
    quarantine = quarantine.select(list(QUARANTINE)).sort(
        ["reason", "source_file", "source_record"], maintain_order=True
    )
    return ThreadsResult(thread_posts=thread_posts, threads=threads, quarantine=quarantine, summary=summary)
