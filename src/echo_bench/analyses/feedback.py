"""Community feedback: each item labelled failure / success / neutral, with keywords.

The offline annotator is a documented lexicon (:data:`LEXICON`, listed in
docs/analyses.md): regular expressions over the normalized text, each naming a
*keyword* (what the word cloud shows), a *category* (identity, aspect_ratio,
proportions, text_accuracy, color_balance, coherency, image_quality,
prompt_adherence, refusal, general) and a *polarity* (failure or success).

How a text is read (:func:`annotate_text`):

1. normalize: lower case, typographic quotes and apostrophes made plain, URLs and
   @mentions dropped, whitespace collapsed;
2. terms are tried in lexicon order (specific phrases before single words) and
   each match claims its characters, so "no typos" (success) is read before
   "typos" (failure) and "doesn't look like you" before "looks like you";
3. negation: a failure term preceded in the same clause, within three words, by
   no / not / zero / without / never / isn't / wasn't / aren't / don't / didn't
   becomes a success of its category (keyword "no <keyword>"); a success term so
   preceded becomes a failure ("not <keyword>");
4. the item is a **failure** if it has at least one failure keyword (a complaint
   outweighs praise in the same reply: "cool style but the likeness is gone"), a
   **success** if it has only success keywords, and **neutral** otherwise (questions,
   thanks, chatter, languages the lexicon does not cover).

With ``analyses.feedback.llm.backend`` set to a real backend, an LLM reads each
item through the template ``feedback_keywords@v1`` (below) and returns the same
shape; the offline lexicon is then only the fallback of the offline backend.
Every row says which produced it (``producer``).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

LEXICON_VERSION = "v1"
OFFLINE_PRODUCER = f"offline-lexicon/feedback-{LEXICON_VERSION}"
TEMPLATE = "feedback_keywords@v1"

CATEGORIES = (
    "identity",
    "aspect_ratio",
    "proportions",
    "text_accuracy",
    "color_balance",
    "coherency",
    "image_quality",
    "prompt_adherence",
    "refusal",
    "general",
)
POLARITIES = ("failure", "success", "neutral")

#: One row per (split, sample, feedback item): the annotation of the item's text.
FEEDBACK_ANNOTATIONS = pl.Schema(
    {
        "split": pl.Utf8,
        "sample_id": pl.Utf8,
        "thread_id": pl.Utf8,
        "post_id": pl.Utf8,
        "item_index": pl.Int32,  # position in the sample's feedback list
        "text": pl.Utf8,
        "polarity": pl.Utf8,  # failure | success | neutral (null when status is failed)
        "failure_keywords": pl.List(pl.Utf8),
        "failure_categories": pl.List(pl.Utf8),  # category of each failure keyword (aligned)
        "success_keywords": pl.List(pl.Utf8),
        "success_categories": pl.List(pl.Utf8),  # category of each success keyword (aligned)
        "producer": pl.Utf8,  # offline-lexicon/feedback-v1 | <backend>:<model>
        "status": pl.Utf8,  # ok | failed
        "error": pl.Utf8,
    }
)


@dataclass(frozen=True)
class Term:
    keyword: str
    category: str
    polarity: str  # failure | success
    pattern: str


def _t(polarity: str, category: str, keyword: str, *patterns: str) -> list[Term]:
    return [Term(keyword, category, polarity, p) for p in patterns]


_POSS = r"(?:the|your|my|his|her|their|our|its|her|this|that)"
_WHO = r"(?:you|me|him|her|them|us|the (?:original|person|photo|picture|reference))"
_IS = r"(?:is|are|was|were|looks?|looked|came out|seems?)"

#: The lexicon, in priority order (earlier terms claim their text first).
LEXICON: tuple[Term, ...] = tuple(
    # --- phrases that contain another term's words come first -----------------------------------
    _t("failure", "identity", "doesn't look like", rf"(?:doesn't|does not|don't|didn't|did not) (?:really |even )?look like {_WHO}",
       r"looks? nothing like")
    + _t("failure", "identity", "different person", r"(?:a |an entirely |a completely |totally )?different (?:person|people|face|guy|girl|woman|man)",
         r"not the same (?:person|face|guy|girl)")
    + _t("failure", "text_accuracy", "wrong text", r"says ['\"][^'\"]{1,80}['\"] (?:not|instead of)",
         rf"(?:wrong|broken|messed up|jumbled|scrambled) (?:text|letters|words|spelling|lettering)",
         rf"(?:text|letters|lettering|spelling|words) {_IS} (?:all )?(?:wrong|off|broken|messed up|nonsense|jumbled)")
    + _t("success", "text_accuracy", "no typos", r"(?:no|zero|without) (?:typos?|spelling (?:mistakes?|errors?)|misspellings?)")
    + _t("success", "text_accuracy", "spelled right", r"spelled (?:it )?(?:right|correctly|perfectly)", rf"spelling {_IS} (?:perfect|right|correct)")
    + _t("success", "text_accuracy", "text perfect",
         rf"(?:text|lettering|letters|typography|text rendering) {_IS} (?:so |really |actually )?(?:perfect|correct|flawless|accurate|clean|right|crisp|insane|great|amazing)",
         r"(?:perfect|flawless|accurate|correct|clean) (?:text|lettering|typography|text rendering)")
    + _t("success", "identity", "kept the face",
         rf"(?:kept|keeps|keep|preserved|preserves|nailed|retained) {_POSS} (?:face|faces|identity|likeness|features)",
         rf"(?:face|identity|likeness|features) {_IS} (?:perfectly |fully )?(?:preserved|kept|intact|spot on|perfect|the same)")
    + _t("success", "identity", "looks like you", rf"(?:really |actually |totally |just )?looks? (?:just |exactly )?like {_WHO}",
         r"same person", r"recogni[sz]able")
    + _t("success", "color_balance", "natural colors",
         rf"colou?rs? {_IS} (?:so |really |very )?(?:natural|accurate|perfect|true to life|spot on|right)",
         r"(?:natural|accurate|true) colou?rs?", r"no (?:yellow |orange |color |colour )?(?:tint|cast)")
    + _t("success", "aspect_ratio", "kept the ratio", rf"(?:kept|keeps|preserved|respected) {_POSS} (?:aspect ratio|ratio|dimensions|framing)")
    + _t("success", "proportions", "good proportions",
         rf"(?:proportions|anatomy|hands|fingers) {_IS} (?:perfect|right|correct|great|good|accurate|fine)")
    + _t("success", "coherency", "coherent", r"(?:so |very |really )?(?:coherent|consistent)", r"no (?:artifacts?|artefacts?|glitch(?:es)?)")
    # --- failures --------------------------------------------------------------------------------
    + _t("failure", "identity", "lost the identity",
         rf"(?:lost|loses|losing|lose|ruined|ruins) {_POSS}? ?(?:identity|likeness|face|features|resemblance)",
         rf"(?:likeness|identity|resemblance) {_IS}? ?(?:is )?(?:gone|lost|off|wrong|missing)")
    + _t("failure", "identity", "changed the face",
         rf"(?:changed|changes|change|altered|alters|messed up|swapped|replaced) {_POSS}? ?(?:face|faces|identity|features|facial features)",
         rf"(?:face|faces) {_IS} (?:off|wrong|weird|different|distorted|changed)")
    + _t("failure", "identity", "whitewashed", r"white-?wash(?:ed|es|ing)?")
    + _t("failure", "identity", "uncanny", r"uncanny(?: valley)?")
    + _t("failure", "text_accuracy", "misspelled", r"mis-?spell(?:ed|ing|ings|s|t)?", r"spelling (?:mistakes?|errors?)")
    + _t("failure", "text_accuracy", "typos", r"typos?")
    + _t("failure", "text_accuracy", "garbled", r"garbled", r"gibberish", r"jibberish", r"nonsense (?:text|letters|words)")
    + _t("failure", "color_balance", "yellow tint",
         r"yellow(?:ish)? (?:tint|cast|filter|hue|tone|haze|overlay)", r"(?:piss|pee|urine) filter")
    + _t("failure", "color_balance", "yellow", r"(?:too|so|very|all|way too|kinda|super|really) yellow", r"yellow(?:ish|ed)")
    + _t("failure", "color_balance", "sepia", r"sepia(?: filter| tone| tint)?")
    + _t("failure", "color_balance", "too warm", r"(?:way |far |much )?too (?:warm|orange)", r"(?:orange|warm) (?:tint|cast|filter)")
    + _t("failure", "color_balance", "color balance",
         rf"colou?r (?:balance|grading|cast|shift|temperature)(?: {_IS} (?:off|wrong|weird|bad))?",
         r"white balance")
    + _t("failure", "color_balance", "colors off",
         rf"colou?rs? {_IS} (?:all |so |really )?(?:off|wrong|weird|washed out|dull|muddy|shifted)", r"tint(?:ed)?")
    + _t("failure", "color_balance", "washed out", r"washed[- ]out", r"(?:over|de)-?saturated")
    + _t("failure", "aspect_ratio", "aspect ratio", r"(?:wrong |different |changed the )?aspect ?ratio", r"(?:wrong|different|changed the) (?:size|dimensions|ratio|format|resolution)")
    + _t("failure", "aspect_ratio", "squished", r"squish(?:ed|y)?", r"squashed", r"not square")
    + _t("failure", "aspect_ratio", "cropped", r"crop(?:ped|s)?(?: out| off)?", r"cut off")
    + _t("failure", "proportions", "proportions", rf"proportions?(?: {_IS} (?:off|wrong|weird|bad))?", r"out of proportion")
    + _t("failure", "proportions", "stretched", r"stretch(?:ed|y)")
    + _t("failure", "proportions", "distorted", r"distort(?:ed|ion|ions|s)?", r"warped")
    + _t("failure", "proportions", "anatomy",
         r"(?:extra|six|missing|weird|too many|mangled|melted) (?:fingers|hands|limbs|arms|legs|toes|teeth)", r"anatomy",
         r"(?:giant|huge|tiny|massive) (?:head|hands|body)")
    + _t("failure", "coherency", "incoherent", r"incoherent", r"(?:doesn't|does not|don't) make (?:any )?sense", r"makes no sense",
         r"nonsensical")
    + _t("failure", "coherency", "artifacts", r"artifacts?", r"artefacts?", r"glitch(?:y|es|ed)?")
    + _t("failure", "coherency", "duplicated", r"duplicat(?:ed|es|ion|e)", r"(?:twice|two of (?:them|everything))")
    + _t("failure", "coherency", "broken", r"(?:broken|melted|mangled|merged|melting) ?(?:shapes?|objects?|bodies|things|geometry)?",
         r"(?:weird|random|floating) (?:blobs?|objects?|stuff|shapes)")
    + _t("failure", "image_quality", "blurry", r"blurr?y", r"out of focus")
    + _t("failure", "image_quality", "low res", r"low[- ]?res(?:olution)?", r"pixelated", r"grainy", r"jpeg artifacts")
    + _t("failure", "image_quality", "plastic", r"plastic(?:ky|y)?", r"airbrushed", r"over-?smoothed", r"waxy")
    + _t("failure", "image_quality", "looks fake", r"looks? (?:so |too |very )?(?:fake|ai[- ]generated|cheap|generic)")
    + _t("failure", "prompt_adherence", "ignored the prompt",
         rf"(?:ignored|ignores|ignoring|ignore) {_POSS}? ?(?:prompt|instructions?|request)",
         r"not what i (?:asked|wanted|prompted|typed)",
         r"(?:didn't|did not|doesn't|does not|won't|never) (?:follow|listen)",
         r"(?:forgot|missing|left out|skipped) (?:the|my) ")
    + _t("failure", "refusal", "content policy", r"content polic(?:y|ies)", r"violat(?:es|ed|ion|ing)", r"guardrails?",
         r"censor(?:ed|ship|s)?")
    + _t("failure", "refusal", "refused", r"refus(?:ed|es|al)", r"won't (?:generate|make|create|draw|do it)",
         r"(?:can't|cannot|couldn't) (?:generate|make|create|draw) (?:this|that|it|images? of)")
    + _t("failure", "general", "so close", r"so close", r"almost(?: there)?")
    + _t("failure", "general", "bad", r"terrible", r"awful", r"horrible", r"ugly", r"trash", r"garbage", r"disappointing",
         r"(?:much )?worse", r"worst", r"bad", r"meh", r"fail(?:ed|s|ure)?")
    + _t("failure", "general", "wrong", r"wrong")
    # --- generic praise ---------------------------------------------------------------------------
    + _t("success", "general", "nailed it", r"nailed (?:it|this)", r"spot on", r"on point")
    + _t("success", "general", "perfect", r"perfect(?:ly|ion)?", r"flawless(?:ly)?")
    + _t("success", "general", "incredible", r"incredible", r"unbelievable", r"insane(?:ly good)?", r"mind-?blowing", r"wild")
    + _t("success", "general", "amazing", r"amazing", r"awesome", r"impressive", r"fantastic", r"brilliant", r"excellent")
    + _t("success", "general", "stunning", r"stunning", r"gorgeous", r"beautiful", r"breathtaking", r"masterpiece")
    + _t("success", "general", "so good", r"(?:so|really|very|pretty|super) good", r"looks? good", r"well done")
    + _t("success", "general", "love it", r"love (?:it|this|these|that)", r"loving (?:it|this)")
    + _t("success", "general", "great", r"great")
    + _t("success", "general", "wow", r"wow+")
    + _t("success", "general", "cool", r"cool", r"fire")
    + _t("success", "general", "nice", r"nice")
)

NEGATORS = re.compile(
    r"(?:^|\s)(?:no|not|zero|without|never|isn't|wasn't|aren't|weren't|don't|didn't|doesn't|hardly|barely|nothing)"
    r"(?:\s+\S+){0,2}\s*$"
)
_OWN_NEGATION = re.compile(r"(?:no|not|zero|without|doesn't|does not|don't|didn't|did not|won't|can't|cannot|couldn't)\b")
_CLAUSE_BREAK = re.compile(r"[.!?;,:\n]|\bbut\b")
_URL = re.compile(r"https?://\S+|www\.\S+")
_MENTION = re.compile(r"(?<!\w)@\w+")
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2032": "'", "`": "'"})

_COMPILED: list[tuple[Term, re.Pattern[str]]] = [
    (term, re.compile(rf"(?<![\w']){term.pattern}(?![\w])")) for term in LEXICON
]


def normalize(text: str | None) -> str:
    s = (text or "").translate(_QUOTES).lower()
    s = _URL.sub(" ", s)
    s = _MENTION.sub(" ", s)
    return re.sub(r"\s+", " ", s).strip()


def _negated(text: str, start: int) -> bool:
    before = text[:start]
    cut = max((m.end() for m in _CLAUSE_BREAK.finditer(before)), default=0)
    return bool(NEGATORS.search(before[cut:]))


def negated_keyword(term: Term) -> str:
    """The keyword of a negated term: "no typos" for a failure term, "not perfect" for praise or a general complaint."""
    if term.polarity == "failure" and term.category != "general":
        return "no " + term.keyword
    return "not " + term.keyword


def annotate_text(text: str | None) -> dict[str, Any]:
    """``{"polarity", "keywords": [{"keyword", "category", "polarity"}, ...]}`` of one feedback text (offline)."""
    s = normalize(text)
    claimed = [False] * len(s)
    hits: list[tuple[int, Term, bool]] = []
    for term, rx in _COMPILED:
        for m in rx.finditer(s):
            a, b = m.span()
            if a == b or any(claimed[a:b]):
                continue
            for i in range(a, b):
                claimed[i] = True
            # phrases that carry their own negation ("no typos", "doesn't look like you") are never flipped
            own_negation = bool(_OWN_NEGATION.match(m.group(0)))
            hits.append((a, term, (not own_negation) and _negated(s, a)))
    hits.sort(key=lambda h: h[0])
    keywords: list[dict[str, str]] = []
    seen: set[tuple[str, str, str]] = set()
    for _, term, neg in hits:
        if neg:
            polarity = "success" if term.polarity == "failure" else "failure"
            keyword = negated_keyword(term)
        else:
            polarity, keyword = term.polarity, term.keyword
        key = (keyword, term.category, polarity)
        if key not in seen:
            seen.add(key)
            keywords.append({"keyword": keyword, "category": term.category, "polarity": polarity})
    pols = {k["polarity"] for k in keywords}
    polarity = "failure" if "failure" in pols else ("success" if "success" in pols else "neutral")
    return {"polarity": polarity, "keywords": keywords}


# --- the LLM option ---------------------------------------------------------------------------------------------



def ensure_template() -> None:
    """Fail early, naming the template, when ``feedback_keywords@v1`` is not in the prompt catalog."""
    from echo_bench import prompts

    prompts.load(TEMPLATE)


def offline_reply(request: Any) -> dict[str, Any]:
    """The offline backend of the LLM option: the lexicon's reading of the request's text."""
    return annotate_text(str(request.variables.get("feedback_text", "")))


def _clean_llm(data: Mapping[str, Any]) -> dict[str, Any]:
    """An LLM's reply made canonical: known categories only (others -> general), lower-case keywords."""
    kws = []
    seen = set()
    for k in data.get("keywords") or []:
        kw = re.sub(r"\s+", " ", str(k.get("keyword", "")).strip().lower())
        cat = str(k.get("category", "general")).strip().lower().replace(" ", "_")
        cat = cat if cat in CATEGORIES else "general"
        pol = k.get("polarity") if k.get("polarity") in ("failure", "success") else "failure"
        if kw and (kw, cat, pol) not in seen:
            seen.add((kw, cat, pol))
            kws.append({"keyword": kw, "category": cat, "polarity": pol})
    pol = data.get("polarity") if data.get("polarity") in POLARITIES else "neutral"
    return {"polarity": pol, "keywords": kws}


# --- a split's feedback items --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    split: str
    sample_id: str
    thread_id: str
    post_id: str
    index: int
    text: str
    prompt: str


def feedback_items(samples: pl.DataFrame) -> list[Item]:
    """Every feedback item of ``samples`` (SAMPLES rows), in (split, sample_id, index) order."""
    out: list[Item] = []
    if samples.height == 0:
        return out
    cols = samples.select("split", "sample_id", "thread_id", "prompt", "feedback").sort("split", "sample_id")
    for split, sid, tid, prompt, fb in cols.iter_rows():
        for i, item in enumerate(fb or []):
            if not item:
                continue
            out.append(Item(str(split), str(sid), str(tid or ""), str(item.get("post_id") or ""), i,
                            str(item.get("text") or ""), str(prompt or "")))
    return out


def annotate_items(items: Sequence[Item], client: Any = None, *, prompt_chars: int = 500) -> pl.DataFrame:
    """FEEDBACK_ANNOTATIONS rows: through ``client`` (an LLMClient) when given, else the lexicon directly."""
    rows = []
    if client is None:
        results: list[tuple[dict[str, Any] | None, str, str | None]] = [
            (annotate_text(it.text), OFFLINE_PRODUCER, None) for it in items]
    else:
        from echo_bench import prompts
        from echo_bench.llm import LLMRequest

        ensure_template()
        schema = prompts.reply_schema(TEMPLATE)
        cats = ", ".join(CATEGORIES)

        def clip(p: str) -> str:
            return p if len(p) <= prompt_chars else p[: prompt_chars - 1] + "\u2026"

        # one request per distinct (prompt, text): a reply shared by several samples of a thread is read once
        keys = sorted({(clip(it.prompt), it.text) for it in items})
        reqs = [LLMRequest(TEMPLATE, {"prompt": p, "feedback_text": t, "categories": cats}, json_schema=schema,
                           key=f"feedback{i}") for i, (p, t) in enumerate(keys)]
        replies = client.run(reqs) if reqs else []
        by_key = dict(zip(keys, replies, strict=True))
        results = []
        for it in items:
            r = by_key[(clip(it.prompt), it.text)]
            producer = OFFLINE_PRODUCER if r.backend == "offline" else f"{r.backend}:{r.model}"
            if r.ok and isinstance(r.data, Mapping):
                results.append((_clean_llm(r.data), producer, None))
            else:
                results.append((None, producer, r.error or "failed"))
    for it, (res, producer, err) in zip(items, results, strict=True):
        kws = (res or {}).get("keywords", [])
        fail = [k for k in kws if k["polarity"] == "failure"]
        succ = [k for k in kws if k["polarity"] == "success"]
        rows.append(
            {
                "split": it.split,
                "sample_id": it.sample_id,
                "thread_id": it.thread_id,
                "post_id": it.post_id,
                "item_index": it.index,
                "text": it.text,
                "polarity": res["polarity"] if res else None,
                "failure_keywords": [k["keyword"] for k in fail],
                "failure_categories": [k["category"] for k in fail],
                "success_keywords": [k["keyword"] for k in succ],
                "success_categories": [k["category"] for k in succ],
                "producer": producer,
                "status": "ok" if res else "failed",
                "error": err,
            }
        )
    return pl.DataFrame(rows, schema=FEEDBACK_ANNOTATIONS) if rows else pl.DataFrame(schema=FEEDBACK_ANNOTATIONS)


def _distinct_posts(ann: pl.DataFrame) -> pl.DataFrame:
    """One row per feedback post (a reply shared by several samples of a thread counts once)."""
    key = pl.when(pl.col("post_id") != "").then(pl.col("post_id")).otherwise(pl.col("sample_id") + "#" + pl.col("item_index").cast(pl.Utf8))
    return ann.filter(pl.col("status") == "ok").with_columns(key.alias("_key")).unique("_key", keep="first", maintain_order=True)


def keyword_frequencies(ann: pl.DataFrame) -> pl.DataFrame:
    """polarity, category, keyword, count (distinct feedback posts), samples, share (of that polarity's posts)."""
    posts = _distinct_posts(ann)
    n_pol = Counter(posts["polarity"].to_list())
    counts: Counter[tuple[str, str]] = Counter()
    cats: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    sample_sets: dict[tuple[str, str], set[str]] = defaultdict(set)
    for pol in ("failure", "success"):
        for kw_list, cat_list in posts.select(f"{pol}_keywords", f"{pol}_categories").iter_rows():
            pairs = dict(zip(kw_list or [], cat_list or [], strict=False))
            for kw, cat in pairs.items():
                counts[(pol, kw)] += 1
                cats[(pol, kw)][cat] += 1
    for split_sid, pol_kws in _sample_keywords(ann).items():
        for key in pol_kws:
            sample_sets[key].add(split_sid)
    rows = []
    for (pol, kw), n in counts.items():
        rows.append(
            {
                "polarity": pol,
                "category": sorted(cats[(pol, kw)].items(), key=lambda kv: (-kv[1], kv[0]))[0][0],
                "keyword": kw,
                "count": n,
                "samples": len(sample_sets.get((pol, kw), ())),
                "share": round(n / n_pol[pol], 6) if n_pol[pol] else None,
            }
        )
    schema = {"polarity": pl.Utf8, "category": pl.Utf8, "keyword": pl.Utf8, "count": pl.Int64, "samples": pl.Int64,
              "share": pl.Float64}
    if not rows:
        return pl.DataFrame(schema=schema)
    return pl.DataFrame(rows, schema=schema).sort(["polarity", "count", "keyword"], descending=[False, True, False])


def _sample_keywords(ann: pl.DataFrame) -> dict[str, set[tuple[str, str]]]:
    out: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for split, sid, fk, sk in ann.filter(pl.col("status") == "ok").select(
            "split", "sample_id", "failure_keywords", "success_keywords").iter_rows():
        for kw in fk or []:
            out[f"{split}/{sid}"].add(("failure", kw))
        for kw in sk or []:
            out[f"{split}/{sid}"].add(("success", kw))
    return out


def category_frequencies(ann: pl.DataFrame) -> pl.DataFrame:
    """polarity, category, count of distinct feedback posts naming the category."""
    posts = _distinct_posts(ann)
    rows = []
    for pol in ("failure", "success"):
        c: Counter[str] = Counter()
        for cats in posts[f"{pol}_categories"].to_list():
            c.update(set(cats or []))
        rows += [{"polarity": pol, "category": k, "count": v} for k, v in c.items()]
    schema = {"polarity": pl.Utf8, "category": pl.Utf8, "count": pl.Int64}
    if not rows:
        return pl.DataFrame(schema=schema)
    return pl.DataFrame(rows, schema=schema).sort(["polarity", "count", "category"], descending=[False, True, False])


def post_url(post_id: str) -> str | None:
    return f"https://x.com/i/web/status/{post_id}" if post_id and post_id.isdigit() else None


def examples(
    ann: pl.DataFrame,
    samples: pl.DataFrame,
    keywords: Iterable[str],
    *,
    polarity: str = "failure",
    per_keyword: int = 3,
    prompt_chars: int = 200,
) -> dict[str, list[dict[str, Any]]]:
    """Up to ``per_keyword`` feedback items per keyword, each linking back to its sample (split, sample_id, post).

    Examples come from distinct samples where possible, benchmark splits first,
    then by sample id (deterministic).
    """
    prompts = {(s, i): p for s, i, p in samples.select("split", "sample_id", "prompt").iter_rows()} if samples.height else {}
    order = {"text_to_image": 0, "image_to_image": 1, "analysis": 2}
    ok = ann.filter(pl.col("status") == "ok").to_dicts()
    ok.sort(key=lambda r: (order.get(r["split"], 3), r["sample_id"], r["item_index"]))
    out: dict[str, list[dict[str, Any]]] = {}
    col = f"{polarity}_keywords"
    for kw in keywords:
        picked: list[dict[str, Any]] = []
        used: set[str] = set()
        for second_pass in (False, True):
            for r in ok:
                if len(picked) >= per_keyword:
                    break
                if kw not in (r[col] or []):
                    continue
                if (r["sample_id"] in used) != second_pass:
                    continue
                if any(p["post_id"] == r["post_id"] and p["sample_id"] == r["sample_id"] for p in picked):
                    continue
                used.add(r["sample_id"])
                prompt = prompts.get((r["split"], r["sample_id"]), "")
                picked.append(
                    {
                        "split": r["split"],
                        "sample_id": r["sample_id"],
                        "thread_id": r["thread_id"],
                        "post_id": r["post_id"],
                        "text": r["text"],
                        "prompt": prompt if len(prompt) <= prompt_chars else prompt[: prompt_chars - 1] + "\u2026",
                        "url": post_url(r["post_id"]),
                    }
                )
        out[kw] = picked
    return out
