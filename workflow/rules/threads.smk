# Stage 2, reconstruct: reply trees from in-reply-to and conversation ids, and
# one context document per tree for the LLM stages.


rule threads:
    input:
        queried=rules.collect.output.queried,
    output:
        thread_posts="data/interim/thread_posts.parquet",
        threads="data/interim/threads.parquet",
        quarantine="data/interim/quarantine/threads.parquet",
        summary=summary("threads"),
    log:
        log_of("threads"),
    params:
        cfg=select("threads"),
    script:
        STAGE_SCRIPT
