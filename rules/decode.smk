# Prefixed decoding, a job per (task, benchmark, family, subset, system, shard); the
# model is loaded once per warm worker, not per job (compute.decode.worker_idle_seconds,
# prettyflow.workers). compute.decode.shard_size cuts a large subset into shards (each
# its own job and file, so a preempted run keeps every finished shard); the gather
# joins them in data order into the decode table the scores read, and cleans every
# answer with the model's rules (models.<name>.cleaning, prettyflow.cleaning): the
# table keeps the raw output beside the cleaned one, and changing the rules reruns
# the gather and what reads it, not the decodes.


rule decode:
    input:
        unpack(decode_inputs),
        data=task_data,
    output:
        decodes=paths.pattern("decode_shard"),
    log:
        paths.log("{task}/decode/{benchmark}/{family}/{subset}/{system}/{shard}.log"),
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
        shard=shard_settings,
    script:
        "../scripts/decode.py"


rule gather_decode:
    input:
        data=task_data,
        shards=decode_shards,
    output:
        decodes=paths.pattern("decode"),
    log:
        paths.log("{task}/decode/{benchmark}/{family}/{subset}/{system}.gather.log"),
    priority: decode_priority
    # A few file reads: in the Snakemake process itself, not a job of its own.
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        cleaning=cleaning_settings,
    run:
        gather_decode(
            input.data, list(input.shards), output.decodes, params.cleaning, log[0]
        )
