# Prior tokens, one file per (task, benchmark, family, subset, source, k), and what
# they come from. The refined model runs once per (task, benchmark, subset), shared
# by the families, a job per shard: compute.refined.shard_size cuts a large subset
# into shards that gather_refined joins in data order, as for the decodes.


rule run_refined_model:
    input:
        data=from_wildcards(plan.data.table),
        local_files=from_wildcards(plan.priors.refined_inputs),
    output:
        outputs=paths.pattern("refined_shard"),
    log:
        paths.log("{task}/refined/{benchmark}/{subset}/{shard}.log"),
    priority: PRIORITY_UPSTREAM
    conda:
        "../envs/decode.yaml"
    threads: plan.compute.stage("refined")["threads"]
    resources:
        gpu=plan.compute.stage("refined")["gpu"],
        mem_mb=plan.compute.stage("refined")["mem_mb"],
        runtime=plan.compute.stage("refined")["runtime"],
    params:
        settings=from_wildcards(plan.priors.refined_settings),
        shard=from_wildcards(plan.compute.shard_settings, "refined"),
    script:
        "../scripts/run_refined_model.py"


rule gather_refined:
    input:
        data=from_wildcards(plan.data.table),
        shards=from_wildcards(plan.priors.refined_shards),
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
        data=from_wildcards(plan.data.table),
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
        settings=from_wildcards(plan.priors.keyword_settings),
    script:
        "../scripts/extract_keywords.py"


rule build_prior:
    input:
        unpack(from_wildcards(plan.priors.inputs)),
        data=from_wildcards(plan.data.table),
        tokenizer=from_wildcards(plan.priors.tokenizer),
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
        settings=from_wildcards(plan.priors.settings),
    script:
        "../scripts/build_prior.py"
