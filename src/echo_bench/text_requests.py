"""What text does a prompt ask to render?  One definition, used by every part that needs it.

The text metric (its target), the text control models (what ``identity`` and
``typo`` write), the offline judge (its OCR signal) and the task taxonomy (the
``text_rendering`` category) all call :func:`requested_text`, so a control
renders exactly the text the metric checks.

Rule: quoted spans ("...", “...”, „...“, «...», 「...」, 『...』, ‘...’, '...')
when the prompt speaks of text (a cue word such as text, says, sign, title,
caption, logo, poster, label, font, written ..., or a Chinese/Japanese/Korean
cue), and unquoted ``that says X`` / ``saying X`` / ``with the text X`` /
``text: X`` clauses (up to 8 words, cut before in/on/with/...).  A quoted span
that is (nearly) the whole prompt is the user quoting their prompt, not text
to render.  Empty when the prompt asks for no text.
"""

from __future__ import annotations

import re

_QUOTE_RES = [
    re.compile(r'"([^"\n]+?)"'),
    re.compile(r"“([^“”\n]+?)”"),
    re.compile(r"„([^„“”\n]+?)[“”]"),
    re.compile(r"«\s*([^«»\n]+?)\s*»"),
    re.compile(r"「([^「」\n]+?)」"),
    re.compile(r"『([^『』\n]+?)』"),
    re.compile(r"‘(.+?)’(?!\w)"),
    re.compile(r"(?<!\w)'(.+?)'(?!\w)"),
]

TEXT_CUES = re.compile(
    r"\b(text|texts|says?|saying|reads?|reading|written|writes?|writing|words?|letters?|lettering|title[sd]?|"
    r"caption(?:ed)?|headline|label(?:led|ed)?|signs?|signage|logo|logotype|poster|banner|slogan|tagline|"
    r"quote|inscription|inscribed|font|typography|typeface|spell(?:s|ed|ing)?|name[sd]?|brand(?:ed)?|"
    r"neon|t-?shirt|mug|cover|book|billboard|sticker|badge|menu|card|speech bubble|bubble|comic)\b",
    re.IGNORECASE,
)

TEXT_CUES_CJK = re.compile(r"(写|寫|字|文字|标题|標題|招牌|标语|標語|横幅|海报|海報|文本|書|书名|文字|テキスト|文字列|看板|タイトル|글자|문구|텍스트)")

_CLAUSE_RES = [
    re.compile(r"\b(?:that|which)\s+(?:says|reads|read|say|spells|spell)\s*:?\s+(?P<t>[^\"“‘'«「『][^.,;!?\n]*)", re.I),
    re.compile(r"\b(?:saying|reading|spelling)\s*:?\s+(?P<t>[^\"“‘'«「『][^.,;!?\n]*)", re.I),
    re.compile(
        r"\bwith\s+(?:the\s+)?(?:text|words?|caption|title|slogan|label|inscription|tagline|headline)\s*:?\s+"
        r"(?P<t>[^\"“‘'«「『][^.,;!?\n]*)",
        re.I,
    ),
    re.compile(r"\b(?:text|caption|title|headline|slogan)\s*:\s*(?P<t>[^\"“‘'«「『][^.,;!?\n]*)", re.I),
]
# an unquoted clause ends before words that start a description of the rendering
_CLAUSE_STOP = re.compile(
    r"\s+(?:in|on|at|with|using|written|above|below|under|over|across|underneath|and then|while|as)\s+", re.I
)
MAX_CLAUSE_WORDS = 8


def _clean_span(s: str) -> str:
    return " ".join(s.strip().strip(".,;:!?").split())


def quoted_spans(prompt: str) -> list[str]:
    """Every quoted span of ``prompt``, in order of appearance (no cue check)."""
    found: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    for rx in _QUOTE_RES:
        for m in rx.finditer(prompt):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue  # inside a span another quote style already took
            span = _clean_span(m.group(1))
            if span:
                found.append((m.start(), span))
                taken.append((m.start(), m.end()))
    return [s for _, s in sorted(found)]


def requested_text(prompt: str) -> list[str]:
    """The pieces of text ``prompt`` asks to render, in order (empty when none)."""
    if not prompt:
        return []
    text = prompt.strip()
    spans = quoted_spans(text)
    # a quote around (nearly) the whole prompt is the user quoting the prompt itself
    long_quote = [s for s in spans if len(s) >= 0.8 * len(text.strip("\"“”'‘’ ")) and len(s.split()) > 6]
    if long_quote:
        inner = long_quote[0]
        return requested_text(inner) if inner != text else []
    out: list[str] = []
    rest = _strip_quotes(text)
    if spans and (TEXT_CUES.search(rest) or TEXT_CUES_CJK.search(rest)):
        out.extend(spans)
    for rx in _CLAUSE_RES:
        for m in rx.finditer(text):
            t = _CLAUSE_STOP.split(m.group("t"), maxsplit=1)[0]
            words = t.split()
            if 0 < len(words) <= MAX_CLAUSE_WORDS:
                out.append(_clean_span(t))
    seen: set[str] = set()
    uniq = []
    for s in out:
        if s and s.lower() not in seen:
            seen.add(s.lower())
            uniq.append(s)
    return uniq


def _strip_quotes(text: str) -> str:
    for rx in _QUOTE_RES:
        text = rx.sub(" ", text)
    return text
