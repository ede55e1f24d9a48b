# The paper and the report, from the outputs of every other phase only.
# `paper` writes the LaTeX tables (paper/tables/*.tex) and the metrics figure
# that paper/main.tex includes (`make paper` builds the PDF with latexmk when a
# TeX installation is present); `report` writes one self-contained interactive
# HTML page (results/report/index.html) that opens from disk with no network.

REPORTED_SPLITS = [s for s in ("text_to_image", "image_to_image") if s in SPLITS]


rule paper:
    input:
        winrates=expand("results/judge/winrates_{split}.json", split=REPORTED_SPLITS),
        metrics_table=rules.metric_tables.output.table,
        spikes=rules.volume.output.spikes,
        keywords=rules.feedback.output.keywords,
        wordcloud=rules.feedback.output.wordcloud,
        compare_json=rules.compare.output.compare_json,
        taxonomy=rules.taxonomy.output.taxonomy,
        categories=expand("results/judge/categories_{split}.json", split=REPORTED_SPLITS),
    output:
        winrates_tex="paper/tables/winrates.tex",
        category_winrates_tex="paper/tables/category_winrates.tex",
        metrics_tex="paper/tables/metrics.tex",
        compare_tex="paper/tables/compare.tex",
        taxonomy_tex="paper/tables/taxonomy.tex",
        keywords_tex="paper/tables/keywords.tex",
        spikes_tex="paper/tables/spikes.tex",
        splits_tex="paper/tables/splits.tex",
        macros_tex="paper/tables/macros.tex",
        metrics_pdf="paper/figures/metrics.pdf",
        plot_metrics_png="paper/figures/metrics.png",
        summary=summary("paper"),
    log:
        log_of("paper"),
    params:
        cfg=select("paper"),
    script:
        STAGE_SCRIPT


rule report:
    input:
        winrates=expand("results/judge/winrates_{split}.json", split=REPORTED_SPLITS),
        metrics_table=rules.metric_tables.output.table,
        controls=rules.controls.output.report_json,
        volume=rules.volume.output.volume,
        spikes=rules.volume.output.spikes,
        wordcloud=rules.feedback.output.wordcloud,
        examples=rules.feedback.output.examples,
        embedding=rules.compare.output.embedding,
        compare_json=rules.compare.output.compare_json,
        taxonomy=rules.taxonomy.output.taxonomy,
        text_to_image="data/splits/text_to_image.parquet",
        image_to_image="data/splits/image_to_image.parquet",
        generations=rules.generations.output.generations,
        media_store=rules.ingest.output.media_store,
        crops=rules.multimodal.output.crops,
        assets=[f"src/echo_bench/report/assets/{name}" for name in ("index.html", "report.css", "report.js")],
    output:
        html="results/report/index.html",
        summary=summary("report"),
    log:
        log_of("report"),
    params:
        cfg=select("report"),
    script:
        STAGE_SCRIPT
