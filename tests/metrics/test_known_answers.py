"""Known-answer checks of issue 15: a zero-effect control reads zero, intervals resample whole
samples, lost faces count as failures, one requested text, the OneIG/MARIO definitions."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image

from echo_bench.metrics import controls
from echo_bench.metrics.applicability import APPLICABILITY
from echo_bench.metrics.runner import MetricsSettings, aggregate, compute_values
from echo_bench.schemas import GENERATIONS, SAMPLES

LOG = logging.getLogger("test.metrics.known_answers")
T0 = datetime(2025, 3, 26, tzinfo=timezone.utc)


def _save(img: np.ndarray, root: Path, name: str) -> str:
    path = root / f"{name}.png"
    Image.fromarray(img).save(path)
    return str(path)


def _frames(root: Path, n: int, outputs: dict[str, callable], families=("color",)):
    """``n`` two-input samples (the second input of very different colours) and one output per model."""
    samples, gens, app = [], [], []
    for i in range(n):
        first = controls.scene((160, 128), 100 + i)
        second = np.full((128, 160, 3), (20 + 40 * i % 200, 220, 30), np.uint8)  # a green reference image
        ins = [_save(first, root, f"in{i}a"), _save(second, root, f"in{i}b")]
        sid = f"s{i}"
        samples.append({"sample_id": sid, "split": "image_to_image", "thread_id": f"t{i}", "created_at": T0,
                        "lang": "en", "prompt": "Put the cat of the second image on the sofa", "prompt_modified": False,
                        "task_type": "multi_image", "input_images": ins, "reference_outputs": [],
                        "quality": "Benchmark", "label": "Benchmark", "feedback": [], "producer": "test"})
        for model, fn in outputs.items():
            out = _save(fn(first), root, f"{model}{i}")
            gens.append({"split": "image_to_image", "model": model, "sample_id": sid, "status": "ok", "reason": None,
                         "output_image": out, "sha256": None, "backend": "test", "seed": 0, "latency_s": 0.0,
                         "cost_usd": 0.0, "settings": "{}"})
        for fam in families:
            app.append({"sample_id": sid, "family": fam, "applicable": True, "reason": "test", "target_text": [],
                        "backend": "test"})
    return (pl.DataFrame(samples, schema=SAMPLES), pl.DataFrame(gens, schema=GENERATIONS),
            pl.DataFrame(app, schema=APPLICABILITY))


@pytest.fixture(scope="module")
def multi_input_color(tmp_path_factory):
    root = tmp_path_factory.mktemp("multi")
    samples, gens, app = _frames(root, 6, {"identity": lambda x: x.copy(), "color_cast": controls.color_cast})
    settings = MetricsSettings(enabled=["color_shift"], device="cpu", batch_size=4, bootstrap=300)
    values, _ = compute_values(samples, gens, app, settings, log=LOG)
    return values


@pytest.mark.parametrize("pool", ["split", "paired"])
def test_identity_colour_shift_is_zero_on_every_paper_variant_of_multi_input_samples(multi_input_color, pool):
    table = aggregate(multi_input_color, input_pool=pool, bootstrap=300, seed=1)
    row = table.filter(pl.col("model") == "identity").row(0, named=True)
    extras = json.loads(row["extras"])
    assert row["value"] == 0.0
    for name in ("split", "paired"):
        assert extras["variants"][name]["value"] == 0.0
    # the all-inputs pooling is kept, under its own name: it is not zero for an identity edit
    assert extras["variants"]["split_all_inputs"]["value"] > 5.0


def test_colour_interval_resamples_whole_samples(multi_input_color):
    table = aggregate(multi_input_color, input_pool="split", bootstrap=300, seed=1)
    ident = table.filter(pl.col("model") == "identity").row(0, named=True)
    cast = table.filter(pl.col("model") == "color_cast").row(0, named=True)
    assert ident["ci_low"] <= 0.0 <= ident["ci_high"]
    assert ident["ci_high"] < cast["value"]
    assert cast["ci_low"] <= cast["value"] <= cast["ci_high"]


# --- face identity: lost faces ----------------------------------------------------------------


class _ColourFaces:
    """A stand-in face backend: one "face" per image unless the image is black, embedded by its mean colour."""

    name = "test-colour-faces"

    def faces(self, img):
        from echo_bench.metrics.face import Face

        if img.max() == 0:
            return []
        return [Face((0.0, 0.0, 1.0, 1.0), 1.0, img.reshape(-1, 3).mean(0) + 1.0)]


@pytest.fixture(scope="module")
def face_table(tmp_path_factory):
    from echo_bench.metrics.runner import FaceCache

    root = tmp_path_factory.mktemp("faces")
    flip = iter(range(100))

    def swap_some(x):  # every other sample: another "person"; else the face is gone
        return x[:, :, ::-1].copy() if next(flip) % 2 == 0 else np.zeros_like(x)

    samples, gens, app = _frames(root, 4, {"identity": lambda x: x.copy(), "scramble": np.zeros_like,
                                           "face_swap": swap_some}, families=("face",))
    settings = MetricsSettings(enabled=["face_identity"], device="cpu", batch_size=4, bootstrap=100)
    values, _ = compute_values(samples, gens, app, settings, log=LOG, face_embedder=FaceCache(_ColourFaces()))
    return values, aggregate(values, bootstrap=100)


def test_lost_faces_count_as_failures_and_the_kept_rate_is_reported(face_table):
    values, table = face_table
    row = {r["model"]: r for r in table.iter_rows(named=True)}
    ext = {m: json.loads(r["extras"]) for m, r in row.items()}
    # destroying the face scores worst, below changing it
    assert row["scramble"]["value"] is not None
    assert row["scramble"]["value"] < row["face_swap"]["value"] < row["identity"]["value"]
    assert ext["scramble"]["face_kept_rate"] == 0.0 and ext["identity"]["face_kept_rate"] == 1.0
    assert ext["face_swap"]["face_kept_rate"] == 0.5 and row["face_swap"]["n_ok"] == 4
    # the faces-found-only mean is a variant, above the headline when faces were lost
    assert ext["face_swap"]["similarity_faces_found"] > row["face_swap"]["value"]
    lost = values.filter((pl.col("model") == "scramble") & (pl.col("metric") == "face_identity"))
    assert all(json.loads(d)["face_lost"] for d in lost["detail"])


# --- text: one requested text, OneIG and MARIO definitions ---------------------------------------


def test_one_requested_text_for_metric_control_judge_and_taxonomy():
    from echo_bench.analyses import taxonomy
    from echo_bench.generate import controls as gen
    from echo_bench.judge import offline
    from echo_bench.metrics import text
    from echo_bench.text_requests import requested_text

    # single quotes and guillemets: the old judge read only double quotes, the old control no cue rule
    prompt = "A shop sign that says 'OPEN LATE' under \u00abCaf\u00e9 Bleu\u00bb"
    want = ["OPEN LATE", "Caf\u00e9 Bleu"]
    assert requested_text(prompt) == want
    assert text.extract_requested_text(prompt) == want
    assert gen.text_to_render(prompt) == (want, "quoted")
    assert offline.requested_words(prompt) == ["open", "late", "caf\u00e9", "bleu"]
    assert "text_rendering" in taxonomy.classify(prompt)[0]
    # quoted but no text asked for: nobody renders or checks it
    style = 'Create an image in "Studio Ghibli" style'
    assert requested_text(style) == [] and offline.requested_words(style) == []
    assert gen.text_to_render(style)[1] == "prompt_words"


def test_typo_control_renders_the_text_the_metric_checks():
    from echo_bench.generate import controls as gen

    prompt = "A mug that says Best Dad Ever in bold letters"  # an unquoted clause
    out = gen.run_control("typo", gen.control_settings("typo", {"cer": 0.2}), prompt=prompt, inputs=[], seed=3)
    assert out.info["requested_text"] == "Best Dad Ever"


def test_oneig_every_script_is_a_letter_and_never_an_empty_target():
    from echo_bench.metrics.text import oneig_score

    r = oneig_score("\u041f\u0420\u0418\u0412\u0415\u0422 \u041c\u0418\u0420", "")
    assert r["score"] < 1.0 and r["ed"] == 10
    assert oneig_score("\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5", "\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5")["score"] == 1.0
    with pytest.raises(ValueError, match="empty once normalized"):
        oneig_score("!!!", "anything")


def test_oneig_normalisation_symbols_cjk_spaces_and_in_word_punctuation():
    from echo_bench.metrics.text import oneig_normalize, oneig_score

    assert oneig_normalize("3 \u00d7 4 \u00f7 2") == "3 4 2"
    assert oneig_score("\u4f60\u597d \u4e16\u754c", "\u4f60\u597d\u4e16\u754c")["ed"] == 0
    assert oneig_score("don't", "dont")["score"] == 1.0


def test_oneig_model_level_aggregation():
    from echo_bench.metrics.text import oneig_model_score, oneig_score

    per = [oneig_score("HELLO WORLD", "HELLO WORLD"), oneig_score("HELLO WORLD", "")]
    m = oneig_model_score(per)
    # mean ED 5.5, mean CR 0.5, WAC 2/4: 1 - 5.5 * 0.5 * 0.5 / 100
    assert m["ed"] == 5.5 and m["cr"] == 0.5 and m["wac"] == 0.5
    assert m["score"] == pytest.approx(1 - 5.5 * 0.25 / 100)
    assert m["score"] != pytest.approx(np.mean([r["score"] for r in per]))


def test_mario_ignores_punctuation():
    from echo_bench.metrics.text import mario_scores

    r = mario_scores(["Hello World"], ["Hello,", "World!"])
    assert r["f"] == 1.0 and r["accuracy"] == 1.0
