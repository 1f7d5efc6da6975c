# Bilingual word lists (MUSE, Wiktionary, PanLex exports) -> one merged table per pair.


rule merge_dictionary:
    input:
        word_lists=from_wildcards(plan.data.dictionary_files),
    output:
        table=paths.pattern("dictionary"),
    log:
        paths.log("dictionaries/{pair}.log"),
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        entries=from_wildcards(plan.data.dictionary_entries),
    script:
        "../scripts/merge_dictionary.py"


rule dictionary_statistics:
    input:
        tables=plan.data.dictionary_tables(),
    output:
        csv=paths.pattern("dictionary_table", ext="csv"),
        markdown=paths.pattern("dictionary_table", ext="md"),
        html=report(
            paths.pattern("dictionary_table", ext="html"),
            caption="../report/dictionary_table.rst",
            category="Dictionaries",
            labels={"table": "Table 9: dictionary statistics"},
        ),
    log:
        paths.log("dictionaries/statistics.log"),
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/dictionary_statistics.py"
