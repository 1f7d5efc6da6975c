"""Task metrics, one module per task (e.g. ``translation``, ``summarization``).

Each scorer returns per-sample scores (one row per input, in input order) and
corpus-level results carrying the settings needed to reproduce them.
"""
