"""Test corpora for the agreement tool, written at test time (nothing downloaded is committed).

* :func:`write_prior_corpus`: the *real* prompts of earlier benchmarks
  (PartiPrompts and GenEval, read from the shared ``prior-benchmarks`` folder)
  wrapped into twscrape JSONL posts, one synthetic picture each, with truth.
  The prompts are real text the offline rules were never written from; the
  post shapes around them (captions, labels, "prompt below" replies) are this
  generator's.
* :func:`write_chinese_corpus`: Chinese-language prompt posts with truth.  The
  prompts were written by hand for this test by the engineer who wrote the
  multilingual rules, so this corpus checks language parity of the rules; it is
  not an independent measurement (docs/curation.md says so too).

Both use the same post shapes in the same proportions, so the drop rates of the
two languages are comparable.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

from curate_helpers import photo

T0 = dt.datetime(2025, 4, 2, 8, 0, tzinfo=dt.UTC)

#: Post shapes: bare prompt, caption + label, prompt + trailing caption, "prompt below" + author reply.
SHAPES = ("bare", "label", "trailing", "below")

CAPTIONS = {
    "en": {
        "head": ["Made with GPT-4o image gen", "ChatGPT nailed this one", "Tried this in 4o today"],
        "label": "Prompt",
        "tail": ["Made with ChatGPT 🤯 #AIart", "4o is unreal #GPT4o", "(generated in ChatGPT)"],
        "below": ["GPT-4o image gen is wild. Prompt below 👇", "Made this with ChatGPT, prompt in the reply 👇"],
    },
    "zh": {
        "head": ["用GPT-4o生成的", "ChatGPT画得太好了", "今天用4o试了一下"],
        "label": "提示词",
        "tail": ["用ChatGPT生成 🤯 #AI绘画", "4o太强了 #GPT4o", "（ChatGPT生成）"],
        "below": ["GPT-4o生图效果太惊艳了，提示词在评论区👇", "用ChatGPT做的，提示词见评论 👇"],
    },
}

#: Chinese prompts written for this test: (prompt, needs_reference_image, fill_in_blank).
CHINESE_PROMPTS: list[tuple[str, bool, bool]] = [
    ("一只戴着墨镜的柴犬坐在海边的躺椅上，夕阳西下，胶片摄影风格，暖色调", False, False),
    ("赛博朋克风格的夜晚街道，霓虹灯倒映在湿漉漉的地面上，远处有一座发光的高塔，电影感构图", False, False),
    ("生成一张复古海报，标题写着“春日咖啡节”，背景是樱花和咖啡杯，扁平插画风格", False, False),
    ("一个极简主义的产品摄影场景：白色大理石台面上放着一瓶香水，柔和的侧光，浅景深", False, False),
    ("水彩风格的江南水乡，小桥流水，乌篷船，清晨薄雾", False, False),
    ("生成一张信息卡片海报，主题是咖啡的历史，风格扁平插画。\n\n## 内容结构\n- 标题：咖啡的历史\n"
     "- 三个时间节点：埃塞俄比亚、也门、欧洲\n\n## 卡片排版设计\n竖版 3:4，标题居中，时间轴从上到下排列，配色暖棕色",
     False, False),
    ("等距视角的3D微缩场景：一间小小的书店，木质书架，暖黄色灯光，窗外下着雪", False, False),
    ("把四季画在一张图里：春→夏→秋→冬，从左到右渐变，同一棵树，油画质感", False, False),
    ("中国风水墨画，一只白鹤站在松树上，留白构图，淡雅色调", False, False),
    ('{"主题": "太空猫", "风格": "皮克斯3D动画", "场景": "月球表面", "光线": "柔和的地球反光", "比例": "16:9"}',
     False, False),
    ("一张美食杂志封面，主角是一碗热腾腾的兰州拉面，标题“面面俱到”，高清细节", False, False),
    ("像素风格的游戏画面：勇者站在城堡门口，左上角显示血条，复古8位色彩", False, False),
    ("超写实的人像摄影，一位老渔夫在晨光中修补渔网，皱纹清晰，黑白胶片质感", False, False),
    ("卡通贴纸设计，一只圆滚滚的熊猫抱着竹子，粗描边，白色背景", False, False),
    ("为【城市名】设计一张旅游海报，包含当地地标建筑，复古插画风格，底部写着城市名", False, True),
    ("生成一个[角色名]的Q版3D手办，站在圆形底座上，包装盒上印着角色名，柔和的摄影棚光线", False, True),
    ("一张以{节日}为主题的贺卡，中间是大号的祝福语，四周装饰传统纹样", False, True),
    ("参考图中的人物，生成一张吉卜力动画风格的插画，保留人物的发型和服装", True, False),
    ("上传一张自拍，把它变成3D手办，放在电脑桌上，旁边是手办的包装盒", True, False),
    ("将输入图像转换为水彩画风格，保持构图不变，颜色更柔和", True, False),
    ("保持原图的构图和人物，把背景换成雪山和极光", True, False),
    ("根据附图的草稿生成一张完整的产品海报，保留草稿中的布局", True, False),
    ("把这张照片中的宠物变成一个毛绒玩具，放在儿童房的床上", True, False),
    ("用我的照片生成一张90年代港风写真，暖色调，胶片颗粒感", True, False),
]


def _record(pid: int, text: str, *, when: dt.datetime, author: str, lang: str, conv: int,
            parent: int | None = None, photos: list[str] = ()) -> dict[str, Any]:
    """One twscrape ``Tweet.json()`` record (the fields the reader uses, as twscrape spells them)."""
    return {
        "_type": "snscrape.modules.twitter.Tweet",
        "id": pid, "id_str": str(pid), "url": f"https://x.com/{author}/status/{pid}",
        "date": when.strftime("%Y-%m-%d %H:%M:%S+00:00"),
        "user": {"id": abs(hash(author)) % 10**9, "id_str": str(sum(map(ord, author)) * 7919), "username": author},
        "lang": lang, "rawContent": text,
        "replyCount": 0, "retweetCount": 0, "likeCount": 0, "quoteCount": 0,
        "conversationId": conv, "conversationIdStr": str(conv),
        "inReplyToTweetId": parent, "inReplyToTweetIdStr": str(parent) if parent else None,
        "media": {"photos": [{"url": f"https://pbs.twimg.com/media/{p}"} for p in photos], "videos": [], "animated": []},
    }


def _posts_of(k: int, prompt: str, shape: str, lang: str, media_dir: Path, base_id: int) -> tuple[list[dict], int]:
    """The records of case ``k`` in ``shape``, and the post id that carries it (the root)."""
    cap = CAPTIONS[lang]
    root = base_id + 10 * k
    name = f"{lang}_{k:03d}.jpg"
    photo(10_000 + base_id % 997 + k, 160, 160).save(media_dir / name, format="JPEG", quality=85)
    when = T0 + dt.timedelta(minutes=7 * k)
    author = f"{lang}_user{k % 9}"
    pick = cap["head"][k % len(cap["head"])]
    if shape == "bare":
        texts = [prompt]
    elif shape == "label":
        texts = [f"{pick}\n\n{cap['label']}: {prompt}"]
    elif shape == "trailing":
        texts = [f"{prompt}\n\n{cap['tail'][k % len(cap['tail'])]}"]
    else:
        texts = [cap["below"][k % len(cap["below"])], prompt]
    recs = [_record(root, texts[0], when=when, author=author, lang=lang, conv=root, photos=[name])]
    if len(texts) > 1:
        recs.append(_record(root + 1, texts[1], when=when + dt.timedelta(minutes=1), author=author, lang=lang,
                            conv=root, parent=root))
    return recs, root


def _write(out: Path, records: list[dict], truth: list[dict]) -> Path:
    (out / "dump").mkdir(parents=True, exist_ok=True)
    with open(out / "dump" / "tweets.jsonl", "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    with open(out / "truth.jsonl", "w", encoding="utf-8") as f:
        for t in truth:
            f.write(json.dumps(t, ensure_ascii=False) + "\n")
    return out


def write_cases(out: Path, cases: list[tuple[str, bool, bool]], lang: str, base_id: int) -> Path:
    """A twscrape corpus of ``cases`` (prompt, needs_reference_image, fill_in_blank) in the four shapes, in turn."""
    media = out / "media"
    media.mkdir(parents=True, exist_ok=True)
    records: list[dict] = []
    truth: list[dict] = []
    for k, (prompt, needs_ref, blank) in enumerate(cases):
        recs, root = _posts_of(k, prompt, SHAPES[k % len(SHAPES)], lang, media, base_id)
        records += recs
        truth.append({"post_id": str(root), "prompt": prompt, "needs_reference_image": needs_ref,
                      "fill_in_blank": blank, "lang": lang, "is_relevant": True, "shape": SHAPES[k % len(SHAPES)]})
    return _write(out, records, truth)


def prior_prompts(prior_dir: Path, n_parti: int = 60, n_geneval: int = 20, seed: int = 12) -> list[str]:
    """Real prompts of PartiPrompts (6+ words) and GenEval, picked deterministically."""
    with open(prior_dir / "PartiPrompts.tsv", encoding="utf-8") as f:
        parti = [r["Prompt"].strip() for r in csv.DictReader(f, delimiter="\t") if len(r["Prompt"].split()) >= 6]
    geneval = [json.loads(line)["prompt"] for line in
               (prior_dir / "geneval_evaluation_metadata.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(seed)
    picked = rng.sample(sorted(set(parti)), n_parti) + rng.sample(sorted(set(geneval)), n_geneval)
    rng.shuffle(picked)
    return picked


def write_prior_corpus(prior_dir: Path, out: Path) -> Path:
    """The twscrape corpus of real PartiPrompts/GenEval prompts (text-to-image, no placeholders)."""
    return write_cases(out, [(p, False, False) for p in prior_prompts(prior_dir)], "en", 1_900_000_000_000_000_000)


def write_chinese_corpus(out: Path) -> Path:
    """The twscrape corpus of the hand-written Chinese prompts (see the module docstring)."""
    return write_cases(out, CHINESE_PROMPTS, "zh", 1_910_000_000_000_000_000)
