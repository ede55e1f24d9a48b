"""Fixtures of the ingest tests: small dumps in each format, images, good and bad."""

from __future__ import annotations

import io
import shutil
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from echo_bench.ingest import IngestSettings

DATA = Path(__file__).parent / "data"

def png_bytes(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (30, 120, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny, well-formed PNG whose header claims ``width`` x ``height`` pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def write_fixture_media(dump: Path) -> None:
    media = dump / "media"
    media.mkdir(parents=True, exist_ok=True)
    red = png_bytes(color=(200, 30, 30))
    (media / "3_1910000000000000101.png").write_bytes(red)
    (media / "3_1910000000000000103.png").write_bytes(png_bytes(color=(30, 30, 200)))
    (media / "3_1910000000000000104.png").write_bytes(red)  # same bytes as the root's image


@pytest.fixture
def fixture_dump(tmp_path: Path) -> Callable[[str], Path]:
    """A dump folder holding one of the fixture files (``v2_page.json``, ``twscrape.jsonl``,
    ``snscrape.jsonl``) and the images it references under ``media/``."""

    def make(name: str) -> Path:
        dump = tmp_path / f"dump-{name.split('.')[0]}"
        dump.mkdir()
        shutil.copy(DATA / name, dump / name)
        write_fixture_media(dump)
        return dump

    return make


@pytest.fixture
def settings() -> IngestSettings:
    return IngestSettings(workers=2)


class Images:
    """Image bytes for tests (a fixture, since test modules do not import conftest)."""

    png = staticmethod(png_bytes)
    jpeg = staticmethod(jpeg_bytes)
    bomb = staticmethod(bomb_png)


@pytest.fixture
def images() -> type[Images]:
    return Images
