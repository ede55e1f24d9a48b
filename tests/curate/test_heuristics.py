"""The text rules shared by the offline backends: blanks, prompt finding, feedback, matching."""

from __future__ import annotations

import pytest

from echo_bench.curate.heuristics import (
    DEFAULT_NAMES,
    find_blanks,
    find_prompt,
    find_terms,
    is_feedback,
    looks_like_prompt,
    plain,
)

ALIASES = DEFAULT_NAMES.all


@pytest.mark.parametrize(
    ("prompt", "blanks"),
    [
        ("A 3D figure of [SUBJECT] in a blister pack", ["[SUBJECT]"]),
        ("A cozy room for <object> lovers", ["<object>"]),
        ("Poster of {CITY} at dusk, {name} in the corner", ["{CITY}", "{name}"]),
        ("My name is ___ and I like 【🍓】", ["___", "【🍓】"]),
        ("Transform a vector icon of [🎃] into fur", ["[🎃]"]),
        ("A poster, 16:9 [16:9], see [1] and [link](http://x.y)", []),
        ('Generate a toilet with this profile: {"style": "flat"}', []),
        ("A sign with <br> line breaks and <h1> titles", []),
        ("", []),
        (None, []),
    ],
)
def test_find_blanks(prompt: str | None, blanks: list[str]) -> None:
    assert find_blanks(prompt) == blanks


@pytest.mark.parametrize(
    ("text", "prompt", "rule"),
    [
        ("GPT-4o image gen is unreal. Prompt:\n\nA cat in a hat, Ghibli style, soft light.",
         "A cat in a hat, Ghibli style, soft light.", "label"),
        ('New 4o model nailed it 🤯\n\nPrompt: "A lighthouse on a cliff at sunset, watercolor"',
         "A lighthouse on a cliff at sunset, watercolor", "label"),
        ("Prompt (works great in ChatGPT 4o):\nA robot as pixel art, soft light", "A robot as pixel art, soft light", "label"),
        ('Asked ChatGPT 4o: "Turn this photo into Studio Ghibli style". First image is the original.',
         "Turn this photo into Studio Ghibli style", "quoted"),
        ('Gave 4o my photo with the prompt "Turn me into a Studio Ghibli character" 😳',
         "Turn me into a Studio Ghibli character", "quoted"),
        ("ChatGPT 4o hizo esto:\n\nCrea una imagen de un faro en acuarela suave, con luz cálida.",
         "Crea una imagen de un faro en acuarela suave, con luz cálida.", "colon"),
        ("4o edit in one try 🤯 Convert this photo into a pencil sketch", "Convert this photo into a pencil sketch", "colon"),
        ("A cozy cabin in snow, Studio Ghibli style, golden hour lighting.\n\n#GPT4o #AIart",
         "A cozy cabin in snow, Studio Ghibli style, golden hour lighting.", "whole"),
        ("Create a figure of [SUBJECT], studio lighting.\n\n(I used a barista) #GPT4o",
         "Create a figure of [SUBJECT], studio lighting.", "whole"),
    ],
)
def test_find_prompt_rules(text: str, prompt: str, rule: str) -> None:
    found = find_prompt(text, ALIASES)
    assert found is not None
    assert (found.text, found.rule) == (prompt, rule)


def test_quotes_inside_a_prompt_are_not_the_prompt() -> None:
    text = 'A retro poster that says "OPEN 24 HOURS" in bold letters, flat colors, halftone texture.'
    found = find_prompt(text, ALIASES)
    assert found is not None and found.text == text


@pytest.mark.parametrize(
    "text",
    [
        "Is it just me or does every 4o image have a yellow tint?",
        "ChatGPT 4o turned my cat into this and I can't stop looking at it. Prompt below 👇",
        "the new image gen in chatgpt is wild",
        "",
    ],
)
def test_commentary_has_no_prompt(text: str) -> None:
    assert find_prompt(text, ALIASES) is None


def test_looks_like_prompt() -> None:
    assert looks_like_prompt("Create an image of a lighthouse at dawn in watercolor", ALIASES)
    assert looks_like_prompt("夕暮れの崖に立つ灯台をジブリ風で描いてください。やわらかい光。", ALIASES)
    assert not looks_like_prompt("how do you make it keep the face?", ALIASES)
    assert not looks_like_prompt("wow", ALIASES)


def test_feedback_needs_a_judging_word() -> None:
    assert is_feedback("the sign is misspelled lol")
    assert is_feedback("why does everything have that yellow tint 😭")
    assert not is_feedback("what app is this?")
    assert not is_feedback("saving this 🔖")


def test_term_matching_boundaries() -> None:
    assert find_terms("Made with GPT 4o today", ["gpt-4o"]) == ["gpt 4o"]
    assert find_terms("gpt4o rocks", ["gpt-4o"]) == ["gpt4o"]
    assert find_terms("the 4o°C heat", ["4o"]) == ["4o"]
    assert find_terms("4oImage", ["4o"]) == []
    assert find_terms("画像生成すごい", ["画像"]) == ["画像"]


def test_plain_normalizes_for_fuzzy_matching() -> None:
    assert plain("  A Cat, in a HAT!! ") == "a cat in a hat"
