# Stages 1c and 3-5 of the paper, the LLM curation: relevance of each post to
# the model of interest, samples extracted from each reply tree, images sorted
# into inputs and outputs, and the final labels that form the three splits.
# Each LLM stage keeps its response cache (params: cache) between runs.

NAMES = ("model_of_interest", "model_aliases", "other_models")


rule relevance:
    input:
        queried=rules.collect.output.queried,
        threads=rules.threads.output.threads,
    output:
        scores="data/curated/relevance.parquet",
        kept_threads="data/curated/kept_threads.parquet",
        quarantine="data/interim/quarantine/relevance.parquet",
        summary=summary("relevance"),
    log:
        log_of("relevance"),
    params:
        cfg=select(*NAMES, "relevance", "llm.prices"),
        cache="data/cache/llm/relevance",
    script:
        STAGE_SCRIPT


rule extract:
    input:
        kept_threads=rules.relevance.output.kept_threads,
        thread_posts=rules.threads.output.thread_posts,
        queried=rules.collect.output.queried,
        media=rules.ingest.output.media,
    output:
        candidates="data/curated/candidates.parquet",
        quarantine="data/interim/quarantine/extract.parquet",
        summary=summary("extract"),
    log:
        log_of("extract"),
    params:
        cfg=select(*NAMES, "extract", "llm.prices"),
        cache="data/cache/llm/extract",
    script:
        STAGE_SCRIPT


rule multimodal:
    input:
        candidates=rules.extract.output.candidates,
        media=rules.ingest.output.media,
        media_store=rules.ingest.output.media_store,
    output:
        processed="data/curated/processed.parquet",
        crops=directory("data/curated/crops"),
        quarantine="data/interim/quarantine/multimodal.parquet",
        summary=summary("multimodal"),
    log:
        log_of("multimodal"),
    params:
        cfg=select("model_of_interest", "multimodal", "llm.prices"),
        cache="data/cache/llm/multimodal",
    script:
        STAGE_SCRIPT


rule finalize:
    input:
        processed=rules.multimodal.output.processed,
        media_store=rules.ingest.output.media_store,
    output:
        analysis="data/splits/analysis.parquet",
        text_to_image="data/splits/text_to_image.parquet",
        image_to_image="data/splits/image_to_image.parquet",
        manual_review="data/splits/manual_review.parquet",
        discarded="data/splits/discarded.parquet",
        quarantine="data/interim/quarantine/finalize.parquet",
        summary=summary("finalize"),
    log:
        log_of("finalize"),
    params:
        cfg=select("model_of_interest", "finalize", "llm.prices"),
        cache="data/cache/llm/finalize",
    script:
        STAGE_SCRIPT
