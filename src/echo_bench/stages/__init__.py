"""Pipeline stages, one module per Snakemake rule: ``run(inputs, outputs, params, log) -> summary``."""
