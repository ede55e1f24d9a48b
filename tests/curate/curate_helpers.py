"""Helpers of the curation tests: hand-made frames, pictures, a scripted LLM client, the stage params."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from PIL import Image, ImageDraw

from echo_bench.collect import match_keywords
from echo_bench.llm import LLMReply, LLMRequest
from echo_bench.schemas import MEDIA, POSTS, QUERIED
from echo_bench.threads import build_threads

T0 = dt.datetime(2025, 4, 1, 12, 0, tzinfo=dt.UTC)
KEYWORDS = ["chatgpt", "image gen", "4o", "gpt-4o", "gpt4o"]

#: params of the four curation stages (the values params.yaml is meant to carry).
PARAMS: dict[str, Any] = {
    "model_of_interest": "GPT-4o image generation",
    "model_aliases": {
        "strong": ["gpt-4o", "gpt4o", "gpt 4o", "chatgpt", "chat gpt", "4o image gen", "4o image generation", "sora"],
        "weak": ["4o", "openai"],
    },
    "other_models": ["midjourney", "dall-e", "stable diffusion", "flux", "ideogram", "imagen 4", "gemini"],
    "relevance": {"llm": {"backend": "offline"}, "threshold": 3, "keep_if": "any", "context_chars": 400},
    "extract": {"llm": {"backend": "offline"}},
    "multimodal": {
        "llm": {"backend": "offline"},
        "caption_chars": 280,
        "duplicate_max_distance": 5,
        "duplicate_max_color_delta": 2.5,
        "junk_min_side": 64,
        "junk_min_std": 2.5,
        "junk_max_aspect": 4.0,
        "composite_min_aspect": 1.2,
        "composite_min_similarity": 0.3,
    },
    "finalize": {"llm": {"backend": "offline"}, "near_duplicate_threshold": 95, "send_images": True, "min_prompt_words": 3},
}


def post(
    pid: str,
    text: str,
    *,
    parent: str | None = None,
    author: str = "alice",
    minutes: float = 0,
    media: Sequence[str] = (),
    lang: str = "en",
) -> dict[str, Any]:
    """A POSTS row; replies inherit the conversation of their parent's thread root (``conv`` of the parent)."""
    return {
        "post_id": pid,
        "conversation_id": None,
        "parent_id": parent,
        "quoted_id": None,
        "retweet_of_id": None,
        "author_id": f"id-{author}",
        "author_handle": author,
        "created_at": T0 + dt.timedelta(minutes=minutes),
        "text": text,
        "lang": lang,
        "media_keys": list(media),
        "like_count": 0,
        "retweet_count": 0,
        "reply_count": 0,
        "quote_count": 0,
        "source_format": "twitter_v2",
        "source_file": "test.json",
        "source_record": pid,
    }


def frames(rows: list[dict[str, Any]]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(queried, threads, thread_posts) of hand-made posts (conversation ids filled from the parents)."""
    by_id = {r["post_id"]: r for r in rows}

    def root(r: dict[str, Any]) -> str:
        while r["parent_id"] and r["parent_id"] in by_id:
            r = by_id[r["parent_id"]]
        return r["post_id"]

    for r in rows:
        r["conversation_id"] = root(r)
    posts = pl.DataFrame(rows, schema=POSTS)
    queried = match_keywords(posts, KEYWORDS).select(list(QUERIED))
    tr = build_threads(queried)
    return queried, tr.threads, tr.thread_posts


def media_rows(items: Sequence[tuple[str, str, int, str | None]], status: str = "ok") -> pl.DataFrame:
    """MEDIA rows from (media_key, post_id, position, path)."""
    out = []
    for key, pid, pos, path in items:
        out.append(
            {
                "media_key": key, "post_id": pid, "position": pos, "type": "photo", "source_url": f"{key}.png",
                "status": status if path else "missing", "reason": None if path else "missing_media", "sha256": None,
                "path": path, "width": 64, "height": 64, "bytes": 1, "duplicate_of": None,
            }
        )
    return pl.DataFrame(out, schema=MEDIA)


# --- pictures ---------------------------------------------------------------------------------


def photo(seed: int, w: int = 192, h: int = 192) -> Image.Image:
    """A colourful, textured picture: smooth random colour fields plus fine noise."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    img = Image.fromarray(base).resize((w, h), Image.Resampling.BICUBIC)
    a = np.asarray(img, dtype=np.int16) + rng.integers(-12, 13, size=(h, w, 3))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def shifted(img: Image.Image, delta: tuple[int, int, int]) -> Image.Image:
    a = np.asarray(img, dtype=np.int16) + np.array(delta, dtype=np.int16)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def side_by_side(left: Image.Image, right: Image.Image, gap: int = 6) -> Image.Image:
    canvas = Image.new("RGB", (left.width + gap + right.width, left.height), (255, 255, 255))
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width + gap, 0))
    return canvas


def chat_screenshot(upload: Image.Image | None, output: Image.Image, w: int = 360) -> tuple[Image.Image, dict]:
    """A phone-like chat: status bar, title, the user's upload (right), a grey bubble with text, the model's image."""
    h = 640
    im = Image.new("RGB", (w, h), (255, 255, 255))
    d = ImageDraw.Draw(im)
    d.text((10, 6), "9:41", fill=(0, 0, 0))
    d.text((w // 2 - 25, 30), "ChatGPT", fill=(20, 20, 20))
    y = 60
    boxes = {}
    if upload is not None:
        up = upload.resize((180, 150))
        im.paste(up, (w - 10 - 180, y))
        boxes["input"] = (w - 190, y, w - 10, y + 150)
        y += 160
    d.rounded_rectangle((120, y, w - 10, y + 50), radius=10, fill=(236, 236, 236))
    d.text((130, y + 8), "Turn this photo into", fill=(15, 15, 15))
    d.text((130, y + 26), "a watercolor painting", fill=(15, 15, 15))
    y += 64
    d.text((40, y), "Image created", fill=(110, 110, 110))
    y += 20
    out = output.resize((280, 280))
    im.paste(out, (30, y))
    boxes["output"] = (30, y, 310, y + 280)
    d.rounded_rectangle((10, h - 40, w - 10, h - 10), radius=10, outline=(200, 200, 200))
    d.text((20, h - 32), "Message", fill=(150, 150, 150))
    return im, boxes


def save(img: Image.Image, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG")
    return str(path)


# --- a scripted client ------------------------------------------------------------------------


class FakeClient:
    """A stand-in for LLMClient: ``answer(request)`` gives a dict (a good reply) or an LLMReply (e.g. a failure)."""

    backend_name = "fake"
    model = "fake-model"

    def __init__(self, answer: Callable[[LLMRequest], Any]) -> None:
        self.answer = answer
        self.requests: list[LLMRequest] = []

    def run(self, requests: Sequence[LLMRequest]) -> list[LLMReply]:
        out = []
        for r in requests:
            self.requests.append(r)
            a = self.answer(r)
            if isinstance(a, LLMReply):
                out.append(a)
            else:
                out.append(
                    LLMReply(ok=True, text=json.dumps(a), data=a, backend="fake", model="fake-model",
                             template=f"{r.template}@v1", key=r.key, attempts=1)
                )
        return out

    def usage(self) -> dict[str, dict[str, int]]:
        return {"fake-model": {"requests": len(self.requests)}}


def failure(error: str = "refusal: I'm sorry, but I can't help with that.") -> LLMReply:
    return LLMReply(ok=False, error=error, backend="fake", model="fake-model", template="x@v1", attempts=1)

