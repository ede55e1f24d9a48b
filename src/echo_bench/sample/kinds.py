"""One builder per thread kind, and the plan of a whole dump's threads.

Each builder takes a ``ThreadMaker`` (its own random stream) and returns a
``Thread`` whose truth says what a perfect pipeline should find in it.
"""

from __future__ import annotations

from collections.abc import Callable

from echo_bench.sample import vocab
from echo_bench.sample.config import DERIVED_KINDS, KINDS, allocate
from echo_bench.sample.images import FACE_SOURCES
from echo_bench.sample.posts import (
    Media,
    Thread,
    ThreadMaker,
    World,
    add_chatter,
    assign_metrics,
    choose_defects,
    finish_task_thread,
    output_count,
    styled,
    subject_recipe,
    t2i_prompt,
    with_defects,
)
from echo_bench.sample.timeline import later

# --- text-to-image shares -----------------------------------------------------------------------


def t2i_outputs(m: ThreadMaker, base: dict, style_op: str, defects: list[str], n: int) -> list[tuple[dict, str]]:
    """``n`` renderings of one prompt (different seeds), with the thread's defects."""
    return [(with_defects(m, styled(subject_recipe(m, base), style_op, m.seed()), defects), "jpg") for _ in range(n)]


def set_t2i_truth(m: ThreadMaker, prompt: str, prompt_posts: list, outputs: list[Media], source: str) -> None:
    m.truth.update(
        prompt=prompt,
        prompt_post_ids=[p.id for p in prompt_posts],
        prompt_source=source,
        task_type="text_to_image",
        output_image_keys=[x.key for x in outputs],
        image_layout="separate" if outputs else None,
    )
    m.mark_task(label="Benchmark" if outputs else "Manual Review")


def build_prompt_share(m: ThreadMaker) -> Thread:
    prompt, _, base, style_op = t2i_prompt(m)
    m.truth["defects"] = defects = choose_defects(m, ("yellow_cast", "incoherent"))
    n = 0 if m.chance(0.06) else output_count(m)  # a few share the prompt without the picture
    root = m.post(
        m.pick(vocab.PROMPT_SHARE_CAPTIONS).format(prompt=prompt),
        m.author(),
        m.root_time(),
        images=t2i_outputs(m, base, style_op, defects, n),
    )
    outputs = list(root.media)
    if outputs and m.chance(0.2):
        more = m.reply(
            root,
            m.pick(vocab.MORE_OUTPUTS_REPLIES),
            root.author,
            minutes=3,
            images=t2i_outputs(m, base, style_op, defects, 1),
        )
        outputs += more.media
    set_t2i_truth(m, prompt, [root], outputs, "root_text")
    return finish_task_thread(m, ("color",))


def build_prompt_below(m: ThreadMaker) -> Thread:
    prompt, label, base, style_op = t2i_prompt(m)
    m.truth["defects"] = defects = choose_defects(m, ("yellow_cast", "incoherent"))
    caption = m.pick(vocab.PROMPT_BELOW_CAPTIONS).format(label=label)
    root = m.post(caption, m.author(), m.root_time(), images=t2i_outputs(m, base, style_op, defects, output_count(m)))
    words = prompt.split()
    if len(words) >= 12 and m.chance(0.3):  # too long for one post: the author splits it
        half = len(words) // 2
        first = m.reply(root, "Prompt (1/2): " + " ".join(words[:half]), root.author, minutes=1.5)
        second = m.reply(first, "(2/2) " + " ".join(words[half:]), root.author, minutes=0.5)
        prompt_posts = [first, second]
        m.truth["prompt_stitched"] = True
    else:
        prompt_posts = [
            m.reply(root, m.pick(vocab.PROMPT_BELOW_REPLIES).format(prompt=prompt), root.author, minutes=1.5)
        ]
    set_t2i_truth(m, prompt, prompt_posts, list(root.media), "self_reply")
    return finish_task_thread(m, ("color",))


def build_fill_in_blank(m: ThreadMaker) -> Thread:
    template, token, values, default_recipe = m.pick(vocab.FILL_TEMPLATES)
    value = m.pick(values)
    base = vocab.FILL_VALUE_RECIPES.get(value, default_recipe)
    m.truth["defects"] = defects = choose_defects(m, ("yellow_cast", "incoherent"))
    images = [(with_defects(m, reseed(m, base), defects), "jpg") for _ in range(m.pick((1, 1, 2)))]
    caption = m.pick(vocab.FILL_CAPTIONS).format(prompt=template, value=value)
    root = m.post(caption, m.author(), m.root_time(), images=images)
    set_t2i_truth(m, template, [root], list(root.media), "root_text")
    m.truth.update(fill_in_blank=True, blank_values={token: value}, filled_prompt=template.replace(token, value))
    return finish_task_thread(m, ("color",))


def reseed(m: ThreadMaker, recipe: dict) -> dict:
    """A copy of ``recipe`` with fresh seeds at every level (a new rendering of the same content)."""
    out = {k: (reseed(m, v) if isinstance(v, dict) else v) for k, v in recipe.items()}
    if out["op"] in ("scene", "object", "portrait", "poster", "sign", "style", "glitch", "paste"):
        out["seed"] = m.seed()
    return out


def build_text_render(m: ThreadMaker) -> Thread:
    requested = m.pick(vocab.REQUESTED_TEXTS)
    template, look = m.pick(vocab.TEXT_TEMPLATES)
    prompt = template.format(text=requested)
    rate = min(1.0, m.world.cfg.defect_rate * 1.5)
    m.truth["defects"] = defects = choose_defects(m, ("text_error", "yellow_cast"), rate)
    rendered = misspell(m, requested) if "text_error" in defects else requested
    drawing = (
        {"op": "poster", "text": rendered, "seed": m.seed()}
        if look == "poster"
        else {"op": "sign", "kind": look, "text": rendered, "seed": m.seed()}
    )
    root = m.post(
        m.pick(vocab.TEXT_CAPTIONS).format(prompt=prompt),
        m.author(),
        m.root_time(),
        images=[(with_defects(m, drawing, defects), "png")],
    )
    set_t2i_truth(m, prompt, [root], list(root.media), "root_text")
    m.truth.update(requested_text=requested, rendered_text=rendered)
    return finish_task_thread(m, ("text", "color"))


def misspell(m: ThreadMaker, text: str) -> str:
    """``text`` with one word misspelled: two letters swapped, one dropped or one doubled."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    i = m.pick(candidates)
    word = words[i]
    for _ in range(20):
        j = int(m.rng.integers(1, len(word) - 1))
        how = m.pick(("swap", "drop", "double"))
        if how == "swap":
            new = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
        elif how == "drop":
            new = word[:j] + word[j + 1 :]
        else:
            new = word[:j] + word[j] + word[j:]
        if new != word:
            break
    words[i] = new
    return " ".join(words)


def build_non_english(m: ThreadMaker) -> Thread:
    langs = sorted(vocab.FOREIGN_WEIGHTS)
    weights = [vocab.FOREIGN_WEIGHTS[k] for k in langs]
    lang = langs[int(m.rng.choice(len(langs), p=[w / sum(weights) for w in weights]))]
    subjects, styles, template, captions = vocab.FOREIGN[lang]
    i, j = int(m.rng.integers(len(subjects))), int(m.rng.integers(len(styles)))
    prompt = template.format(subject=subjects[i], style=styles[j])
    m.truth["defects"] = defects = choose_defects(m, ("yellow_cast", "incoherent"))
    images = t2i_outputs(m, vocab.SUBJECTS[i][2], vocab.FOREIGN_STYLE_OPS[j], defects, m.pick((1, 1, 2)))
    root = m.post(m.pick(captions).format(prompt=prompt), m.author(), m.root_time(), images=images, lang=lang)
    set_t2i_truth(m, prompt, [root], list(root.media), "root_text")
    return finish_task_thread(m, ("color",))


# --- edits ------------------------------------------------------------------------------------------


def edit_case(m: ThreadMaker, portrait_share: float = 0.5) -> dict:
    """An input picture, an instruction and the output recipe (with defects) for one edit."""
    if m.chance(portrait_share):
        face = m.pick(FACE_SOURCES)
        source = {"op": "portrait", "face": face, "seed": m.seed()}
        instruction, style = m.pick(vocab.PORTRAIT_INSTRUCTIONS)
        keep_face = m.pick(vocab.KEEP_FACE)
        instruction = f"{instruction}.{keep_face}" if keep_face else instruction
        applicable = ("yellow_cast", "identity_lost", "aspect_ratio", "incoherent")
        aspect = "1:1"
    else:
        face = None
        _, _, base = m.pick(vocab.SUBJECTS)
        source = subject_recipe(m, base)
        instruction, style = m.pick(vocab.EDIT_INSTRUCTIONS)
        applicable = ("yellow_cast", "aspect_ratio", "incoherent")
        aspect = source.get("aspect", "1:1")
    defects = choose_defects(m, applicable)
    out_face = face
    drawn_from = source
    if "identity_lost" in defects:  # the model drew somebody else
        out_face = next(f for f in FACE_SOURCES if f != face)
        drawn_from = {"op": "portrait", "face": out_face, "seed": m.seed()}
    output = with_defects(m, styled(drawn_from, style, m.seed()), defects, aspect)
    return {
        "input": source,
        "output": output,
        "instruction": instruction,
        "defects": defects,
        "faces": (face, out_face),
    }


def set_edit_truth(m: ThreadMaker, case: dict, prompt: str, inputs: list[str], outputs: list[str], layout: str) -> None:
    face_in, face_out = case["faces"]
    m.truth.update(
        prompt=prompt,
        prompt_source="root_text",
        task_type="edit",
        input_image_keys=inputs,
        output_image_keys=outputs,
        image_layout=layout,
        defects=case["defects"],
        faces={"input": face_in, "output": face_out} if face_in else {},
        identity_preserved=(face_in == face_out) if face_in else None,
    )
    m.mark_task()


def build_edit_pair(m: ThreadMaker) -> Thread:
    case = edit_case(m)
    reversed_order = m.chance(0.15)
    captions = vocab.EDIT_PAIR_REVERSED_CAPTIONS if reversed_order else vocab.EDIT_PAIR_CAPTIONS
    pair = [(case["input"], "jpg"), (case["output"], "jpg")]
    root = m.post(
        m.pick(captions).format(instr=case["instruction"]),
        m.author(),
        m.root_time(),
        images=pair[::-1] if reversed_order else pair,
    )
    keys = [x.key for x in root.media]
    inputs, outputs = ([keys[1]], [keys[0]]) if reversed_order else ([keys[0]], [keys[1]])
    set_edit_truth(m, case, case["instruction"], inputs, outputs, "separate")
    m.truth["prompt_post_ids"] = [root.id]
    return finish_task_thread(m, ("identity", "color") if case["faces"][0] else ("color",))


def build_edit_composite(m: ThreadMaker) -> Thread:
    case = edit_case(m)
    recipe = {"op": "side_by_side", "left": case["input"], "right": case["output"], "labels": m.chance(0.5)}
    caption = m.pick(vocab.COMPOSITE_CAPTIONS).format(instr=case["instruction"])
    time = m.root_time()
    image = m.media(recipe, "png", time, regions={"left": "input", "right": "output"})
    root = m.post(caption, m.author(), time, images=[image])
    set_edit_truth(m, case, case["instruction"], [image.key], [image.key], "side_by_side")
    m.truth["prompt_post_ids"] = [root.id]
    return finish_task_thread(m, ("identity", "color") if case["faces"][0] else ("color",))


def build_chat_screenshot(m: ThreadMaker) -> Thread:
    time = m.root_time()
    if m.chance(0.7):
        case = edit_case(m, portrait_share=0.6)
        prompt, upload, output = case["instruction"], case["input"], case["output"]
        regions = {"prompt": "prompt", "input": "input", "output": "output"}
    else:
        prompt, _, base, style_op = t2i_prompt(m)
        defects = choose_defects(m, ("yellow_cast", "incoherent"))
        case = {"defects": defects, "faces": (None, None)}
        upload, output = None, with_defects(m, styled(subject_recipe(m, base), style_op, m.seed()), defects)
        regions = {"prompt": "prompt", "output": "output"}
    recipe = {"op": "screenshot", "prompt": prompt, "input": upload, "output": output}
    image = m.media(recipe, "png", time, regions=regions)
    m.post(m.pick(vocab.SCREENSHOT_CAPTIONS), m.author(), time, images=[image])
    if upload is not None:
        set_edit_truth(m, case, prompt, [image.key], [image.key], "screenshot")
    else:
        set_t2i_truth(m, prompt, [], [image], "screenshot")
        m.truth.update(defects=case["defects"], image_layout="screenshot")
    m.truth["prompt_source"] = "screenshot"
    return finish_task_thread(m, ("identity", "color") if case["faces"][0] else ("color",))


_THING_WORDS = {
    "mug": "mug",
    "sneaker": "sneaker",
    "bottle": "perfume bottle",
    "cat": "cat",
    "robot": "robot",
    "lamp": "lamp",
    "plant": "plant",
    "car": "car",
    "cake": "cake",
}
_PLACE_WORDS = {
    "sunset": "sunset coast",
    "dawn": "lake view",
    "snow": "snowy forest",
    "night": "night village",
    "city": "city street",
    "beach": "beach",
    "forest": "autumn forest",
    "desert": "desert",
    "meadow": "meadow",
}


def build_multi_image(m: ThreadMaker) -> Thread:
    thing = m.pick(sorted(_THING_WORDS))
    theme = m.pick(sorted(_PLACE_WORDS))
    obj = {"op": "object", "thing": thing, "seed": m.seed()}
    scene = {"op": "scene", "theme": theme, "seed": m.seed(), "aspect": m.pick(("1:1", "4:3"))}
    template, _ = m.pick(vocab.MULTI_INSTRUCTIONS)
    instruction = template.format(thing=_THING_WORDS[thing], place=_PLACE_WORDS[theme])
    m.truth["defects"] = defects = choose_defects(m, ("yellow_cast", "aspect_ratio", "incoherent"))
    output = with_defects(m, {"op": "paste", "obj": obj, "scene": scene, "seed": m.seed()}, defects, scene["aspect"])
    root = m.post(
        m.pick(vocab.MULTI_CAPTIONS).format(instr=instruction),
        m.author(),
        m.root_time(),
        images=[(obj, "jpg"), (scene, "jpg"), (output, "jpg")],
    )
    keys = [x.key for x in root.media]
    m.truth.update(
        prompt=instruction,
        prompt_post_ids=[root.id],
        prompt_source="root_text",
        task_type="multi_image",
        input_image_keys=keys[:2],
        output_image_keys=keys[2:],
        image_layout="separate",
    )
    m.mark_task()
    return finish_task_thread(m, ("color",))


# --- posts that are not a task of the model of interest ----------------------------------------------------


def build_commentary(m: ThreadMaker) -> Thread:
    text = m.pick(vocab.COMMENTARY)
    images = []
    if m.chance(0.4):
        _, _, base, style_op = t2i_prompt(m)
        images = [
            (
                with_defects(m, styled(subject_recipe(m, base), style_op), ["yellow_cast"] if "yellow" in text else []),
                "jpg",
            )
        ]
    m.post(text, m.author(), m.root_time(), images=images)
    m.mark_task(relevance=4, quality="Analysis", label="Discard")
    add_chatter(m, 0.5)
    return m.thread()


def build_other_model(m: ThreadMaker) -> Thread:
    model, caption = m.pick(vocab.OTHER_MODELS)
    prompt, _, base, style_op = t2i_prompt(m)
    root = m.post(
        caption.format(prompt=prompt), m.author(), m.root_time(), images=t2i_outputs(m, base, style_op, [], 1)
    )
    m.truth.update(
        other_model=model,
        prompt=prompt,
        prompt_post_ids=[root.id],
        prompt_source="root_text",
        task_type="text_to_image",
        output_image_keys=[x.key for x in root.media],
        image_layout="separate",
    )
    m.mark_task(relevance=2, quality="Trash", label="Discard")
    add_chatter(m)
    return m.thread()


def build_coincidental(m: ThreadMaker) -> Thread:
    text, keyword, relevance = m.pick(vocab.COINCIDENTAL)
    images = []
    if m.chance(0.3):
        recipe = (
            {"op": "object", "thing": "car", "seed": m.seed()}
            if "hatchback" in text
            else {"op": "scene", "theme": "city", "seed": m.seed()}
        )
        images = [(recipe, "jpg")]
    m.post(text, m.author(), m.root_time(), images=images)
    m.truth["coincidence_keyword"] = keyword
    m.mark_task(relevance=relevance, quality="Trash", label="Discard")
    add_chatter(m, 0.2)
    return m.thread()


# --- posts that repeat another thread ------------------------------------------------------------------------


def build_retweet(m: ThreadMaker, target: Thread) -> Thread:
    original = target.root
    text = f"RT @{original.author.username}: {original.text}"
    if len(text) > 140:
        text = text[:139] + "…"
    who = m.someone_else(original.author)
    ms = later(m.rng, original.ms, median_minutes=180)
    m.post(text, who, ms, images=list(original.media), lang=original.lang, retweeted=original, link=False)
    copy_relevance(m, target)
    return m.thread()


def build_repost_copy(m: ThreadMaker, target: Thread) -> Thread:
    """Someone else posts the same text and the same pictures as new uploads (identical bytes)."""
    original = target.root
    text = original.text.rsplit(" https://t.co/", 1)[0]
    ms = later(m.rng, original.ms, median_minutes=60 * 24)
    images = [m.media(x.recipe, x.fmt, ms, x.regions) for x in original.media]
    m.post(m.pick(("", "🔥 ", "wow ")) + text, m.someone_else(original.author), ms, images=images, lang=original.lang)
    renamed = {old.key: new.key for old, new in zip(original.media, images, strict=True)}
    t = target.truth
    for name in (
        "prompt",
        "prompt_source",
        "prompt_stitched",
        "fill_in_blank",
        "blank_values",
        "filled_prompt",
        "task_type",
        "image_layout",
        "requested_text",
        "rendered_text",
        "faces",
        "identity_preserved",
        "defects",
        "other_model",
    ):
        m.truth[name] = t[name]
    m.truth["input_image_keys"] = [renamed[k] for k in t["input_image_keys"] if k in renamed]
    m.truth["output_image_keys"] = [renamed[k] for k in t["output_image_keys"] if k in renamed]
    m.truth["prompt_post_ids"] = [m.posts[0].id] if t["prompt_source"] == "root_text" else []
    copy_relevance(m, target)
    return m.thread()


def copy_relevance(m: ThreadMaker, target: Thread) -> None:
    t = target.truth
    m.truth.update(
        is_relevant=t["is_relevant"],
        relevance=t["relevance"],
        quality=t["quality"],
        expected_label=t["expected_label"],
        duplicate_of=t["root_post_id"],
    )


BUILDERS: dict[str, Callable[[ThreadMaker], Thread]] = {
    "prompt_share": build_prompt_share,
    "prompt_below": build_prompt_below,
    "fill_in_blank": build_fill_in_blank,
    "chat_screenshot": build_chat_screenshot,
    "edit_pair": build_edit_pair,
    "edit_composite": build_edit_composite,
    "multi_image": build_multi_image,
    "text_render": build_text_render,
    "commentary": build_commentary,
    "other_model": build_other_model,
    "coincidental": build_coincidental,
    "non_english": build_non_english,
}
#: Kinds a repost copy may repeat: the prompt and pictures sit in the root post.
COPYABLE = ("prompt_share", "fill_in_blank", "text_render", "non_english", "edit_pair", "multi_image")


# --- the plan of a dump ------------------------------------------------------------------------------------------


def plan_threads(world: World) -> list[Thread]:
    """All threads of the dump: the kinds in the configured mix, then retweets and copies of them."""
    cfg = world.cfg
    counts = allocate(cfg.kind_shares, cfg.n_threads)
    order = [k for k in KINDS if k not in DERIVED_KINDS for _ in range(counts.get(k, 0))]
    world.rng(2).shuffle(order)
    threads = [BUILDERS[kind](world.maker(kind, world.rng(3, i))) for i, kind in enumerate(order)]
    if not threads and any(counts.get(k, 0) for k in DERIVED_KINDS):
        raise ValueError("sample: retweets and copies need at least one other thread; raise n_threads")
    popular = [t for t in threads if t.truth["relevance"] >= 4] or threads
    copyable = [t for t in threads if t.kind in COPYABLE and t.root.media] or threads
    for j in range(counts.get("retweet", 0)):
        m = world.maker("retweet", world.rng(4, j))
        pool = popular if m.chance(0.8) else threads
        threads.append(build_retweet(m, m.pick(pool)))
    for j in range(counts.get("repost_copy", 0)):
        m = world.maker("repost_copy", world.rng(5, j))
        threads.append(build_repost_copy(m, m.pick(copyable)))
    assign_metrics(threads, world.rng(6))
    return threads


def kind_counts(threads: list[Thread]) -> dict[str, int]:
    counts = dict.fromkeys(KINDS, 0)
    for t in threads:
        counts[t.kind] += 1
    return {k: v for k, v in counts.items() if v}
