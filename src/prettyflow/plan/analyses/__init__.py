"""The analysis registry: an ``analysis.<name>`` section of the config -> its plan part.

Each entry (:class:`Analysis`) gives its runs, the systems it adds to the decodes,
its targets, its rules' inputs and params, and the checks of its config section;
nothing outside its module branches on its name. The computations are in
:mod:`prettyflow.analysis`. ``analysis.bootstrap`` is a setting of every table
(:class:`prettyflow.plan.tables.TableJobs`), not an analysis.
"""

from __future__ import annotations

from prettyflow.plan.analyses.backend_parity import BackendParity
from prettyflow.plan.analyses.base import Analysis, AnalysisRun
from prettyflow.plan.analyses.control_priors import ControlPriors
from prettyflow.plan.analyses.decision_space import DecisionSpace
from prettyflow.plan.analyses.prior_tokens import PriorTokens
from prettyflow.plan.analyses.prompt_success import PromptSuccess
from prettyflow.registry import Registry

# The order in which their systems join a benchmark's decodes.
ANALYSES: Registry[type[Analysis]] = Registry("analysis")
ANALYSES.register("prior_tokens", PriorTokens)
ANALYSES.register("control_priors", ControlPriors)
ANALYSES.register("prompt_success", PromptSuccess)
ANALYSES.register("decision_space", DecisionSpace)
ANALYSES.register("backend_parity", BackendParity)

__all__ = ["ANALYSES", "Analysis", "AnalysisRun"]
