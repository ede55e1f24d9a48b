"""Stage 6, generation: every model under evaluation answers every benchmark sample.

- :mod:`echo_bench.generate.backends`: ``control``, ``openai``, ``openai_compatible``,
  ``diffusers`` (optional extra) and ``import`` backends, built by :func:`make_backend`;
- :mod:`echo_bench.generate.controls`: deterministic known-answer control models
  (identity, color_cast, scramble, typo, face_swap);
- :mod:`echo_bench.generate.hygiene`: outputs normalized to RGB PNG, size policy,
  metadata stripped, content hash;
- :mod:`echo_bench.generate.run`: one (split, model) pair end to end
  (:func:`generate_split`), the response cache, :func:`merge_manifests`.

See ``docs/generation.md``.
"""

from echo_bench.generate.backends import (
    Backend,
    BackendConfigError,
    GenRequest,
    GenResult,
    make_backend,
)
from echo_bench.generate.controls import CONTROLS, derive_seed, run_control
from echo_bench.generate.hygiene import SizePolicy, normalize
from echo_bench.generate.run import ImageCache, generate_split, merge_manifests, models_of, rule_inputs

__all__ = [
    "CONTROLS",
    "Backend",
    "BackendConfigError",
    "GenRequest",
    "GenResult",
    "ImageCache",
    "SizePolicy",
    "derive_seed",
    "generate_split",
    "make_backend",
    "merge_manifests",
    "models_of",
    "normalize",
    "rule_inputs",
    "run_control",
]
