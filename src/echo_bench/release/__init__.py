"""The benchmark as a versioned dataset: export (Parquet + dataset card), loading, evaluating a new model.

- :mod:`echo_bench.release.export` writes ``data/release/`` from the pipeline's tables;
- :mod:`echo_bench.release.card` renders its dataset card (``README.md``);
- :mod:`echo_bench.release.loader` reads a release back (polars, or Hugging Face ``datasets``);
- :mod:`echo_bench.release.evaluate` scores a folder of a new model's outputs against the released models.
"""
