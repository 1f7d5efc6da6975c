# Prefixed decoding: one job per (task, family, subset, system), one model load per job.


rule decode:
    input:
        unpack(decode_extra_inputs),
        data=task_data,
    output:
        decodes=f"{plan.results}/{{task}}/decode/{{family}}/{{subset}}/{{system}}.parquet",
    params:
        settings=decode_settings,
    log:
        "logs/{task}/decode/{family}/{subset}/{system}.log",
    threads: compute("decode", "threads")
    resources:
        gpu=compute("decode", "gpu"),
        mem_mb=compute("decode", "mem_mb"),
        runtime=compute("decode", "runtime"),
    conda:
        "../envs/decode.yaml"
    script:
        "../scripts/decode.py"
