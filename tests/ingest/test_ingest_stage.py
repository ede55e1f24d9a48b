"""The ingest stage as Snakemake runs it: files in, Parquet + media store + summary out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from echo_bench.io import read_parquet, sha256_file
from echo_bench.runner import run_stage
from echo_bench.schemas import MEDIA, POSTS, QUARANTINE

INGEST_PARAMS = {
    "dumps": [{"path": "data/raw/sample", "format": "auto"}, {"path": "data/raw/scraped", "format": "twscrape"}],
    "media_dir": None,
    "max_bytes": 20_000_000,
    "max_pixels": 50_000_000,
    "workers": 2,
    "fetch": {"enabled": False, "allow_private": False, "timeout_s": 10, "max_bytes": 20_000_000, "max_redirects": 3},
    "limits": {"max_depth": 64, "max_record_bytes": 10_000_000, "max_document_bytes": 200_000_000,
               "max_text_chars": 100_000, "max_gzip_ratio": 100, "max_decompressed_bytes": 2_000_000_000,
               "min_created_at": "2006-03-21T00:00:00Z", "max_created_at": "2100-01-01T00:00:00Z"},
}

OUTPUTS = {
    "posts": "data/interim/posts.parquet",
    "media": "data/interim/media.parquet",
    "media_store": "data/media",
    "quarantine": "data/interim/quarantine/ingest.parquet",
    "summary": "results/stages/ingest.json",
}


@pytest.fixture
def repo(tmp_path: Path, fixture_dump, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working copy with two dumps: v2 pages (plus one broken file) and twscrape JSONL."""
    sample = tmp_path / "data" / "raw" / "sample"
    shutil.copytree(fixture_dump("v2_page.json"), sample)
    (sample / "broken.json").write_text('{"data": [')
    scraped = tmp_path / "data" / "raw" / "scraped"
    scraped.mkdir()
    (scraped / "more.jsonl").write_text(
        json.dumps({"id": 77, "id_str": "77", "rawContent": "hello", "date": "2025-05-01 00:00:00+00:00",
                    "user": {"id": 5, "id_str": "5", "username": "five"}, "media": {"photos": []}}) + "\n"
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(params: dict) -> dict:
    inputs = {"dumps": ["data/raw/sample", "data/raw/scraped"]}
    return run_stage("ingest", inputs, OUTPUTS, params)


def test_stage_writes_every_output(repo: Path) -> None:
    summary = _run({"ingest": INGEST_PARAMS})
    posts = read_parquet(OUTPUTS["posts"], POSTS)
    media = read_parquet(OUTPUTS["media"], MEDIA)
    quarantine = read_parquet(OUTPUTS["quarantine"], QUARANTINE)
    assert posts.height == 5
    assert dict(posts.group_by("source_format").len().rows()) == {"twitter_v2": 4, "twscrape": 1}
    assert quarantine.select("reason", "source_file").rows() == [("bad_json", "broken.json")]
    # content-addressed store: repo-relative paths, file stem = sha256 of the bytes
    for row in media.iter_rows(named=True):
        assert row["path"] == f"data/media/{row['sha256']}.png"
        assert sha256_file(row["path"]) == row["sha256"]
    assert sorted(p.name for p in Path("data/media").iterdir()) == sorted(set(Path(p).name for p in media["path"]))
    written = json.loads(Path(OUTPUTS["summary"]).read_text())
    assert written == json.loads(json.dumps(summary))
    assert written["stage"] == "ingest"
    assert written["posts"] == 5 and written["quarantine_reasons"] == {"bad_json": 1}
    assert [d["format"] for d in written["dumps"]] == ["auto", "twscrape"]


def test_stage_is_deterministic_and_prunes_stale_media(repo: Path) -> None:
    _run({"ingest": INGEST_PARAMS})
    first = {k: Path(v).read_bytes() for k, v in OUTPUTS.items() if k != "media_store"}
    stale = Path("data/media") / ("0" * 64 + ".png")
    stale.write_bytes(b"left over from an older run")
    keep = Path("data/media") / "README.txt"
    keep.write_text("not ours")
    _run({"ingest": INGEST_PARAMS})
    second = {k: Path(v).read_bytes() for k, v in OUTPUTS.items() if k != "media_store"}
    for key in ("posts", "media", "quarantine"):
        assert first[key] == second[key], key
    s1, s2 = json.loads(first["summary"]), json.loads(second["summary"])
    assert s2["media"].pop("stale_files_removed") == 1
    assert s1["media"].pop("stale_files_removed") == 0
    assert s1 == s2
    assert not stale.exists()
    assert keep.exists()


def test_stage_accepts_dotted_param_keys(repo: Path) -> None:
    dotted = {"ingest.dumps": INGEST_PARAMS["dumps"]}
    dotted.update({f"ingest.{k}": v for k, v in INGEST_PARAMS.items() if k not in ("dumps", "fetch", "limits")})
    dotted.update({f"ingest.fetch.{k}": v for k, v in INGEST_PARAMS["fetch"].items()})
    dotted.update({f"ingest.limits.{k}": v for k, v in INGEST_PARAMS["limits"].items()})
    summary = _run(dotted)
    assert summary["posts"] == 5
    missing = {k: v for k, v in dotted.items() if k != "ingest.max_pixels"}
    with pytest.raises(KeyError, match="ingest.max_pixels"):
        _run(missing)


def test_params_format_applies_per_dump(repo: Path) -> None:
    params = json.loads(json.dumps(INGEST_PARAMS))
    params["dumps"][1]["format"] = "snscrape"  # wrong on purpose: the twscrape file is read as snscrape
    summary = _run({"ingest": params})
    assert summary["records_by_format"] == {"snscrape": 1, "twitter_v2": 4}
    assert summary["unknown_fields"] == {"snscrape.id_str": 1}
    # twscrape's media object is not snscrape's media list: that record is quarantined
    quarantine = pl.read_parquet(OUTPUTS["quarantine"])
    assert quarantine.select("reason", "source_file").rows() == [("bad_json", "broken.json"), ("bad_field", "more.jsonl")]
    assert "77" not in pl.read_parquet(OUTPUTS["posts"])["post_id"].to_list()
