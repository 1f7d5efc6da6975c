"""prettyflow: PRETTY (prefix-text prior) experiments as a Snakemake workflow.

The workflow (``Snakefile``, ``rules/``) only wires files together; every step
is a plain function in this package so that it can be unit-tested and reused.
"""

__version__ = "0.1.0"
