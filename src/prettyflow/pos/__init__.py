"""POS tagging (paper section 5.1, Tables 3 and 4): its data and its answers.

- :mod:`~prettyflow.pos.data`: XGLUE POS or UD CoNLL-U test sets as one table;
- :mod:`~prettyflow.pos.output`: the (word, tag) pairs read out of a model's
  answer and aligned to the gold words;
- :mod:`~prettyflow.pos.reader`: the lenient reader of JSON-like answers it uses.

The registry entries stay with their registries: the task
(:mod:`prettyflow.tasks.pos`), the metric (:mod:`prettyflow.metrics.pos`) and the
benchmark (:mod:`prettyflow.datasets.ud`).
"""
