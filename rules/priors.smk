# Prior tokens, one file per (task, benchmark, family, subset, source, k), and what
# they come from. The refined model runs once per (task, benchmark, subset), shared
# by the families, a job per shard: compute.refined.shard_size cuts a large subset
# into shards that gather_refined joins in data order, as for the decodes.


rule run_refined_model:
    input:
        data=task_data,
        local_files=refined_inputs,
    output:
        outputs=paths.pattern("refined_shard"),
    log:
        paths.log("{task}/refined/{benchmark}/{subset}/{shard}.log"),
    priority: PRIORITY_UPSTREAM
    conda:
        "../envs/decode.yaml"
    threads: compute("refined", "threads")
    resources:
        gpu=compute("refined", "gpu"),
        mem_mb=compute("refined", "mem_mb"),
        runtime=compute("refined", "runtime"),
    params:
        settings=refined_settings,
        shard=refined_shard_settings,
    script:
        "../scripts/run_refined_model.py"


rule gather_refined:
    input:
        data=task_data,
        shards=refined_shards,
    output:
        outputs=paths.pattern("refined"),
    log:
        paths.log("{task}/refined/{benchmark}/{subset}.gather.log"),
    priority: PRIORITY_UPSTREAM
    # A few file reads: in the Snakemake process itself, not a job of its own.
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    run:
        gather_shards(input.data, list(input.shards), output.outputs, log[0])


rule extract_keywords:
    input:
        data=task_data,
    output:
        keywords=paths.pattern("keywords"),
    log:
        paths.log("{task}/keywords/{benchmark}/{subset}.log"),
    priority: PRIORITY_UPSTREAM
    conda:
        "../envs/decode.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    params:
        settings=keyword_settings,
    script:
        "../scripts/extract_keywords.py"


rule build_prior:
    input:
        unpack(prior_inputs),
        data=task_data,
        tokenizer=prior_tokenizer,
    output:
        prior=paths.pattern("prior"),
    log:
        paths.log("{task}/priors/{benchmark}/{family}/{subset}/{source}-k{k}.log"),
    priority: PRIORITY_PRIOR
    conda:
        "../envs/decode.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=prior_settings,
    script:
        "../scripts/build_prior.py"
