# Scores -> the paper's tables (CSV, Markdown, LaTeX, and an HTML page for the
# report), one per (task, benchmark, family), with paired-bootstrap intervals.


rule results_table:
    input:
        scores=table_files("score_corpus", "main"),
        samples=table_files("score_samples", "main"),
    output:
        csv=paths.pattern("table", ext="csv"),
        markdown=paths.pattern("table", ext="md"),
        latex=paths.pattern("table", ext="tex"),
        html=report(
            paths.pattern("table", ext="html"),
            caption="../report/results_table.rst",
            category="{task} on {benchmark}",
            subcategory="Tables",
            labels={"table": "results", "model family": "{family}"},
        ),
    log:
        paths.log("tables/{task}-{benchmark}-{family}.log"),
    conda:
        "../envs/score.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=table_view_settings("main"),
    script:
        "../scripts/results_table.py"


# Table 5 (section 5.2): the foundation model with a random word of a given kind
# as its prior, beside the SFT reference.
rule control_priors_table:
    input:
        scores=table_files("score_corpus", "control_priors"),
        samples=table_files("score_samples", "control_priors"),
    output:
        csv=paths.pattern("control_table", ext="csv"),
        markdown=paths.pattern("control_table", ext="md"),
        latex=paths.pattern("control_table", ext="tex"),
        html=report(
            paths.pattern("control_table", ext="html"),
            caption="../report/control_priors_table.rst",
            category="{task} on {benchmark}",
            subcategory="Tables",
            labels={"table": "control priors (Table 5)", "model family": "{family}"},
        ),
    log:
        paths.log("tables/{task}-{benchmark}-{family}-control-priors.log"),
    conda:
        "../envs/score.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=table_view_settings("control_priors"),
    script:
        "../scripts/results_table.py"


# Table 8 (appendix C.3): how often the foundation model answers in the target
# language when one of several prompts is drawn per sentence.
rule prompt_success_table:
    input:
        unpack(prompt_success_inputs),
    output:
        csv=paths.pattern("prompt_success_table", ext="csv"),
        markdown=paths.pattern("prompt_success_table", ext="md"),
        latex=paths.pattern("prompt_success_table", ext="tex"),
        html=report(
            paths.pattern("prompt_success_table", ext="html"),
            caption="../report/prompt_success_table.rst",
            category="{task} on {benchmark}",
            subcategory="Tables",
            labels={"table": "prompt success (Table 8)", "model family": "{family}"},
        ),
    log:
        paths.log("tables/{task}-{benchmark}-{family}-prompt-success.log"),
    conda:
        "../envs/score.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=prompt_success_settings,
    script:
        "../scripts/prompt_success_table.py"


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
        html=report(
            paths.pattern("prior_accuracy", ext="html"),
            caption="../report/prior_accuracy_table.rst",
            category="{task} on {benchmark}",
            subcategory="Tables",
            labels={"table": "prior accuracy (Table 4)", "model family": "{family}"},
        ),
    log:
        paths.log("tables/{task}-{benchmark}-{family}-prior-accuracy.log"),
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


# Every answer beside its reference: one page per results table (Tables 1-3, 5 and
# 6), with the priors, raw and cleaned answers and per-sample scores of each system.
rule sample_page:
    input:
        unpack(sample_page_inputs),
    output:
        html=report(
            paths.pattern("sample_page"),
            caption="../report/sample_page.rst",
            category=sample_page_category,
            subcategory="Samples",
            labels=sample_page_labels,
        ),
    log:
        paths.log("tables/{table}.samples.log"),
    wildcard_constraints:
        table=plan.wildcard_pattern(plan.sample_pages()),
    conda:
        "../envs/score.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        settings=sample_page_settings,
    script:
        "../scripts/sample_page.py"
