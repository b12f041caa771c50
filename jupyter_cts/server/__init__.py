"""The Jupyter Server extension: the ``/v1`` REST API over the execution engine.

Handlers are thin (parse, call the engine, write JSON); the route table in :mod:`.routes` is the one
list of endpoints, used both to register the handlers and to generate the OpenAPI document.
``CTSApp`` is imported lazily so ``cts-lite --help`` does not load Jupyter Server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jupyter_cts.server.app import CTSApp

__all__ = ["CTSApp"]


def __getattr__(name: str) -> Any:
    if name == "CTSApp":
        from jupyter_cts.server.app import CTSApp

        return CTSApp
    raise AttributeError(f"module 'jupyter_cts.server' has no attribute {name!r}")
