"""Analysis tools. Each registers through the ``jupyter_cts.tools`` entry-point group."""

from jupyter_cts.tools.base import DirectoryContext, InputKind, Tool, ToolContext, ToolParams

__all__ = ["DirectoryContext", "InputKind", "Tool", "ToolContext", "ToolParams"]
