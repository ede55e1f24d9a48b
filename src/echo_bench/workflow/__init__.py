"""The bridge between Snakemake (the DAG) and DVC (versioning): dvc.yaml is generated from the Snakefile."""
