"""Text rendering accuracy: does the output show the text the prompt asks for?

1. **Requested text** (:func:`extract_requested_text`): quoted spans of the
   prompt ("...", “...”, '...', ‘...’, «...», 「...」, 『...』) when the prompt
   talks about text (a cue word such as text, says, sign, title, caption, logo,
   poster, label, font, written ...), and unquoted ``that says X`` /
   ``saying X`` / ``with the text X`` / ``text: X`` clauses.  A quoted span that
   is the whole prompt (people quote their prompt) is not requested text.  An
   LLM extractor is the option (the applicability template's ``target_text``).
2. **Reading the output**: OCR with rapidocr (PP-OCR ONNX models shipped in its
   wheel, runs offline; :class:`OcrReader`), or a VLM's transcription.
3. **Normalization** (ours, :func:`normalize`): Unicode NFKC, case folding,
   punctuation/symbols to spaces, whitespace collapsed.
4. **Scores** (ours, rapidfuzz/numpy Levenshtein):

   - ``char_accuracy`` (the metric's value) = 1 - CER: for each requested span,
     the Levenshtein distance between the span and its best-matching part of
     the OCR text (free prefix and suffix, spaces ignored), summed over spans,
     divided by the requested length, clipped to [0, 1].  Extra text elsewhere
     in the image costs nothing here.
   - ``char_accuracy_full`` = rapidfuzz ``Levenshtein.normalized_similarity``
     of the whole requested and OCR strings (extra text costs).
   - ``word_precision`` / ``word_recall``: multiset overlap of normalized words
     over OCR words / requested words; ``completion`` = 1 when every requested
     word was read (recall 1).

   Peers' definitions, reported beside ours (:func:`oneig_score`,
   :func:`mario_scores`):

   - OneIG-Bench: normalization keeps letters of every script and digits,
     deletes everything else (punctuation, symbols), collapses whitespace
     (case kept) and drops the spaces of Chinese text; per image
     ED = Levenshtein(OCR, requested), CR = [ED == 0], WAC counts (matched
     words of the multiset overlap, requested words; characters for Chinese).
     Per model (:func:`oneig_model_score`): ED and CR averaged over the
     images, WAC = total matched / total requested, and
     score = 1 - min(MAX_ED, ED) (1 - CR) (1 - WAC) / MAX_ED once on those
     (MAX_ED 100 for English, 50 for Chinese).  The mean of per-image scores
     is kept beside, as ``oneig_score_per_image_mean``.
   - MARIO-Eval (TextDiffuser): the quoted spans' words are the targets; both
     sides lower-cased, punctuation ignored; word precision, recall and F over
     the multiset overlap; exact-match accuracy = the OCR words equal the
     target words as multisets.  Null when the prompt has no quoted span.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz.distance import Levenshtein

from echo_bench.text_requests import TEXT_CUES, TEXT_CUES_CJK, quoted_spans, requested_text  # noqa: F401

# --- extraction: one definition for every user (echo_bench.text_requests) ----------------

extract_requested_text = requested_text  # the name this module has always exported

# --- normalization -------------------------------------------------------------------------

_CJK = (
    "\u3040-\u30ff"  # kana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\uac00-\ud7af"  # hangul
)
_CJK_RE = re.compile(f"[{_CJK}]")
_TOKEN_RE = re.compile(f"[{_CJK}]|[^\\s{_CJK}]+")


def normalize(text: str) -> str:
    """NFKC, case-folded, punctuation and symbols replaced by spaces, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    text = "".join(" " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in text)
    return " ".join(text.split())


def words(text: str) -> list[str]:
    """Words of a normalized text; CJK characters count as one word each."""
    return _TOKEN_RE.findall(text)


def is_cjk(text: str) -> bool:
    return bool(_CJK_RE.search(text or ""))


def substring_edit_distance(pattern: str, text: str) -> int:
    """Levenshtein distance between ``pattern`` and its best-matching substring of ``text``.

    Semi-global alignment (free prefix and suffix in ``text``), row by row in numpy.
    """
    if not pattern:
        return 0
    if not text:
        return len(pattern)
    t = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    m = t.size
    prev = np.zeros(m + 1, dtype=np.int64)  # free start anywhere in text
    ar = np.arange(m + 1, dtype=np.int64)
    for i, ch in enumerate(pattern, 1):
        sub = prev[:-1] + (t != ord(ch))
        cur = np.empty(m + 1, dtype=np.int64)
        cur[0] = i
        cur[1:] = np.minimum(sub, prev[1:] + 1)
        # insertions along the row: cur[j] = min_k (cur[k] + j - k)
        cur = np.minimum.accumulate(cur - ar) + ar
        prev = cur
    return int(prev.min())


# --- scores --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextScores:
    char_accuracy: float
    char_accuracy_full: float
    word_precision: float
    word_recall: float
    completion: float
    requested: str  # normalized
    read: str  # normalized

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def text_scores(requested: Sequence[str], ocr_text: str) -> TextScores:
    """Our scores of ``ocr_text`` against the requested pieces of text."""
    req_norm = [normalize(s) for s in requested]
    req_norm = [s for s in req_norm if s]
    ocr_norm = normalize(ocr_text)
    req_all = " ".join(req_norm)
    ocr_nospace = ocr_norm.replace(" ", "")
    total = sum(len(s.replace(" ", "")) for s in req_norm)
    if total == 0:
        raise ValueError(f"no requested text to score against (requested {list(requested)!r} is empty once normalized)")
    dist = sum(substring_edit_distance(s.replace(" ", ""), ocr_nospace) for s in req_norm)
    char_acc = max(0.0, 1.0 - dist / total)
    full = float(Levenshtein.normalized_similarity(req_all, ocr_norm))
    rw, ow = Counter(words(req_all)), Counter(words(ocr_norm))
    hit = sum((rw & ow).values())
    recall = hit / max(sum(rw.values()), 1)
    precision = hit / sum(ow.values()) if ow else 0.0
    return TextScores(char_acc, full, precision, recall, float(recall == 1.0), req_all, ocr_norm)


# OneIG-Bench --------------------------------------------------------------------------------

ONEIG_MAX_ED = {"en": 100, "zh": 50}


def _oneig_keeps(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch)[0] in "LN"


def oneig_normalize(text: str, *, lang: str | None = None) -> str:
    """OneIG-Bench's normalization: letters of every script (Latin, Cyrillic, Greek, CJK, ...) and
    digits kept, every other character (punctuation, symbols such as ``×`` and ``÷``) deleted --
    so ``don't`` reads ``dont`` --, whitespace collapsed, case kept; Chinese (``lang`` zh, or text
    with CJK) loses its spaces."""
    kept = "".join(ch for ch in (text or "") if _oneig_keeps(ch))
    if (lang or ("zh" if is_cjk(kept) else "en")) == "zh":
        return "".join(kept.split())
    return " ".join(kept.split())


def oneig_score(requested: str, ocr_text: str, *, max_ed: dict[str, int] | None = None) -> dict:
    """OneIG-Bench text figures of one image: ED, CR, WAC (and its counts) and the combined score.

    The language comes from the requested text (CJK: zh).  The per-model number
    is not the mean of these scores: see :func:`oneig_model_score`.
    """
    max_ed = max_ed or ONEIG_MAX_ED
    lang = "zh" if is_cjk(requested) else "en"
    gt, pred = oneig_normalize(requested, lang=lang), oneig_normalize(ocr_text, lang=lang)
    if not gt:
        raise ValueError(f"no requested text to score against ({requested!r} is empty once normalized)")
    ed = Levenshtein.distance(pred, gt)
    cr = float(ed == 0)
    if lang == "zh":
        gw, pw = Counter(gt), Counter(pred)
    else:
        gw, pw = Counter(gt.split()), Counter(pred.split())
    matched, total = sum((gw & pw).values()), sum(gw.values())
    wac = matched / total
    m = max_ed[lang]
    score = 1.0 - min(m, ed) * (1.0 - cr) * (1.0 - wac) / m
    return {"ed": int(ed), "cr": cr, "wac": float(wac), "matched": int(matched), "total": int(total),
            "score": float(score), "lang": lang, "max_ed": m}


def oneig_model_score(per_image: Sequence[dict]) -> dict:
    """OneIG-Bench's per-model figures from :func:`oneig_score` results of one language:
    ED and CR averaged over the images, WAC pooled (matched words / requested words over all
    images), and ``1 - min(MAX_ED, ED) (1 - CR) (1 - WAC) / MAX_ED`` applied once to those."""
    if not per_image:
        raise ValueError("no image to aggregate")
    langs = {r["lang"] for r in per_image}
    if len(langs) != 1:
        raise ValueError(f"OneIG aggregates one language at a time, got {sorted(langs)}")
    m = int(per_image[0]["max_ed"])
    ed = float(np.mean([r["ed"] for r in per_image]))
    cr = float(np.mean([r["cr"] for r in per_image]))
    wac = sum(r["matched"] for r in per_image) / sum(r["total"] for r in per_image)
    score = 1.0 - min(m, ed) * (1.0 - cr) * (1.0 - wac) / m
    return {"ed": ed, "cr": cr, "wac": float(wac), "score": float(score), "lang": langs.pop(), "max_ed": m,
            "n": len(per_image)}


# MARIO-Eval ---------------------------------------------------------------------------------


def mario_words(text: str) -> list[str]:
    """MARIO-Eval's words: lower-cased, split at whitespace, punctuation ignored (``World!`` reads ``world``)."""
    out = []
    for w in (text or "").lower().split():
        w = "".join(ch for ch in w if unicodedata.category(ch)[0] != "P")
        if w:
            out.append(w)
    return out


def mario_scores(target_spans: Sequence[str], ocr_words: Sequence[str]) -> dict | None:
    """MARIO-Eval word precision, recall, F and exact-match accuracy (None without targets)."""
    target = Counter(w for s in target_spans for w in mario_words(s))
    pred = Counter(w for x in ocr_words for w in mario_words(x))
    if not target:
        return None
    hit = sum((target & pred).values())
    p = hit / sum(pred.values()) if pred else 0.0
    r = hit / sum(target.values())
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f": f, "accuracy": float(target == pred)}


def score_all(requested: Sequence[str], ocr_lines: Sequence[str], *, quoted: Sequence[str] | None = None,
              max_ed: dict[str, int] | None = None) -> dict:
    """Ours, OneIG-Bench and MARIO-Eval for one image: a JSON-able dict."""
    ocr_text = " ".join(ocr_lines)
    ours = text_scores(requested, ocr_text)
    return {
        **ours.as_dict(),
        "oneig": oneig_score(" ".join(requested), ocr_text, max_ed=max_ed),
        "mario": mario_scores(list(quoted) if quoted is not None else [], ocr_text.split()),
    }


# --- OCR -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OcrLine:
    text: str
    score: float
    box: tuple[tuple[float, float], ...]


class OcrReader:
    """rapidocr (PP-OCR det + cls + rec, ONNX models shipped in the wheel), loaded once."""

    def __init__(self, *, min_score: float = 0.5, use_gpu: bool = False) -> None:
        from rapidocr import RapidOCR

        self.min_score = float(min_score)
        self._engine = RapidOCR(
            params={
                "Global.log_level": "error",
                "Global.text_score": self.min_score,
                "EngineConfig.onnxruntime.use_cuda": bool(use_gpu),
            }
        )
        self.name = "rapidocr-ppocr"

    def read(self, img: np.ndarray) -> list[OcrLine]:
        res = self._engine(np.ascontiguousarray(img[:, :, ::-1]))  # rapidocr expects OpenCV's BGR
        if res is None or res.txts is None:
            return []
        boxes = res.boxes if res.boxes is not None else [()] * len(res.txts)
        return [
            OcrLine(str(t), float(s), tuple(tuple(float(v) for v in p) for p in b))
            for t, s, b in zip(res.txts, res.scores, boxes, strict=True)
            if float(s) >= self.min_score and str(t).strip()
        ]


# --- the VLM text judge (option) ----------------------------------------------------------------

#: The VLM text judge's template ships as ``echo_bench/prompts/text_judge.v1.md``.
TEXT_JUDGE = "text_judge"


def ensure_text_judge_template() -> str:
    """The name of the VLM text judge's template; an error at once if the package lacks it."""
    from echo_bench import prompts

    if TEXT_JUDGE not in prompts.available():
        raise RuntimeError("prompt template text_judge is missing from echo_bench/prompts/")
    return TEXT_JUDGE
