"""The model registry: versioned task models under ``<warehouse>/models/``, which version serves
each task and the promotion gate that decides it (``store``), the default models that ship with
kreview and are installed on a fresh registry (``defaults``), and loading registered versions
for inference, one encoder pass per artifact (``bundle``). Training writes versions into it and
scoring reads them out of it.
"""
