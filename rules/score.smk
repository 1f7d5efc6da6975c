# Per-sample and corpus scores of one decode, with each metric's signature/settings.


# COMET pins transformers<5 and numpy<2: it runs in an environment of its own
# (envs/comet.yaml, or .venv-comet from `make comet-env`).
rule score_comet:
    input:
        data=task_data,
        decodes=paths.pattern("decode"),
    output:
        scores=paths.pattern("comet"),
    log:
        paths.log("{task}/scores/{benchmark}/{family}/{subset}/{system}.comet.log"),
    conda:
        "../envs/comet.yaml"
    threads: compute("comet", "threads")
    resources:
        gpu=compute("comet", "gpu"),
        mem_mb=compute("comet", "mem_mb"),
        runtime=compute("comet", "runtime"),
    params:
        settings=comet_settings,
    script:
        "../scripts/score_comet.py"


rule score:
    input:
        unpack(score_inputs),
        data=task_data,
        decodes=paths.pattern("decode"),
    output:
        samples=paths.pattern("score_samples"),
        corpus=paths.pattern("score_corpus"),
    log:
        paths.log("{task}/scores/{benchmark}/{family}/{subset}/{system}.log"),
    conda:
        "../envs/score.yaml"
    threads: compute("score", "threads")
    resources:
        mem_mb=compute("score", "mem_mb"),
        runtime=compute("score", "runtime"),
    params:
        settings=score_settings,
    script:
        "../scripts/score.py"
