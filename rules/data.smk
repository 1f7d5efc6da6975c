# Raw benchmark files -> one Parquet table per (task, subset).
R = plan.results


rule download_flores:
    output:
        archive="resources/downloads/flores101_dataset.tar.gz",
    log:
        "logs/data/download_flores.log",
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=30,
    params:
        url=config["datasets"]["flores"]["url"],
        sha256=config["datasets"]["flores"].get("sha256"),
    script:
        "../scripts/download_flores.py"


rule extract_flores:
    input:
        archive=rules.download_flores.output.archive,
    output:
        files=plan.flores_download_files(),
    log:
        "logs/data/extract_flores.log",
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    script:
        "../scripts/extract_flores.py"


rule prepare_translation_data:
    input:
        unpack(flores_inputs),
    output:
        table=f"{R}/translation/data/{{subset}}.parquet",
    log:
        "logs/translation/data/{subset}.log",
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        settings=translation_data_settings,
    script:
        "../scripts/prepare_translation_data.py"


rule prepare_summarization_data:
    input:
        jsonl=crosssum_file,
    output:
        table=f"{R}/summarization/data/{{subset}}.parquet",
    log:
        "logs/summarization/data/{subset}.log",
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=summarization_data_settings,
    script:
        "../scripts/prepare_summarization_data.py"


rule prepare_pos_data:
    input:
        treebank=pos_file,
    output:
        table=f"{R}/pos/data/{{subset}}.parquet",
    log:
        "logs/pos/data/{subset}.log",
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        settings=pos_data_settings,
    script:
        "../scripts/prepare_pos_data.py"
