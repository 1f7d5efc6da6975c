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
            labels={"figure": "decision space: {figure}", "model family": "{family}"},
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
            labels={"figure": "prior tokens: {source}", "model family": "{family}"},
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
