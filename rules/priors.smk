# Prior tokens, one file per (task, benchmark, family, subset, source, k).


rule run_refined_model:
    input:
        data=task_data,
        local_files=refined_inputs,
    output:
        outputs=paths.pattern("refined"),
    log:
        "logs/{task}/refined/{benchmark}/{subset}.log",
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
    script:
        "../scripts/run_refined_model.py"


rule extract_keywords:
    input:
        data=task_data,
    output:
        keywords=paths.pattern("keywords"),
    log:
        "logs/{task}/keywords/{benchmark}/{subset}.log",
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
        "logs/{task}/priors/{benchmark}/{family}/{subset}/{source}-k{k}.log",
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
