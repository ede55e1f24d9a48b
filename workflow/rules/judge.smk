# Stage 7, judge: a panel of VLM judges grades every output (single-answer
# grading, verbatim judgments kept beside parsed scores); scores become
# pseudo-pairwise battles per prompt, a vote across judges, and win rates with
# bootstrap intervals over prompts and Bradley-Terry ratings.


rule judge:
    input:
        samples="data/splits/{split}.parquet",
        generations=rules.generations.output.generations,
        metrics=rules.metric_tables.output.values,
    output:
        judgments="data/judge/judgments/{split}.parquet",
        summary="results/stages/judge/{split}.json",
    log:
        "logs/judge/{split}.log",
    params:
        cfg=select("judge.judges", "judge.template", "judge.repeats", "judge.call", "judge.offline", "judge.max_failed_share", "llm.prices"),
        cache="data/cache/llm/judge",
    script:
        STAGE_SCRIPT


rule winrates:
    input:
        judgments="data/judge/judgments/{split}.parquet",
        samples="data/splits/{split}.parquet",
        metrics=rules.metric_tables.output.values,
    output:
        table="results/judge/winrates_{split}.csv",
        json="results/judge/winrates_{split}.json",
        agreement="results/judge/agreement_{split}.csv",
        metrics="results/judge/headline/{split}.json",
        plot="results/plots/winrates/{split}.csv",
        figure_pdf="paper/figures/winrates/{split}.pdf",
        figure_png="paper/figures/winrates/{split}.png",
        categories="results/judge/categories_{split}.csv",
        categories_json="results/judge/categories_{split}.json",
        categories_metrics="results/judge/categories_headline/{split}.json",
        reliability="results/judge/reliability_{split}.json",
        reliability_metrics="results/judge/reliability_headline/{split}.json",
    log:
        "logs/winrates/{split}.log",
    params:
        cfg=select("judge.judges", "judge.missing_output", "judge.vote_rule", "judge.bootstrap", "judge.bradley_terry",
                   "judge.categories"),
    script:
        STAGE_SCRIPT


rule judged:
    input:
        parts=expand("results/judge/headline/{split}.json", split=SPLITS),
        plot_parts=expand("results/plots/winrates/{split}.csv", split=SPLITS),
    output:
        metrics="results/metrics/winrates.json",
        plot_winrates="results/plots/winrates.csv",
        summary=summary("judge"),
    log:
        log_of("judge"),
    params:
        cfg={},
        stage="collate",
    script:
        STAGE_SCRIPT


# Per task category / metric-applicability class, and the judge reliability section (docs/judging.md).
rule judged_categories:
    input:
        parts=expand("results/judge/categories_headline/{split}.json", split=SPLITS),
    output:
        metrics="results/metrics/judge_categories.json",
    log:
        log_of("judge_categories"),
    params:
        cfg={},
        stage="collate",
    script:
        STAGE_SCRIPT


rule judged_reliability:
    input:
        parts=expand("results/judge/reliability_headline/{split}.json", split=SPLITS),
    output:
        metrics="results/metrics/judge_reliability.json",
    log:
        log_of("judge_reliability"),
    params:
        cfg={},
        stage="collate",
    script:
        STAGE_SCRIPT
