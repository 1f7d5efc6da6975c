# Model weights shipped as GGUF: materialised once, converted once to a safetensors
# folder that later jobs load in seconds.


rule materialize_gguf:
    output:
        gguf=paths.pattern("gguf"),
    log:
        "logs/models/materialize_{file}.log",
    priority: PRIORITY_MODEL
    conda:
        "../envs/decode.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        package=gguf_package,
    script:
        "../scripts/materialize_gguf.py"


rule convert_gguf:
    input:
        gguf=gguf_file,
    output:
        model=directory(paths.pattern("model")),
    log:
        "logs/models/convert_{model}.log",
    priority: PRIORITY_MODEL
    conda:
        "../envs/decode.yaml"
    # Reading a GGUF is single-threaded Python: one core leaves the other free.
    threads: 1
    resources:
        mem_mb=6000,
        runtime=30,
    params:
        gguf=gguf_settings,
    script:
        "../scripts/convert_gguf.py"
