"""Stage ``sample``: write the embedded sample dump (synthetic posts, media, truth).

outputs: ``dump`` (a folder, replaced atomically), ``summary``.
params: the ``sample.*`` keys (see ``SampleConfig``).
"""

from __future__ import annotations

import logging
from typing import Any

from echo_bench.params import StageParams
from echo_bench.sample import SampleConfig, write_dump


def run(inputs: dict[str, str], outputs: dict[str, str], params: StageParams, log: logging.Logger) -> dict[str, Any]:
    cfg = SampleConfig.from_params(params)
    log.info(
        "sample: seed %d, %d threads over %d days from %s, spikes %s, %d px images, %d bad records",
        cfg.seed,
        cfg.n_threads,
        cfg.days,
        cfg.start,
        [(d.isoformat(), f) for d, f in cfg.spikes],
        cfg.image_size,
        cfg.n_bad,
    )
    summary = write_dump(cfg, outputs["dump"], log)
    log.info("sample: wrote %s", outputs["dump"])
    return summary
