# Prefixed decoding, a job per (task, family, subset, system) and one model load per job.


rule decode:
    input:
        unpack(decode_extra_inputs),
        data=task_data,
    output:
        decodes=f"{plan.results}/{{task}}/decode/{{family}}/{{subset}}/{{system}}.parquet",
    log:
        "logs/{task}/decode/{family}/{subset}/{system}.log",
    priority: decode_priority
    conda:
        "../envs/decode.yaml"
    threads: compute("decode", "threads")
    resources:
        gpu=compute("decode", "gpu"),
        mem_mb=compute("decode", "mem_mb"),
        runtime=compute("decode", "runtime"),
    params:
        settings=decode_settings,
    script:
        "../scripts/decode.py"
