"""The collect stage: keyword query, time window, retweets, conversation context, quarantine."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from echo_bench.collect import (
    collect,
    conversation_keys,
    keyword_regex,
    match_keywords,
    normalize_keywords,
    window_bounds,
)
from echo_bench.io import read_parquet
from echo_bench.runner import run_stage
from echo_bench.schemas import QUARANTINE, QUERIED

KEYWORDS = ["chatgpt", "create image", "image gen", "4o", "gpt-4o", "gpt4o", "sora"]


# --- keyword matching ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("keyword", "text", "hit"),
    [
        # "4o" is a whole token: a hyphen, an apostrophe, '#' or punctuation before/after is a boundary.
        ("4o", "Made with GPT-4o!", True),
        ("4o", "4o's images are wild", True),
        ("4o", "#4o", True),
        ("4o", "GPT\u20114o (non-breaking hyphen)", True),
        ("4o", "gpt4o is great", False),  # letter before: no boundary; list "gpt4o" separately
        ("4o", "4oImage", False),
        ("4o", "40 images", False),
        ("gpt4o", "GPT4o rocks", True),
        ("gpt-4o", "GPT-4o", True),
        ("gpt-4o", "gpt-4o-mini", True),  # the hyphen after "4o" is a boundary
        ("gpt-4o", "gpt 4o", False),
        ("chatgpt", "Asked ChatGPT to draw", True),
        ("chatgpt", "chatgpt.com", True),
        ("chatgpt", "chatgpts", False),
        ("sora", "SORA's output", True),
        ("sora", "Soraya", False),
        # phrases: any run of whitespace between the words, still whole words at the ends
        ("create image", "Create\n   IMAGE of a cat", True),
        ("create image", "created image", False),
        ("create image", "create images", False),
        ("image gen", "new image gen just dropped", True),
        ("image gen", "image generation", False),  # whole words: use a wildcard for prefixes
        ("image gen*", "image generation", True),
        ("image gen*", "image gen", True),
        ("image gen*", "image", False),
        # regex metacharacters are literal; non-word ends need no boundary
        ("c++", "I write c++ daily", True),
        ("a.b", "axb", False),
        ("a.b", "A.B", True),
        ("#gpt4o", "love this #GPT4o", True),
        # Unicode case folding
        ("été", "ÉTÉ 2025", True),
    ],
)
def test_keyword_match(keyword: str, text: str, hit: bool) -> None:
    df = pl.DataFrame({"text": [text]})
    got = match_keywords(df, [keyword])["matched_keywords"].to_list()[0]
    assert (got == [keyword]) is hit, (keyword, text, keyword_regex(keyword))


def test_matched_keywords_lists_every_keyword_in_query_order() -> None:
    df = pl.DataFrame({"text": ["Sora vs GPT-4o in ChatGPT", "nothing here", None]})
    got = match_keywords(df, KEYWORDS)["matched_keywords"].to_list()
    assert got == [["chatgpt", "4o", "gpt-4o", "sora"], [], []]


def test_normalize_keywords() -> None:
    assert normalize_keywords(["ChatGPT", " chatgpt ", "create   image", "", "4o"]) == [
        "ChatGPT",
        "create image",
        "4o",
    ]
    with pytest.raises(TypeError):
        normalize_keywords([4])


@pytest.mark.parametrize("lone", ["*", " ** "])
def test_lone_star_keyword_is_a_misconfiguration_naming_match_all(lone: str) -> None:
    with pytest.raises(ValueError, match="collect.match_all"):
        normalize_keywords(["chatgpt", lone])


# Scripts without spaces between words: CJK keywords match inside CJK runs, and
# Latin keywords and model names match right next to CJK characters.
@pytest.mark.parametrize(
    ("keyword", "text", "hit"),
    [
        ("nano banana", "调用Nano Banana Pro生成的海报", True),
        ("nano banana pro", "调用Nano Banana Pro生成的海报", True),
        ("gpt-4o", "用GPT-4o生成一张图", True),
        ("chatgpt", "我用ChatGPT画了这张图", True),
        ("4o", "4o画的", True),
        ("sora", "Soraya的照片", False),  # still a whole word against Latin letters
        ("生图", "用GPT生图真方便", True),
        ("提示词", "提示词如下：", True),
        ("画像生成", "ChatGPTで画像生成してみた", True),
        ("gpt-4o", "GPT-4o로 만든 이미지", True),  # Hangul particle attached
        ("이미지", "이미지를 만들었다", True),
        ("image gen*", "image generation生成", True),
    ],
)
def test_keyword_match_in_cjk_text(keyword: str, text: str, hit: bool) -> None:
    df = pl.DataFrame({"text": [text]})
    got = match_keywords(df, [keyword])["matched_keywords"].to_list()[0]
    assert (got == [keyword]) is hit, (keyword, text, keyword_regex(keyword))


# --- window ---------------------------------------------------------------------------


def test_window_bounds_dates_are_whole_days_in_utc() -> None:
    start, stop, incl = window_bounds("2025-03-25", dt.date(2025, 4, 30))
    assert start == dt.datetime(2025, 3, 25, tzinfo=dt.UTC)
    assert stop == dt.datetime(2025, 5, 1, tzinfo=dt.UTC) and incl is False
    start, stop, incl = window_bounds(None, "2025-04-01T12:00:00+02:00")
    assert start is None and stop == dt.datetime(2025, 4, 1, 10, tzinfo=dt.UTC) and incl is True
    assert window_bounds(None, None) == (None, None, True)
    with pytest.raises(ValueError):
        window_bounds("2025-04-02", "2025-04-01")
    with pytest.raises(ValueError):
        window_bounds("April 1st", None)


def test_window_is_inclusive_at_both_ends(post, frame) -> None:
    day = dt.datetime(2025, 4, 1, tzinfo=dt.UTC)
    rows = [
        post("a", "chatgpt", created_at=day - dt.timedelta(microseconds=1)),  # 03-31 23:59:59.999999
        post("b", "chatgpt", created_at=day),  # 04-01 00:00 (since, inclusive)
        post("c", "chatgpt", created_at=day + dt.timedelta(days=1, microseconds=-1)),  # 04-01 23:59:59.999999
        post("d", "chatgpt", created_at=day + dt.timedelta(days=1)),  # 04-02 00:00
    ]
    res = collect(frame(rows), keywords=["chatgpt"], since="2025-04-01", until="2025-04-01")
    assert res.queried["post_id"].to_list() == ["b", "c"]
    assert res.summary["outside_window"] == 2
    # a datetime bound is an inclusive instant
    res = collect(frame(rows), keywords=["chatgpt"], since=None, until="2025-04-01T00:00:00Z")
    assert res.queried["post_id"].to_list() == ["a", "b"]
    # open window: everything
    res = collect(frame(rows), keywords=["chatgpt"])
    assert res.queried.height == 4 and res.summary["outside_window"] == 0


# --- the query ------------------------------------------------------------------------


def _dump(post):
    return [
        post("1", "Made this with GPT-4o, prompt below", minutes=0, media=["m1"]),
        post("2", "prompt: a cat astronaut", parent="1", minutes=1),  # context (reply of a match)
        post("3", "wow", parent="2", conv="1", minutes=2),  # context, nested
        post("4", "nothing relevant here", minutes=3),
        post("5", "nope", parent="4", minutes=4),
        post("6", "my chatgpt thread", minutes=-2 * 24 * 60),  # matches but before the window
        post("7", "tried to create image with it", parent="6", minutes=5),  # match in window: pulls in 6
        post("8", "RT @alice: Made this with GPT-4o", retweet_of="1", minutes=6),  # retweet of 1
        post("9", "RT @bob: sora is out", retweet_of="404", minutes=7),  # retweet, original absent
        post("10", None, parent="1", minutes=8),  # no text: quarantined
        post("1", "a second copy of post 1", minutes=9),  # repeated id: quarantined
    ]


def test_collect_keeps_matches_and_their_conversations(post, frame) -> None:
    res = collect(frame(_dump(post)), keywords=KEYWORDS, since="2025-03-31", until=None)
    q = res.queried
    assert q.schema == QUERIED
    assert q["post_id"].to_list() == ["6", "1", "2", "3", "7"]  # sorted by (created_at, post_id)
    mk = dict(zip(q["post_id"], q["matched_keywords"].to_list(), strict=True))
    assert mk == {"6": ["chatgpt"], "1": ["4o", "gpt-4o"], "2": [], "3": [], "7": ["create image"]}
    s = res.summary
    assert s["read"] == 11
    assert s["quarantined"] == 2 and s["quarantined_by_reason"] == {"duplicate_post_id": 1, "null_text": 1}
    assert s["retweets_dropped"] == 2 and s["retweets_without_original"] == 1
    assert s["outside_window"] == 1  # post 6, kept anyway as context of 7
    assert s["matched"] == 2 and s["matched_roots"] == 1
    assert s["matched_per_keyword"] == {
        "chatgpt": 0,
        "create image": 1,
        "image gen": 0,
        "4o": 1,
        "gpt-4o": 1,
        "gpt4o": 0,
        "sora": 0,
    }
    assert s["conversations_matched"] == 2
    assert s["context_kept"] == 3 and s["kept"] == 5
    assert s["read"] == s["quarantined"] + s["retweets_dropped"] + s["outside_window"] + s["judged_in_window"]

    quarantine = res.quarantine
    assert quarantine.schema == QUARANTINE
    assert quarantine["reason"].to_list() == ["duplicate_post_id", "null_text"]
    assert (quarantine["stage"] == "collect").all()
    dup = json.loads(quarantine.filter(pl.col("reason") == "duplicate_post_id")["raw"][0])
    assert dup["text"] == "a second copy of post 1"  # the first occurrence is the one kept
    assert q.filter(pl.col("post_id") == "1")["text"][0].startswith("Made this")


def test_include_replies_off_keeps_only_matches(post, frame) -> None:
    res = collect(frame(_dump(post)), keywords=KEYWORDS, since="2025-03-31", include_replies=False)
    assert res.queried["post_id"].to_list() == ["1", "7"]
    assert res.summary["context_kept"] == 0


def test_retweets_kept_when_not_dropped(post, frame) -> None:
    res = collect(frame(_dump(post)), keywords=KEYWORDS, since="2025-03-31", drop_retweets=False)
    assert {"8", "9"} <= set(res.queried["post_id"].to_list())
    assert res.summary["retweets_dropped"] == 0


def test_null_time_quarantined_only_under_a_window(post, frame) -> None:
    rows = [post("1", "chatgpt", created_at=None), post("2", "chatgpt")]
    res = collect(frame(rows), keywords=["chatgpt"])
    assert res.queried.height == 2 and res.quarantine.height == 0
    res = collect(frame(rows), keywords=["chatgpt"], since="2025-01-01")
    assert res.queried["post_id"].to_list() == ["2"]
    assert res.quarantine["reason"].to_list() == ["null_created_at"]


def test_missing_conversation_id_follows_in_reply_to(post, frame) -> None:
    rows = [
        post("1", "gpt4o result"),
        post("2", "reply", parent="1", conv=None, minutes=1),
        post("3", "reply to reply", parent="2", conv=None, minutes=2),
        post("4", "unrelated", minutes=3),
    ]
    df = frame(rows).with_columns(
        pl.when(pl.col("post_id").is_in(["2", "3"]))
        .then(None)
        .otherwise(pl.col("conversation_id"))
        .alias("conversation_id")
    )
    assert conversation_keys(df).to_list() == ["1", "1", "1", "4"]
    assert collect(df, keywords=["gpt4o"]).queried["post_id"].to_list() == ["1", "2", "3"]
    # ingest writes the post's own id when a source has no conversation id: on a reply that means "unknown"
    own = frame(rows).with_columns(
        pl.when(pl.col("parent_id").is_not_null())
        .then(pl.col("post_id"))
        .otherwise(pl.col("conversation_id"))
        .alias("conversation_id")
    )
    assert conversation_keys(own).to_list() == ["1", "1", "1", "4"]
    assert collect(own, keywords=["gpt4o"]).queried["post_id"].to_list() == ["1", "2", "3"]


def test_a_matching_reply_pulls_in_its_root_and_siblings(post, frame) -> None:
    rows = [
        post("1", "look at this"),
        post("2", "made with sora btw", parent="1", minutes=1),
        post("3", "nice", parent="1", minutes=2),
        post("4", "other", minutes=3),
    ]
    res = collect(frame(rows), keywords=["sora"])
    assert res.queried["post_id"].to_list() == ["1", "2", "3"]
    assert res.summary["matched_roots"] == 0 and res.summary["matched"] == 1


def test_empty_keywords_rejected(post, frame) -> None:
    with pytest.raises(ValueError, match="collect.match_all"):
        collect(frame([post("1", "x")]), keywords=["  "])


def test_match_all_takes_every_post_of_the_window(post, frame) -> None:
    rows = [
        post("1", "a prompt that names no model at all", minutes=0),
        post("2", "一只戴着墨镜的猫，赛博朋克风格", minutes=1),
        post("3", "reply without keywords", parent="1", minutes=2),
        post("4", "too late", created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)),
        post("5", "a retweet", retweet_of="1", minutes=3),
    ]
    res = collect(frame(rows), keywords=[], match_all=True, until="2025-12-31")
    assert res.queried["post_id"].to_list() == ["1", "2", "3"]
    s = res.summary
    assert s["match_all"] is True and s["matched"] == 3 and s["outside_window"] == 1 and s["retweets_dropped"] == 1
    # the keywords are not used at all under match_all
    assert collect(frame(rows), keywords=["zzz"], match_all=True).queried.height == 4


def test_empty_input(frame) -> None:
    res = collect(frame([]), keywords=KEYWORDS)
    assert res.queried.height == 0 and res.queried.schema == QUERIED and res.summary["kept"] == 0


def test_output_is_deterministic_whatever_the_input_order(post, frame, tmp_path) -> None:
    rows = [r for r in _dump(post) if not (r["post_id"] == "1" and r["text"].startswith("a second"))]
    a = collect(frame(rows), keywords=KEYWORDS, since="2025-03-31")
    b = collect(frame(rows[::-1]), keywords=KEYWORDS, since="2025-03-31")
    assert a.queried.equals(b.queried)
    assert a.quarantine.equals(b.quarantine)
    assert a.summary == b.summary


# --- the stage ------------------------------------------------------------------------


def test_stage_writes_its_outputs(post, frame, tmp_path) -> None:
    from echo_bench.io import write_parquet
    from echo_bench.schemas import POSTS

    posts = tmp_path / "posts.parquet"
    write_parquet(frame(_dump(post)), posts, POSTS)
    cfg = {
        "collect": {
            "keywords": KEYWORDS,
            "since": dt.date(2025, 3, 31),  # as YAML gives an unquoted date
            "until": None,
            "include_replies": True,
            "drop_retweets": True,
            "match_all": False,
        }
    }
    outs = {
        "queried": str(tmp_path / "out" / "queried.parquet"),
        "quarantine": str(tmp_path / "out" / "quarantine.parquet"),
        "summary": str(tmp_path / "out" / "collect.json"),
    }
    summary = run_stage("collect", {"posts": str(posts)}, outs, cfg)
    assert summary["kept"] == 5
    assert read_parquet(outs["queried"], QUERIED)["post_id"].to_list() == ["6", "1", "2", "3", "7"]
    assert read_parquet(outs["quarantine"], QUARANTINE).height == 2
    written = json.loads((tmp_path / "out" / "collect.json").read_text())
    assert written["stage"] == "collect" and written["matched_per_keyword"]["create image"] == 1
    first = (tmp_path / "out" / "queried.parquet").read_bytes()
    run_stage("collect", {"posts": str(posts)}, outs, cfg)
    assert (tmp_path / "out" / "queried.parquet").read_bytes() == first  # byte-identical re-run


def test_stage_reads_only_declared_params(post, frame, tmp_path) -> None:
    from echo_bench.io import write_parquet
    from echo_bench.schemas import POSTS

    posts = tmp_path / "posts.parquet"
    write_parquet(frame(_dump(post)), posts, POSTS)
    cfg = {"collect.keywords": KEYWORDS, "collect.since": None, "collect.until": None}  # two keys missing
    with pytest.raises(KeyError, match="include_replies"):
        run_stage(
            "collect",
            {"posts": str(posts)},
            {"queried": str(tmp_path / "q.parquet"), "quarantine": str(tmp_path / "x.parquet")},
            cfg,
        )


# --- the real corpus ---------------------------------------------------------------------


def test_real_corpus_keeps_whole_conversations(corpus_posts) -> None:
    res = collect(corpus_posts, keywords=KEYWORDS)
    q = res.queried
    s = res.summary
    assert s["read"] == corpus_posts.height == 145
    assert s["quarantined"] == 0 and s["retweets_dropped"] == 0
    # 7 posts mention the query words; 5 of them are usage-note replies ("... using Sora ...")
    assert s["matched"] == 7 and s["matched_roots"] == 2
    assert s["matched_per_keyword"]["sora"] == 4 and s["matched_per_keyword"]["gpt-4o"] == 2
    ids = set(q["post_id"].to_list())
    hits = q.filter(pl.col("matched_keywords").list.len() > 0)
    for parent in hits["parent_id"].drop_nulls().to_list():  # each matching reply brings its root
        assert parent in ids
    # every kept post shares a conversation with a hit, and whole conversations are kept
    convs = set(hits["conversation_id"].to_list())
    assert set(q["conversation_id"].to_list()) == convs
    whole = corpus_posts.filter(pl.col("conversation_id").is_in(list(convs)))
    assert ids == set(whole["post_id"].to_list())
    assert s["kept"] == whole.height
