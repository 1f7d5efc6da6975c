# Per-sample and corpus scores of one decode, with each metric's signature/settings.


rule score:
    input:
        data=task_data,
        decodes=f"{plan.results}/{{task}}/decode/{{family}}/{{subset}}/{{system}}.parquet",
    output:
        samples=f"{plan.results}/{{task}}/scores/{{family}}/{{subset}}/{{system}}.parquet",
        corpus=f"{plan.results}/{{task}}/scores/{{family}}/{{subset}}/{{system}}.json",
    log:
        "logs/{task}/scores/{family}/{subset}/{system}.log",
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
