# Prior tokens, one file per (task, family, subset, source, k).


rule run_refined_model:
    input:
        data=task_data,
        local_files=refined_inputs,
    output:
        outputs=f"{plan.results}/{{task}}/refined/{{subset}}.parquet",
    log:
        "logs/{task}/refined/{subset}.log",
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
        data=f"{plan.results}/summarization/data/{{subset}}.parquet",
    output:
        keywords=f"{plan.results}/summarization/keywords/{{subset}}.parquet",
    log:
        "logs/summarization/keywords/{subset}.log",
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
        unpack(prior_upstream),
        data=task_data,
        tokenizer=prior_tokenizer,
    output:
        prior=f"{plan.results}/{{task}}/priors/{{family}}/{{subset}}/{{source}}-k{{k}}.parquet",
    log:
        "logs/{task}/priors/{family}/{subset}/{source}-k{k}.log",
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
