# Raw benchmark files -> one Parquet table per (task, benchmark, subset).


rule download_dataset:
    output:
        root=directory(paths.pattern("download")),
    log:
        paths.log("data/download_{benchmark}.log"),
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=60,
    params:
        settings=from_wildcards(plan.data.download_settings),
    script:
        "../scripts/download_dataset.py"


rule prepare_data:
    input:
        unpack(from_wildcards(plan.data.inputs)),
    output:
        table=paths.pattern("data"),
    log:
        paths.log("{task}/data/{benchmark}/{subset}.log"),
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        root=from_wildcards(plan.data.root),
        settings=from_wildcards(plan.data.settings),
    script:
        "../scripts/prepare_data.py"
