# Stage 9, analyses: post volume per day with spikes tied to events, community
# feedback keywords and their word cloud, the task taxonomy of the prompts, and
# ECHO's prompts against earlier benchmarks (statistics and a t-SNE map).  Four
# rules of one stage module (echo_bench.stages.analyses), so the embedding map
# does not hold up the rest.  Figures go to paper/figures, headline numbers to
# results/analyses/metrics/*.json (DVC metrics), chart data to results/plots.

ANALYSIS_SPLITS = dict(
    analysis="data/splits/analysis.parquet",
    text_to_image="data/splits/text_to_image.parquet",
    image_to_image="data/splits/image_to_image.parquet",
)


rule volume:
    input:
        queried=rules.collect.output.queried,
        relevance=rules.relevance.output.scores,
        **ANALYSIS_SPLITS,
    output:
        volume="results/analyses/volume.csv",
        spikes="results/analyses/spikes.json",
        metrics="results/analyses/metrics/volume.json",
        plot_volume="results/plots/volume.csv",
        volume_pdf="paper/figures/volume.pdf",
        plot_volume_png="paper/figures/volume.png",
        summary=summary("volume"),
    log:
        log_of("volume"),
    params:
        cfg=select("analyses.volume", "analyses.events", "analyses.benchmark_splits", "relevance.threshold"),
        stage="analyses",
    script:
        STAGE_SCRIPT


rule feedback:
    input:
        **ANALYSIS_SPLITS,
    output:
        annotations="data/analyses/feedback_annotations.parquet",
        keywords="results/analyses/feedback_keywords.csv",
        categories="results/analyses/feedback_categories.csv",
        examples="results/analyses/feedback_examples.json",
        wordcloud="results/analyses/wordcloud.json",
        metrics="results/analyses/metrics/feedback.json",
        plot_keywords="results/plots/feedback_keywords.csv",
        wordcloud_pdf="paper/figures/wordcloud.pdf",
        plot_wordcloud_png="paper/figures/wordcloud.png",
        summary=summary("feedback"),
    log:
        log_of("feedback"),
    params:
        cfg=select("analyses.feedback", "llm.prices"),
        cache="data/cache/llm/analyses",
        stage="analyses",
    script:
        STAGE_SCRIPT


rule taxonomy:
    input:
        **ANALYSIS_SPLITS,
    output:
        taxonomy="results/analyses/taxonomy.csv",
        metrics="results/analyses/metrics/taxonomy.json",
        plot_taxonomy="results/plots/taxonomy.csv",
        taxonomy_pdf="paper/figures/taxonomy.pdf",
        plot_taxonomy_png="paper/figures/taxonomy.png",
        summary=summary("taxonomy"),
    log:
        log_of("taxonomy"),
    params:
        cfg=select("analyses.taxonomy"),
        stage="analyses",
    script:
        STAGE_SCRIPT


rule compare:
    input:
        **ANALYSIS_SPLITS,
    output:
        compare="results/analyses/compare.csv",
        compare_json="results/analyses/compare.json",
        embedding="results/analyses/embedding.csv",
        metrics="results/analyses/metrics/compare.json",
        embedding_pdf="paper/figures/embedding.pdf",
        plot_embedding_png="paper/figures/embedding.png",
        summary=summary("compare"),
    log:
        log_of("compare"),
    params:
        cfg=select("analyses.compare", "analyses.embed"),
        stage="analyses",
    script:
        STAGE_SCRIPT
