"""Workflow steps: each rule's script calls one function here with plain arguments.

One module per stage (data, models, priors, decode, score, tables). A step reads
its inputs, asks the registries (tasks, benchmarks, prior sources, refined
backends, metrics) for what differs, and writes its outputs atomically with
provenance. Steps never read the Snakemake config: what they need comes as
arguments (the rule's params), so they are testable without Snakemake.
"""
