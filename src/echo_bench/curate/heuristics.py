"""Word lists and text rules shared by the offline curation backends.

Everything here is deterministic string work (compiled regular expressions over
fixed word lists).  The lists that depend on the model of interest (its names,
the other models) come from params.yaml (``model_aliases``, ``other_models``);
the generic ones (image words, judging words, edit cues, ...) are fixed here and
documented rule by rule in docs/curation.md.

Matching: a term matches case-insensitively as a whole word or phrase; a run of
spaces in a term matches any whitespace, and a hyphen matches a hyphen, a space
or nothing ("gpt-4o" also matches "GPT 4o" and "gpt4o").  Terms written in CJK
scripts match as plain substrings (those scripts do not separate words), and
no term needs a boundary against a character of such a script (``SPACELESS_CLASS``:
"调用Nano Banana Pro" names "nano banana").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

#: Version of the offline rules; part of every offline ``producer`` string.
RULES_VERSION = "v1"

_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")

#: Scripts whose words are not separated by spaces (or, Hangul, take attached
#: particles): Han, kana, Hangul, Thai, Lao, Myanmar, Khmer -- as the inside of a
#: regex character class, in a syntax both Python ``re`` and Rust ``regex``
#: (polars) read.  A term never needs a word boundary against these characters:
#: "调用Nano Banana Pro" names "nano banana", "GPT-4o로" names "gpt-4o".
SPACELESS_CLASS = (
    r"\u0e00-\u0eff\u1000-\u109f\u1100-\u11ff\u1780-\u17ff\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029"
    r"\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7af"
    r"\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f"
)
_SPACELESS_RE = re.compile(f"[{SPACELESS_CLASS}]")
#: A word character of a script that separates its words with spaces (the side of a word boundary).
SPACED_WORD_CHAR = f"[^\\W{SPACELESS_CLASS}]"


def is_spaced_word_char(ch: str) -> bool:
    """A letter, digit or ``_`` of a script that writes spaces between words (Latin, Cyrillic, ...)."""
    return (ch.isalnum() or ch == "_") and not _SPACELESS_RE.match(ch)


def _term_regex(term: str) -> str:
    term = term.strip().lower()
    if _CJK_RE.search(term):
        return re.escape(term)
    parts = []
    for ch in term:
        if ch.isspace():
            if not parts or parts[-1] != r"\s+":
                parts.append(r"\s+")
        elif ch == "-":
            parts.append(r"[-\s]?")
        else:
            parts.append(re.escape(ch))
    body = "".join(parts)
    head = f"(?<!{SPACED_WORD_CHAR})" if is_spaced_word_char(term[0]) else ""
    tail = f"(?!{SPACED_WORD_CHAR})" if is_spaced_word_char(term[-1]) else ""
    return head + body + tail


#: Words for the single-word lookup: runs of word characters of spaced scripts
#: ("调用Nano" gives "nano"; CJK terms go through the regex instead).
_TOKEN_RE = re.compile(f"{SPACED_WORD_CHAR}+")
_SIMPLE_RE = re.compile(r"^\w+$")


@dataclass(frozen=True)
class _TermSet:
    """Single-word terms as a set (looked up among the text's words), the rest as one regex."""

    words: frozenset[str]
    pattern: re.Pattern[str] | None


@lru_cache(maxsize=256)
def _compile(terms: tuple[str, ...]) -> _TermSet:
    terms = tuple(t.strip().lower() for t in terms if t and t.strip())
    words = frozenset(t for t in terms if _SIMPLE_RE.match(t) and not _CJK_RE.search(t))
    rest = sorted({t for t in terms if t not in words}, key=lambda t: (-len(t), t))  # longest first
    pattern = re.compile("|".join(f"(?:{_term_regex(t)})" for t in rest), re.IGNORECASE) if rest else None
    return _TermSet(words, pattern)


@lru_cache(maxsize=64)
def _tokens(text: str) -> tuple[tuple[int, int, str], ...]:
    return tuple((m.start(), m.end(), m.group(0)) for m in _TOKEN_RE.finditer(text.lower()))


def find_terms(text: str, terms: Sequence[str]) -> list[str]:
    """The matches of ``terms`` in ``text``, lower-cased, in order of appearance (repeats kept).

    Overlapping matches keep the leftmost, then the longest ("gpt-4o" rather than its "4o").
    """
    if not text:
        return []
    ts = _compile(tuple(terms))
    hits: list[tuple[int, int, str]] = []
    if ts.words:
        hits += [t for t in _tokens(text) if t[2] in ts.words]
    if ts.pattern is not None:
        hits += [(m.start(), m.end(), m.group(0).lower()) for m in ts.pattern.finditer(text)]
    if not hits:
        return []
    hits.sort(key=lambda h: (h[0], -(h[1] - h[0])))
    out, end = [], -1
    for start, stop, word in hits:
        if start >= end:
            out.append(word)
            end = stop
    return out


@lru_cache(maxsize=64)
def _token_set(text: str) -> frozenset[str]:
    return frozenset(t[2] for t in _tokens(text))


def has_term(text: str, terms: Sequence[str]) -> bool:
    if not text:
        return False
    ts = _compile(tuple(terms))
    if ts.words and not ts.words.isdisjoint(_token_set(text)):
        return True
    return bool(ts.pattern is not None and ts.pattern.search(text))


# --- fixed lexicons -----------------------------------------------------------------

#: Words that say a post is about pictures (several languages).
IMAGE_WORDS: tuple[str, ...] = (
    "image", "images", "img", "picture", "pictures", "pic", "pics", "photo", "photos", "photograph",
    "selfie", "portrait", "illustration", "drawing", "painting", "art", "artwork", "render", "rendering",
    "poster", "sticker", "stickers", "logo", "avatar", "wallpaper", "meme", "cartoon", "anime", "ghibli",
    "pixar", "chibi", "pixel art", "watercolor", "sketch", "figure", "figurine", "action figure", "diorama",
    "3d", "style", "styles", "edit", "edited", "editing", "visual", "visuals", "thumbnail", "comic",
    "imagen", "imágenes", "imagem", "imagens", "bild", "bilder", "bildgenerierung", "génération d'images",
    "画像", "イラスト", "图片", "图像", "生图", "画图", "이미지", "그림",
)
#: Words that say an image was generated or a prompt is shared.
GENERATION_WORDS: tuple[str, ...] = (
    "prompt", "prompts", "prompted", "generate", "generated", "generating", "generation", "generator",
    "image gen", "img gen", "made with", "made this with", "made by", "created with", "created by",
    "create", "created", "turned", "turn this", "turn me", "try it",
    "rendered", "ai art", "ai image", "ai images", "ai-generated", "text rendering",
    "generación", "génération", "generierung", "geração", "prompt:", "プロンプト", "生成", "提示词", "프롬프트", "생성",
)
#: Words of coincidental uses of a short alias such as "4o" (cars, weather, transit, disks, ...).
COINCIDENCE_WORDS: tuple[str, ...] = (
    "car", "cars", "hatchback", "sedan", "suv", "engine", "test drove", "test drive", "ride", "cupholders",
    "mpg", "horsepower", "bus", "route", "train", "flight", "gate", "seat", "airport", "°c", "°f", "degrees",
    "weather", "forecast", "hydrated", "partition", "mbr", "bios", "boot drive", "usb", "backup", "backups",
    "vm", "vms", "migration", "server", "photoshop actions", "jersey", "score", "match", "exam", "grade",
)
#: First words that make a text read like an instruction to an image model: imperative verbs ...
PROMPT_VERBS: tuple[str, ...] = (
    "create", "generate", "make", "draw", "design", "render", "paint", "illustrate", "depict", "imagine",
    "turn", "transform", "convert", "redraw", "restyle", "retexture", "give", "put", "combine", "place",
    "change", "replace", "add", "remove", "show", "produce", "edit", "use", "apply", "recreate", "reimagine",
    "please", "integrate", "blend", "visualize", "capture", "craft", "compose", "build", "take", "based",
    "crea", "crée", "créer", "erstelle", "erzeuge", "crie", "genera", "dibuja", "dessine", "zeichne",
)
#: ... and descriptive openers (these count only when the text neither names the model nor says "I").
PROMPT_OPENERS: tuple[str, ...] = (
    "a", "an", "the", "ultra", "ultra-realistic", "hyperrealistic", "hyper-realistic", "photorealistic",
    "close-up", "cinematic", "portrait", "scene", "style", "isometric", "minimalist", "minimal", "retro", "vintage",
    "typographic", "flat", "bold", "modern", "cute", "realistic", "surreal", "abstract", "dramatic", "detailed",
    "beautiful", "cozy", "colorful", "colourful", "futuristic", "poster", "logo", "sticker", "icon", "studio",
    "high-resolution",
)
PROMPT_START_WORDS: tuple[str, ...] = PROMPT_VERBS + PROMPT_OPENERS
#: Words of visual description (a prompt usually has several).
VISUAL_WORDS: tuple[str, ...] = (
    "style", "lighting", "light", "lit", "render", "rendered", "rendering", "photo", "photograph",
    "photorealistic", "realistic", "hyperrealistic", "illustration", "painting", "portrait", "background",
    "composition", "3d", "cinematic", "detailed", "detail", "details", "aspect ratio", "close-up", "shot",
    "camera", "lens", "color", "colors", "colour", "colours", "palette", "texture", "textures", "poster",
    "logo", "isometric", "minimalist", "watercolor", "pixel", "sketch", "anime", "cartoon", "chibi", "ghibli",
    "scene", "image", "picture", "depicting", "featuring", "vibrant", "soft", "aesthetic", "design", "8k",
    "4k", "high-resolution", "angle", "view", "mood", "atmosphere", "tones", "shadows", "glow", "neon",
    "contrast", "centered", "typography", "font", "letters", "bold", "flat", "halftone", "grain", "gradient",
    "pastel", "studio", "film", "35mm", "macro", "bokeh", "silhouette", "sculpture", "figure", "diorama",
    "colorful", "colourful", "vector", "art", "title", "stickers", "sticker", "illustrated", "cartoon",
    "estilo", "luz", "style", "lumière", "licht", "stil",
    "风格", "風", "スタイル", "描いて", "生成", "图片", "光", "细节", "스타일", "조명", "그려",
    # generic image vocabulary of Chinese, Japanese and Korean prompts
    "背景", "画面", "构图", "色调", "质感", "光线", "照片", "海报", "插画", "写实", "摄影", "镜头", "比例",
    "高清", "分辨率", "卡通", "动漫", "水彩", "油画", "像素", "复古", "极简", "氛围", "排版", "字体", "渲染",
    "画风", "手办", "人物", "角色", "场景", "特写", "景深",
    "写真", "イラスト", "構図", "色調", "質感", "照明", "ポスター", "背景画",
    "배경", "사진", "일러스트", "구도", "색감", "포스터", "질감", "캐릭터",
)
#: Openers of prompts in scripts without spaces (a word list cannot be a first *word* there).
CJK_PROMPT_STARTS: tuple[str, ...] = (
    "生成", "创建", "创作", "制作", "绘制", "画一", "设计", "把", "将", "请", "帮我", "给我", "一张", "一幅",
    "一个", "一只", "一位", "一组", "以", "参考", "基于", "根据", "使用", "用", "让", "超写实", "写实", "高清",
    "描いて", "作成", "生成して", "一枚", "この", "만들어", "그려", "생성",
)
#: Words with which a reply judges a result (praise or complaint).
JUDGING_WORDS: tuple[str, ...] = (
    # praise
    "amazing", "incredible", "stunning", "beautiful", "gorgeous", "awesome", "impressive", "perfect",
    "perfectly", "nailed", "nailed it", "so good", "great", "love", "love it", "wow", "insane", "unreal",
    "wild", "masterpiece", "looks like you", "spot on", "flawless", "no typos", "spelled right", "natural",
    "kept", "accurate", "realistic", "cute", "fire", "clean",
    # complaints and failure words of the paper's feedback categories
    "wrong", "off", "bad", "ugly", "weird", "broken", "fail", "failed", "fails", "worse", "terrible",
    "not like", "doesn't look like", "does not look like", "different person", "identity", "likeness",
    "face", "faces", "changed", "lost", "aspect ratio", "proportions", "stretched", "squished", "cropped",
    "distorted", "text", "typo", "typos", "misspelled", "spelling", "garbled", "letters", "color", "colors",
    "colour", "yellow", "tint", "cast", "sepia", "warm", "filter", "color balance", "saturated", "artifacts",
    "artifact", "incoherent", "duplicated", "doesn't make sense", "extra fingers", "fingers", "hands",
    "uncanny", "blurry", "glitch",
)
#: Replies that only ask or chat (matched when no judging word is present they are not feedback).
CHATTER_WORDS: tuple[str, ...] = ("what app", "which app", "free plan", "saving this", "how long", "share the original")
#: Prompt texts that need an input image ("turn this photo ...").
EDIT_CUES: tuple[str, ...] = (
    "turn this", "turn me", "turn my", "turn us", "turn the photo", "make this", "make me", "make my", "make it",
    "this photo", "this image", "this picture", "this pic", "this portrait", "this person", "this selfie",
    "my photo", "my picture", "my selfie", "my face", "my pet", "my cat", "my dog", "in the photo",
    "in the image", "in the picture", "from the photo", "of the photo", "uploaded", "upload", "attached",
    "reference image", "reference photo", "input image", "original photo", "original image", "convert this",
    "redraw this", "transform this", "edit this", "restyle this", "give it", "paint me", "of me",
    "keep my face", "keep the face", "don't change the face", "retexture the image", "the photo provided",
    "provided image", "provided photo", "given image", "given photo", "photo provided", "image provided",
    "attachment", "the user as", "left image", "right image", "transform the image", "the image into",
    "your photo", "your picture", "your image", "your selfie", "your screenshot", "your face", "your pet",
    "paste your", "paste a photo", "paste an image", "the screenshot", "this screenshot", "uploaded image",
    "the uploaded", "reference picture", "input photo", "source image", "source photo",
    # Chinese, Japanese, Korean
    "参考图", "参考图片", "参考照片", "参考图像", "上传", "输入图像", "输入图片", "原图", "原图片", "原照片",
    "附图", "附件", "这张照片", "这张图", "这张图片", "照片中", "我的照片", "你的照片",
    "用户照片", "上传的照片", "参考画像", "元画像", "入力画像", "アップロード", "この写真", "この画像",
    "添付", "참고 이미지", "업로드", "이 사진", "원본 사진", "입력 이미지",
)
#: Captions that say a post shows an original and a result.
PAIR_CAPTION_CUES: tuple[str, ...] = (
    "original:", "original photo", "original image", "original pic", "original vs",
    "vs original", "before/after", "before and after", "before & after", "before:", "after:", "vs edited",
    "edited", "input:", "input image", "my photo", "gave 4o my", "left:", "right:",
    "原图", "原图：", "修改前", "修改后", "前后对比", "输入图", "元画像", "ビフォーアフター", "원본", "전후",
)
#: Prompt texts that need several input images.
MULTI_CUES: tuple[str, ...] = (
    "first image", "second image", "third image", "image 1", "image 2", "image one", "image two",
    "these two", "both images", "both photos", "the two images", "the two photos", "combine", "merge these",
    "from the first", "of the second", "two photos", "the images",
)
#: Captions that put the result before the original ("result first, original second").
REVERSED_ORDER_CUES: tuple[str, ...] = (
    "result first", "output first", "edited first", "after first", "original second", "original last",
    "original is second", "original on the right", "right: my photo", "right: original", "right is the original",
)
#: Cues that the prompt is in a reply ("prompt below", 👇).
BELOW_CUES: tuple[str, ...] = (
    "prompt below", "prompts below", "full prompt below", "prompt in the reply", "prompt in reply",
    "prompt in the replies", "prompt in replies", "prompt in comments", "prompt in the comments",
    "prompt in thread", "prompt in the thread", "prompt 👇", "below 👇", "in the reply", "in the comments",
    "see reply", "see replies", "👇", "⬇️", "⬇", "🧵",
    "提示词在评论", "提示词见评论", "提示词在下方", "提示词在回复", "见评论区", "プロンプトはリプ", "リプ欄", "프롬프트는 댓글",
)
ARROWS = ("👇", "⬇️", "⬇", "👉", "➡️", "→")
RIGHT_ARROWS = ("👉", "➡️", "→")

#: ``prompt:`` style labels (several languages); the prompt follows the separator.
_LABEL_RE = re.compile(
    r"(?:(?<!\w)(?:full\s+|the\s+|my\s+)?prompt|プロンプト|提示词(?:如下)?|프롬프트)"
    r"\s*(?:\([^)\n]{0,60}\))?\s*(?:[:：]|👉|➡️|->|=>|—|-{1,2}(?=\s))\s*",
    re.IGNORECASE,
)
_QUOTE_PAIRS = (('"', '"'), ("“", "”"), ("「", "」"), ("『", "』"), ("«", "»"), ("'", "'"), ("‘", "’"))
_QUOTED_RE = re.compile(r'"([^"\n]{8,})"|“([^”]{8,})”|「([^」]{4,})」|«([^»]{8,})»')
_URL_RE = re.compile(r"https?://\S+")
_HASHTAG_LINE_RE = re.compile(r"^(?:\s*(?:[#@][\w\-]+|https?://\S+)\s*)+$", re.UNICODE)
_TRAILING_TAGS_RE = re.compile(r"(?:\s+(?:#[\w\-]+|https?://\S+))+\s*$", re.UNICODE)
_FIRST_PERSON_RE = re.compile(
    r"(?<!\w)(?:i|i'm|i've|me|my|we|our|us)(?!\w)|我|私は|私が|僕|나는|내가|저는|제가", re.IGNORECASE
)
_EMOJI_RE = re.compile(
    "[\U0001f300-\U0001faff\U00002600-\U000027bf\U0001f000-\U0001f2ff\u2b00-\u2bff\ufe0f]"
)
_WORD_RE = re.compile(r"\w+", re.UNICODE)

# --- fill-in-the-blank ---------------------------------------------------------------

_BLANK_RES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("square", re.compile(r"\[([^\[\]\n\"]{1,60})\]")),
    ("curly", re.compile(r"\{([^{}\n\"]{1,60})\}")),
    ("angle", re.compile(r"<([A-Za-z][A-Za-z0-9 _/\-']{0,40})>")),
    ("lenticular", re.compile(r"【([^【】\n]{1,60})】")),
    ("underscores", re.compile(r"_{3,}")),
)
_HTML_TAGS = {
    "br", "p", "b", "i", "u", "em", "strong", "div", "span", "img", "a", "li", "ul", "ol", "hr", "sup", "sub",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "tr", "td", "th", "code", "pre", "svg", "html", "body", "head",
}


def find_blanks(prompt: str | None) -> list[str]:
    """Placeholders of a fill-in-the-blank prompt, in order: ``[SUBJECT]``, ``{name}``, ``<object>``, ``【x】``, ``___``.

    Not blanks: JSON (a ``{...}``/``[...]`` holding a ``:`` or a quote), numbers
    and ratios (``[1]``, ``[16:9]``), markdown links (``[text](url)``) and HTML
    tags (``<br>``, ``<h1>``).  Nested brackets count by their innermost pair.
    A ``[...]`` that only holds emoji counts (the corpus' "[🍔] emoji in the
    prompt can be replaced").
    """
    if not prompt:
        return []
    found: list[tuple[int, str]] = []
    for kind, pat in _BLANK_RES:
        for m in pat.finditer(prompt):
            inner = (m.group(1) if m.groups() else "").strip()
            if kind == "underscores":
                found.append((m.start(), m.group(0)))
                continue
            if not inner or ":" in inner:
                continue
            if re.fullmatch(r"[\d\s.,:+\-/x%]+", inner):  # [1], [2:3], [16:9]
                continue
            if kind == "square" and prompt[m.end() : m.end() + 1] == "(":  # markdown link
                continue
            if kind == "angle" and inner.lower() in _HTML_TAGS:
                continue
            found.append((m.start(), m.group(0)))
    found.sort()
    return [s for _, s in found]


# --- text shape ------------------------------------------------------------------------


def n_words(text: str) -> int:
    """Words of ``text``; a CJK character counts as half a word (no spaces between words)."""
    cjk = len(_CJK_RE.findall(text))
    latin = len(_WORD_RE.findall(_CJK_RE.sub(" ", text)))
    return latin + cjk // 2


def strip_quotes(text: str) -> str:
    """``text`` without one pair of quotes around all of it."""
    s = text.strip()
    for a, b in _QUOTE_PAIRS:
        if len(s) >= 2 and s.startswith(a) and s.endswith(b) and s.count(a) + (s.count(b) if a != b else 0) <= 2:
            return s[len(a) : -len(b)].strip()
    return s


def strip_trailing_tags(text: str) -> str:
    """``text`` without URLs and hashtag/mention-only lines at its end, nor trailing ``#tags`` on its last line."""
    lines = text.rstrip().split("\n")
    while lines and (not lines[-1].strip() or _HASHTAG_LINE_RE.match(lines[-1])):
        lines.pop()
    out = "\n".join(lines)
    out = _TRAILING_TAGS_RE.sub("", out)
    return out.strip()


def first_person(text: str) -> bool:
    return bool(_FIRST_PERSON_RE.search(text))


def has_emoji(text: str) -> bool:
    return bool(_EMOJI_RE.search(text))


def is_question(text: str) -> bool:
    s = text.strip()
    return s.endswith("?") or s.endswith("？")


def _first_word(text: str) -> str:
    s = re.sub(r"^[\"“'«「(\[]+", "", text.strip().lower())
    m = re.match(r"[\w\-']+", s)
    return m.group(0) if m else ""


def starts_like_prompt(text: str) -> bool:
    if _first_word(text) in PROMPT_START_WORDS:
        return True
    s = re.sub(r"^[\"“'«「『(\[【#*\s]+", "", text.strip())
    if not _CJK_RE.match(s):
        return False
    return s.startswith(CJK_PROMPT_STARTS) or has_term(s, VISUAL_WORDS)


#: Words of a long descriptive text, whatever its script (a CJK character counts half) ...
LONG_TEXT_WORDS = 25
#: ... or of a shorter one written as a list of descriptive fragments (2+ list separators).
LIST_TEXT_WORDS = 8
_LIST_SEP_RE = re.compile(r"[,，、;；|]")


def long_plain_text(text: str, aliases: Sequence[str] = ()) -> bool:
    """A descriptive statement in plain voice, in any script: ``LONG_TEXT_WORDS``+ words, or
    ``LIST_TEXT_WORDS``+ words in fragments separated by two or more commas (``,``, ``，``, ``、``,
    ``;``), not a question, neither naming the model nor speaking in the first person at its
    start.  It needs no word list of the text's language (relevance rule R7 reads it as a bare
    prompt when an image is attached)."""
    s = text.strip()
    words = n_words(s)
    shaped = words >= LONG_TEXT_WORDS or (words >= LIST_TEXT_WORDS and len(_LIST_SEP_RE.findall(s)) >= 2)
    return shaped and not is_question(s) and not has_term(s, aliases) and not first_person(s[:80])


def looks_like_prompt(text: str, aliases: Sequence[str] = ()) -> bool:
    """A text that reads like an instruction to an image model (see docs/curation.md, rule E5).

    At least 5 words (CJK: 10 characters), not a question, and either it starts
    with a generation verb, or it starts with a descriptive opener ("A ...",
    "Cinematic ...") or has two or more distinct visual words while it neither
    names the model nor speaks in the first person.
    """
    s = text.strip()
    if not s or is_question(s) or n_words(s) < 5:
        return False
    plain_voice = not has_term(s, aliases) and not first_person(s[:80])
    if starts_like_prompt(s) and (plain_voice or _first_word(s) in PROMPT_VERBS):
        return True
    visual = set(find_terms(s, VISUAL_WORDS))
    if len(visual) >= 2 and plain_voice:
        return True
    return False


def caption_like(text: str, aliases: Sequence[str]) -> bool:
    """A short paragraph of commentary around a prompt: names the model, speaks in the first
    person, carries emoji or hashtags, or is wrapped in parentheses."""
    s = text.strip()
    if not s:
        return True
    if len(s) > 160:
        return False
    if structured_part(s):
        return False
    if s.startswith("(") and s.endswith(")") or _HASHTAG_LINE_RE.match(s):
        return True
    return has_term(s, aliases) or first_person(s) or has_emoji(s) or bool(_HASHTAG_RE.search(s))


#: A hashtag: ``#`` then a word, not a markdown header (``## Layout``) nor ``#1``.
_HASHTAG_RE = re.compile(r"(?<![\w#&])#(?![#\s\d])\w")
#: The start of a section of a structured prompt: a markdown header, a list item,
#: a numbered step (``1.``, ``2)``, ``一、``), or a ``key: value`` field with a short key.
_STRUCTURE_RE = re.compile(
    r"^\s*(?:#{1,6}\s|[-*•·▪◦]\s|\d{1,2}[.)、．]\s?|[一二三四五六七八九十]{1,3}[、.．]|"
    r"[^\s:：#]{1,12}[:：]\s*\S|(?:\w+\s){0,2}\w+\s?[:：]\s*\S)"
)


def structured_part(text: str) -> bool:
    """A paragraph shaped like a section of a structured prompt (markdown header, list, numbered
    step, ``key: value`` field) -- never commentary around the prompt (rule E5)."""
    s = text.strip()
    return bool(s) and bool(_STRUCTURE_RE.match(s)) and not _URL_RE.match(s)


# --- prompt finding --------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """A prompt found in one post's text, and the rule that found it."""

    text: str
    rule: str  # label | quoted | colon | arrow | whole | trimmed


def after_label(text: str, *, min_chars: int = 12) -> str | None:
    """The text after a ``Prompt:`` label (rule E1), or None."""
    m = _LABEL_RE.search(text)
    if not m:
        return None
    rest = strip_quotes(strip_trailing_tags(text[m.end() :]))
    return rest if len(rest) >= min_chars else None


_INTRO_RE = re.compile(
    r"(?:[:：]|\b(?:prompt|prompts|prompted|asked|typed|said|told|after|request|requested|instruction|saying|with))\W{0,3}$",
    re.IGNORECASE,
)
_OUTRO_RE = re.compile(r"^(?:\s*$|[\s.!?,;)\]…]|\s*[\U0001f300-\U0001faff\u2600-\u27bf])")


def quoted_span(text: str, aliases: Sequence[str] = (), *, min_words: int = 3) -> str | None:
    """Rule E2: a quoted request ('Asked ChatGPT 4o: "..."', 'with the prompt "..."').

    The longest quoted span of 3+ words that is *introduced* -- a colon or one of
    prompt/asked/typed/said/after/with just before the opening quote -- and
    ends its sentence (end of text, punctuation, emoji or a line break after
    the closing quote), when the text around it is short (at most 160
    characters) and does not itself start like a prompt.  A prompt that quotes
    the words to render ('a sign reading "OPEN" in neon'), or JSON, is
    therefore not cut down to a quote.
    """
    if _JSON_RE.search(text):  # quoted keys and values of a JSON prompt are its content
        return None
    best = None
    for m in _QUOTED_RE.finditer(text):
        span = next(g for g in m.groups() if g is not None).strip()
        if n_words(span) < min_words:
            continue
        before = text[max(0, m.start() - 40) : m.start()]
        after = text[m.end() : m.end() + 3]
        if not _INTRO_RE.search(before.rstrip()) or not _OUTRO_RE.match(after):
            continue
        if best is None or len(span) > len(best):
            best = span
    if best is None:
        return None
    outside = text.replace(best, " ", 1).strip()
    if len(outside) > 160 or starts_like_prompt(outside):
        return None
    return best


#: Words with which a caption points at its image ("look", "wow", "result"; several languages).
CAPTION_POINTERS: tuple[str, ...] = (
    "this", "look", "wow", "result", "here", "这", "这个", "效果", "看看", "哇", "结果", "这里", "成品",
    "これ", "見て", "結果", "이거", "결과", "보세요",
)
_JSON_RE = re.compile(r'^\s*[\[{]|"\s*:\s*["{\[\d]')
_SEPARATOR_RE = re.compile(r"[:：]|[\U0001f300-\U0001faff\u2600-\u27bf]+\ufe0f?")


def after_colon_caption(text: str, aliases: Sequence[str], *, min_chars: int = 20) -> str | None:
    """Rule E3: commentary, then a colon or an emoji, then the prompt.

    "ChatGPT 4o hizo esto:\n\n<prompt>", "4o edit in one try 🤯 <prompt>": the
    part before the first colon/emoji of the first line is caption-like (names
    the model, first person, hashtags) and does not itself start like a prompt,
    and the rest reads like a prompt (rule E5's test) or starts on a new line.
    """
    s = text.strip()
    nl = s.find("\n")
    first = s if nl < 0 else s[:nl]
    m = _SEPARATOR_RE.search(first)
    if not m:
        return None
    head = first[: m.start()]
    if not head.strip() or n_words(head) > 15 or starts_like_prompt(head) and not has_term(head, aliases):
        return None
    if not (caption_like(head, aliases) or has_term(head, CAPTION_POINTERS)):
        return None
    rest = s[m.end() :].lstrip("\ufe0f ")
    while rest.startswith(ARROWS):  # "... 🤯 👇\n<prompt>": the arrow is part of the separator
        rest = rest[len(next(a for a in ARROWS if rest.startswith(a))) :].lstrip("\ufe0f :：\n")
    rest = strip_quotes(strip_trailing_tags(rest))
    if len(rest) < min_chars:
        return None
    on_new_line = not first[m.end() :].strip()
    return rest if on_new_line or looks_like_prompt(rest, aliases) else None


#: The words before an arrow of rule E4 at most (a caption is short; prompt content is not).
ARROW_MAX_HEAD_WORDS = 15


def after_arrow(text: str, aliases: Sequence[str] = (), *, min_chars: int = 20) -> str | None:
    """Rule E4: the text after an arrow that introduces it, when there is enough of it.

    Arrows are common *inside* prompts ("A → B", "step 1 ➡️ step 2", JSON
    values), so only the first arrow counts and only as an introduction: what
    precedes it is a short caption (at most ``ARROW_MAX_HEAD_WORDS`` words, no
    bracket or brace, not itself prompt-shaped), and a right arrow (👉 ➡️ →)
    either ends its line or follows a caption-like head (names the model, first
    person, emoji, hashtags).  Down arrows (👇 ⬇️) point at what follows by
    themselves.
    """
    pos = -1
    arrow = ""
    for a in ARROWS:
        i = text.find(a)
        if i >= 0 and (pos < 0 or i < pos):
            pos, arrow = i, a
    if pos < 0:
        return None
    head = text[:pos].strip()
    if head and (
        n_words(head) > ARROW_MAX_HEAD_WORDS or any(c in head for c in "{}[]\"") or looks_like_prompt(head, aliases)
    ):
        return None
    after = text[pos + len(arrow) :]
    line_end = after.split("\n", 1)[0].strip(" \ufe0f:：")
    if arrow in RIGHT_ARROWS and line_end and head and not caption_like(head, aliases):
        return None
    rest = strip_quotes(strip_trailing_tags(after.lstrip("\ufe0f :：\n")))
    return rest if len(rest) >= min_chars else None


def trimmed_prompt(text: str, aliases: Sequence[str]) -> str | None:
    """Rule E5: the post is a prompt, maybe with caption paragraphs before/after it."""
    s = strip_trailing_tags(_URL_RE.sub("", text)).strip()
    paras = [p for p in re.split(r"\n\s*\n", s) if p.strip()]
    if not paras:
        return None
    while len(paras) > 1 and caption_like(paras[-1], aliases) and not looks_like_prompt(paras[-1], aliases):
        paras.pop()
    while len(paras) > 1 and caption_like(paras[0], aliases) and not looks_like_prompt(paras[0], aliases):
        paras.pop(0)
    body = "\n\n".join(p.strip() for p in paras)
    body = strip_quotes(body)
    return body if looks_like_prompt(body, aliases) else None


def find_prompt(text: str, aliases: Sequence[str]) -> Found | None:
    """The prompt in one post's text by rules E1-E5 in order (docs/curation.md), or None."""
    if not text or not text.strip():
        return None
    for rule, fn in (
        ("label", lambda t: after_label(t)),
        ("quoted", lambda t: quoted_span(t, aliases)),
        ("colon", lambda t: after_colon_caption(t, aliases)),
        ("arrow", lambda t: after_arrow(t, aliases)),
        ("whole", lambda t: trimmed_prompt(t, aliases)),
    ):
        got = fn(text)
        if got:
            return Found(got, rule)
    return None


def says_prompt_below(text: str) -> bool:
    return has_term(text, BELOW_CUES)


# --- feedback -----------------------------------------------------------------------------


def is_feedback(text: str) -> bool:
    """Rule E7: a reply that judges the result -- it has a judging word."""
    return bool(text) and has_term(text, JUDGING_WORDS)


# --- params ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelNames:
    """How posts name the model of interest and the other models (params ``model_aliases``, ``other_models``)."""

    strong: tuple[str, ...]
    weak: tuple[str, ...]
    others: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return self.strong + self.weak

    @classmethod
    def from_params(cls, aliases: Mapping[str, Any] | Sequence[str], others: Iterable[str]) -> ModelNames:
        if isinstance(aliases, Mapping):
            strong = tuple(str(a) for a in aliases.get("strong") or ())
            weak = tuple(str(a) for a in aliases.get("weak") or ())
        else:
            strong, weak = tuple(str(a) for a in aliases), ()
        return cls(strong=strong, weak=weak, others=tuple(str(o) for o in others))


#: Library defaults (tests, notebooks); stages pass params.yaml's ``model_aliases``/``other_models``.
DEFAULT_NAMES = ModelNames(
    strong=("gpt-4o", "gpt4o", "gpt 4o", "chatgpt", "chat gpt", "4o image gen", "4o image generation", "sora"),
    weak=("4o", "openai"),
    others=(
        "midjourney", "dall-e", "dalle", "stable diffusion", "sdxl", "flux", "flux kontext", "ideogram",
        "imagen 3", "imagen 4", "google imagen", "gemini", "nano banana", "firefly", "leonardo", "grok",
        "recraft", "kling", "runway",
    ),
)


def plain(text: str) -> str:
    """NFKC-normalized, lower-cased, whitespace-collapsed text without punctuation (for fuzzy matching)."""
    t = unicodedata.normalize("NFKC", text or "").lower()
    t = re.sub(r"[^\w\s]", " ", t)
    return re.sub(r"\s+", " ", t).strip()
