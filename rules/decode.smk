# Prefixed decoding, a job per (task, benchmark, family, subset, system); one model
# load per job.


rule decode:
    input:
        unpack(decode_inputs),
        data=task_data,
    output:
        decodes=paths.pattern("decode"),
    log:
        "logs/{task}/decode/{benchmark}/{family}/{subset}/{system}.log",
    priority: decode_priority
    group:
        decode_group
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
