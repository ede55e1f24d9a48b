"""A small sample dump, generated once for the tests of this folder."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from echo_bench.sample import SampleConfig, write_dump

SMALL = SampleConfig(
    seed=7,
    n_threads=140,
    start=dt.date(2025, 3, 20),
    days=21,
    spikes=((dt.date(2025, 3, 25), 8.0),),
    image_size=96,
    page_size=40,
    n_bad=6,
)


@dataclass
class Dump:
    root: Path
    summary: dict
    truth: list[dict]
    bad: list[dict]

    def pages(self) -> dict[str, str]:
        return {
            p.relative_to(self.root).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted((self.root / "tweets").glob("page-*.json"))
        }

    def cut_page(self) -> str:
        return next(b["file"] for b in self.bad if b["kind"] == "truncated_page")

    def readable_pages(self) -> dict[str, dict]:
        cut = {b["file"] for b in self.bad if b["kind"] == "truncated_page"}
        return {name: json.loads(text) for name, text in self.pages().items() if name not in cut}

    def records(self) -> list[dict]:
        return [item for page in self.readable_pages().values() for item in page["data"]]


def load_dump(root: Path, summary: dict) -> Dump:
    truth = [json.loads(line) for line in (root / "truth.jsonl").read_text(encoding="utf-8").splitlines()]
    bad = [json.loads(line) for line in (root / "bad_records.jsonl").read_text(encoding="utf-8").splitlines()]
    return Dump(root, summary, truth, bad)


@pytest.fixture(scope="session")
def small_config() -> SampleConfig:
    return SMALL


@pytest.fixture(scope="session")
def read_dump():
    """``read_dump(root, summary)``: a written dump with its truth files parsed."""
    return load_dump


@pytest.fixture(scope="session")
def small_dump(tmp_path_factory: pytest.TempPathFactory) -> Dump:
    root = tmp_path_factory.mktemp("sample") / "dump"
    summary = write_dump(SMALL, root)
    return load_dump(root, summary)
