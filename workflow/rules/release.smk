# The release: the three splits, the released models' outputs, judgments and
# metric values as Parquet (images embedded or referenced), a dataset card and
# checksums, in data/release/ (DVC-cached: `dvc push` publishes it, `dvc get` /
# `dvc import` fetch it).  Its metrics (split sizes, headline win rates) are
# what `dvc exp show` lists for a sweep.  docs/release.md.

RELEASE_CURATION = ("relevance.llm", "extract.llm", "multimodal.llm", "finalize.llm")


rule release:
    input:
        analysis=rules.finalize.output.analysis,
        text_to_image=rules.finalize.output.text_to_image,
        image_to_image=rules.finalize.output.image_to_image,
        generations=rules.generations.output.generations,
        judgments=expand("data/judge/judgments/{split}.parquet", split=SPLITS),
        metric_values=rules.metric_tables.output.values,
        applicability=expand("data/metrics/applicability/{split}.parquet", split=SPLITS),
        winrates=rules.judged.output.metrics,
        metrics_table=rules.metric_tables.output.table_json,
        media_store=rules.ingest.output.media_store,
        crops=rules.multimodal.output.crops,
    output:
        release=directory("data/release"),
        metrics="results/release/metrics.json",
        summary=summary("release"),
    log:
        log_of("release"),
    params:
        cfg=select("release", "model_of_interest", *RELEASE_CURATION, "generate.seed", "generate.image",
                   "generate.models", "metrics", "judge", "ingest.dumps"),
    script:
        STAGE_SCRIPT
