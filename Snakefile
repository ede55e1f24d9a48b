# ECHO: from what people post about an image generator to a benchmark.
#
# The DAG, phase by phase, as in the paper's pipeline figure.  Each rules file
# is one phase and one DVC stage (dvc.yaml is generated from these rules:
# `python -m echo_bench.workflow.dvcgen`).  Knobs come from params.yaml only.

configfile: "params.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/sample.smk"  # embedded sample dump (offline default)
include: "workflow/rules/ingest.smk"  # raw dumps -> posts, media, quarantine
include: "workflow/rules/collect.smk"  # 1. collect: keyword query
include: "workflow/rules/threads.smk"  # 2. reconstruct: reply trees
include: "workflow/rules/curate.smk"  # 1c, 3-5. relevance, samples, images, splits
include: "workflow/rules/generate.smk"  # 6. outputs of every model under evaluation
include: "workflow/rules/metrics.smk"  # 8. community-driven metrics
include: "workflow/rules/judge.smk"  # 7. VLM judges, battles, win rates
include: "workflow/rules/controls.smk"  # the controls report: known answers of the control models
include: "workflow/rules/release.smk"  # the release: Parquet + dataset card, data/release
include: "workflow/rules/analyses.smk"  # 9. post volume, feedback keywords, taxonomy, dataset comparison
include: "workflow/rules/paper.smk"  # paper tables and figures, the interactive HTML report

# Every phase's summary feeds the provenance record.
PROVENANCE_OF = ["ingest", "collect", "threads", "relevance", "extract", "multimodal", "finalize", "generate", "metrics", "judge", "controls", "volume", "feedback", "taxonomy", "compare", "paper", "report", "release"]


include: "workflow/rules/provenance.smk"  # what produced the results


rule all:
    input:
        rules.provenance.output,
        rules.paper.output,
        rules.report.output.html,
        rules.release.output.metrics,
        rules.controls.output.metrics,
    default_target: True
