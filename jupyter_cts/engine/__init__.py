"""The execution engine: validated runs, each in its own process, recorded in one store.

Names are imported lazily, so ``jupyter_cts.engine.models`` (used by the client and the widgets)
stays light and importing the registry does not pull the whole engine in.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jupyter_cts.engine.config import EngineConfig
    from jupyter_cts.engine.engine import ExecutionEngine
    from jupyter_cts.engine.events import RunEvent
    from jupyter_cts.engine.local import run_local
    from jupyter_cts.engine.store import RunStore
    from jupyter_cts.engine.uploads import UploadStore, UploadWriter

_WHERE = {
    "EngineConfig": "config",
    "ExecutionEngine": "engine",
    "RunEvent": "events",
    "RunStore": "store",
    "UploadStore": "uploads",
    "UploadWriter": "uploads",
    "run_local": "local",
}

__all__ = [
    "EngineConfig",
    "ExecutionEngine",
    "RunEvent",
    "RunStore",
    "UploadStore",
    "UploadWriter",
    "run_local",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'jupyter_cts.engine' has no attribute {name!r}")
    return getattr(import_module(f"jupyter_cts.engine.{_WHERE[name]}"), name)
