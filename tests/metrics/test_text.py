"""Text rendering accuracy: requested text, normalization, scores (ours and peers'), OCR known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from echo_bench.metrics import text as T


@pytest.mark.parametrize(
    ("prompt", "want"),
    [
        ('A neon sign that says "OPEN 24/7" above a diner', ["OPEN 24/7"]),
        ("Poster with the title “Summer Vibes” and a beach", ["Summer Vibes"]),
        ("A mug that says Don't Panic in bold letters", ["Don't Panic"]),
        ("a t-shirt with the text HELLO WORLD on the front", ["HELLO WORLD"]),
        ("Sign with ‘Don’t stop’ on it", ["Don’t stop"]),
        ("A book cover, title: The Last Light, author name below", ["The Last Light"]),
        ('A poster reading "SALE" and "50% OFF"', ["SALE", "50% OFF"]),
        ("写有「你好世界」的招牌", ["你好世界"]),
        ('Create an image in "Studio Ghibli" style', []),  # quoted, but no text is asked for
        ('"A photorealistic cat sitting on a wooden bench under cherry blossoms at dusk"', []),
        ("Make this photo look like a watercolor painting", []),
    ],
)
def test_extract_requested_text(prompt: str, want: list[str]) -> None:
    assert T.extract_requested_text(prompt) == want


def test_normalize_and_words() -> None:
    assert T.normalize("  Ｈｅｌｌｏ,\tWORLD!! ") == "hello world"  # NFKC, case, punctuation, spaces
    assert T.normalize("Café—Ünïcode") == "café ünïcode"
    assert T.words(T.normalize("你好 world")) == ["你", "好", "world"]


def test_substring_edit_distance() -> None:
    assert T.substring_edit_distance("hello", "xx hello yy") == 0
    assert T.substring_edit_distance("hello", "xxhallo") == 1
    assert T.substring_edit_distance("abc", "") == 3
    assert T.substring_edit_distance("kitten", "sitting") == 2  # free suffix: 'sittin' vs 'kitten'


def test_our_scores() -> None:
    s = T.text_scores(["OPEN 24/7"], "DINER OPEN 24/7")
    assert s.char_accuracy == 1.0 and s.word_recall == 1.0 and s.completion == 1.0
    assert s.word_precision == pytest.approx(3 / 4)  # 'diner' was not requested
    assert s.char_accuracy_full < 1.0
    s = T.text_scores(["HELLO WORLD"], "HELL0 WORLD")
    assert s.char_accuracy == pytest.approx(1 - 1 / 10)
    assert s.word_recall == 0.5 and s.completion == 0.0
    assert T.text_scores(["abc"], "").char_accuracy == 0.0
    with pytest.raises(ValueError, match="empty once normalized"):
        T.text_scores(["!!!"], "anything")


def test_oneig_score_known_values() -> None:
    r = T.oneig_score("Hello World", "Hello World")
    assert (r["ed"], r["cr"], r["wac"], r["score"]) == (0, 1.0, 1.0, 1.0)
    r = T.oneig_score("Hello World", "Hello Wrld!")
    assert r["ed"] == 1 and r["cr"] == 0.0 and r["wac"] == 0.5
    assert r["score"] == pytest.approx(1 - 1 * 1 * 0.5 / 100)
    r = T.oneig_score("Hello", "")  # nothing read
    assert r["score"] == pytest.approx(1 - 5 / 100)
    r = T.oneig_score("你好世界", "你好世")
    assert r["lang"] == "zh" and r["max_ed"] == 50 and r["wac"] == 0.75
    assert r["score"] == pytest.approx(1 - 1 * 1 * 0.25 / 50)


def test_mario_scores_known_values() -> None:
    r = T.mario_scores(["Big Sale", "today"], ["BIG", "sale", "now"])
    assert r["precision"] == pytest.approx(2 / 3) and r["recall"] == pytest.approx(2 / 3)
    assert r["f"] == pytest.approx(2 / 3) and r["accuracy"] == 0.0
    assert T.mario_scores(["Big Sale"], ["sale", "big"])["accuracy"] == 1.0
    assert T.mario_scores([], ["x"]) is None


def test_rapidocr_models_ship_in_the_wheel() -> None:
    import rapidocr

    models = Path(rapidocr.__file__).parent / "models"
    onnx = sorted(p.name for p in models.glob("*.onnx"))
    assert any("det" in n for n in onnx) and any("rec" in n for n in onnx), onnx


@pytest.fixture(scope="module")
def ocr():
    return T.OcrReader()


def _substitute(text: str, rate: float, rng: np.random.Generator) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    pos = [i for i, c in enumerate(text) if c != " "]
    chosen = rng.permutation(pos)[: round(rate * len(pos))]
    out = list(text)
    for i in chosen:
        out[i] = letters[(letters.index(out[i]) + 1 + int(rng.integers(0, 25))) % 26]
    return "".join(out)


def test_ocr_accuracy_falls_with_the_character_error_rate(ocr, render_text) -> None:
    target = ["FRESH COFFEE DAILY", "BREAD OPEN LATE"]
    rng = np.random.default_rng(0)
    acc = {}
    for rate in (0.0, 0.1, 0.3, 0.5):
        shown = [_substitute(line, rate, rng) for line in target]
        lines = [x.text for x in ocr.read(render_text(shown))]
        scores = T.score_all(target, lines, quoted=target)
        acc[rate] = scores["char_accuracy"]
        if rate == 0.0:
            assert scores["completion"] == 1.0 and scores["oneig"]["score"] == 1.0
            assert scores["mario"]["accuracy"] == 1.0
    rates = sorted(acc)
    assert all(acc[a] > acc[b] for a, b in zip(rates, rates[1:])), acc
    assert acc[0.0] == 1.0
    for rate in rates:  # OCR reads the substituted letters: accuracy tracks 1 - rate
        assert acc[rate] == pytest.approx(1 - rate, abs=0.1), acc


def test_ocr_finds_nothing_on_a_blank_image(ocr) -> None:
    assert ocr.read(np.full((200, 400, 3), 255, np.uint8)) == []


def test_text_judge_template_registers(text_judge_cleanup) -> None:
    from echo_bench import prompts

    name = T.ensure_text_judge_template()
    tpl = prompts.load(name)
    assert tpl.reply == "json" and set(tpl.variables) == {"prompt", "target_text"}
    assert "SALE" in tpl.render({"prompt": "p", "target_text": "SALE"}).user
