"""The offline judge on control-like images: preserving the input beats scrambling or a color cast."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from PIL import Image

from echo_bench.judge.grading import parse_rating
from echo_bench.judge.offline import EXAMPLE_CONFIG, OfflineJudge, judge_reply, measure, rate, requested_words, word_recall


def scene(size: int = 128) -> np.ndarray:
    """A synthetic photo-like scene: gradient sky, a disc, a bar, some texture."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.zeros((size, size, 3))
    img[..., 0] = 60 + 120 * y
    img[..., 1] = 90 + 80 * x
    img[..., 2] = 170 - 60 * y
    disc = (x - 0.35) ** 2 + (y - 0.4) ** 2 < 0.04
    img[disc] = [230, 200, 40]
    img[(y > 0.7) & (y < 0.8) & (x > 0.2) & (x < 0.9)] = [30, 30, 30]
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255)


def save(arr: np.ndarray, path) -> str:
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(path)
    return str(path)


def scrambled(img: np.ndarray, block: int = 16) -> np.ndarray:
    rng = np.random.default_rng(1)
    n = img.shape[0] // block
    tiles = [img[i * block:(i + 1) * block, j * block:(j + 1) * block] for i in range(n) for j in range(n)]
    order = rng.permutation(len(tiles))
    rows = [np.concatenate([tiles[order[i * n + j]] for j in range(n)], axis=1) for i in range(n)]
    return np.concatenate(rows, axis=0)


@pytest.fixture
def controls(tmp_path):
    img = scene()
    cast = img + np.array([45.0, 5.0, -35.0])
    return {
        "input": save(img, tmp_path / "input.png"),
        "exact": save(img, tmp_path / "exact.png"),
        "scrambled": save(scrambled(img), tmp_path / "scrambled.png"),
        "color_cast": save(cast, tmp_path / "cast.png"),
        "blank": save(np.full_like(img, 128.0), tmp_path / "blank.png"),
        "noise": save(np.random.default_rng(5).uniform(0, 255, img.shape), tmp_path / "noise.png"),
    }


def rating_of(controls, name, table=None, prompt="make it a painting"):
    reply = judge_reply(controls[name], [controls["input"]], prompt, table or {}, EXAMPLE_CONFIG)
    p = parse_rating(reply)
    assert p.status == "ok", reply
    return p.score, reply


def test_preserving_output_scores_highest(controls):
    exact, _ = rating_of(controls, "exact")
    scr, _ = rating_of(controls, "scrambled")
    cast, _ = rating_of(controls, "color_cast")
    noise, _ = rating_of(controls, "noise")
    blank, reply = rating_of(controls, "blank")
    assert exact == 10
    assert exact > scr and exact > cast and exact > noise
    assert blank == 1 and "blank" in reply
    assert noise <= scr  # noise keeps neither structure nor pixels


def test_signals_move_the_right_way(controls):
    sig = {name: {s.name: s.value for s in measure(controls[name], [controls["input"]], "", {}, EXAMPLE_CONFIG)[0]}
           for name in ("exact", "scrambled", "color_cast")}
    assert sig["exact"]["edge_similarity"] == pytest.approx(1.0) and sig["exact"]["color_shift"] == pytest.approx(0.0)
    assert sig["scrambled"]["edge_similarity"] < 0.5 < sig["color_cast"]["edge_similarity"]
    assert sig["color_cast"]["color_shift"] > 30 > sig["scrambled"]["color_shift"]


def test_reply_says_what_it_is_and_lists_signals(controls):
    _, reply = rating_of(controls, "color_cast")
    assert reply.startswith("Offline heuristic judge") and "no model was called" in reply
    for s in ("color_shift", "edge_similarity", "pixel_difference", "[pixels]", "Quality Q ="):
        assert s in reply
    assert reply.splitlines()[-1].startswith("Rating: [[")


def test_metrics_table_values_take_precedence(controls):
    # a table structure_distance replaces the pixel edge similarity; text accuracy enters with its weight
    table = {"structure_distance": 0.0, "text_accuracy": 0.0, "unknown_metric": 3.0}
    signals, notes = measure(controls["exact"], [controls["input"]], "", table, EXAMPLE_CONFIG)
    names = {s.name: s.source for s in signals}
    assert names["structure_distance"] == "metrics table" and "edge_similarity" not in names
    assert names["text_accuracy"] == "metrics table" and any("unknown_metric" in n for n in notes)
    low, _ = rating_of(controls, "exact", table=table)
    high, _ = rating_of(controls, "exact", table={**table, "text_accuracy": 1.0})
    assert low < high == 10


def test_text_to_image_without_signals_is_neutral(controls):
    reply = judge_reply(controls["exact"], [], "a cat on a sofa", {}, EXAMPLE_CONFIG)
    assert parse_rating(reply).score == 5 and "neutral" in reply
    reply = judge_reply(controls["exact"], [], 'a sign that says "OPEN TODAY"', {}, EXAMPLE_CONFIG)
    assert "OCR is off" in reply


def test_formula():
    cfg = copy.deepcopy(EXAMPLE_CONFIG)
    from echo_bench.judge.offline import Signal

    r, q, _ = rate([Signal("text_accuracy", 0.5, "metrics table"), Signal("color_shift", 0.0, "pixels")], cfg)
    # Q = (2 * 0.5 + 1 * 1) / 3 = 2/3; rating = 1 + floor(9 * 2/3 + 0.5) = 1 + 6 = 7
    assert q == pytest.approx(2 / 3) and r == 7
    assert requested_words('Write "Hello, World" and \u201cECHO 2025\u201d') == ["hello", "world", "echo", "2025"]
    assert word_recall(["hello", "world"], "HELLO there") == 0.5


def test_offline_judge_through_the_llm_client(controls, tmp_path):
    from echo_bench.judge.grading import Item, grade
    from echo_bench.llm import make_client

    judge = OfflineJudge(EXAMPLE_CONFIG)
    client = make_client({"backend": "offline", "model": "offline-heuristic-judge"}, cache_dir=tmp_path / "cache", offline=judge)
    items = [Item("image_to_image", "s", m, "keep it", (controls["input"],), controls[m]) for m in ("exact", "scrambled")]
    rows = grade(items, judge="offline", backend="offline", client=client, template="judge_single", repeats=2)
    assert [r["status"] for r in rows] == ["ok"] * 4
    assert rows[0]["score"] == rows[1]["score"] == 10 and rows[2]["score"] < 10
    assert rows[0]["template"] == "judge_single@v1" and rows[0]["raw"].startswith("Offline heuristic judge")


def test_ocr_text_accuracy(tmp_path):
    pytest.importorskip("rapidocr", reason="rapidocr not installed")
    from PIL import ImageDraw, ImageFont

    im = Image.new("RGB", (480, 160), "white")
    d = ImageDraw.Draw(im)
    try:
        font = ImageFont.load_default(size=64)
    except TypeError:  # old Pillow
        pytest.skip("Pillow without scalable default font")
    d.text((20, 40), "OPEN DAILY", fill="black", font=font)
    path = save(np.asarray(im, dtype=float), tmp_path / "sign.png")
    cfg = {**EXAMPLE_CONFIG, "ocr": True}
    signals, notes = measure(path, [], 'a shop sign that says "Open Daily"', {}, cfg)
    got = {s.name: s for s in signals}
    if "text_accuracy" not in got:
        pytest.skip(f"OCR unavailable here: {notes}")
    assert got["text_accuracy"].source == "ocr" and got["text_accuracy"].value == pytest.approx(1.0)
    wrong, _ = measure(path, [], 'a shop sign that says "Closed Forever"', {}, cfg)
    assert {s.name: s.value for s in wrong}["text_accuracy"] == 0.0
