"""jupyter-cts: run analysis tools over openpilot drives from JupyterLab, REST and the ``cts`` CLI.

Layers import downward only::

    logs, can  ->  tools  ->  registry, engine  ->  server, client  ->  cli, widgets
"""

__version__ = "0.1.0"


def _jupyter_server_extension_points() -> list[dict[str, object]]:
    """Tell Jupyter Server which ExtensionApp to load; imported lazily so `import jupyter_cts` stays light."""
    from jupyter_cts.server.app import CTSApp

    return [{"module": "jupyter_cts.server.app", "app": CTSApp}]
