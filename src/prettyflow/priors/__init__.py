"""Prior tokens (paper sections 3.3, 4.1 and 5.2), one module per part.

- :mod:`~prettyflow.priors.sources`: the prior-source registry (SFT, refined,
  pseudo, control);
- :mod:`~prettyflow.priors.tokens`: cutting an answer into its first ``k`` tokens,
  pseudo priors from a dictionary, the prior table;
- :mod:`~prettyflow.priors.refined`: the refined models' backends (registry);
- :mod:`~prettyflow.priors.keywords`: KeyBERT keywords for the summarization
  pseudo prior;
- :mod:`~prettyflow.priors.dictionaries`: the bilingual dictionaries of the
  pseudo priors;
- :mod:`~prettyflow.priors.control`: the control priors' word lists and draws;
- :mod:`~prettyflow.priors.scripts`: the Unicode scripts of languages and words.

Nothing is imported here, so that importing one part stays as light as it is.
"""
