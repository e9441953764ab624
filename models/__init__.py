"""Models: base encoder, task heads, training, registry, batch scoring, clustering.

By concern: ``base`` (the base encoder), ``training``, ``registry`` (versions, the promotion
gate, the shipped defaults, loading versions for inference) and ``scoring`` (the score stage,
clusters, predict). The modules at this level are shared by several of them: ``config``, the
task ``heads``, the ``adapters``, tokenizing and ``batching``, batched ``inference``, the
task ``data`` readers and the ``evaluate`` metrics (which inference reports). ``default/``
holds the shipped default models (package data).
"""
