"""Analyses beyond the paper's tables: the decision space of section 2.2.

:mod:`prettyflow.analysis.decision_space` compares, token by token, the
next-token distributions of a foundation model and its SFT model under teacher
forcing; :mod:`prettyflow.analysis.figures` draws Figures 2-4 from the result.
"""
