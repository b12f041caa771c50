"""Find the installed tools through their entry points, so any package can add one.

Nothing here lists tools by name: the built-ins register in ``pyproject.toml`` like a third-party
plugin would. A plugin that fails to import, is not a :class:`Tool`, or declares parameters whose
JSON Schema cannot be produced is reported in :attr:`ToolRegistry.errors`; the others still load.
"""

from __future__ import annotations

import inspect
import json
import re
import threading
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import BaseModel

import jupyter_cts
from jupyter_cts.engine.models import Capabilities, PluginError, ToolInfo
from jupyter_cts.errors import UnknownToolError
from jupyter_cts.tools.base import Tool

DEFAULT_GROUP = "jupyter_cts.tools"
_TOOL_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class PluginCheckError(Exception):
    """Why one plugin was refused; becomes a :class:`PluginError` entry, never escapes discovery."""


class ToolRegistry:
    """The tools of one entry-point group (plus ``extra`` classes given directly, e.g. in tests)."""

    def __init__(self, group: str = DEFAULT_GROUP, extra: list[type[Tool]] | None = None) -> None:
        self.group = group
        self._extra = list(extra or [])
        self._lock = threading.Lock()
        self._discovered = False
        self._tools: dict[str, type[Tool]] = {}
        self._refs: dict[str, str] = {}
        self._infos: dict[str, ToolInfo] = {}
        self._errors: list[PluginError] = []

    # -- discovery ---------------------------------------------------------------------------------

    def discover_tools(self) -> None:
        """(Re)load every tool; problems are collected in :attr:`errors`, never raised."""
        with self._lock:
            self._tools, self._refs, self._infos, self._errors = {}, {}, {}, []
            candidates: list[tuple[int, str, Any, str, str]] = []
            for cls in self._extra:
                candidates.append(
                    (0, "", cls, f"{cls.__module__}:{cls.__qualname__}", f"extra {cls.__qualname__}")
                )
            for ep in entry_points(group=self.group):
                cls = self._load_entry_point(ep)
                if cls is not None:
                    candidates.append((1, ep.name, cls, ep.value, f"{ep.name} = {ep.value}"))
            # When two entry points give the same id, the one named after the id wins.
            candidates.sort(key=lambda c: (c[0], c[1] != getattr(c[2], "id", None), c[1]))
            for _, _, cls, ref, label in candidates:
                self._add(cls, ref, label=label)
            self._errors.sort(key=lambda e: e.entry_point)
            self._discovered = True

    def _load_entry_point(self, ep: EntryPoint) -> Any:
        try:
            return ep.load()
        except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything, even SystemExit
            if isinstance(exc, KeyboardInterrupt):
                raise
            label = f"{ep.name} = {ep.value}"
            self._errors.append(PluginError(entry_point=label, error=f"cannot import: {_describe(exc)}"))
            return None

    def _add(self, cls: Any, ref: str, *, label: str) -> None:
        try:
            info = _check_tool(cls)
            if info.id in self._tools:
                raise PluginCheckError(
                    f"tool id {info.id!r} is already registered by {self._refs[info.id]}; "
                    "rename one of the two tools"
                )
        except PluginCheckError as exc:
            self._errors.append(PluginError(entry_point=label, error=str(exc)))
            return
        self._tools[info.id] = cls
        self._refs[info.id] = ref
        self._infos[info.id] = info

    def _ensure(self) -> None:
        if not self._discovered:
            self.discover_tools()

    # -- lookup ------------------------------------------------------------------------------------

    def tools(self) -> list[type[Tool]]:
        self._ensure()
        return [self._tools[k] for k in sorted(self._tools)]

    @property
    def errors(self) -> list[PluginError]:
        self._ensure()
        return list(self._errors)

    def get_tool(self, tool_id: str) -> type[Tool]:
        self._ensure()
        try:
            return self._tools[tool_id]
        except KeyError:
            known = ", ".join(sorted(self._tools)) or "none"
            raise UnknownToolError(
                f"no tool with id {tool_id!r} is installed (installed tools: {known}); "
                "see the capabilities for the list"
            ) from None

    def create_tool_instance(self, tool_id: str) -> Tool:
        return self.get_tool(tool_id)()

    def tool_ref(self, tool_id: str) -> str:
        """``module:qualname`` of a tool, so a run process can import the very same class."""
        self.get_tool(tool_id)
        return self._refs[tool_id]

    def tool_info(self, tool_id: str) -> ToolInfo:
        self.get_tool(tool_id)
        return self._infos[tool_id]

    def preload_modules(self) -> list[str]:
        """What the warm template process does once: import the modules of the tools that loaded
        and the heavy modules they declare in ``preload``, then call the ``warm_up`` of each tool
        that has one (listed last, as ``module:Class.warm_up``)."""
        self._ensure()
        modules = {ref.split(":", 1)[0] for ref in self._refs.values()}
        for cls in self._tools.values():
            declared = getattr(cls, "preload", ())
            if isinstance(declared, (tuple, list)):
                modules.update(m for m in declared if isinstance(m, str))
        warm_ups = [
            f"{self._refs[tool_id]}.warm_up"
            for tool_id, cls in sorted(self._tools.items())
            if inspect.getattr_static(cls, "warm_up") is not inspect.getattr_static(Tool, "warm_up")
        ]
        return sorted(modules) + warm_ups

    def capabilities(self) -> Capabilities:
        self._ensure()
        return Capabilities(
            version=jupyter_cts.__version__,
            tools=[self._infos[k] for k in sorted(self._infos)],
            errors=list(self._errors),
        )


def _check_tool(cls: Any) -> ToolInfo:
    """Everything a door relies on: a Tool subclass, a kebab-case id, a JSON Schema for its Params."""
    if not (isinstance(cls, type) and issubclass(cls, Tool)):
        raise PluginCheckError(f"{cls!r} is not a subclass of jupyter_cts.tools.base.Tool")
    if getattr(cls, "__abstractmethods__", None):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        raise PluginCheckError(f"{cls.__qualname__} does not implement {missing}")
    tool_id = getattr(cls, "id", None)
    if not isinstance(tool_id, str) or not _TOOL_ID.match(tool_id):
        raise PluginCheckError(f"{cls.__qualname__}.id is {tool_id!r}: use a kebab-case id like 'my-tool'")
    params = getattr(cls, "Params", None)
    if not (isinstance(params, type) and issubclass(params, BaseModel)):
        raise PluginCheckError(f"tool {tool_id!r}: Params is {params!r}, not a pydantic model")
    try:
        description = cls.describe()
        json.dumps(description["params_schema"])
        return ToolInfo.model_validate(description)
    except Exception as exc:  # noqa: BLE001 - pydantic raises several types for a bad schema
        raise PluginCheckError(
            f"tool {tool_id!r} declares an invalid parameter schema: {_describe(exc)}"
        ) from exc


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
