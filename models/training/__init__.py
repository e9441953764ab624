"""Training task models (``kreview train``, ``kreview models refit-head``): the trainable
network (``network``), the training loop with its resumable checkpoints (``train``,
``checkpoint``), starting from a registered version (``warm_start``), the hyperparameter search
(``search``), one whole run from data to a registered, gated version (``workflow``), what a
trained version is written as (``artifact``) and the head refit (``refit``). Scoring never
imports this package.
"""
