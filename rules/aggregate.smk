# Corpus scores -> %SFT tables (CSV, Markdown, LaTeX).


rule results_table:
    input:
        scores=table_scores,
    output:
        csv=f"{plan.results}/tables/{{task}}-{{family}}.csv",
        markdown=f"{plan.results}/tables/{{task}}-{{family}}.md",
        latex=f"{plan.results}/tables/{{task}}-{{family}}.tex",
    log:
        "logs/tables/{task}-{family}.log",
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


rule prior_accuracy_table:
    input:
        data=pos_data_tables,
        priors=pos_prior_tables,
    output:
        csv=f"{plan.results}/tables/pos-{{family}}-prior-accuracy.csv",
        markdown=f"{plan.results}/tables/pos-{{family}}-prior-accuracy.md",
        latex=f"{plan.results}/tables/pos-{{family}}-prior-accuracy.tex",
    log:
        "logs/tables/pos-{family}-prior-accuracy.log",
    conda:
        "../envs/score.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/prior_accuracy_table.py"
