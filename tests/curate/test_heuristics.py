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


# --- issue 12: rules that must not fire on prompt content, in any script ----------------


@pytest.mark.parametrize(
    "text",
    [
        # E4 used to cut at the first arrow anywhere: JSON values and Chinese prompts hold arrows
        '{"scene": "a fox in the rain", "transition": "day → night", "style": "watercolor poster, soft light"}',
        "将照片中的人物变成3D手办，左边是原图→右边是手办效果，背景为白色摄影棚，柔和光线，高清细节",
        "A four-panel comic strip: panel 1 a seed ➡️ panel 2 a sprout ➡️ panel 3 a tree, flat pastel colors",
        "Design an infographic poster, flow chart style: idea 👉 sketch 👉 prototype 👉 launch, bold icons",
    ],
)
def test_arrows_inside_a_prompt_do_not_cut_it(text: str) -> None:
    found = find_prompt(text, ALIASES)
    assert found is not None and found.text == text, found


@pytest.mark.parametrize(
    ("text", "prompt"),
    [
        ("Prompt in the post 👇\nA cinematic poster of a fox in the rain, neon lights, 35mm film",
         "A cinematic poster of a fox in the rain, neon lights, 35mm film"),
        ("Try this ➡️\nA cinematic poster of a fox in the rain, neon lights, 35mm film",
         "A cinematic poster of a fox in the rain, neon lights, 35mm film"),
        ("Made this with GPT-4o 🤯 👇\nA cinematic poster of a fox in the rain, neon lights, 35mm film",
         "A cinematic poster of a fox in the rain, neon lights, 35mm film"),
        ("效果太好了 👉 一只橘猫坐在窗台上，午后阳光，胶片质感，浅景深",
         "一只橘猫坐在窗台上，午后阳光，胶片质感，浅景深"),
    ],
)
def test_an_arrow_that_introduces_the_prompt_still_does(text: str, prompt: str) -> None:
    found = find_prompt(text, ALIASES)
    assert found is not None and found.text == prompt, found


def test_structured_prompt_keeps_its_trailing_sections() -> None:
    prompt = (
        "生成一张信息卡片海报，主题是咖啡的历史，风格扁平插画。\n\n"
        "## 内容结构\n- 标题：咖啡的历史\n- 三个时间节点\n\n"
        "## 卡片排版设计\n竖版 3:4，标题居中，时间轴从上到下排列，配色暖棕色"
    )
    found = find_prompt(prompt, ALIASES)
    assert found is not None and found.text == prompt
    english = (
        "Create a recipe card for a lemon tart, flat illustration style.\n\n"
        "Layout: title on top, ingredients on the left\n\n"
        "## Colors\n- soft yellow\n- cream"
    )
    found = find_prompt(english + "\n\n#GPT4o #AIart", ALIASES)
    assert found is not None and found.text == english  # hashtags still go, markdown headers stay


def test_cjk_scripts_get_the_same_prompt_tests() -> None:
    assert looks_like_prompt("一只戴着墨镜的柴犬坐在海边，夕阳，胶片摄影风格", ALIASES)
    assert looks_like_prompt("把这张照片变成吉卜力动画风格，保留人物的脸", ALIASES)
    assert not looks_like_prompt("这个模型真的太强了吗？", ALIASES)


def test_model_names_match_next_to_cjk_text() -> None:
    assert find_terms("调用Nano Banana Pro生成海报", ["nano banana pro", "nano banana"]) == ["nano banana pro"]
    assert find_terms("用GPT-4o画的", ["gpt-4o"]) == ["gpt-4o"]
    assert find_terms("Soraya", ["sora"]) == []
