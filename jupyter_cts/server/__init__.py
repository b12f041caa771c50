"""The Jupyter Server extension: the ``/v1`` REST API over the execution engine.

Handlers are thin (parse, call the engine, write JSON); the route table in :mod:`.routes` is the one
list of endpoints, used both to register the handlers and to generate the OpenAPI document.
"""

from jupyter_cts.server.app import CTSApp

__all__ = ["CTSApp"]
