"""Where run processes come from. ``EngineConfig.executor`` picks one by name (or ``module:Class``).

``local`` (the default) forks each run from a warm template process on this machine; ``dask`` (an
existing Dask cluster) plugs in through the same :class:`~jupyter_cts.engine.executors.base.Executor`
interface.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from jupyter_cts.errors import CTSError

if TYPE_CHECKING:
    from jupyter_cts.engine.config import EngineConfig
    from jupyter_cts.engine.executors.base import Executor, ExecutorSink

EXECUTORS = {
    "local": "jupyter_cts.engine.executors.local:LocalExecutor",
    "dask": "jupyter_cts.engine.executors.dask:DaskExecutor",
}


def create_executor(config: EngineConfig, sink: ExecutorSink) -> Executor:
    """The executor named by ``config.executor``: a known name or a ``module:Class`` reference."""
    ref = EXECUTORS.get(config.executor, config.executor)
    module_name, _, class_name = ref.partition(":")
    if not class_name:
        known = ", ".join(sorted(EXECUTORS))
        raise CTSError(f"unknown executor {config.executor!r}: use one of {known} or 'module:Class'")
    try:
        cls = getattr(import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise CTSError(
            f"executor {config.executor!r} is not available ({type(exc).__name__}: {exc}); "
            "install its extra (e.g. pip install 'jupyter-cts[dask]') or use executor 'local'"
        ) from exc
    return cls(config, sink)
