# Section 2.2: the next-token decisions of a foundation model and its SFT reference
# at the same prefix, with and without one prior token (Figures 2-4).


rule decision_space:
    input:
        unpack(decision_space_inputs),
    output:
        positions=paths.pattern("decision_space"),
    log:
        "logs/{task}/analysis/{benchmark}/{family}/{subset}/decision-space.log",
    conda:
        "../envs/decode.yaml"
    threads: compute("analysis", "threads")
    resources:
        gpu=compute("analysis", "gpu"),
        mem_mb=compute("analysis", "mem_mb"),
        runtime=compute("analysis", "runtime"),
    params:
        settings=decision_space_settings,
    script:
        "../scripts/decision_space.py"


rule decision_space_figures:
    input:
        tables=decision_space_tables,
    output:
        figures=directory(paths.pattern("decision_space_figures")),
    log:
        "logs/figures/decision-space-{task}-{benchmark}-{family}.log",
    conda:
        "../envs/decode.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        label=figure_label,
    script:
        "../scripts/decision_space_figures.py"
