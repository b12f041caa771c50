"""Root test configuration: pytest-jupyter's server fixtures, and shared generated drives."""

pytest_plugins = ["pytest_jupyter.jupyter_server", "jupyter_cts.server.pytest_plugin", "cli_harness"]
