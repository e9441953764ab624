"""`kreview serve`: an HTTP API over the current models and the warehouse's views.

Modules: ``config`` (ServeConfig), ``schemas`` (request/response models and their limits),
``limits`` (body size limit, validation messages), ``batcher`` (micro-batching of concurrent
requests into shared encoder passes), ``titles`` (read-only queries of the views, one
short-lived connection per request), ``app`` (the FastAPI factory), ``server`` (uvicorn
runner, in the foreground or in a thread). Importing this package loads neither FastAPI nor
torch.
"""
