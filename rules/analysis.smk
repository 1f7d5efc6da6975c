# The analyses (config analysis.<name>), each reaching its part of the plan through
# plan.analysis("<name>") (prettyflow.plan.analyses).


# Section 2.2: the next-token decisions of a foundation model and its SFT reference
# at the same prefix, with and without one prior token (Figures 2-4).
rule decision_space:
    input:
        unpack(from_wildcards(plan.analysis("decision_space").inputs)),
    output:
        positions=paths.pattern("decision_space"),
    log:
        paths.log("{task}/analysis/{benchmark}/{family}/{subset}/decision-space.log"),
    conda:
        "../envs/decode.yaml"
    threads: plan.compute.stage("analysis")["threads"]
    resources:
        gpu=plan.compute.stage("analysis")["gpu"],
        mem_mb=plan.compute.stage("analysis")["mem_mb"],
        runtime=plan.compute.stage("analysis")["runtime"],
    params:
        settings=from_wildcards(plan.analysis("decision_space").job_settings),
    script:
        "../scripts/decision_space.py"


rule decision_space_figures:
    input:
        tables=from_wildcards(plan.analysis("decision_space").tables),
    output:
        figures=report(
            directory(paths.pattern("decision_space_figures")),
            patterns=["{figure}.png"],
            caption="../report/decision_space_figures.rst",
            category="{task} on {benchmark}",
            subcategory="Figures",
            labels={
                "figure": "Figures 2-4: decision space, {figure}",
                "model family": "{family}",
            },
        ),
    log:
        paths.log("figures/decision-space-{task}-{benchmark}-{family}.log"),
    conda:
        "../envs/decode.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        label=from_wildcards(plan.analysis("decision_space").figure_label),
    script:
        "../scripts/decision_space_figures.py"


# Figure 5 (section 5.3): every metric against the number of prior tokens k.
rule prior_tokens_figure:
    input:
        scores=from_wildcards(plan.analysis("prior_tokens").inputs),
    output:
        figure=report(
            paths.pattern("prior_tokens", ext="png"),
            caption="../report/prior_tokens_figure.rst",
            category="{task} on {benchmark}",
            subcategory="Figures",
            labels={
                "figure": "Figure 5: prior tokens, {source}",
                "model family": "{family}",
            },
        ),
        numbers=paths.pattern("prior_tokens", ext="csv"),
    log:
        paths.log("figures/prior-tokens-{task}-{benchmark}-{family}-{source}.log"),
    conda:
        "../envs/score.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=from_wildcards(plan.analysis("prior_tokens").figure_settings),
    script:
        "../scripts/prior_tokens_figure.py"


# Table 5 (section 5.2): the foundation model with a random word of a given kind
# as its prior, beside the SFT reference.
rule control_priors_table:
    input:
        scores=from_wildcards(
            plan.analysis("control_priors").table_files, "score_corpus"
        ),
        samples=from_wildcards(
            plan.analysis("control_priors").table_files, "score_samples"
        ),
    output:
        csv=paths.pattern("control_table", ext="csv"),
        markdown=paths.pattern("control_table", ext="md"),
        latex=paths.pattern("control_table", ext="tex"),
        html=report(
            paths.pattern("control_table", ext="html"),
            caption="../report/control_priors_table.rst",
            category="{task} on {benchmark}",
            subcategory="Tables",
            labels={"table": "Table 5: control priors", "model family": "{family}"},
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
        settings=from_wildcards(plan.analysis("control_priors").table_settings),
    script:
        "../scripts/results_table.py"


# Table 8 (appendix C.3): how often the foundation model answers in the target
# language when one of several prompts is drawn per sentence.
rule prompt_success_table:
    input:
        unpack(from_wildcards(plan.analysis("prompt_success").inputs)),
    output:
        csv=paths.pattern("prompt_success_table", ext="csv"),
        markdown=paths.pattern("prompt_success_table", ext="md"),
        latex=paths.pattern("prompt_success_table", ext="tex"),
        html=report(
            paths.pattern("prompt_success_table", ext="html"),
            caption="../report/prompt_success_table.rst",
            category="{task} on {benchmark}",
            subcategory="Tables",
            labels={"table": "Table 8: prompt success", "model family": "{family}"},
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
        settings=from_wildcards(plan.analysis("prompt_success").table_settings),
    script:
        "../scripts/prompt_success_table.py"


# The main table's systems decoded by two model backends (e.g. hf and vllm):
# identical answers, first divergence and paired-bootstrap metric differences.
rule backend_parity_table:
    input:
        unpack(from_wildcards(plan.analysis("backend_parity").inputs)),
    output:
        csv=paths.pattern("backend_parity_table", ext="csv"),
        markdown=paths.pattern("backend_parity_table", ext="md"),
        html=report(
            paths.pattern("backend_parity_table", ext="html"),
            caption="../report/backend_parity_table.rst",
            category="{task} on {benchmark}",
            subcategory="Tables",
            labels={"table": "Backend parity", "model family": "{family}"},
        ),
    log:
        paths.log("tables/{task}-{benchmark}-{family}-backend-parity.log"),
    conda:
        "../envs/score.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=from_wildcards(plan.analysis("backend_parity").table_settings),
    script:
        "../scripts/backend_parity_table.py"
