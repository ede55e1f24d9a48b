"""The shipped prompt templates: they load, render, and their reply schemas accept what they ask for."""

from __future__ import annotations

import json

import jsonschema
import pytest

from echo_bench import prompts
from echo_bench.llm import parse_json_reply, parse_rating

EXPECTED = {"relevance", "extract_samples", "classify_images", "finalize", "judge_single", "applicability"}

# One example reply per JSON template, shaped as its prompt asks: the schema must accept it.
EXAMPLES = {
    "relevance": {"score": 4, "reason": "likely 4o"},
    "extract_samples": {
        "samples": [
            {
                "prompt": "a cat in a spacesuit, Ghibli style",
                "prompt_modified": False,
                "image_post_ids": ["111", "112"],
                "quality": "Benchmark",
                "feedback": [{"post_id": "113", "text": "the paws are wrong"}],
                "notes": "prompt in the first reply",
            }
        ]
    },
    "classify_images": {
        "images": [
            {"index": 1, "role": "input", "duplicate_of": None, "reason": "user photo"},
            {"index": 2, "role": "output", "duplicate_of": None},
            {"index": 3, "role": "output", "duplicate_of": 2},
        ],
        "resolved_prompt": None,
        "resolution_confident": False,
        "screenshots": [
            {"index": 4, "prompt": "make it anime", "input_boxes": [[0.1, 0.1, 0.5, 0.4]], "output_boxes": []}
        ],
    },
    "finalize": {"label": "Manual Review", "reason": "input image missing"},
    "applicability": {
        "color": {"applicable": True, "reason": "edit keeps colours"},
        "face": {"applicable": False, "reason": "no face"},
        "structure": {"applicable": True, "reason": "local edit"},
        "text": {"applicable": True, "reason": "asks for a sign", "target_text": "OPEN 24/7"},
    },
}

VARIABLES = {
    "model_of_interest": "GPT-4o image generation",
    "post_text": "made with 4o",
    "thread_document": "[post 1] hello",
    "prompt": "turn this photo into a watercolor",
    "image_legend": "Image 1: post 1, photo 1",
    "prompt_modified": False,
    "task_type": "edit",
    "quality": "Benchmark",
    "instruction": "draw a red fox",
    "n_input_images": 0,
}


def test_all_templates_are_shipped_and_versioned() -> None:
    have = prompts.available()
    assert EXPECTED <= set(have)
    for name in EXPECTED:
        tpl = prompts.load(name)
        assert tpl.ident == f"{name}@{tpl.version}"
        assert prompts.load(f"{name}@{tpl.version}") is tpl
        assert tpl.description
        assert tpl.user and tpl.system
        # every placeholder is declared, every declared variable is used
        assert tpl.placeholders() <= set(tpl.variables) | set(tpl.defaults)
        assert set(tpl.variables) <= tpl.placeholders(), name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_render_fills_every_placeholder(name: str) -> None:
    tpl = prompts.load(name)
    r = tpl.render({k: v for k, v in VARIABLES.items() if k in tpl.variables})
    assert "{{" not in r.system + r.user
    if tpl.reply == "json":
        assert "JSON" in r.user  # json_object modes need the word; the prompt must ask for JSON anyway


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_reply_schema_accepts_the_documented_shape(name: str) -> None:
    schema = prompts.reply_schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert parse_json_reply(json.dumps(EXAMPLES[name]), schema) == EXAMPLES[name]


def test_reply_schemas_reject_bad_values() -> None:
    from echo_bench.llm import InvalidReply

    with pytest.raises(InvalidReply, match="score"):
        parse_json_reply('{"score": 6, "reason": "x"}', prompts.reply_schema("relevance"))
    with pytest.raises(InvalidReply):
        parse_json_reply('{"label": "Maybe", "reason": "x"}', prompts.reply_schema("finalize"))
    bad_box = json.loads(json.dumps(EXAMPLES["classify_images"]))
    bad_box["screenshots"][0]["input_boxes"] = [[0.1, 0.2, 1.5, 0.3]]
    with pytest.raises(InvalidReply):
        parse_json_reply(json.dumps(bad_box), prompts.reply_schema("classify_images"))


def test_judge_template_asks_for_the_rating_line_the_parser_reads() -> None:
    tpl = prompts.load("judge_single")
    assert tpl.reply == "text" and tpl.reply_schema is None
    text = tpl.render({"instruction": "x", "n_input_images": 1}).user
    assert "Rating: [[N]]" in text
    assert parse_rating("Expectation: ...\nSummary: fine.\nRating: [[7]]") == 7.0
    assert parse_rating("Rating: [[3]] at first... on reflection\nRating: [[4]]") == 4.0
    assert parse_rating("I would give it a 7") is None
    assert parse_rating("Rating: [[11]]") is None


def test_missing_variable_and_unknown_template_raise() -> None:
    tpl = prompts.load("relevance")
    with pytest.raises(prompts.TemplateError, match="post_text"):
        tpl.render({"model_of_interest": "x"})
    with pytest.raises(prompts.TemplateError):
        prompts.load("no_such_template")
    with pytest.raises(prompts.TemplateError):
        prompts.load("relevance@v99")


def test_values_render_as_json_and_underscore_variables_are_not_rendered() -> None:
    tpl = prompts.template_from_text(
        "demo.v1.md", "---\nname: demo\nversion: v1\nvariables: [a, b]\n---\n<!-- user -->\nA={{a}} B={{ b }}\n"
    )
    r = tpl.render({"a": ["x", 1], "b": True, "_repeat": 3})
    assert r.user == 'A=[\n  "x",\n  1\n] B=true'
    assert r.system == ""


def test_registered_template_version_becomes_latest() -> None:
    v1 = prompts.load("relevance")
    text = (
        "---\nname: relevance\nversion: v2\nreply: json\nvariables: [model_of_interest, post_text]\n"
        "reply_schema: {type: object}\n---\n<!-- user -->\nv2 {{model_of_interest}} {{post_text}} JSON\n"
    )
    prompts.register(prompts.template_from_text("relevance.v2.md", text))
    try:
        assert prompts.load("relevance").version == "v2"
        assert prompts.load("relevance@v1") is v1
    finally:
        prompts.unregister("relevance@v2")
    assert prompts.load("relevance") is v1


def test_malformed_template_files_are_rejected() -> None:
    with pytest.raises(prompts.TemplateError, match="not declared"):
        prompts.template_from_text("x.v1.md", "---\nname: x\nversion: v1\nvariables: []\n---\n<!-- user -->\n{{ y }}\n")
    with pytest.raises(prompts.TemplateError, match="reply_schema"):
        prompts.template_from_text("x.v1.md", "---\nname: x\nversion: v1\nreply: json\n---\n<!-- user -->\nhi\n")
    with pytest.raises(prompts.TemplateError, match="disagree"):
        prompts.template_from_text("x.v1.md", "---\nname: y\nversion: v1\n---\n<!-- user -->\nhi\n")
