"""One module per command group; each attaches its commands to ``jobs.app.app``."""
