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
        unpack(from_wildcards(plan.decode.inputs)),
        data=from_wildcards(plan.data.table),
    output:
        decodes=paths.pattern("decode_shard"),
    log:
        paths.log("{task}/decode/{benchmark}/{family}/{subset}/{system}/{shard}.log"),
    priority: from_wildcards(plan.decode.priority)
    group:
        from_wildcards(plan.decode.group)
    conda:
        "../envs/decode.yaml"
    threads: plan.compute.stage("decode")["threads"]
    resources:
        gpu=plan.compute.stage("decode")["gpu"],
        mem_mb=plan.compute.stage("decode")["mem_mb"],
        runtime=plan.compute.stage("decode")["runtime"],
    params:
        settings=from_wildcards(plan.decode.settings),
        shard=from_wildcards(plan.compute.shard_settings, "decode"),
    script:
        "../scripts/decode.py"


rule gather_decode:
    input:
        data=from_wildcards(plan.data.table),
        shards=from_wildcards(plan.decode.shards),
    output:
        decodes=paths.pattern("decode"),
    log:
        paths.log("{task}/decode/{benchmark}/{family}/{subset}/{system}.gather.log"),
    priority: from_wildcards(plan.decode.priority)
    # A few file reads: in the Snakemake process itself, not a job of its own.
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        cleaning=from_wildcards(plan.decode.cleaning_settings),
    run:
        gather_decode(
            input.data, list(input.shards), output.decodes, params.cleaning, log[0]
        )
