"""Batch scoring with the current models: the score stage (``score``, its entry point, which
picks an engine), the per-batch step both engines share (``batch``), the stage around an
engine (``engine``), the two engines (``local_engine`` in this process, ``ray_engine`` on Ray
Data actors), similarity clusters per title and their keywords (``recluster``, ``clustering``,
``keywords``), per-review emotion summaries (``emotion_math``) and scoring arbitrary texts for
``kreview predict`` / ``similarity`` and the API (``predict``).
"""
