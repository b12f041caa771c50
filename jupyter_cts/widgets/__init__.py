"""The notebook front end: forms generated from tool schemas, live run views, a tool browser.

::

    from jupyter_cts.widgets import ToolForm, RunView, ToolBrowser

    ToolForm("cruise-control-analyzer", input_path="demo/rlog.zst")   # fill in, press Run
    RunView(run_id)                                                   # follow any run
    ToolBrowser()                                                     # every tool, recent runs

The server is found like the client finds it (``CTS_URL``/``CTS_TOKEN``, the running Jupyter
servers); pass ``client=CTSClient(url, token)`` to choose. Widgets import only the client, never
the engine: a notebook on a laptop can drive a server elsewhere.
"""

from jupyter_cts.widgets.browser import ToolBrowser
from jupyter_cts.widgets.form import FormError, ToolForm
from jupyter_cts.widgets.results import result_summary, result_tables
from jupyter_cts.widgets.run_view import RunView

__all__ = ["FormError", "RunView", "ToolBrowser", "ToolForm", "result_summary", "result_tables"]
