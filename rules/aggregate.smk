# Scores -> the paper's tables (CSV, Markdown, LaTeX, and an HTML page for the
# report), one per (task, benchmark, family), with paired-bootstrap intervals.


rule results_table:
    input:
        scores=from_wildcards(plan.tables.files, "score_corpus"),
        samples=from_wildcards(plan.tables.files, "score_samples"),
    output:
        csv=paths.pattern("table", ext="csv"),
        markdown=paths.pattern("table", ext="md"),
        latex=paths.pattern("table", ext="tex"),
        html=report(
            paths.pattern("table", ext="html"),
            caption="../report/results_table.rst",
            category="{task} on {benchmark}",
            subcategory="Tables",
            labels=from_wildcards(plan.tables.report_labels),
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
        settings=from_wildcards(plan.tables.settings),
    script:
        "../scripts/results_table.py"


# Table 4: the accuracy of the priors themselves, for tasks whose answer can be
# checked position by position (Task.prior_accuracy).
rule prior_accuracy_table:
    input:
        data=from_wildcards(plan.data.tables),
        priors=from_wildcards(plan.tables.prior_tables),
    output:
        csv=paths.pattern("prior_accuracy", ext="csv"),
        markdown=paths.pattern("prior_accuracy", ext="md"),
        latex=paths.pattern("prior_accuracy", ext="tex"),
        html=report(
            paths.pattern("prior_accuracy", ext="html"),
            caption="../report/prior_accuracy_table.rst",
            category="{task} on {benchmark}",
            subcategory="Tables",
            labels={"table": "Table 4: prior accuracy", "model family": "{family}"},
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
        labels=from_wildcards(plan.tables.prior_labels),
        title=from_wildcards(plan.tables.prior_accuracy_title),
    script:
        "../scripts/prior_accuracy_table.py"


# Every answer beside its reference: one page per results table (Tables 1-3, 5 and
# 6), with the priors, raw and cleaned answers and per-sample scores of each system.
rule sample_page:
    input:
        unpack(from_wildcards(plan.samples.inputs)),
    output:
        html=report(
            paths.pattern("sample_page"),
            caption="../report/sample_page.rst",
            category=from_wildcards(plan.samples.category),
            subcategory="Samples",
            labels=from_wildcards(plan.samples.labels),
        ),
    log:
        paths.log("tables/{table}.samples.log"),
    wildcard_constraints:
        table=plan.grid.wildcard_pattern(plan.samples.pages()),
    # A small page from files already here: not worth a cluster job.
    localrule: True
    conda:
        "../envs/score.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        settings=from_wildcards(plan.samples.settings),
    script:
        "../scripts/sample_page.py"


# The report's first page: what was run (models, data, commit, config hash) and each
# results table's %SFT per system with its interval.
rule run_summary:
    input:
        tables=plan.summary.tables(),
    output:
        html=report(
            paths.pattern("summary"),
            caption="../report/run_summary.rst",
            category="Summary",
            labels={"page": "what was run and what it found"},
        ),
    log:
        paths.log("summary.log"),
    # A small page from files already here: not worth a cluster job.
    localrule: True
    conda:
        "../envs/score.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        settings=plan.summary.settings(),
    script:
        "../scripts/run_summary.py"
