"""The ``cts`` command: tools and runs of a jupyter-cts server (or a local engine) from a shell.

``main`` is the console entry point; :func:`jupyter_cts.cli.app.run` returns the exit code
instead of exiting, for embedding. Commands talk to the server only through
:mod:`jupyter_cts.client`; ``--local`` alone imports the engine.
"""

from jupyter_cts.cli.app import cli, main, run

__all__ = ["cli", "main", "run"]
