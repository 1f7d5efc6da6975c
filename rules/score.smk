# Per-sample and corpus scores of one decode, with each metric's signature/settings.


# COMET pins transformers<5 and numpy<2: it runs in an environment of its own
# (envs/comet.yaml, or .venv-comet from `make comet-env`).
rule score_comet:
    input:
        data=from_wildcards(plan.data.table),
        decodes=paths.pattern("decode"),
    output:
        scores=paths.pattern("comet"),
    log:
        paths.log("{task}/scores/{benchmark}/{family}/{subset}/{system}.comet.log"),
    conda:
        "../envs/comet.yaml"
    threads: plan.compute.stage("comet")["threads"]
    resources:
        gpu=plan.compute.stage("comet")["gpu"],
        mem_mb=plan.compute.stage("comet")["mem_mb"],
        runtime=plan.compute.stage("comet")["runtime"],
    params:
        settings=from_wildcards(plan.score.comet_settings),
    script:
        "../scripts/score_comet.py"


rule score:
    input:
        unpack(from_wildcards(plan.score.inputs)),
        data=from_wildcards(plan.data.table),
        decodes=paths.pattern("decode"),
    output:
        samples=paths.pattern("score_samples"),
        corpus=paths.pattern("score_corpus"),
    log:
        paths.log("{task}/scores/{benchmark}/{family}/{subset}/{system}.log"),
    conda:
        "../envs/score.yaml"
    threads: plan.compute.stage("score")["threads"]
    resources:
        mem_mb=plan.compute.stage("score")["mem_mb"],
        runtime=plan.compute.stage("score")["runtime"],
    params:
        settings=from_wildcards(plan.score.settings),
    script:
        "../scripts/score.py"
