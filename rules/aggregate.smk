# Corpus scores -> %SFT tables (CSV, Markdown, LaTeX), one per (task, benchmark, family).


rule results_table:
    input:
        scores=table_scores,
    output:
        csv=paths.pattern("table", ext="csv"),
        markdown=paths.pattern("table", ext="md"),
        latex=paths.pattern("table", ext="tex"),
    log:
        "logs/tables/{task}-{benchmark}-{family}.log",
    conda:
        "../envs/score.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        settings=table_settings,
    script:
        "../scripts/results_table.py"


# Table 4: the accuracy of the priors themselves, for tasks whose answer can be
# checked position by position (Task.prior_accuracy).
rule prior_accuracy_table:
    input:
        data=subset_data_tables,
        priors=prior_tables,
    output:
        csv=paths.pattern("prior_accuracy", ext="csv"),
        markdown=paths.pattern("prior_accuracy", ext="md"),
        latex=paths.pattern("prior_accuracy", ext="tex"),
    log:
        "logs/tables/{task}-{benchmark}-{family}-prior-accuracy.log",
    conda:
        "../envs/score.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        labels=prior_labels,
    script:
        "../scripts/prior_accuracy_table.py"
