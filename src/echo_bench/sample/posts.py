"""Posts, threads and the pieces every thread kind shares (people, times, replies, feedback).

A thread is planned here as Python objects: posts with their authors, times,
reply links and image recipes, and the generator's ground truth about it.
``dump.py`` turns the plan into API pages and files.
"""

from __future__ import annotations

import datetime as dt
import string
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from echo_bench.sample import vocab
from echo_bench.sample.config import SampleConfig
from echo_bench.sample.ids import IdMaker, iso_z, snowflake
from echo_bench.sample.timeline import day_start_ms, day_weights, draw_time, later

ALNUM = string.ascii_letters + string.digits


@dataclass
class User:
    id: str
    username: str
    name: str

    def record(self) -> dict[str, str]:
        return {"id": self.id, "username": self.username, "name": self.name}


@dataclass
class Media:
    """One attached picture: drawn from ``recipe`` and saved as ``<key>.<fmt>``."""

    key: str
    recipe: dict
    fmt: str  # jpg | png
    regions: dict[str, str] = field(default_factory=dict)  # box name in the render -> role in the truth
    width: int = 0  # set when rendered
    height: int = 0

    @property
    def filename(self) -> str:
        return f"{self.key}.{self.fmt}"

    def record(self) -> dict[str, Any]:
        return {
            "media_key": self.key,
            "type": "photo",
            "url": f"media/{self.filename}",
            "width": self.width,
            "height": self.height,
        }


@dataclass
class Post:
    id: str
    author: User
    ms: int
    text: str
    lang: str
    conversation_id: str
    media: list[Media] = field(default_factory=list)
    reply_to: Post | None = None
    quoted: Post | None = None
    retweeted: Post | None = None
    metrics: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("retweet_count", "reply_count", "like_count", "quote_count"), 0)
    )

    def record(self) -> dict[str, Any]:
        """The post as a Twitter API v2 ``data`` item."""
        rec: dict[str, Any] = {
            "id": self.id,
            "text": self.text,
            "author_id": self.author.id,
            "created_at": iso_z(self.ms),
            "conversation_id": self.conversation_id,
            "lang": self.lang,
            "public_metrics": dict(self.metrics),
        }
        if self.media:
            rec["attachments"] = {"media_keys": [m.key for m in self.media]}
        refs = []
        if self.reply_to is not None:
            refs.append({"type": "replied_to", "id": self.reply_to.id})
            rec["in_reply_to_user_id"] = self.reply_to.author.id
        if self.quoted is not None:
            refs.append({"type": "quoted", "id": self.quoted.id})
        if self.retweeted is not None:
            refs.append({"type": "retweeted", "id": self.retweeted.id})
        if refs:
            rec["referenced_tweets"] = refs
        return rec


@dataclass
class Thread:
    kind: str
    posts: list[Post]  # the conversation, root first
    truth: dict[str, Any]
    outside: list[Post] = field(default_factory=list)  # quote posts about it (their own conversations)

    @property
    def root(self) -> Post:
        return self.posts[0]

    def all_posts(self) -> list[Post]:
        return self.posts + self.outside

    def media(self) -> list[Media]:
        return [m for p in self.all_posts() for m in p.media]


def blank_truth(kind: str) -> dict[str, Any]:
    """Every truth field, empty; kind builders fill what applies."""
    return {
        "kind": kind,
        "root_post_id": None,
        "post_ids": [],
        "author": None,
        "created_at": None,
        "lang": None,
        "is_relevant": False,
        "relevance": 1,
        "quality": "Trash",
        "expected_label": "Discard",
        "other_model": None,
        "coincidence_keyword": None,
        "prompt": None,
        "prompt_post_ids": [],
        "prompt_source": None,
        "prompt_stitched": False,
        "fill_in_blank": False,
        "blank_values": {},
        "filled_prompt": None,
        "task_type": None,
        "input_image_keys": [],
        "output_image_keys": [],
        "image_layout": None,
        "crops": {},
        "requested_text": None,
        "rendered_text": None,
        "faces": {},
        "identity_preserved": None,
        "defects": [],
        "feedback": [],
        "duplicate_of": None,
        "exact_copies": 0,
    }


# --- the world every thread draws from ---------------------------------------------------------


class World:
    """People, the calendar and the id allocator shared by all threads of one dump.

    Random streams are keyed by purpose so that one part does not shift another:
    (seed, 1) users, (2) order of kinds, (3, i) thread i, (4, j) retweet j,
    (5, j) repost copy j, (6) engagement counts, (7, k) bad records, (8) exact duplicates.
    """

    def __init__(self, cfg: SampleConfig) -> None:
        self.cfg = cfg
        self.ids = IdMaker()
        self.weights = day_weights(cfg.start, cfg.days, cfg.spikes)
        rng = np.random.default_rng([cfg.seed, 1])
        self.users = make_users(rng, max(40, cfg.n_threads))
        ranks = np.arange(1, len(self.users) + 1, dtype=float)
        self.author_weights = ranks**-1.1 / (ranks**-1.1).sum()

    def rng(self, *stream: int) -> np.random.Generator:
        return np.random.default_rng([self.cfg.seed, *stream])

    def maker(self, kind: str, rng: np.random.Generator) -> ThreadMaker:
        return ThreadMaker(self, kind, rng)


def make_users(rng: np.random.Generator, n: int) -> list[User]:
    users: list[User] = []
    taken: set[str] = set()
    first, second = vocab.HANDLE_PARTS
    while len(users) < n:
        a, b = first[int(rng.integers(len(first)))], second[int(rng.integers(len(second)))]
        handle = f"{a}{'_' if rng.random() < 0.4 else ''}{b}{int(rng.integers(1, 100)) if rng.random() < 0.7 else ''}"
        if handle in taken:
            continue
        taken.add(handle)
        if rng.random() < 0.4:  # a newer account: a snowflake id from its creation time
            joined = day_start_ms(dt.date(2015, 1, 1)) + int(rng.integers(0, 3500)) * 86_400_000
            uid = snowflake(joined, int(rng.integers(0, 1024)), 0)
        else:
            uid = str(int(rng.integers(10**7, 10**10)))
        name = (
            vocab.FIRST_NAMES[int(rng.integers(len(vocab.FIRST_NAMES)))]
            if rng.random() < 0.5
            else f"{a.title()} {b.title()}"
        )
        users.append(User(uid, handle, name))
    return users


# --- building one thread ---------------------------------------------------------------------------------


class ThreadMaker:
    """Creates the posts of one thread with its own random stream."""

    def __init__(self, world: World, kind: str, rng: np.random.Generator) -> None:
        self.world, self.kind, self.rng = world, kind, rng
        self.posts: list[Post] = []
        self.outside: list[Post] = []
        self.truth = blank_truth(kind)

    # random helpers
    def pick(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def seed(self) -> int:
        return int(self.rng.integers(0, 2**31 - 1))

    def author(self) -> User:
        users = self.world.users
        return users[int(self.rng.choice(len(users), p=self.world.author_weights))]

    def someone_else(self, *not_these: User) -> User:
        while True:
            user = self.pick(self.world.users)
            if user not in not_these:
                return user

    def root_time(self) -> int:
        return draw_time(self.rng, self.world.cfg.start, self.world.weights)

    # posts
    def media(self, recipe: dict, fmt: str, post_ms: int, regions: dict[str, str] | None = None) -> Media:
        uploaded = post_ms - int(self.rng.integers(5_000, 120_000))  # uploaded shortly before posting
        return Media("3_" + self.world.ids.make(uploaded, self.rng), recipe, fmt, dict(regions or {}))

    def post(
        self,
        text: str,
        author: User,
        ms: int,
        *,
        images: list[tuple[dict, str]] | list[Media] = (),
        lang: str = "en",
        reply_to: Post | None = None,
        quoted: Post | None = None,
        retweeted: Post | None = None,
        outside: bool = False,
        link: bool = True,
    ) -> Post:
        """A post; ``images`` are (recipe, fmt) pairs, or existing Media (a retweet shows the original's)."""
        post_id = self.world.ids.make(ms, self.rng)
        media = [m if isinstance(m, Media) else self.media(m[0], m[1], ms) for m in images]
        if reply_to is not None and reply_to.author is not author:
            text = f"@{reply_to.author.username} {text}"
        if media and link:
            text = f"{text} https://t.co/{''.join(self.pick(ALNUM) for _ in range(10))}"
        conversation = reply_to.conversation_id if reply_to is not None else post_id
        post = Post(post_id, author, ms, text, lang, conversation, media, reply_to, quoted, retweeted)
        (self.outside if outside else self.posts).append(post)
        return post

    def reply(self, parent: Post, text: str, author: User, *, minutes: float, images=(), lang: str = "en") -> Post:
        return self.post(
            text, author, later(self.rng, parent.ms, median_minutes=minutes), images=images, lang=lang, reply_to=parent
        )

    # finishing
    def thread(self) -> Thread:
        """The finished thread: posts in pre-order, truth ids filled."""
        ordered = preorder(self.posts)
        root = ordered[0]
        t = self.truth
        t.update(
            root_post_id=root.id,
            post_ids=[p.id for p in ordered],
            author=root.author.username,
            created_at=iso_z(root.ms),
            lang=t["lang"] or root.lang,
        )
        return Thread(self.kind, ordered, t, list(self.outside))

    def mark_task(self, *, relevance: int = 5, quality: str = "Benchmark", label: str = "Benchmark") -> None:
        self.truth.update(is_relevant=relevance >= 3, relevance=relevance, quality=quality, expected_label=label)


def preorder(posts: list[Post]) -> list[Post]:
    """Posts of one conversation in pre-order (children by time)."""
    children: dict[str, list[Post]] = {}
    for p in posts:
        if p.reply_to is not None:
            children.setdefault(p.reply_to.id, []).append(p)
    out: list[Post] = []
    stack = [posts[0]]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(sorted(children.get(p.id, []), key=lambda c: c.ms, reverse=True))
    return out


# --- prompts and recipes ------------------------------------------------------------------------------------


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def scene_aspect(m: ThreadMaker) -> str:
    return m.pick(("1:1", "1:1", "4:3", "3:4"))


def subject_recipe(m: ThreadMaker, base: dict) -> dict:
    recipe = {**base, "seed": m.seed()}
    if base["op"] == "scene":
        recipe["aspect"] = scene_aspect(m)
    return recipe


def styled(recipe: dict, style: str, seed: int = 0) -> dict:
    return recipe if style == "none" else {"op": "style", "style": style, "src": recipe, "seed": seed}


def t2i_prompt(m: ThreadMaker) -> tuple[str, str, dict, str]:
    """An English text-to-image prompt: (prompt, short label, subject recipe base, style op)."""
    subject, label, base = m.pick(vocab.SUBJECTS)
    style, style_op = m.pick(vocab.STYLES)
    fields = {
        "subject": subject,
        "style": style,
        "lighting": m.pick(vocab.LIGHTING),
        "composition": m.pick(vocab.COMPOSITION),
        "extra": m.pick(vocab.EXTRAS),
        "mood": m.pick(vocab.MOODS),
    }
    fields.update({k.title(): cap(v) for k, v in list(fields.items())})
    return m.pick(vocab.T2I_TEMPLATES).format(**fields), label, base, style_op


def output_count(m: ThreadMaker) -> int:
    return m.pick((1, 1, 1, 1, 2, 4))


# --- defects of outputs ---------------------------------------------------------------------------------------

_DEFECT_WEIGHTS = {"yellow_cast": 3.0, "identity_lost": 3.0, "text_error": 5.0, "aspect_ratio": 1.5, "incoherent": 1.0}


def choose_defects(m: ThreadMaker, applicable: tuple[str, ...], rate: float | None = None) -> list[str]:
    """Which failures this thread's outputs show (none most of the time)."""
    rate = m.world.cfg.defect_rate if rate is None else rate
    if not applicable or not m.chance(rate):
        return []
    w = np.array([_DEFECT_WEIGHTS[d] for d in applicable])
    n = 2 if len(applicable) > 1 and m.chance(0.15) else 1
    picked = m.rng.choice(len(applicable), size=n, replace=False, p=w / w.sum())
    return sorted(applicable[int(i)] for i in picked)


def with_defects(m: ThreadMaker, recipe: dict, defects: list[str], aspect: str = "1:1") -> dict:
    """Wrap an output recipe with the image operations that show ``defects``."""
    if "yellow_cast" in defects:
        recipe = {"op": "tint", "strength": round(float(m.rng.uniform(0.75, 1.0)), 2), "src": recipe}
    if "aspect_ratio" in defects:
        recipe = {
            "op": "stretch",
            "aspect": m.pick([a for a in ("1:1", "4:3", "3:4", "16:9") if a != aspect]),
            "src": recipe,
        }
    if "incoherent" in defects:
        recipe = {"op": "glitch", "seed": m.seed(), "src": recipe}
    return recipe


# --- replies: feedback and chatter ------------------------------------------------------------------------------


def add_feedback(m: ThreadMaker, aspects: tuple[str, ...] = ()) -> None:
    """Replies (and a few quote posts) judging the result, recorded in the truth with their keywords.

    Complaints name only defects the outputs really have; praise may come
    beside complaints (people disagree), on the general look or on an aspect
    (``aspects``: identity, text, color) that is not defective.
    """
    if not m.chance(m.world.cfg.feedback_rate):
        return
    root = m.posts[0]
    categories = sorted({vocab.DEFECT_CATEGORY[d] for d in m.truth["defects"]})
    praisable = ["general", *[a for a in aspects if a not in categories]]
    for i in range(int(m.rng.integers(1, 4))):
        if categories and (i == 0 or m.chance(0.5)):
            polarity, category = "failure", m.pick(categories)
            text, keywords = m.pick(vocab.FAILURE_FEEDBACK[category])
        else:
            polarity, category = "praise", m.pick(praisable)
            text, keywords = m.pick(vocab.PRAISE_FEEDBACK[category])
        text = text.format(rendered=m.truth["rendered_text"], requested=m.truth["requested_text"])
        who = m.someone_else(root.author)
        if m.chance(0.15):
            post = m.post(text, who, later(m.rng, root.ms, median_minutes=240), quoted=root, outside=True)
            via = "quote"
        else:
            post = m.reply(root, text, who, minutes=90)
            via = "reply"
            if polarity == "failure" and m.chance(0.3):
                m.reply(post, m.pick(vocab.AUTHOR_ANSWERS), root.author, minutes=30)
        m.truth["feedback"].append(
            {"post_id": post.id, "polarity": polarity, "category": category, "keywords": list(keywords), "via": via}
        )


def add_chatter(m: ThreadMaker, p: float = 0.35) -> None:
    """Replies that are not feedback: questions, bookmarks, the author's answers."""
    if not m.chance(p):
        return
    root = m.posts[0]
    for _ in range(int(m.rng.integers(1, 3))):
        asked = m.reply(root, m.pick(vocab.CHATTER), m.someone_else(root.author), minutes=60)
        if m.chance(0.4):
            m.reply(asked, m.pick(vocab.AUTHOR_ANSWERS), root.author, minutes=30)


def finish_task_thread(m: ThreadMaker, aspects: tuple[str, ...] = ()) -> Thread:
    add_feedback(m, aspects)
    add_chatter(m)
    return m.thread()


# --- engagement counts --------------------------------------------------------------------------------------------


def assign_metrics(threads: list[Thread], rng: np.random.Generator) -> None:
    """public_metrics: at least what the dump shows (replies, quotes, retweets), plus unseen engagement."""
    posts = [p for t in threads for p in t.all_posts()]
    seen = {"reply_count": {}, "quote_count": {}, "retweet_count": {}}
    for p in posts:
        for ref, counter in ((p.reply_to, "reply_count"), (p.quoted, "quote_count"), (p.retweeted, "retweet_count")):
            if ref is not None:
                seen[counter][ref.id] = seen[counter].get(ref.id, 0) + 1
    for p in sorted(posts, key=lambda q: int(q.id)):
        is_root = p.reply_to is None and p.retweeted is None
        scale = 3.0 if is_root else 0.8
        p.metrics = {
            "like_count": int(rng.lognormal(scale, 1.6)),
            "reply_count": seen["reply_count"].get(p.id, 0) + (int(rng.poisson(2)) if is_root else 0),
            "quote_count": seen["quote_count"].get(p.id, 0) + (int(rng.poisson(0.3)) if is_root else 0),
            "retweet_count": seen["retweet_count"].get(p.id, 0) + (int(rng.lognormal(1.0, 1.4)) if is_root else 0),
        }
        if p.retweeted is not None:  # the API reports zero own engagement on a retweet
            p.metrics = dict.fromkeys(p.metrics, 0)
